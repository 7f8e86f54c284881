"""The compute-job protocol: the documents a node and the bridge exchange, and their names.

The protocol is a handful of JSON documents plus typed data messages, each tagged with the
job it belongs to, so it does not depend on one socket between one bridge and one node:

| document | from | says |
|---|---|---|
| `Capability` | node | who it is, which operations (schemas), how many jobs at once |
| `Registration` | bridge | accepted (the node's id) or refused (why) |
| `JobRequest` | bridge | job id, operation, checked parameters, the inputs that follow |
| data (volume, transform, points) | both | one message per input or output, tagged job + name |
| `Progress` | node | job id, fraction done, a message |
| `JobReport` | node | job id, done / failed / cancelled, outputs sent, JSON values, error |
| cancel | bridge | job id |
| heartbeat | node | alive (any message counts; a heartbeat is sent when idle) |

**OpenIGTLink binding** (protocol 3, header v2 with metadata; what `bridge.compute.transport`
and `adapters.igtl.compute_link` speak):

* `Capability` → `COMMAND` named `ComputeRegister`, device `compute`, JSON text; answered by
  `RTS_COMMAND` (same command id) carrying the `Registration` JSON, error in the name field.
* `JobRequest` → `COMMAND` named `ComputeJob` (command id chosen by the bridge), then one
  `IMAGE` / `TRANSFORM` / `POINT` per input with metadata `job=<id>`, `input=<name>`.
* cancel → `COMMAND` named `ComputeCancel`, text `{"job": "<id>"}`, no reply.
* `Progress` → `STATUS` (code 1), device `compute`, metadata `job`, `progress` (0…1), the
  message as the STATUS message.
* outputs → `IMAGE` / `TRANSFORM` / `POINT` with metadata `job`, `output=<name>`
  (`labelmap=1` for a labelmap volume); then the `JobReport` as `RTS_COMMAND` answering the
  job's `COMMAND` (same command id).
* heartbeat → `STATUS` (code 1), device `compute`, metadata `compute=heartbeat`.

A node that registers with `"crc": false` agrees with the bridge that messages on this
connection carry a zero CRC field and are not checked (both directions).

Every document is a plain dict in JSON; the classes below build and check them (a malformed
document is a `ProtocolError` with a reason). Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.compute.schema import OperationSpec, SchemaError, check_name
from bridge.compute.values import KINDS

PROTOCOL_VERSION = 1

# -- OpenIGTLink binding: names ------------------------------------------------------------------
REGISTER = "ComputeRegister"
JOB = "ComputeJob"
CANCEL = "ComputeCancel"
#: COMMAND names a node sends / receives.
NODE_COMMANDS = frozenset({REGISTER})
BRIDGE_COMMANDS = frozenset({JOB, CANCEL})
DEVICE = "compute"

META_JOB = "job"
META_INPUT = "input"
META_OUTPUT = "output"
META_PROGRESS = "progress"
META_LABELMAP = "labelmap"
META_COMPUTE = "compute"
HEARTBEAT = "heartbeat"

#: Data kinds that travel as their own message (the others, JSON values, ride in the report).
DATA_KINDS = tuple(kind for kind, cls in KINDS.items() if cls is not None)

#: Job outcomes a node reports.
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
REPORT_STATUSES = (DONE, FAILED, CANCELLED)


class ProtocolError(ValueError):
    """A protocol document that cannot be what it claims to be."""


def _object(document: Any, what: str) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise ProtocolError(f"{what} must be a JSON object, got {type(document).__name__}")
    return dict(document)


def _text(fields: Mapping[str, Any], key: str, what: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what}: '{key}' must be a non-empty string")
    return value


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ProtocolError(f"{what} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ProtocolError(f"{what} must be finite")
    return float(value)


@dataclass(frozen=True)
class Capability:
    """A node's registration: name, operations, concurrency, heartbeat interval."""

    node: str
    operations: tuple[OperationSpec, ...]
    concurrency: int = 1
    heartbeat: float = 1.0
    protocol: int = PROTOCOL_VERSION
    #: False: job data between this node and the bridge carries no CRC-64 and is not checked
    #: (TCP's own checksum only) — for fast trusted links, where four CRC passes per job
    #: (≈ 80 ms each for 17 MB) would dominate.
    crc: bool = True
    #: Free-form facts about the node (host, Python, packages), shown in listings.
    about: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "node": self.node,
            "concurrency": self.concurrency,
            "heartbeat": self.heartbeat,
            "crc": self.crc,
            "operations": [operation.to_json() for operation in self.operations],
            "about": self.about,
        }

    @classmethod
    def from_json(cls, document: Any) -> Capability:
        fields = _object(document, "a capability document")
        protocol = fields.get("protocol")
        if protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol version {protocol!r} is not supported (this bridge speaks "
                f"{PROTOCOL_VERSION})"
            )
        node = _text(fields, "node", "capability")
        concurrency = fields.get("concurrency", 1)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ProtocolError(f"concurrency must be a positive integer, got {concurrency!r}")
        heartbeat = _positive(fields.get("heartbeat", 1.0), "heartbeat")
        raw_operations = fields.get("operations")
        if not isinstance(raw_operations, list) or not raw_operations:
            raise ProtocolError("a node must offer at least one operation")
        try:
            operations = tuple(OperationSpec.from_json(item) for item in raw_operations)
        except SchemaError as error:
            raise ProtocolError(str(error)) from None
        names = [operation.name for operation in operations]
        if len(set(names)) != len(names):
            raise ProtocolError("an operation is declared twice")
        crc = fields.get("crc", True)
        if not isinstance(crc, bool):
            raise ProtocolError(f"crc must be true or false, got {crc!r}")
        about = fields.get("about", {})
        if not isinstance(about, Mapping):
            raise ProtocolError("about must be a JSON object")
        return cls(node, operations, concurrency, heartbeat, protocol, crc, dict(about))


