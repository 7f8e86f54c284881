"""One OpenIGTLink connection, accepted or dialled: frames in, commands to the bus, replies
and pushes out. One `Session` (an `asyncio.Protocol`) per socket; no threads.

Reading: `FrameReader` cuts the stream; at most `FRAMES_PER_TURN` frames are handled per turn
of the event loop (reading paused meanwhile), so ten saturating peers and the bus's apply
pass take turns. Each frame's CRC is checked — inline up to 256 KiB, else off the loop with
this connection's reading paused, so its messages stay in order while every other
connection goes on — then `mapping.route_for` hands it to its handler. A broken stream
(garbage header, impossible size) or a peer stalling mid-message longer than `read_timeout`
closes this connection only, with a log line naming the peer and the reason.

The two other halves of a connection live beside it: `Outcomes` (what became of each
message sent to the bus) and `PeerWriter` (replies in order, STATUS errors and pushes through
the latest-value outbox).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from pyigtl.messages import CRC64

from adapters.igtl import mapping
from adapters.igtl.codecs import status as status_codec
from adapters.igtl.errors import INPUT_ERRORS, status_code_for
from adapters.igtl.framing import FrameReader
from adapters.igtl.lazy import LazyUpdate
from adapters.igtl.outcomes import Outcomes
from adapters.igtl.publisher import Subscription
from adapters.igtl.stats import PeerCounters
from adapters.igtl.wire import (
    CRC_INLINE_LIMIT,
    Frame,
    FramingError,
    crc64_off_loop,
    pack_message,
)
from adapters.igtl.writer import WRITE_HIGH_WATER, PeerWriter
from bridge.bus import CommandResult

if TYPE_CHECKING:
    from adapters.igtl.adapter import IgtlAdapter
    from adapters.igtl.compute_link import ComputeLink

log = logging.getLogger("slicer_bridge.igtl")

#: Frames handled per turn of the event loop before the session yields to other work.
FRAMES_PER_TURN = 64
#: STATUS messages remembered per peer (by device name).
MAX_STATUSES = 64


class Session(asyncio.Protocol):
    """One connection; `role` is "server" (accepted) or "client" (dialled to `target`)."""

    def __init__(self, adapter: IgtlAdapter, *, role: str = "server", target: str = "") -> None:
        self.adapter = adapter
        self.options = adapter.options
        self.bus = adapter.bus
        self.publisher = adapter.publisher
        self.role = role
        self.target = target
        self.reader = FrameReader(self.options.max_body)
        self.stats = PeerCounters()
        self.peer = target or "?"
        self.source = f"igtl:{self.peer}"
        #: Header version of outgoing pushes: the highest version this peer has sent.
        self.version = 1
        self.statuses: dict[str, status_codec.Status] = {}
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self.connected_at = time.monotonic()
        self._closing: str | None = None
        self._processing = False
        self._parse_handle: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._read_timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._warned: set[str] = set()
        self.outcomes = Outcomes(self)
        self.writer = PeerWriter(self)
        #: Set once the peer registered as a compute node: it sees every frame first.
        self.compute_link: ComputeLink | None = None
        #: CRC-64 check of this peer's messages (a compute node may negotiate it away).
        self.check_crc = self.options.check_crc

    # -- connection lifecycle ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        address = transport.get_extra_info("peername")
        if isinstance(address, tuple) and len(address) >= 2:
            host = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
            self.peer = f"{host}:{address[1]}"
            self.source = f"igtl:{self.peer}"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.options.receive_buffer > 0:
                # Bounded kernel queue: a peer sending faster than the bridge ingests is
                # held back by TCP instead of queueing seconds of stale poses (Linux would
                # otherwise grow this buffer up to net.ipv4.tcp_rmem's maximum, 32 MiB here).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.options.receive_buffer)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if not self.adapter.register(self):
            self._closing = "refused: too many peers"
            log.warning(
                "igtl: refusing %s: %d peers connected (limit)", self.peer, self.options.max_peers
            )
            transport.abort()
            return
        log.info("igtl: %s %s connected", "peer" if self.role == "server" else "to", self.peer)
        for name in self.options.push:  # pushed on connect, then on every change
            self.writer.subscribe(Subscription("AUTO", name))

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self._closing or ("closed by peer" if exc is None else f"lost: {exc}")
        self._closing = reason
        for handle in (self._read_timer, self._parse_handle):
            if handle is not None:
                handle.cancel()
        self.writer.close()
        for task in list(self._tasks):
            task.cancel()
        self.publisher.sessions.discard(self)
        for name in [name for name, session in self.publisher.fed_by.items() if session is self]:
            del self.publisher.fed_by[name]
        self.adapter.unregister(self, reason)
        if self.compute_link is not None:
            self.compute_link.connection_lost(reason)
        if not self.closed.done():
            self.closed.set_result(reason)
        log.info("igtl: %s %s disconnected (%s)", self.role, self.peer, reason)

    def close(self, reason: str) -> None:
        """Close this connection with a log line naming the peer and the reason."""
        if self._closing is not None or self.transport is None:
            return
        self._closing = reason
        log.warning("igtl: closing connection with %s: %s", self.peer, reason)
        if self.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            self.transport.abort()
        else:
            self.transport.close()

    @property
    def active(self) -> bool:
        return self._closing is None and self.transport is not None

    # -- reading -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._closing is not None:
            return
        self._last_read = self._loop.time()
        self.stats.bytes += len(data)
        self.reader.feed(data)
        if not self._processing:
            self._parse()

    def eof_received(self) -> bool | None:
        if self.reader.mid_frame:
            self.stats.errors["truncated"] += 1
            self._closing = "closed by peer in the middle of a message"
        return None

    def _parse(self) -> None:
        """Handle the next slice of at most `FRAMES_PER_TURN` frames, then give the loop
        back: reading stays paused until every complete frame received was handled."""
        self._parse_handle = None
        if self._closing is not None:
            return
        frames: list[Frame] = []
        broken = None
        try:
            more = self.reader.read(FRAMES_PER_TURN, frames)
        except FramingError as error:
            broken, more = error, False
        check_crc = self.check_crc
        for position, frame in enumerate(frames):
            if check_crc and len(frame.body) > CRC_INLINE_LIMIT:
                self.outcomes.end_slice()
                self._set_processing(True)
                self.spawn(self._handle_after_crc(frames[position:], broken, more))
                return
            self._handle(frame, not check_crc or CRC64(frame.body) == frame.crc)
        self.outcomes.end_slice()
        self._slice_done(broken, more)

    async def _handle_after_crc(
        self, frames: list[Frame], broken: FramingError | None, more: bool
    ) -> None:
        """The rest of a slice that holds a big body: its CRC is computed off the loop while
        this connection's reading waits (its messages stay in order; others go on)."""
        check_crc = self.check_crc
        for frame in frames:
            if check_crc and len(frame.body) > CRC_INLINE_LIMIT:
                self.outcomes.end_slice()  # other sessions submit while this one waits
                crc_ok = await crc64_off_loop(frame.body) == frame.crc
                if self._closing is not None:
                    return
            else:
                crc_ok = not check_crc or CRC64(frame.body) == frame.crc
            self._handle(frame, crc_ok)
        self.outcomes.end_slice()
        self._slice_done(broken, more)

    def _slice_done(self, broken: FramingError | None, more: bool) -> None:
        if broken is not None:
            self.stats.errors["framing"] += 1
            if broken.code is not None and self.active:
                report = status_codec.Status(broken.code, 0, "Framing", str(broken))
                self.writer.write(pack_message("STATUS", "", status_codec.encode_status(report)))
            self.close(str(broken))
        elif more:
            self._set_processing(True)
            self._parse_handle = self._loop.call_soon(self._parse)
        else:
            self._set_processing(False)
            if self.reader.mid_frame and self._read_timer is None and self.options.read_timeout > 0:
                self._read_timer = self._loop.call_later(
                    self.options.read_timeout, self._check_read_timeout
                )

    def _set_processing(self, processing: bool) -> None:
        """Reading is paused while received frames wait to be handled."""
        if processing == self._processing or self.transport is None:
            return
        self._processing = processing
        if self._closing is not None:
            return
        if processing:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _check_read_timeout(self) -> None:
        self._read_timer = None
        if self._closing is not None or not self.reader.mid_frame:
            return
        timeout = self.options.read_timeout
        idle = self._loop.time() - self._last_read
        if idle >= timeout and not self._processing:
            self.stats.errors["read timeout"] += 1
            self.close(f"read timeout: no data for {idle:.1f} s in the middle of a message")
        else:
            self._read_timer = self._loop.call_later(
                max(timeout - idle, 0.05), self._check_read_timeout
            )

    def _handle(self, frame: Frame, crc_ok: bool) -> None:
        type_stats = self.outcomes.type_stats = self.adapter.stats.for_type(frame.type)
        type_stats.received += 1
        type_stats.bytes += len(frame.body)
        self.stats.received += 1
        if frame.version > self.version:
            self.version = frame.version
        if not crc_ok:
            self.reject(frame, status_codec.CHECKSUM_ERROR, "CRC-64 mismatch", reason="crc")
            return
        handler = mapping.route_for(frame.type)
        if handler is None:
            self.adapter.stats.count_unknown(frame.type)
            self.stats.errors["unknown type"] += 1
            return
        try:
            if frame.version > 1:
                frame.locate_content()
            if self.compute_link is not None and self.compute_link.handle(frame):
                return
            handler(self, frame)
        except INPUT_ERRORS as error:
            self.reject(frame, status_code_for(error), str(error), reason="malformed")
        except Exception as error:
            log.exception(
                "igtl: %s %s from %s could not be handled", frame.type, frame.device, self.peer
            )
            self.reject(frame, status_codec.UNKNOWN_ERROR, f"internal error: {error}", "internal")

    # -- what the bus does with this peer's messages -------------------------------------------
    def note_applying(self, update: LazyUpdate) -> None:
        """Called as the bus builds one of this peer's updates: the node is fed by it."""
        self.note_feeding(update.target)

    def note_feeding(self, node: str) -> None:
        """This peer writes `node`: its changes are not pushed back to it (no echo)."""
        if self._closing is None:
            self.publisher.fed_by[node] = self

    def report_failure(self, frame: Frame, result: CommandResult) -> None:
        where = f"{frame.type} {frame.device} from {self.peer}"
        self.log_once("failed", "igtl: %s failed: %s", where, result.error)
        self.writer.send_status(
            frame.device,
            status_code_for(result.exception),
            "Error",
            f"{frame.type} {frame.device}: {result.error}",
        )

    # -- rejections and status ----------------------------------------------------------------
    def reject(self, frame: Frame, code: int, message: str, reason: str = "malformed") -> None:
        """A message that never reached the bus: counted, logged once, answered by STATUS."""
        self.count_rejected(frame, reason)
        self.log_once(
            reason, "igtl: %s %s from %s refused: %s", frame.type, frame.device, self.peer, message
        )
        self.writer.send_status(frame.device, code, reason.title()[:20], f"{frame.type}: {message}")

    def count_rejected(self, frame: Frame, reason: str) -> None:
        self.adapter.stats.for_type(frame.type).rejected += 1
        self.stats.rejected += 1
        self.stats.errors[reason] += 1

    def record_status(self, device: str, report: status_codec.Status) -> None:
        previous = self.statuses.get(device)
        if device in self.statuses or len(self.statuses) < MAX_STATUSES:
            self.statuses[device] = report
        if previous != report:
            level = logging.INFO if report.ok else logging.WARNING
            log.log(
                level, "igtl: STATUS %s from %s: %s", device or "-", self.peer, report.describe()
            )

    def log_once(self, topic: str, message: str, *args: object) -> None:
        """First occurrence per topic per peer at WARNING, the rest at DEBUG: a broken peer
        must not flood the log."""
        level = logging.DEBUG if topic in self._warned else logging.WARNING
        self._warned.add(topic)
        log.log(level, message, *args)

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task that lives no longer than this connection."""
        task = self._loop.create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- asyncio flow control ------------------------------------------------------------------
    def pause_writing(self) -> None:
        self.writer.pause()

    def resume_writing(self) -> None:
        self.writer.resume()

    # -- reporting -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        writer = self.writer
        return {
            "role": self.role,
            "connected_s": round(time.monotonic() - self.connected_at, 3),
            "header_version": self.version,
            "subscriptions": [
                f"{sub.type}:{sub.name or '*'}" for sub in writer.subscriptions.values()
            ],
            "outbox_due": len(writer.outbox),
            "buffered_bytes": self.reader.buffered,
            "statuses": {device: report.describe() for device, report in self.statuses.items()},
            **self.stats.snapshot(),
            "pushes_skipped": writer.outbox.overwritten,
        }
