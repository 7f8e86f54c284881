"""The OpenIGTLink wire format: header, extended header, metadata, CRC-64, timestamps.

Layouts follow openigtlink/OpenIGTLink `Documents/Protocol/header.md` and `index.md`:

* a 58-byte big-endian header — V (uint16: 1 for protocols 1–2, 2 for protocol 3), TYPE
  (char[12]), DEVICE_NAME (char[20]), TIME_STAMP (uint32 seconds + uint32 binary fraction),
  BODY_SIZE (uint64), CRC (uint64, CRC-64/ECMA-182 over the whole body);
* with V=2 the body starts with a 12-byte extended header (EXT_HEADER_SIZE, META_HEADER_SIZE,
  META_SIZE, MSG_ID) and ends with the metadata: INDEX_COUNT, one {KEY_SIZE, VALUE_ENCODING,
  VALUE_SIZE} entry per key (META_HEADER_SIZE = 2 + 8·N), then the keys and values.

This module turns bytes into checked values and back. It does no I/O and knows nothing of
commands or the scene. Names that come off the wire are decoded safely here, once: a device
name is whatever a peer sent, so it is cut at its first NUL, decoded as UTF-8 with
replacement, and stripped of control characters before anyone uses it as a node name.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pyigtl.messages import CRC64 as _CRC64

HEADER = struct.Struct(">H12s20sIIQQ")
HEADER_SIZE = HEADER.size  # 58
EXTENDED_HEADER = struct.Struct(">HHII")
EXTENDED_HEADER_SIZE = EXTENDED_HEADER.size  # 12
METADATA_ENTRY = struct.Struct(">HHI")
TYPE_SIZE = 12
DEVICE_NAME_SIZE = 20

#: Header versions this bridge reads: 1 (protocols 1 and 2) and 2 (protocol 3).
HEADER_VERSIONS = (1, 2)

#: Character sets by IANA MIBenum, as STRING, COMMAND and metadata values declare them.
ENCODINGS: dict[int, str] = {
    3: "ascii",
    4: "latin-1",
    106: "utf-8",
    1013: "utf-16-be",
    1014: "utf-16-le",
    1015: "utf-16",
}
MIB_ASCII = 3
MIB_UTF8 = 106

#: Bodies up to this size get their CRC computed on the event loop (≈ 0.7 ms); bigger ones
#: in an executor thread, in slices (see `crc64_off_loop`).
CRC_INLINE_LIMIT = 256 * 1024
_CRC_SLICE = 256 * 1024

_FRACTION = 2.0**-32
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_TYPE_CHARACTERS = frozenset(range(0x21, 0x7F))


class FramingError(Exception):
    """The byte stream cannot be a sequence of messages any more (garbage header, impossible
    size): the connection must be closed, since the next message boundary is unknown.

    `code` is a STATUS code worth telling the peer before closing (None: say nothing, the
    peer is not speaking OpenIGTLink).
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MessageError(ValueError):
    """One well-framed message whose content is unusable; the stream stays in sync.

    `code` is the OpenIGTLink STATUS code a reply should carry (`status.md`).
    """

    def __init__(self, message: str, *, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# -- CRC-64 -------------------------------------------------------------------------------------


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/ECMA-182 as OpenIGTLink computes it (pyigtl's crcmod function, reused)."""
    return _CRC64(data, crc)


def _crc64_sliced(parts: tuple[bytes | memoryview, ...]) -> int:
    """CRC of a big body, one slice at a time, giving the GIL away between slices.

    crcmod's C function holds the GIL for its whole call: measured here, a 32 MiB CRC run in
    a plain executor thread stalled the event loop thread for 245 ms. Computed in 256 KiB
    slices with `time.sleep(0)` after each, the loop thread waits at most one switch interval
    (≈ 5 ms) for the GIL instead.
    """
    crc = 0
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), _CRC_SLICE):
            crc = _CRC64(view[start : start + _CRC_SLICE], crc)
            time.sleep(0)
    return crc


async def crc64_off_loop(*parts: bytes | memoryview) -> int:
    """CRC of a body (given as consecutive parts) without blocking the event loop for more
    than a few milliseconds, whatever its size."""
    if sum(len(part) for part in parts) <= CRC_INLINE_LIMIT:
        crc = 0
        for part in parts:
            crc = _CRC64(part, crc)
        return crc
    return await asyncio.get_running_loop().run_in_executor(None, _crc64_sliced, parts)


# -- names and timestamps -----------------------------------------------------------------------


