"""The node SDK: declare operations with a decorator, then serve them to a bridge.

    from bridge.compute import ComputeNode, Parameter, Volume

    node = ComputeNode("thresholder")

    @node.operation(
        "threshold",
        parameters=[Parameter("lower", float, default=0.0), Parameter("upper", float)],
        inputs={"volume": Volume},
        outputs={"volume": Volume},
    )
    def threshold(job):
        volume = job.inputs["volume"]
        lower, upper = job.parameters["lower"], job.parameters["upper"]
        inside = (volume.array >= lower) & (volume.array <= upper)
        return volume.like(inside.astype("uint8"), labelmap=True)

    node.serve("127.0.0.1:18944")

A handler is called with one `Job` (as pynetdicom calls its handlers with an event):
`job.parameters` are complete and typed (defaults filled in, ranges checked), `job.inputs`
holds the declared inputs as `Volume` / `Transform` / `Points` (voxel arrays read-only),
`job.progress(fraction, message)` reports progress and raises `JobCancelled` once the job
was cancelled (so a loop that reports progress stops by itself). It returns a dict of its
outputs by name — or the value itself when it declares exactly one output. It runs in a
worker thread (`concurrency` of them), so the connection keeps answering heartbeats during
a long computation.

`ComputeNode` knows nothing of sockets: `run_job` turns a `JobRequest` and its inputs into
outputs and a `JobReport`, whatever carried them; `serve` connects over OpenIGTLink
(`bridge.compute.transport`), to one bridge or several at once.

Needs numpy and pyigtl only.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.compute.protocol import (
    CANCELLED,
    DONE,
    FAILED,
    Capability,
    JobReport,
    JobRequest,
)
from bridge.compute.schema import OperationSpec, Parameter, ParameterError, SchemaError, ports
from bridge.compute.values import DataError, check_value, json_value

log = logging.getLogger("slicer_bridge.compute.node")

Handler = Callable[["Job"], Any]


class JobCancelled(Exception):
    """The job was cancelled (or its bridge went away); raised by `Job.progress`."""


@dataclass
class Job:
    """One job as a handler sees it."""

    id: str
    operation: str
    parameters: dict[str, Any]
    inputs: dict[str, Any]
    #: Outputs the caller asked for (a handler may skip computing the others).
    outputs: tuple[str, ...] = ()
    _report: Callable[[float, str], None] = field(default=lambda fraction, message: None)
    _cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled."""
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.id} was cancelled")

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the job is (0…1, clamped); raises JobCancelled when cancelled."""
        self.check_cancelled()
        self._report(min(max(float(fraction), 0.0), 1.0), message)


@dataclass(frozen=True)
class Operation:
    spec: OperationSpec
    handler: Handler


@dataclass
class JobOutcome:
    """What `run_job` produced: the report, and the data outputs to send before it."""

    report: JobReport
    data: dict[str, Any] = field(default_factory=dict)


class ComputeNode:
    """A set of operations a process offers to bridges."""

    def __init__(
        self,
        name: str,
        *,
        concurrency: int = 1,
        heartbeat: float = 1.0,
        crc: bool = True,
        about: Mapping[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not heartbeat > 0:
            raise ValueError("heartbeat must be a positive number of seconds")
        self.name = name
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        #: False: negotiate job data without CRC-64 with the bridge (fast trusted links).
        self.crc = crc
        self.about = {"python": platform.python_version(), "host": platform.node(), **(about or {})}
        self.operations: dict[str, Operation] = {}

    # -- declaring -----------------------------------------------------------------------------
    def operation(
        self,
        name: str | None = None,
        *,
        parameters: Iterable[Parameter] = (),
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator declaring `handler(job)` as an operation (named after the function
        unless `name` is given; described by its docstring's first line unless
        `description` is). `inputs`/`outputs` map names to `Volume`, `Transform`, `Points`
        (or "value" for JSON outputs)."""

        def declare(handler: Handler) -> Handler:
            doc = (handler.__doc__ or "").strip().splitlines()
            spec = OperationSpec(
                name=name or handler.__name__,
                parameters=tuple(parameters),
                inputs=ports(inputs),
                outputs=ports(outputs),
                description=description if description is not None else (doc[0] if doc else ""),
                timeout=timeout,
            )
            self.add_operation(spec, handler)
            return handler

        return declare

    def add_operation(self, spec: OperationSpec, handler: Handler) -> None:
        if spec.name in self.operations:
            raise SchemaError(f"operation '{spec.name}' is declared twice")
        for port in spec.inputs:
            if port.kind == "value":
                raise SchemaError(f"input '{port.name}': JSON values are parameters, not inputs")
        self.operations[spec.name] = Operation(spec, handler)

    def capability(self) -> Capability:
        """The registration document sent to every bridge."""
        return Capability(
            node=self.name,
            operations=tuple(operation.spec for operation in self.operations.values()),
            concurrency=self.concurrency,
            heartbeat=self.heartbeat,
            crc=self.crc,
            about=dict(self.about),
        )

    # -- running -------------------------------------------------------------------------------
    def run_job(
        self,
        request: JobRequest,
        inputs: Mapping[str, Any],
        *,
        progress: Callable[[float, str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> JobOutcome:
        """Run one job to its end, whatever happens: every failure becomes a failed report
        with a reason (a handler's exception is logged with its traceback here)."""
        cancel = cancel or threading.Event()
        try:
            operation = self.operations.get(request.operation)
            if operation is None:
                raise _Refused(f"this node has no operation '{request.operation}'")
            spec = operation.spec
            parameters = spec.validate_parameters(request.parameters)
            spec.check_input_names(inputs)
            for port in spec.inputs:
                if port.name in inputs:
                    check_value(port.kind, inputs[port.name], f"input '{port.name}'")
            wanted = tuple(request.outputs) or tuple(port.name for port in spec.outputs)
            job = Job(
                request.job,
                spec.name,
                parameters,
                dict(inputs),
                wanted,
                progress or (lambda fraction, message: None),
                cancel,
            )
            job.check_cancelled()
            result = operation.handler(job)
            job.check_cancelled()
            return self._outcome(request.job, spec, wanted, result)
        except JobCancelled:
            return JobOutcome(JobReport(request.job, CANCELLED, error="cancelled"))
        except (_Refused, ParameterError, SchemaError, DataError) as error:
            return JobOutcome(JobReport(request.job, FAILED, error=str(error)))
        except Exception as error:
            log.exception("job %s (%s) failed", request.job, request.operation)
            return JobOutcome(
                JobReport(request.job, FAILED, error=f"{type(error).__name__}: {error}")
            )

    def _outcome(
        self, job_id: str, spec: OperationSpec, wanted: tuple[str, ...], result: Any
    ) -> JobOutcome:
        declared = {port.name: port for port in spec.outputs}
        if len(declared) == 1 and not (isinstance(result, dict) and set(result) <= set(declared)):
            result = {next(iter(declared)): result}
        elif not declared and result is None:
            result = {}
        if not isinstance(result, dict):
            raise _Refused(
                f"the handler must return a dict of outputs ({', '.join(declared) or 'none'}), "
                f"got {type(result).__name__}"
            )
        unknown = sorted(set(result) - set(declared))
        if unknown:
            raise _Refused(f"the handler returned undeclared output(s) {', '.join(unknown)}")
        data: dict[str, Any] = {}
        values: dict[str, Any] = {}
        kinds: dict[str, str] = {}
        for name in wanted:
            port = declared[name]
            if result.get(name) is None:
                if port.optional:
                    continue
                raise _Refused(f"the handler returned no '{name}' output")
            value = json_value(result[name]) if port.kind == "value" else result[name]
            check_value(port.kind, value, f"output '{name}'")
            if port.kind == "value":
                values[name] = value
            else:
                data[name] = value
                kinds[name] = port.kind
        return JobOutcome(JobReport(job_id, DONE, outputs=kinds, values=values), data)

    # -- serving -------------------------------------------------------------------------------
    def serve(
        self,
        bridge: str | tuple[str, int] = "127.0.0.1:18944",
        port: int | None = None,
        *,
        reconnect: bool = True,
    ) -> None:
        """Connect to a bridge (`"host:port"`, or host and port) and serve jobs until
        interrupted; reconnects when the bridge goes away unless `reconnect` is False."""
        address = (bridge, port) if port is not None and isinstance(bridge, str) else bridge
        try:
            asyncio.run(self.serve_async(address, reconnect=reconnect))
        except KeyboardInterrupt:
            log.info("node %s: interrupted", self.name)

    async def serve_async(self, *bridges: str | tuple[str, int], reconnect: bool = True) -> None:
        """Serve one or several bridges at once (one connection each) until cancelled."""
        from bridge.compute.transport import serve_bridges

        await serve_bridges(self, bridges, reconnect=reconnect)


class _Refused(Exception):
    """A job this node cannot run as asked (reported as failed, without a traceback)."""
