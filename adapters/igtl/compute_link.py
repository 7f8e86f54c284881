"""Compute-node peers: an OpenIGTLink connection that registered as a node, linked to the
bridge's compute registry (`bridge.compute.registry`).

A peer becomes a node by sending a `ComputeRegister` COMMAND (`on_node_command`, called by
`mapping.on_command`); the registry accepts or refuses it and the peer is answered with an
RTS_COMMAND. From then on its session hands every frame to its `ComputeLink` first
(`handle`), which takes what belongs to the job protocol (`bridge.compute.protocol`) —
heartbeats, progress STATUS, job-tagged IMAGE / TRANSFORM / POINT outputs, RTS_COMMAND job
reports — and leaves everything else to the ordinary mapping, so a node may also stream
poses or images like any peer. The link is also the registry's `NodeChannel` for this peer:
it sends jobs (the request COMMAND, then each input packed with its CRC off the loop) and
cancels, and reports the node lost when the connection ends.

A malformed output or report fails that job with the reason; the connection stays up.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
from typing import TYPE_CHECKING, Any

from adapters.igtl.codecs import job_data
from adapters.igtl.codecs.command import CommandMessage, decode_command, encode_command
from adapters.igtl.codecs.status import decode_status
from adapters.igtl.wire import Frame, MessageError, Outgoing, pack_message
from bridge.compute import protocol as p
from bridge.compute.values import kind_of

if TYPE_CHECKING:
    from adapters.igtl.session import Session
    from bridge.compute.jobs import ComputeJob
    from bridge.compute.registry import ComputeRegistry

log = logging.getLogger("slicer_bridge.igtl")

#: Kernel receive buffer of a node's connection (see `ComputeLink.widen_receive_buffer`).
NODE_RECEIVE_BUFFER = 4 << 20

#: COMMAND names this module answers (the rest go to the bridge's typed commands).
NODE_COMMANDS = p.NODE_COMMANDS


def on_node_command(session: Session, frame: Frame, message: CommandMessage) -> None:
    """A `ComputeRegister` COMMAND: register the peer as a node, answer RTS_COMMAND."""
    registry: ComputeRegistry | None = getattr(session.adapter, "compute", None)

    def answer(registration: p.Registration) -> None:
        text = json.dumps(registration.to_json())
        content = encode_command(message.command_id, registration.error[:128], text)
        session.writer.write_reply(
            session.writer.pack("RTS_COMMAND", frame.device, content, reply_to=frame)
        )

    if registry is None:
        answer(p.Registration(False, error="this bridge runs no compute registry"))
        return
    if session.compute_link is not None:
        answer(p.Registration(False, error="this connection is already a registered node"))
        return
    try:
        document = json.loads(message.text)
    except ValueError as error:
        answer(p.Registration(False, error=f"capability document is not JSON: {error}"))
        return
    from bridge.compute.registry import RegistrationError

    link = ComputeLink(session, registry)
    try:
        node = registry.register(document, link)
    except RegistrationError as error:
        session.count_rejected(frame, "compute registration")
        log.warning("igtl: compute node from %s refused: %s", session.peer, error)
        answer(p.Registration(False, error=str(error)))
        return
    link.node_id = node.id
    link.widen_receive_buffer()
    link.crc = node.capability.crc
    if not link.crc:
        session.check_crc = False  # negotiated: this connection's messages carry no CRC
    session.compute_link = link
    answer(p.Registration(True, node_id=node.id))


class ComputeLink:
    """One registered node's connection, seen from the registry (a `NodeChannel`)."""

    def __init__(self, session: Session, registry: ComputeRegistry) -> None:
        self.session = session
        self.registry = registry
        self.peer = session.peer
        self.node_id = ""
        #: Whether job data on this connection carries a CRC (the node's capability says).
        self.crc = True
        self._command_ids = itertools.count(1)
        #: Job id by the id of the COMMAND that sent it (reports answer that id).
        self._jobs_by_command: dict[int, str] = {}

    def widen_receive_buffer(self) -> None:
        """A node sends whole volumes, not a stream of poses to keep fresh: the bounded
        kernel queue that holds trackers back (`igtl_receive_buffer_kib`) only slows it."""
        transport = self.session.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is not None and self.session.options.receive_buffer > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NODE_RECEIVE_BUFFER)

    # -- the registry's channel ----------------------------------------------------------------
    @property
    def receiving(self) -> bool:
        return self.session.reader.mid_frame

    def send_job(self, job: ComputeJob) -> None:
        command_id = next(self._command_ids)
        self._jobs_by_command[command_id] = job.id
        self.session.spawn(self._send(job, command_id))

    async def _send(self, job: ComputeJob, command_id: int) -> None:
        request = p.JobRequest(
            job=job.id,
            operation=job.operation,
            parameters=job.parameters,
            inputs={name: kind_of(value) for name, value in job.inputs.items()},
            timeout=job.timeout,
        )
        content = encode_command(command_id, p.JOB, json.dumps(request.to_json()))
        messages: list[Outgoing] = [pack_message("COMMAND", p.DEVICE, content, version=2)]
        try:
            for name, value in job.inputs.items():
                metadata = {p.META_JOB: job.id, p.META_INPUT: name}
                messages.append(await job_data.pack_off_loop(value, name, metadata, crc=self.crc))
        except (MessageError, ValueError) as error:
            self.registry.report(
                self.node_id, p.JobReport(job.id, p.FAILED, error=f"inputs cannot be sent: {error}")
            )
            return
        if not self.session.active:
            return  # the connection is gone; the registry hears of it from connection_lost
        for message in messages:
            self.session.writer.write(message)

    def cancel_job(self, job: ComputeJob) -> None:
        if not self.session.active:
            return
        text = json.dumps({p.META_JOB: job.id})
        content = encode_command(next(self._command_ids), p.CANCEL, text)
        self.session.writer.write(pack_message("COMMAND", p.DEVICE, content, version=2))

    def close(self, reason: str) -> None:
        self.session.close(reason)

    # -- what the node sends -------------------------------------------------------------------
    def handle(self, frame: Frame) -> bool:
        """Take a frame that belongs to the job protocol (True), or leave it (False)."""
        self.registry.seen(self.node_id)
        handler = _HANDLERS.get(frame.type)
        return handler is not None and handler(self, frame)

    def _on_status(self, frame: Frame) -> bool:
        metadata = frame.metadata()
        if p.META_JOB in metadata:
            status = decode_status(frame.content)
            self.registry.progress(self.node_id, p.Progress.from_metadata(metadata, status.message))
            return True
        return metadata.get(p.META_COMPUTE) == p.HEARTBEAT

    def _on_report(self, frame: Frame) -> bool:
        message = decode_command(frame.content)
        job_id = self._jobs_by_command.pop(message.command_id, None)
        if job_id is None:
            return True  # not an answer to a job (nothing else is asked of a node)
        try:
            report = p.JobReport.from_json(json.loads(message.text))
            if report.job != job_id:
                raise p.ProtocolError(f"it names job {report.job!r}")
        except (ValueError, p.ProtocolError) as error:
            malformed = p.JobReport(job_id, p.FAILED)
            self.registry.report(self.node_id, malformed, malformed=str(error))
            return True
        self.registry.report(self.node_id, report)
        return True

    def _on_data(self, frame: Frame) -> bool:
        metadata = frame.metadata()
        job_id = metadata.get(p.META_JOB)
        if not job_id:
            return False  # ordinary data from this peer: mapped like any other
        name = metadata.get(p.META_OUTPUT, "")
        try:
            value: Any = job_data.decode(frame, metadata)
        except (MessageError, ValueError) as error:
            self.registry.output_failed(self.node_id, job_id, name or frame.device, str(error))
            return True
        self.registry.output(self.node_id, job_id, name or frame.device, value)
        return True

    def connection_lost(self, reason: str) -> None:
        self.registry.node_lost(self.node_id, f"disconnected ({reason})")


_HANDLERS = {
    "STATUS": ComputeLink._on_status,
    "RTS_COMMAND": ComputeLink._on_report,
    **{type_name: ComputeLink._on_data for type_name in job_data.KINDS_BY_TYPE},
}