def decode_type(raw: bytes) -> str:
    """The TYPE field as text; anything but printable ASCII is a garbage header."""
    text = raw.split(b"\0", 1)[0]
    if not text or not _TYPE_CHARACTERS.issuperset(text):
        raise FramingError(f"garbage header: message type field {raw!r} is not ASCII text")
    return text.decode("ascii")


def decode_name(raw: bytes | memoryview) -> str:
    """A NUL-padded name field as safe text: cut at the first NUL, UTF-8 with replacement
    characters for invalid bytes, control characters replaced, surrounding blanks stripped."""
    text = bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")
    return _CONTROL_CHARACTERS.sub("\ufffd", text).strip()


def encode_name(text: str, size: int) -> bytes:
    """`text` as a NUL-padded field of `size` bytes, cut at a UTF-8 character boundary."""
    raw = text.encode("utf-8")
    if len(raw) > size:
        raw = raw[:size].decode("utf-8", "ignore").encode("utf-8")
    return raw.ljust(size, b"\0")


def decode_text(raw: bytes | memoryview, encoding: int) -> str:
    """Bytes in a declared IANA character set; unknown sets are a MessageError."""
    codec = ENCODINGS.get(encoding)
    if codec is None:
        raise MessageError(f"unsupported character encoding (MIBenum {encoding})")
    return bytes(raw).decode(codec, "replace")


def encode_text(text: str) -> tuple[bytes, int]:
    """US-ASCII when the text allows it (what every peer reads), UTF-8 otherwise."""
    try:
        return text.encode("ascii"), MIB_ASCII
    except UnicodeEncodeError:
        return text.encode("utf-8"), MIB_UTF8


def timestamp_from_wire(seconds: int, fraction: int) -> float:
    """Seconds since 1970 from the two header words; 0.0 means "not set" (`timestamp.md`)."""
    return seconds + fraction * _FRACTION


def timestamp_to_wire(timestamp: float) -> tuple[int, int]:
    if not timestamp > 0:
        return 0, 0
    seconds = int(timestamp)
    fraction = min(int((timestamp - seconds) / _FRACTION), 0xFFFFFFFF)
    return seconds & 0xFFFFFFFF, fraction


# -- received messages --------------------------------------------------------------------------


class Frame:
    """One received message: header fields and the raw body, with the content located.

    The body is kept as received; `content` is the part between the extended header and the
    metadata, `metadata()` is decoded only when someone asks. `received` is the monotonic
    time the message was complete, for receive→apply latencies.
    """

    __slots__ = (
        "body",
        "content_end",
        "content_start",
        "crc",
        "device",
        "message_id",
        "metadata_start",
        "received",
        "timestamp",
        "type",
        "version",
    )

    def __init__(
        self,
        version: int,
        type: str,
        device: str,
        timestamp: float,
        body: bytes,
        crc: int,
        received: float,
    ) -> None:
        self.version = version
        self.type = type
        self.device = device
        self.timestamp = timestamp
        self.body = body
        self.crc = crc
        self.received = received
        self.message_id = 0
        self.content_start = 0
        self.content_end = self.metadata_start = len(body)

    @property
    def content(self) -> bytes | memoryview:
        if self.content_start == 0 and self.content_end == len(self.body):
            return self.body
        return memoryview(self.body)[self.content_start : self.content_end]

    def locate_content(self) -> None:
        """Read the v2 extended header: message id, where content and metadata lie.

        Raises MessageError when its sizes contradict BODY_SIZE; the frame boundary came from
        the main header, so the stream is still in sync and only this message is lost.
        """
        if self.version < 2:
            return
        size = len(self.body)
        if size < EXTENDED_HEADER_SIZE:
            raise MessageError(f"header v2 body of {size} bytes has no extended header")
        ext_size, meta_header_size, meta_size, message_id = EXTENDED_HEADER.unpack_from(self.body)
        if ext_size < EXTENDED_HEADER_SIZE or ext_size > size:
            raise MessageError(f"extended header size {ext_size} is impossible")
        metadata_size = meta_header_size + meta_size
        if metadata_size > size - ext_size:
            raise MessageError(f"metadata of {metadata_size} bytes does not fit a {size}-byte body")
        if meta_header_size and (meta_header_size < 2 or (meta_header_size - 2) % 8):
            raise MessageError(f"metadata header size {meta_header_size} is not 2 + 8·N")
        self.message_id = message_id
        self.content_start = ext_size
        self.content_end = self.metadata_start = size - metadata_size

    def metadata(self) -> dict[str, str]:
        """Key/value metadata of a v2 message ({} for v1)."""
        if self.metadata_start >= len(self.body):
            return {}
        return parse_metadata(memoryview(self.body)[self.metadata_start :])

    def header_fields(self) -> dict[str, object]:
        """The header as pyigtl's `MessageBase.unpack` expects it, for pyigtl's decoders fed
        with `content` only (so pyigtl never re-reads the extended header or metadata)."""
        return {
            "header_version": 1,
            "message_type": self.type,
            "device_name": self.device,
            "timestamp": self.timestamp,
            "body_size": self.content_end - self.content_start,
        }


