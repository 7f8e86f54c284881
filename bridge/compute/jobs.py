"""One compute job as the bridge tracks it: what was asked, where it runs, how it ended.

A job moves queued → running → done | failed | cancelled, and back from running to queued
once when the node running it is lost (`ComputeRegistry` decides; this module only holds
the state and its JSON form, `GET /bridge/jobs/<id>`). `finished` is an asyncio event for
callers that wait (long polls, tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import Any

from bridge.compute.schema import OperationSpec


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobNotFound(LookupError):
    """No job with this id (never submitted, or finished long ago and forgotten)."""


class JobFinished(RuntimeError):
    """The job already ended, so it cannot be cancelled."""


@dataclass(eq=False)
class ComputeJob:
    id: str
    sequence: int
    spec: OperationSpec
    parameters: dict[str, Any]
    #: Input values read from the scene at submission, and the node references they came from.
    inputs: dict[str, Any]
    input_refs: dict[str, str]
    #: Scene node name per data output.
    output_names: dict[str, str]
    timeout: float
    source: str = "local"
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    #: Node id running (or that last ran) the job; dispatch count; what happened on the way.
    node: str | None = None
    attempts: int = 0
    tried: set[str] = field(default_factory=set)
    history: list[str] = field(default_factory=list)
    #: Results as applied to the scene: {"volume": {"node": id, "name": name}, "n": {"value": 3}}.
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Data outputs received from the node for the current attempt (applied on "done").
    received: dict[str, Any] = field(default_factory=dict)
    #: Set while outputs are being applied through the bus.
    applying: bool = False
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    #: Monotonic time it (re-)entered the queue, and it was last dispatched.
    queued_at: float = field(default_factory=time.monotonic)
    dispatched_at: float = 0.0
    timer: asyncio.TimerHandle | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def operation(self) -> str:
        return self.spec.name

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.id,
            "operation": self.operation,
            "state": self.state.value,
            "progress": round(self.progress, 4),
            "message": self.message,
            "outputs": self.outputs,
            "error": self.error,
            "node": self.node,
            "attempts": self.attempts,
            "history": self.history,
            "inputs": self.input_refs,
            "parameters": self.parameters,
            "timeout": self.timeout,
            "source": self.source,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
        }
