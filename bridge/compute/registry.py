"""The bridge's compute registry: which nodes are connected, what they offer, and the jobs.

Nodes register through a transport (the OpenIGTLink adapter's `compute_link`), which hands
over a `NodeChannel` to send jobs and cancels on; everything else happens here, on the event
loop:

* **operations** are what the connected nodes offer; two nodes offering one operation must
  declare the same parameters, inputs and outputs (a node whose schema differs is refused,
  told what differs);
* **jobs** (`RunCompute`, applied by the bus) have their parameters checked against the
  schema and their inputs read from the scene before they are queued — a bad request is
  refused at once, naming the field;
* **dispatch**: one FIFO queue per operation; a job goes to the node offering it with the
  most free slots (`concurrency` minus running jobs), then the one used least recently, and
  a re-dispatched job prefers a node it has not run on yet;
* **health**: a node that disconnects, or sends nothing (heartbeats included) for
  `heartbeat_timeout` (at least 3 of its heartbeat intervals) while no message of it is
  half-received, is dropped; each job it was
  running goes back to the front of its queue once, and fails with the reason the second
  time (`max_attempts`);
* **timeouts**: a running job fails after its timeout (request, else operation, else
  `job_timeout`) and is cancelled on its node; a queued job fails after `queue_timeout`;
* **results** arrive as data outputs and a report; declared outputs missing or of the wrong
  kind fail the job with a reason; otherwise they are applied to the scene through the bus
  (`scene_data.output_command`) and the job is done.

A job that was cancelled or timed out keeps its node slot until that node reports or is
lost, so a node is never sent more jobs than it said it can run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge import commands as c
from bridge.bus import CommandBus, Outcome
from bridge.compute import protocol as p
from bridge.compute.jobs import ComputeJob, JobFinished, JobNotFound, JobState
from bridge.compute.scene_data import output_command, read_input
from bridge.compute.schema import OperationSpec, ParameterError, SchemaError
from bridge.compute.values import DataError, check_value, kind_of
from bridge.scene.protocol import Scene

log = logging.getLogger("slicer_bridge.compute")


class NodeChannel(Protocol):
    """How the registry reaches one node (implemented by a transport)."""

    peer: str

    @property
    def receiving(self) -> bool:
        """True while part of a message from the node has arrived and the rest is coming
        (a big output on a slow link delays the heartbeats queued behind it; a transfer
        that stalls is the transport's to time out)."""
        ...

    def send_job(self, job: ComputeJob) -> None:
        """Send the job request and its inputs (asynchronously; failures close the channel)."""

    def cancel_job(self, job: ComputeJob) -> None: ...

    def close(self, reason: str) -> None:
        """Disconnect the node; the transport then reports it lost."""


class RegistrationError(ValueError):
    """A node's capability document was refused (the message says why)."""


@dataclass(eq=False)
class NodeRecord:
    id: str
    capability: p.Capability
    channel: NodeChannel
    last_seen: float
    registered: float = field(default_factory=time.time)
    #: Jobs on the node: running ones, and cancelled or timed-out ones not yet reported.
    running: dict[str, ComputeJob] = field(default_factory=dict)
    last_dispatch: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def name(self) -> str:
        return self.capability.node

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(operation.name for operation in self.capability.operations)

    @property
    def free(self) -> int:
        return self.capability.concurrency - len(self.running)

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "peer": self.channel.peer,
            "operations": list(self.operations),
            "concurrency": self.capability.concurrency,
            "running": [job.id for job in self.running.values()],
            "heartbeat": self.capability.heartbeat,
            "last_seen_s": round(now - self.last_seen, 3),
            "registered": self.registered,
            "completed": self.completed,
            "failed": self.failed,
            "about": self.capability.about,
        }