def parse_metadata(raw: bytes | memoryview) -> dict[str, str]:
    """Metadata block (index count, entries, then keys and values) → dict."""
    view = memoryview(raw)
    if len(view) < 2:
        raise MessageError("metadata block shorter than its index count")
    (count,) = struct.unpack_from(">H", view)
    offset = 2 + 8 * count
    if offset > len(view):
        raise MessageError(f"metadata announces {count} entries but is {len(view)} bytes")
    result: dict[str, str] = {}
    for index in range(count):
        key_size, encoding, value_size = METADATA_ENTRY.unpack_from(view, 2 + 8 * index)
        end = offset + key_size + value_size
        if end > len(view):
            raise MessageError("metadata entry runs past the end of the message")
        key = decode_name(view[offset : offset + key_size])
        result[key] = decode_text(view[offset + key_size : end], encoding)
        offset = end
    return result


# -- messages to send ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: the header and the body as consecutive parts, so a 256 MiB
    volume goes to the socket from its own buffer, never copied to prepend 58 bytes."""

    type: str
    device: str
    header: bytes
    body: tuple[bytes | memoryview, ...]

    def __len__(self) -> int:
        return len(self.header) + sum(len(part) for part in self.body)

    def to_bytes(self) -> bytes:
        return b"".join((self.header, *self.body))


def body_parts(
    content: tuple[bytes | memoryview, ...],
    *,
    version: int = 1,
    metadata: Mapping[str, str] | None = None,
    message_id: int = 0,
) -> tuple[bytes | memoryview, ...]:
    """Content parts plus, for header v2, the extended header and the metadata."""
    if version < 2:
        return content
    entries = b""
    values = b""
    for key, value in (metadata or {}).items():
        key_raw = key.encode("utf-8")
        value_raw, encoding = encode_text(value)
        entries += METADATA_ENTRY.pack(len(key_raw), encoding, len(value_raw))
        values += key_raw + value_raw
    meta_header = struct.pack(">H", len(metadata or {})) + entries
    extended = EXTENDED_HEADER.pack(
        EXTENDED_HEADER_SIZE, len(meta_header), len(values), message_id & 0xFFFFFFFF
    )
    return (extended, *content, meta_header + values)


def pack_header(
    type: str, device: str, body_size: int, crc: int, *, version: int = 1, timestamp: float
) -> bytes:
    seconds, fraction = timestamp_to_wire(timestamp)
    return HEADER.pack(
        version,
        type.encode("ascii")[:TYPE_SIZE],
        encode_name(device, DEVICE_NAME_SIZE),
        seconds,
        fraction,
        body_size,
        crc,
    )


def pack_message(
    type: str,
    device: str,
    content: bytes = b"",
    *,
    version: int = 1,
    metadata: Mapping[str, str] | None = None,
    message_id: int = 0,
    timestamp: float | None = None,
) -> Outgoing:
    """A complete message with its CRC computed here (on the loop: small bodies only)."""
    parts = body_parts((content,), version=version, metadata=metadata, message_id=message_id)
    crc = 0
    for part in parts:
        crc = _CRC64(part, crc)
    return _framed(type, device, parts, crc, version, timestamp)


async def pack_message_off_loop(
    type: str,
    device: str,
    content: tuple[bytes | memoryview, ...],
    *,
    version: int = 1,
    metadata: Mapping[str, str] | None = None,
    message_id: int = 0,
    timestamp: float | None = None,
) -> Outgoing:
    """As `pack_message` for content given in parts (an image header and its voxel
    buffer), with the CRC of a big body computed off the event loop."""
    parts = body_parts(content, version=version, metadata=metadata, message_id=message_id)
    crc = await crc64_off_loop(*parts)
    return _framed(type, device, parts, crc, version, timestamp)


def _framed(
    type: str,
    device: str,
    parts: tuple[bytes | memoryview, ...],
    crc: int,
    version: int,
    timestamp: float | None,
) -> Outgoing:
    """The message of body `parts` with its header, once the CRC is known (either way)."""
    header = pack_header(
        type,
        device,
        sum(len(part) for part in parts),
        crc,
        version=version,
        timestamp=time.time() if timestamp is None else timestamp,
    )
    return Outgoing(type, device, header, parts)