@dataclass(frozen=True)
class Registration:
    """The bridge's answer to a `Capability`."""

    accepted: bool
    node_id: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.accepted:
            return {"status": "registered", "node": self.node_id}
        return {"status": "refused", "error": self.error}

    @classmethod
    def from_json(cls, document: Any) -> Registration:
        fields = _object(document, "a registration reply")
        if fields.get("status") == "registered":
            return cls(True, node_id=str(fields.get("node", "")))
        return cls(False, error=str(fields.get("error") or "refused without a reason"))


@dataclass(frozen=True)
class JobRequest:
    """One job for a node. `inputs` maps each input name to its kind: the data messages that
    follow (a node starts the job once all have arrived). `outputs` names the outputs the
    caller wants (all declared ones when empty)."""

    job: str
    operation: str
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    #: Seconds the bridge gives the job; a node may stop earlier work after it (advisory).
    timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "job": self.job,
            "operation": self.operation,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "outputs": list(self.outputs),
        }
        if self.timeout is not None:
            document["timeout"] = self.timeout
        return document

    @classmethod
    def from_json(cls, document: Any) -> JobRequest:
        fields = _object(document, "a job request")
        job = _text(fields, "job", "job request")
        operation = _text(fields, "operation", "job request")
        parameters = _object(fields.get("parameters", {}), "parameters")
        inputs = _object(fields.get("inputs", {}), "inputs")
        for name, kind in inputs.items():
            if kind not in DATA_KINDS:
                raise ProtocolError(f"input '{name}' has unknown kind {kind!r}")
        outputs = fields.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise ProtocolError("outputs must be a list of names")
        timeout = fields.get("timeout")
        if timeout is not None:
            timeout = _positive(timeout, "timeout")
        return cls(job, operation, parameters, inputs, tuple(outputs), timeout)


@dataclass(frozen=True)
class JobReport:
    """How a job ended on a node. `outputs` maps each data output that was sent (as its own
    message, before this report) to its kind; `values` holds the JSON outputs."""

    job: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"job": self.job, "status": self.status}
        if self.outputs:
            document["outputs"] = self.outputs
        if self.values:
            document["values"] = self.values
        if self.error:
            document["error"] = self.error
        return document

    @classmethod
    def from_json(cls, document: Any) -> JobReport:
        fields = _object(document, "a job report")
        job = _text(fields, "job", "job report")
        status = fields.get("status")
        if status not in REPORT_STATUSES:
            raise ProtocolError(
                f"job report status {status!r} is not one of {', '.join(REPORT_STATUSES)}"
            )
        outputs = _object(fields.get("outputs", {}), "report outputs")
        for name, kind in outputs.items():
            if kind not in DATA_KINDS:
                raise ProtocolError(f"reported output '{name}' has unknown kind {kind!r}")
        values = _object(fields.get("values", {}), "report values")
        error = fields.get("error", "")
        if not isinstance(error, str):
            raise ProtocolError("error must be text")
        return cls(job, status, outputs, values, error)


@dataclass(frozen=True)
class Progress:
    """How far a running job is: a fraction in [0, 1] and an optional message."""

    job: str
    fraction: float
    message: str = ""

    def metadata(self) -> dict[str, str]:
        return {META_JOB: self.job, META_PROGRESS: f"{self.fraction:.4f}"}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], message: str = "") -> Progress:
        job = metadata.get(META_JOB, "")
        if not job:
            raise ProtocolError("progress without a job id")
        try:
            fraction = float(metadata.get(META_PROGRESS, "nan"))
        except ValueError:
            text = metadata.get(META_PROGRESS)
            raise ProtocolError(f"progress {text!r} is not a number") from None
        if not 0.0 <= fraction <= 1.0:
            raise ProtocolError(f"progress {fraction} is outside 0…1")
        return cls(job, fraction, message)


def data_name(name: str) -> str:
    """An input or output name, checked (it travels in metadata and device names)."""
    try:
        return check_name(name, "data")
    except SchemaError as error:
        raise ProtocolError(str(error)) from None