class ComputeRegistry:
    """Nodes, operations, queues and jobs of one bridge."""

    def __init__(
        self,
        bus: CommandBus,
        scene: Scene,
        *,
        job_timeout: float = 600.0,
        queue_timeout: float = 600.0,
        heartbeat_timeout: float = 5.0,
        max_attempts: int = 2,
        keep_finished: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.scene = scene
        self.job_timeout = job_timeout
        self.queue_timeout = queue_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts
        self.keep_finished = keep_finished
        self.clock = clock
        self.nodes: dict[str, NodeRecord] = {}
        self.jobs: OrderedDict[str, ComputeJob] = OrderedDict()
        self._queues: dict[str, deque[ComputeJob]] = {}
        self._sequence = itertools.count(1)
        self._dispatches = itertools.count(1)
        self._watch_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Why the last node offering an operation went away (for queued-job errors).
        self._gone: dict[str, str] = {}
        self.counters = {"submitted": 0, "done": 0, "failed": 0, "cancelled": 0, "redispatched": 0}

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._watch_task = asyncio.get_running_loop().create_task(
            self._watch(), name="compute-health"
        )

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        for job in list(self.jobs.values()):
            if not job.state.final:
                self._end(job, JobState.FAILED, "the bridge stopped")
        for task in list(self._tasks):
            task.cancel()
        for node in list(self.nodes.values()):
            node.channel.close("the bridge is stopping")
        self.nodes.clear()

    async def _watch(self) -> None:
        """Heartbeats and queue waits, checked a few times per heartbeat timeout."""
        interval = max(0.05, min(0.5, self.heartbeat_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            for node in list(self.nodes.values()):
                if node.channel.receiving:
                    node.last_seen = now
                    continue
                limit = max(self.heartbeat_timeout, 3 * node.capability.heartbeat)
                silent = now - node.last_seen
                if silent > limit:
                    reason = f"no heartbeat for {silent:.1f} s (limit {limit:g} s)"
                    node.channel.close(reason)
                    self.node_lost(node.id, reason)
            for queue in self._queues.values():
                while queue and now - queue[0].queued_at > self.queue_timeout:
                    job = queue.popleft()
                    self._end(job, JobState.FAILED, self._queue_failure(job, now))

    def _queue_failure(self, job: ComputeJob, now: float) -> str:
        waited = f"waited {now - job.queued_at:.1f} s in the queue"
        if not self._offering(job.operation):
            gone = self._gone.get(job.operation)
            why = f" (the last one, {gone})" if gone else ""
            return f"{waited}: no compute node offers '{job.operation}' any more{why}"
        return f"{waited}: no node offering '{job.operation}' became free"

    # -- nodes ---------------------------------------------------------------------------------
    def register(self, document: Any, channel: NodeChannel) -> NodeRecord:
        """Admit a node from its capability document; RegistrationError says why not."""
        try:
            capability = p.Capability.from_json(document)
        except p.ProtocolError as error:
            raise RegistrationError(str(error)) from None
        for operation in capability.operations:
            offered = self.operation(operation.name)
            differences = [] if offered is None else _contract_differences(offered, operation)
            if differences:
                raise RegistrationError(
                    f"operation '{operation.name}' is already offered with another schema: "
                    f"{', '.join(differences)} differ"
                )
        node_id = f"{capability.node}@{channel.peer}"
        if node_id in self.nodes:
            raise RegistrationError(f"node {node_id} is already registered on this connection")
        node = NodeRecord(node_id, capability, channel, last_seen=self.clock())
        self.nodes[node_id] = node
        for name in node.operations:
            self._queues.setdefault(name, deque())
            self._gone.pop(name, None)
        log.info(
            "compute: node %s registered: %s (%d at once)",
            node_id,
            ", ".join(node.operations),
            capability.concurrency,
        )
        self._pump()
        return node

    def seen(self, node_id: str) -> None:
        """Anything arrived from the node (a heartbeat counts): it is alive."""
        node = self.nodes.get(node_id)
        if node is not None:
            node.last_seen = self.clock()

    def node_lost(self, node_id: str, reason: str) -> None:
        """The node disconnected or went silent: its running jobs are re-dispatched once."""
        node = self.nodes.pop(node_id, None)
        if node is None:
            return
        log.warning("compute: node %s lost: %s", node_id, reason)
        for name in node.operations:
            if not self._offering(name):
                self._gone[name] = f"{node_id}, was lost: {reason}"
        for job in node.running.values():
            if job.state is not JobState.RUNNING:
                continue  # cancelled or timed out already
            self._clear_timer(job)
            lost = f"node {node_id} was lost while running it ({reason})"
            if job.attempts >= self.max_attempts:
                self._end(job, JobState.FAILED, f"{lost}; it had already been re-dispatched once")
                continue
            job.history.append(f"{lost}; re-dispatched")
            job.state, job.progress, job.message, job.received = JobState.QUEUED, 0.0, "", {}
            job.queued_at = self.clock()
            self.counters["redispatched"] += 1
            self._queues.setdefault(job.operation, deque()).appendleft(job)
        node.running.clear()
        self._pump()

    # -- operations ----------------------------------------------------------------------------
    def operation(self, name: str) -> OperationSpec | None:
        for node in self.nodes.values():
            for spec in node.capability.operations:
                if spec.name == name:
                    return spec
        return None

    def _offering(self, name: str) -> list[NodeRecord]:
        return [node for node in self.nodes.values() if name in node.operations]

    def operations_json(self) -> list[dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        for node in self.nodes.values():
            for spec in node.capability.operations:
                entry = listed.setdefault(spec.name, {**spec.to_json(), "nodes": []})
                entry["nodes"].append(node.id)
        for name, entry in listed.items():
            queue = self._queues.get(name, ())
            entry["queued"] = len(queue)
            entry["running"] = sum(
                1
                for node in self.nodes.values()
                for job in node.running.values()
                if job.operation == name and job.state is JobState.RUNNING
            )
        return [listed[name] for name in sorted(listed)]

    def nodes_json(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [node.to_json(now) for node in self.nodes.values()]

    def _offered_names(self) -> list[str]:
        return sorted({name for node in self.nodes.values() for name in node.operations})

    def status(self) -> dict[str, Any]:
        states = {state.value: 0 for state in JobState}
        for job in self.jobs.values():
            states[job.state.value] += 1
        return {
            "nodes": len(self.nodes),
            "operations": self._offered_names(),
            "jobs": states,
            **self.counters,
        }

    # -- jobs: submission ----------------------------------------------------------------------
    def run_command(self, command: c.RunCompute) -> dict[str, str]:
        """The `RunCompute` handler (applied by the bus): queue the job, return its id."""
        job = self.submit(
            command.operation,
            inputs=command.inputs,
            parameters=command.parameters,
            outputs=command.outputs,
            timeout=command.timeout,
            source=command.source,
        )
        return {"job": job.id}

    def submit(
        self,
        operation: str,
        *,
        inputs: dict[str, str],
        parameters: dict[str, Any],
        outputs: dict[str, str],
        timeout: float | None = None,
        source: str = "local",
    ) -> ComputeJob:
        """Check and queue a job; CommandError names what is wrong, the scene's errors
        (NodeNotFound…) pass through."""
        spec = self.operation(operation)
        if spec is None:
            offered = ", ".join(self._offered_names())
            raise c.CommandError(
                f"no compute node offers '{operation}'; operations: {offered or '(none)'}",
                command="RunCompute",
                field="operation",
            )
        try:
            checked = spec.validate_parameters(parameters)
        except ParameterError as error:
            raise c.CommandError(str(error), command="RunCompute", field="parameters") from None
        try:
            spec.check_input_names(inputs)
        except SchemaError as error:
            raise c.CommandError(str(error), command="RunCompute", field="inputs") from None
        data_outputs = [port.name for port in spec.outputs if port.kind != "value"]
        unknown = sorted(set(outputs) - set(data_outputs))
        if unknown:
            raise c.CommandError(
                f"unknown output(s) {', '.join(unknown)} for '{operation}'; outputs stored in "
                f"the scene: {', '.join(data_outputs) or '(none)'}",
                command="RunCompute",
                field="outputs",
            )
        kinds = {port.name: port.kind for port in spec.inputs}
        values = {name: read_input(self.scene, kinds[name], ref) for name, ref in inputs.items()}
        job_id = secrets.token_hex(6)
        default = f"{operation}-{job_id}"
        names = {
            name: outputs.get(name) or (default if len(data_outputs) == 1 else f"{default}-{name}")
            for name in data_outputs
        }
        job = ComputeJob(
            id=job_id,
            sequence=next(self._sequence),
            spec=spec,
            parameters=checked,
            inputs=values,
            input_refs=dict(inputs),
            output_names=names,
            timeout=float(timeout or spec.timeout or self.job_timeout),
            source=source,
            queued_at=self.clock(),
        )
        self.jobs[job.id] = job
        self.counters["submitted"] += 1
        self._queues.setdefault(operation, deque()).append(job)
        self._pump()
        return job

    def job(self, job_id: str) -> ComputeJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    async def wait(self, job_id: str, timeout: float) -> ComputeJob:
        """The job once finished, or as it is after `timeout` seconds."""
        job = self.job(job_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.finished.wait(), timeout)
        return job

    def cancel(self, job_id: str) -> ComputeJob:
        """Cancel a queued or running job (a running one is told to stop on its node)."""
        job = self.job(job_id)
        if job.state.final:
            raise JobFinished(f"job {job_id} already ended ({job.state.value})")
        if job.state is JobState.QUEUED:
            queue = self._queues.get(job.operation)
            if queue is not None and job in queue:
                queue.remove(job)
        else:
            node = self.nodes.get(job.node or "")
            if node is not None and not job.applying:
                node.channel.cancel_job(job)
        self._end(job, JobState.CANCELLED, "cancelled")
        return job

    # -- jobs: dispatch ------------------------------------------------------------------------
    def _pump(self) -> None:
        """Dispatch queued jobs, oldest first, while some node offering them has a free slot."""
        while True:
            heads = sorted(
                (queue[0] for queue in self._queues.values() if queue), key=lambda job: job.sequence
            )
            for job in heads:
                node = self._choose_node(job)
                if node is not None:
                    self._queues[job.operation].popleft()
                    self._dispatch(job, node)
                    break
            else:
                return

    def _choose_node(self, job: ComputeJob) -> NodeRecord | None:
        candidates = [n for n in self._offering(job.operation) if n.free > 0]
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda n: (n.id in job.tried, -n.free / n.capability.concurrency, n.last_dispatch),
        )

    def _dispatch(self, job: ComputeJob, node: NodeRecord) -> None:
        job.state, job.node, job.progress, job.message = JobState.RUNNING, node.id, 0.0, ""
        job.attempts += 1
        job.tried.add(node.id)
        job.received = {}
        job.started = job.started or time.time()
        job.dispatched_at = self.clock()
        node.running[job.id] = job
        node.last_dispatch = next(self._dispatches)
        loop = asyncio.get_running_loop()
        job.timer = loop.call_later(job.timeout, self._timed_out, job, job.attempts)
        node.channel.send_job(job)

    def _timed_out(self, job: ComputeJob, attempt: int) -> None:
        if job.state is not JobState.RUNNING or job.attempts != attempt or job.applying:
            return
        job.timer = None
        node = self.nodes.get(job.node or "")
        if node is not None:
            node.channel.cancel_job(job)
        self._end(job, JobState.FAILED, f"timed out after {job.timeout:g} s on node {job.node}")

    # -- jobs: what nodes send -----------------------------------------------------------------
    def _running_on(self, node_id: str, job_id: str) -> ComputeJob | None:
        node = self.nodes.get(node_id)
        job = None if node is None else node.running.get(job_id)
        if job is None or job.state is not JobState.RUNNING or job.applying:
            return None
        return job

    def progress(self, node_id: str, progress: p.Progress) -> None:
        job = self._running_on(node_id, progress.job)
        if job is not None:
            job.progress, job.message = progress.fraction, progress.message

    def output(self, node_id: str, job_id: str, name: str, value: Any) -> None:
        """A data output of a running job arrived (kept until the report)."""
        job = self._running_on(node_id, job_id)
        if job is not None:
            job.received[name] = value

    def output_failed(self, node_id: str, job_id: str, name: str, error: str) -> None:
        """A data output could not be decoded: the job fails (the node goes on serving)."""
        job = self._running_on(node_id, job_id)
        if job is not None:
            reason = f"malformed result from node {node_id}: output '{name}': {error}"
            self._fail_on_node(job, reason)

    def report(self, node_id: str, report: p.JobReport, *, malformed: str | None = None) -> None:
        """A node says how a job ended (or sent a report that `malformed` says is unusable);
        either way its slot is free again."""
        node = self.nodes.get(node_id)
        job = None if node is None else node.running.pop(report.job, None)
        if node is None or job is None:
            return
        if job.state is JobState.RUNNING and not job.applying:
            self._clear_timer(job)
            if malformed is not None:
                node.failed += 1
                reason = f"malformed result from node {node_id}: job report: {malformed}"
                self._end(job, JobState.FAILED, reason)
            elif report.status == p.DONE:
                self._accept(node, job, report)
            else:
                node.failed += 1
                why = report.error or report.status
                self._end(job, JobState.FAILED, f"node {node_id}: {why}")
        self._pump()

    def _fail_on_node(self, job: ComputeJob, reason: str) -> None:
        node = self.nodes.get(job.node or "")
        if node is not None:
            node.failed += 1
        self._clear_timer(job)
        self._end(job, JobState.FAILED, reason)

    def _accept(self, node: NodeRecord, job: ComputeJob, report: p.JobReport) -> None:
        """Check a done report against the declared outputs, then apply them."""
        try:
            data, values = self._results(job, report)
        except DataError as error:
            node.failed += 1
            self._end(job, JobState.FAILED, f"malformed result from node {node.id}: {error}")
            return
        node.completed += 1
        job.applying, job.progress, job.message = True, 1.0, "applying outputs"
        task = asyncio.get_running_loop().create_task(self._apply(job, data, values))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _results(
        self, job: ComputeJob, report: p.JobReport
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        data: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for port in job.spec.outputs:
            if port.kind == "value":
                if port.name in report.values:
                    values[port.name] = check_value("value", report.values[port.name], port.name)
                elif not port.optional:
                    raise DataError(f"no '{port.name}' value in its report")
                continue
            value = job.received.get(port.name)
            if value is None:
                if port.optional and port.name not in report.outputs:
                    continue
                raise DataError(f"output '{port.name}' ({port.kind}) never arrived")
            if kind_of(value) != port.kind:
                raise DataError(
                    f"output '{port.name}' must be a {port.kind}, got a {kind_of(value)}"
                )
            data[port.name] = value
        return data, values

    async def _apply(self, job: ComputeJob, data: dict[str, Any], values: dict[str, Any]) -> None:
        source = f"compute:{job.node}"
        outputs: dict[str, Any] = {name: {"value": value} for name, value in values.items()}
        try:
            kinds = {port.name: port.kind for port in job.spec.outputs}
            names = list(data)
            commands = [
                output_command(kinds[name], job.output_names[name], data[name], source=source)
                for name in names
            ]
            results = await asyncio.gather(*(self.bus.submit(command) for command in commands))
        except (c.CommandError, ValueError) as error:
            self._end(job, JobState.FAILED, f"outputs could not be stored: {error}")
            return
        for name, result in zip(names, results, strict=True):
            if result.outcome is Outcome.FAILED:
                reason = f"output '{name}' could not be stored: {result.error}"
                self._end(job, JobState.FAILED, reason)
                return
            value = result.value if isinstance(result.value, dict) else {}
            outputs[name] = {"node": value.get("node"), "name": job.output_names[name]}
        job.outputs = outputs
        self._end(job, JobState.DONE, None)

    # -- ending --------------------------------------------------------------------------------
    def _end(self, job: ComputeJob, state: JobState, error: str | None) -> None:
        if job.state.final:
            return
        self._clear_timer(job)
        job.state, job.error, job.applying = state, error, False
        job.ended = time.time()
        if state is JobState.DONE:
            job.progress, job.message = 1.0, ""
        job.inputs, job.received = {}, {}
        self.counters[state.value] += 1
        job.finished.set()
        if error and state is JobState.FAILED:
            log.warning("compute: job %s (%s) failed: %s", job.id, job.operation, error)
        self._forget_old()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self.jobs.items() if job.state.final]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self.jobs[job_id]

    @staticmethod
    def _clear_timer(job: ComputeJob) -> None:
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None


#: What callers rely on: two nodes offering an operation must agree on these (descriptions
#: and timeouts may differ).
CONTRACT = ("parameters", "inputs", "outputs")


def _contract_differences(offered: OperationSpec, declared: OperationSpec) -> list[str]:
    old, new = offered.to_json(), declared.to_json()
    return [key for key in CONTRACT if old.get(key) != new.get(key)]
