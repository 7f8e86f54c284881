"""A node's OpenIGTLink connection to a bridge: register, heartbeat, take jobs, send results.

One `BridgeConnection` per bridge (a node may serve several); each dials, registers its
operations (`ComputeRegister` COMMAND, answered by RTS_COMMAND), then reads frames and acts
on them (`bridge.compute.protocol` lists the messages):

* `ComputeJob` COMMAND and the job's tagged input messages are collected per job id, in
  whatever order they arrive; once all inputs named by the request are there the job runs in
  the node's worker threads (`ComputeNode.run_job`), which also pack the outputs (CRC
  included), so the event loop only writes;
* `ComputeCancel` sets the job's cancel flag (a job still waiting for inputs ends at once);
* progress from the worker threads is sent as STATUS, at most every `PROGRESS_INTERVAL`
  per job (the latest value wins), the final value always;
* a heartbeat STATUS goes out every `node.heartbeat` seconds.

When the connection drops, its jobs are cancelled (the bridge re-dispatches them) and the
connection dials again, waiting 0.5 s doubling to 5 s.

This is the SDK's side of the wire; the byte-level layers are the adapter's own
(`adapters.igtl.wire`, `framing`, `codecs/`), which need only pyigtl and numpy — never the
adapter, the bus or the scene.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.igtl.codecs import job_data
from adapters.igtl.codecs.command import decode_command, encode_command
from adapters.igtl.codecs.status import OK, Status, decode_status, encode_status
from adapters.igtl.framing import FrameReader
from adapters.igtl.options import parse_address
from adapters.igtl.wire import (
    CRC_INLINE_LIMIT,
    Frame,
    FramingError,
    MessageError,
    Outgoing,
    crc64,
    crc64_off_loop,
    pack_message,
)
from bridge.compute import protocol as p

if TYPE_CHECKING:
    from bridge.compute.node import ComputeNode, JobOutcome

log = logging.getLogger("slicer_bridge.compute.node")

MAX_BODY = 1 << 30
#: Reading pauses while this much received data waits to be handled.
BACKLOG_LIMIT = 64 << 20
PROGRESS_INTERVAL = 0.05
REGISTRATION_TIMEOUT = 10.0
RECONNECT_INITIAL, RECONNECT_MAX = 0.5, 5.0
#: Jobs whose inputs arrived before their request, kept at most (then the oldest is dropped).
MAX_ORPHAN_JOBS = 64


class RegistrationRefused(RuntimeError):
    """The bridge refused this node's capability document (the reason says why)."""


@dataclass
class _PendingJob:
    """A job being collected, run, or finished on this connection."""

    job: str
    request: p.JobRequest | None = None
    command_id: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    failure: str = ""
    #: Latest progress not yet sent, and when progress was last sent.
    progress: p.Progress | None = None
    progress_sent: float = 0.0
    progress_handle: asyncio.TimerHandle | None = None


