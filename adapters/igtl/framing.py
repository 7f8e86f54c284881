"""Cutting a TCP byte stream into OpenIGTLink frames, and refusing streams that cannot be.

`FrameReader.feed` stores what the socket delivered; `FrameReader.read` cuts up to `limit`
frames from it. Parsing on demand, a bounded number at a time, lets a session hand the
event loop back after each slice of a 256 KiB read (≈ 2400 TRANSFORMs), so ten saturating
peers and the bus's apply pass take turns instead of each read monopolising the loop.

Only what decides the frame boundary is checked here — header version, a readable TYPE,
BODY_SIZE within the configured limit — and `FramingError` means the stream is beyond
repair. CRC, extended header and content are checked per message by the session, since a
bad message inside a good frame does not break the stream.

Memory: unparsed data is held up to the next frame boundary. A body of `LARGE_BODY` bytes or
more is collected as the list of chunks the socket delivered and joined once when complete,
so an announced size costs nothing until the bytes really arrive, and a 256 MiB image is
copied once, not once per read. No asyncio here, so the reader is tested on bytes.
"""

from __future__ import annotations

import collections
import time

from adapters.igtl.wire import (
    HEADER,
    HEADER_SIZE,
    HEADER_VERSIONS,
    Frame,
    FramingError,
    decode_name,
    decode_type,
    timestamp_from_wire,
)

LARGE_BODY = 1 << 20
_FRACTION = 2.0**-32  # timestamp fraction unit (`wire.timestamp_from_wire`, inlined)

#: Decoded TYPE and DEVICE_NAME fields by their raw bytes: a tracker sends the same few
#: names 1000 times a second. Bounded; cleared when full.
_TYPE_CACHE: dict[bytes, str] = {}
_NAME_CACHE: dict[bytes, str] = {}
_CACHE_LIMIT = 4096


def _type_of(raw: bytes) -> str:
    name = _TYPE_CACHE.get(raw)
    if name is None:
        name = decode_type(raw)  # raises FramingError on garbage
        if len(_TYPE_CACHE) >= _CACHE_LIMIT:
            _TYPE_CACHE.clear()
        _TYPE_CACHE[raw] = name
    return name


def _name_of(raw: bytes) -> str:
    name = _NAME_CACHE.get(raw)
    if name is None:
        name = decode_name(raw)
        if len(_NAME_CACHE) >= _CACHE_LIMIT:
            _NAME_CACHE.clear()
        _NAME_CACHE[raw] = name
    return name


class FrameReader:
    """Incremental OpenIGTLink frame parser for one connection."""

    __slots__ = ("_buffer", "_chunks", "_complete", "_missing", "_pending", "_position", "max_body")

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self._buffer = bytearray()
        self._position = 0
        #: Header of a large frame whose body is being collected in `_chunks`.
        self._pending: tuple[int, str, str, float, int] | None = None
        self._chunks: list[bytes] = []
        self._missing = 0
        #: Large frames completed by `feed`, handed out first by `read`.
        self._complete: collections.deque[Frame] = collections.deque()

    @property
    def mid_frame(self) -> bool:
        """True while bytes of an incomplete frame are held (after `read` returned False)."""
        return self._pending is not None or len(self._buffer) > self._position

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed data plus a large body being collected."""
        return len(self._buffer) - self._position + sum(len(chunk) for chunk in self._chunks)

    def feed(self, data: bytes) -> None:
        """Store bytes from the socket (call `read` to get the frames they complete)."""
        if self._pending is not None:
            if len(data) < self._missing:
                self._chunks.append(data)
                self._missing -= len(data)
                return
            self._chunks.append(data[: self._missing])
            data = data[self._missing :]
            version, type_name, device, timestamp, crc = self._pending
            body = b"".join(self._chunks)
            self._pending, self._chunks, self._missing = None, [], 0
            self._complete.append(
                Frame(version, type_name, device, timestamp, body, crc, time.monotonic())
            )
        if data:
            self._buffer += data

    def read(self, limit: int, frames: list[Frame]) -> bool:
        """Append up to `limit` complete frames to `frames`. Returns True if it stopped at
        the limit (call again), False when no complete frame is left. Raises FramingError
        when the stream is broken (after appending the frames before the break)."""
        while self._complete:
            if limit <= 0:
                return True
            frames.append(self._complete.popleft())
            limit -= 1
        buffer = self._buffer
        end = len(buffer)
        position = self._position
        # hot loop: locals, and the name caches inlined (a tracker's names repeat)
        unpack_from = HEADER.unpack_from
        max_body = self.max_body
        types, names = _TYPE_CACHE, _NAME_CACHE
        now = time.monotonic()
        view = memoryview(buffer)
        try:
            while end - position >= HEADER_SIZE:
                if limit <= 0:
                    return True
                version, type_raw, device_raw, seconds, fraction, size, crc = unpack_from(
                    buffer, position
                )
                if version not in HEADER_VERSIONS:
                    raise FramingError(
                        f"garbage header: unsupported header version {version} (expected 1 or 2)"
                    )
                type_name = types.get(type_raw) or _type_of(type_raw)
                if size > max_body:
                    raise FramingError(
                        f"{type_name} message announces a body of {size} bytes, "
                        f"over the limit of {max_body}",
                        code=8,  # STATUS "overflow"
                    )
                start = position + HEADER_SIZE
                stop = start + size
                if stop > end:
                    if size >= LARGE_BODY:
                        self._pending = (
                            version,
                            type_name,
                            _name_of(device_raw),
                            timestamp_from_wire(seconds, fraction),
                            crc,
                        )
                        self._chunks = [bytes(view[start:end])]
                        self._missing = stop - end
                        position = end
                    break
                frames.append(
                    Frame(
                        version,
                        type_name,
                        names.get(device_raw) or _name_of(device_raw),
                        seconds + fraction * _FRACTION,
                        bytes(view[start:stop]),
                        crc,
                        now,
                    )
                )
                limit -= 1
                position = stop
            return False
        finally:
            view.release()
            if position >= end:
                buffer.clear()
                self._position = 0
            elif position > 65536 and position * 2 > end:
                del buffer[:position]
                self._position = 0
            else:
                self._position = position