class BridgeConnection:
    """The connection of one node to one bridge (reconnecting)."""

    def __init__(
        self,
        node: ComputeNode,
        host: str,
        port: int,
        executor: ThreadPoolExecutor,
        *,
        reconnect: bool = True,
    ) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.target = f"{host}:{port}"
        self.executor = executor
        self.reconnect = reconnect
        #: CRC-64 on this connection's messages, unless the node negotiated it away.
        self.check_crc = node.crc
        self.node_id = ""
        self._transport: asyncio.Transport | None = None
        self._jobs: dict[str, _PendingJob] = {}
        self._command_ids = itertools.count(1)
        self._registration: asyncio.Future[p.Registration] | None = None
        self._registration_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- connection lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        """Dial, serve, and dial again until cancelled (or once, without `reconnect`)."""
        loop = self._loop = asyncio.get_running_loop()
        delay = RECONNECT_INITIAL
        failures = 0
        while True:
            try:
                transport, stream = await loop.create_connection(_FrameStream, self.host, self.port)
            except OSError as error:
                if not self.reconnect:
                    raise
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(
                    level,
                    "node %s: cannot reach %s (%s); retrying",
                    self.node.name,
                    self.target,
                    error,
                )
            else:
                delay, failures = RECONNECT_INITIAL, 0
                try:
                    await self._serve(transport, stream)
                except (ConnectionError, FramingError, TimeoutError) as error:
                    log.warning(
                        "node %s: connection to %s lost: %s", self.node.name, self.target, error
                    )
                finally:
                    self._drop_connection(transport)
                if not self.reconnect:
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _serve(self, transport: asyncio.Transport, stream: _FrameStream) -> None:
        self._transport = transport
        reading = asyncio.ensure_future(self._read(stream))
        try:
            registration = await self._register(reading)
            if not registration.accepted:
                raise RegistrationRefused(
                    f"bridge {self.target} refused node {self.node.name}: {registration.error}"
                )
            self.node_id = registration.node_id
            log.info(
                "node %s: registered at %s as %s (%s)",
                self.node.name,
                self.target,
                self.node_id,
                ", ".join(self.node.operations),
            )
            heartbeat = asyncio.ensure_future(self._heartbeat())
            try:
                await reading
            finally:
                heartbeat.cancel()
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading

    async def _register(self, reading: asyncio.Future[None]) -> p.Registration:
        loop = asyncio.get_running_loop()
        self._registration = loop.create_future()
        self._registration_id = next(self._command_ids)
        text = json.dumps(self.node.capability().to_json())
        self._write(
            pack_message(
                "COMMAND",
                p.DEVICE,
                encode_command(self._registration_id, p.REGISTER, text),
                version=2,
            )
        )
        done, _ = await asyncio.wait(
            [self._registration, reading],
            timeout=REGISTRATION_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._registration in done:
            return self._registration.result()
        if reading in done:
            reading.result()  # raises what ended the connection
            raise ConnectionError("the bridge closed the connection before answering")
        raise TimeoutError(f"no answer to the registration within {REGISTRATION_TIMEOUT:g} s")

    def _drop_connection(self, transport: asyncio.Transport) -> None:
        self._transport = None
        transport.close()
        for pending in self._jobs.values():
            pending.cancel.set()  # their results have nowhere to go; the bridge re-dispatches
            if pending.progress_handle is not None:
                pending.progress_handle.cancel()
        self._jobs.clear()

    async def _heartbeat(self) -> None:
        beat = Status(OK, 0, "Heartbeat", "")
        content = encode_status(beat)
        metadata = {p.META_COMPUTE: p.HEARTBEAT}
        while True:
            await asyncio.sleep(self.node.heartbeat)
            self._write(pack_message("STATUS", p.DEVICE, content, version=2, metadata=metadata))

    # -- reading -------------------------------------------------------------------------------
    async def _read(self, stream: _FrameStream) -> None:
        """Handle received frames in order (a big one's CRC is checked off the loop)."""
        while True:
            frame = await stream.next_frame()
            await self._receive(frame)

    async def _receive(self, frame: Frame) -> None:
        if self.check_crc:
            if len(frame.body) > CRC_INLINE_LIMIT:
                crc = await crc64_off_loop(frame.body)
            else:
                crc = crc64(frame.body)
            if crc != frame.crc:
                log.warning(
                    "node %s: %s %s from %s has a bad CRC; dropped",
                    self.node.name,
                    frame.type,
                    frame.device,
                    self.target,
                )
                return
        try:
            if frame.version > 1:
                frame.locate_content()
            handler = _HANDLERS.get(frame.type)
            if handler is not None:
                handler(self, frame)
        except (MessageError, p.ProtocolError, ValueError) as error:
            log.warning(
                "node %s: %s %s from %s refused: %s",
                self.node.name,
                frame.type,
                frame.device,
                self.target,
                error,
            )

    def _on_command(self, frame: Frame) -> None:
        message = decode_command(frame.content)
        if message.name == p.JOB:
            try:
                request = p.JobRequest.from_json(json.loads(message.text))
            except (ValueError, p.ProtocolError) as error:
                report = p.JobReport("?", p.FAILED, error=f"bad job request: {error}")
                self._write_report(message.command_id, report)
                return
            pending = self._pending(request.job)
            pending.request = request
            pending.command_id = message.command_id
            self._maybe_start(pending)
        elif message.name == p.CANCEL:
            job = _job_of(message.text)
            pending = self._jobs.get(job)
            if pending is None:
                return
            pending.cancel.set()
            if pending.request is None:
                del self._jobs[job]  # only inputs arrived: nothing to answer
            elif not pending.started:
                self._finish(pending, p.JobReport(job, p.CANCELLED, error="cancelled"), [])
        else:
            error = f"unknown instruction {message.name!r}"
            content = encode_command(message.command_id, error, json.dumps({"error": error}))
            self._write(pack_message("RTS_COMMAND", frame.device, content, version=2))

    def _on_rts_command(self, frame: Frame) -> None:
        message = decode_command(frame.content)
        future = self._registration
        if message.command_id != self._registration_id or future is None or future.done():
            return
        try:
            future.set_result(p.Registration.from_json(json.loads(message.text)))
        except (ValueError, p.ProtocolError):
            future.set_result(p.Registration(False, error=message.name or message.text))

    def _on_data(self, frame: Frame) -> None:
        metadata = frame.metadata()
        job, name = metadata.get(p.META_JOB), metadata.get(p.META_INPUT)
        if not job or not name:
            return  # not job data: this node has no use for it
        pending = self._pending(job)
        try:
            pending.inputs[p.data_name(name)] = job_data.decode(frame, metadata)
        except (MessageError, p.ProtocolError, ValueError) as error:
            pending.failure = f"input '{name}' could not be read: {error}"
        self._maybe_start(pending)

    def _on_status(self, frame: Frame) -> None:
        status = decode_status(frame.content)
        if not status.ok:
            log.warning(
                "node %s: STATUS from %s: %s", self.node.name, self.target, status.describe()
            )

    # -- jobs ----------------------------------------------------------------------------------
    def _pending(self, job: str) -> _PendingJob:
        pending = self._jobs.get(job)
        if pending is None:
            orphans = [key for key, value in self._jobs.items() if value.request is None]
            if len(orphans) >= MAX_ORPHAN_JOBS:
                del self._jobs[orphans[0]]
            pending = self._jobs[job] = _PendingJob(job)
        return pending

    def _maybe_start(self, pending: _PendingJob) -> None:
        request = pending.request
        if request is None or pending.started:
            return
        if pending.failure:
            self._finish(pending, p.JobReport(pending.job, p.FAILED, error=pending.failure), [])
            return
        if not set(request.inputs) <= set(pending.inputs):
            return
        pending.started = True
        task = asyncio.ensure_future(self._run(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, pending: _PendingJob) -> None:
        assert pending.request is not None and self._loop is not None
        loop = self._loop

        def report_progress(fraction: float, message: str) -> None:
            progress = p.Progress(pending.job, fraction, message)
            loop.call_soon_threadsafe(self._progress, pending, progress)

        outcome, messages = await loop.run_in_executor(
            self.executor, self._compute, pending, report_progress
        )
        if pending.cancel.is_set() and outcome.report.status == p.DONE:
            outcome.report = p.JobReport(pending.job, p.CANCELLED, error="cancelled")
            messages = []
        self._finish(pending, outcome.report, messages)

    def _compute(
        self, pending: _PendingJob, report_progress: Any
    ) -> tuple[JobOutcome, list[Outgoing]]:
        """In a worker thread: run the job, then pack its data outputs (CRC included)."""
        assert pending.request is not None
        outcome = self.node.run_job(
            pending.request, pending.inputs, progress=report_progress, cancel=pending.cancel
        )
        messages = []
        try:
            for name, value in outcome.data.items():
                metadata = {p.META_JOB: pending.job, p.META_OUTPUT: name}
                messages.append(job_data.pack(value, name, metadata, crc=self.node.crc))
        except (MessageError, ValueError) as error:
            outcome.report = p.JobReport(
                pending.job, p.FAILED, error=f"output could not be sent: {error}"
            )
            messages = []
        return outcome, messages

    def _finish(self, pending: _PendingJob, report: p.JobReport, messages: list[Outgoing]) -> None:
        if self._jobs.get(pending.job) is not pending:
            return  # the connection it came from is gone
        del self._jobs[pending.job]
        if pending.progress_handle is not None:
            pending.progress_handle.cancel()
        if report.status == p.DONE and pending.progress is not None:
            self._send_progress(pending)
        for message in messages:
            self._write(message)
        self._write_report(pending.command_id, report)
        log.info(
            "node %s: job %s (%s) %s%s",
            self.node.name,
            pending.job,
            pending.request.operation if pending.request else "?",
            report.status,
            f": {report.error}" if report.error else "",
        )

    def _write_report(self, command_id: int, report: p.JobReport) -> None:
        text = json.dumps(report.to_json())
        content = encode_command(command_id, report.error[:128], text)
        self._write(pack_message("RTS_COMMAND", p.DEVICE, content, version=2))

    def _progress(self, pending: _PendingJob, progress: p.Progress) -> None:
        if self._jobs.get(pending.job) is not pending:
            return
        pending.progress = progress
        assert self._loop is not None
        wait = pending.progress_sent + PROGRESS_INTERVAL - self._loop.time()
        if wait <= 0:
            self._send_progress(pending)
        elif pending.progress_handle is None:
            pending.progress_handle = self._loop.call_later(wait, self._send_progress, pending)

    def _send_progress(self, pending: _PendingJob) -> None:
        pending.progress_handle = None
        progress, pending.progress = pending.progress, None
        if progress is None or self._loop is None:
            return
        pending.progress_sent = self._loop.time()
        content = encode_status(Status(OK, 0, "Progress", progress.message))
        self._write(
            pack_message("STATUS", p.DEVICE, content, version=2, metadata=progress.metadata())
        )

    # -- writing -------------------------------------------------------------------------------
    def _write(self, message: Outgoing) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(message.header)
        for part in message.body:  # one write per part: a volume is sent from its own buffer
            transport.write(part)


class _FrameStream(asyncio.Protocol):
    """The receiving side of a node's connection: bytes cut into frames (the adapter's
    `FrameReader`), queued for `BridgeConnection._read`; reading pauses while more than
    `BACKLOG_LIMIT` bytes of frames wait."""

    def __init__(self) -> None:
        self.frames = FrameReader(MAX_BODY)
        self.queue: collections.deque[Frame] = collections.deque()
        self.queued_bytes = 0
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.closed: BaseException | None = None
        self._wakeup = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.frames.feed(data)
        batch: list[Frame] = []
        try:
            while self.frames.read(64, batch):
                pass
        except FramingError as error:
            self.closed = error
            assert self.transport is not None
            self.transport.close()
        for frame in batch:
            self.queue.append(frame)
            self.queued_bytes += len(frame.body)
        if self.queued_bytes > BACKLOG_LIMIT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wakeup.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            mid_frame = " in the middle of a message" if self.frames.mid_frame else ""
            self.closed = exc or ConnectionError(f"closed by the bridge{mid_frame}")
        self._wakeup.set()

    async def next_frame(self) -> Frame:
        while not self.queue:
            if self.closed is not None:
                raise self.closed
            self._wakeup.clear()
            await self._wakeup.wait()
        frame = self.queue.popleft()
        self.queued_bytes -= len(frame.body)
        if self.paused and self.queued_bytes <= BACKLOG_LIMIT // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return frame


_HANDLERS = {
    "COMMAND": BridgeConnection._on_command,
    "RTS_COMMAND": BridgeConnection._on_rts_command,
    "IMAGE": BridgeConnection._on_data,
    "TRANSFORM": BridgeConnection._on_data,
    "POINT": BridgeConnection._on_data,
    "STATUS": BridgeConnection._on_status,
}


def _job_of(text: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    return str(document.get("job", "")) if isinstance(document, dict) else ""


def bridge_address(bridge: str | tuple[str, int]) -> tuple[str, int]:
    """`"host:port"`, `"host"` (port 18944) or (host, port) → (host, port)."""
    if isinstance(bridge, tuple):
        return bridge[0], int(bridge[1])
    return parse_address(bridge)


async def serve_bridges(
    node: ComputeNode, bridges: Iterable[str | tuple[str, int]], *, reconnect: bool = True
) -> None:
    """Serve `node` to every bridge at once, its jobs sharing `node.concurrency` threads."""
    addresses = [bridge_address(bridge) for bridge in bridges] or [("127.0.0.1", 18944)]
    executor = ThreadPoolExecutor(node.concurrency, thread_name_prefix=f"node-{node.name}")
    connections = [
        BridgeConnection(node, host, port, executor, reconnect=reconnect)
        for host, port in addresses
    ]
    started = time.monotonic()
    try:
        await asyncio.gather(*(connection.run() for connection in connections))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        log.debug("node %s: served for %.1f s", node.name, time.monotonic() - started)
