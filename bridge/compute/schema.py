"""What an operation declares: its parameters (names, types, defaults, ranges), its typed
inputs and outputs, and its JSON form in a node's capability document.

One implementation serves both ends: a node builds `OperationSpec`s from its decorators and
sends them as JSON; the bridge rebuilds them from that JSON (refusing a malformed document
with a reason), lists them at `GET /bridge/compute`, and checks every job's parameters
against them before a job is queued — a bad parameter is the caller's error, named, and
never reaches a node. The node checks again (defaults filled in the same way), so a handler
always sees complete, typed parameters.

Part of the node SDK: it needs nothing beyond the standard library and `values` (numpy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.compute.values import KINDS, DataError, kind_name

#: Names of operations, parameters, inputs and outputs: they appear in URLs, MQTT topics
#: and OpenIGTLink metadata, so they stay plain.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

#: Parameter types and the Python types a declaration may give instead.
PARAMETER_TYPES = ("number", "integer", "boolean", "string")
_PYTHON_TYPES: dict[type, str] = {float: "number", int: "integer", bool: "boolean", str: "string"}
_ARTICLES = {"number": "a", "integer": "an", "boolean": "a", "string": "a"}


class SchemaError(ValueError):
    """A declaration (or a capability document) that is not a valid operation schema."""


class ParameterError(ValueError):
    """Parameters that do not fit an operation's schema; names the parameter."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(f"parameter '{parameter}': {message}" if parameter else message)
        self.parameter = parameter


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a parameter that has none: the caller must give it.
REQUIRED: Any = _Required()


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SchemaError(
            f"{what} name {name!r} must start with a letter and use only letters, digits, "
            "'_', '.' and '-' (at most 64 characters)"
        )
    return name


@dataclass(frozen=True)
class Parameter:
    """One parameter: `Parameter("lower", float, default=0.0, minimum=-1024)`.

    `type` is "number", "integer", "boolean" or "string" (or float, int, bool, str). Without
    a `default` the parameter is required. `minimum`/`maximum` bound numbers (inclusive);
    `choices` lists the allowed values.
    """

    name: str
    type: str | type = "number"
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "parameter")
        kind = _PYTHON_TYPES.get(self.type, self.type) if isinstance(self.type, type) else self.type
        if kind not in PARAMETER_TYPES:
            raise SchemaError(
                f"parameter '{self.name}': type {self.type!r} is not one of "
                f"{', '.join(PARAMETER_TYPES)}"
            )
        object.__setattr__(self, "type", kind)
        for bound in ("minimum", "maximum"):
            value = getattr(self, bound)
            if value is None:
                continue
            if kind not in ("number", "integer"):
                raise SchemaError(f"parameter '{self.name}': {bound} applies to numbers only")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SchemaError(f"parameter '{self.name}': {bound} must be a number")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise SchemaError(f"parameter '{self.name}': minimum is above maximum")
        if self.choices is not None:
            choices = tuple(self.choices)
            if not choices:
                raise SchemaError(f"parameter '{self.name}': choices must not be empty")
            object.__setattr__(self, "choices", tuple(self._typed(c) for c in choices))
        if not isinstance(self.description, str):
            raise SchemaError(f"parameter '{self.name}': description must be text")
        if self.default is not REQUIRED:
            try:
                object.__setattr__(self, "default", self.check(self.default))
            except ParameterError as error:
                raise SchemaError(f"default of {error}") from None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """The value, typed (an integer-valued number for an integer parameter becomes an
        int), or a ParameterError saying what is wrong."""
        typed = self._typed(value)
        if self.minimum is not None and typed < self.minimum:
            raise ParameterError(f"{typed} is below the minimum {self.minimum}", self.name)
        if self.maximum is not None and typed > self.maximum:
            raise ParameterError(f"{typed} is above the maximum {self.maximum}", self.name)
        if self.choices is not None and typed not in self.choices:
            allowed = ", ".join(repr(choice) for choice in self.choices)
            raise ParameterError(f"{typed!r} is not one of {allowed}", self.name)
        return typed

    def _typed(self, value: Any) -> Any:
        kind = self.type
        if kind == "boolean":
            if isinstance(value, bool):
                return value
        elif kind == "string":
            if isinstance(value, str):
                return value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ParameterError(f"{value} is not a finite number", self.name)
            if kind == "number":
                return float(value)
            if isinstance(value, int) or float(value).is_integer():
                return int(value)
            raise ParameterError(f"expected an integer, got {value!r}", self.name)
        raise ParameterError(f"expected {_ARTICLES[kind]} {kind}, got {value!r}", self.name)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "type": self.type}
        document["required"] = self.required
        if not self.required:
            document["default"] = self.default
        for key in ("minimum", "maximum"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        if self.choices is not None:
            document["choices"] = list(self.choices)
        if self.description:
            document["description"] = self.description
        return document

    @classmethod
    def from_json(cls, document: Any) -> Parameter:
        fields = _object(
            document,
            "a parameter",
            {"name", "type", "required", "default", "minimum", "maximum", "choices", "description"},
        )
        required = fields.get("required", "default" not in fields)
        if not required and "default" not in fields:
            raise SchemaError(f"parameter {fields.get('name')!r} is optional but has no default")
        choices = fields.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise SchemaError(f"parameter {fields.get('name')!r}: choices must be a list")
        return cls(
            name=fields.get("name"),  # type: ignore[arg-type]
            type=fields.get("type", "number"),
            default=REQUIRED if required else fields["default"],
            minimum=fields.get("minimum"),
            maximum=fields.get("maximum"),
            choices=None if choices is None else tuple(choices),
            description=fields.get("description", ""),
        )


@dataclass(frozen=True)
class Port:
    """A typed input or output: a name and a data kind (volume, transform, points, value)."""

    name: str
    kind: str
    optional: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "input/output")
        try:
            object.__setattr__(self, "kind", kind_name(self.kind))
        except DataError as error:
            raise SchemaError(f"'{self.name}': {error}") from None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.optional:
            document["optional"] = True
        if self.description:
            document["description"] = self.description
        return document

    @classmethod
    def from_json(cls, document: Any) -> Port:
        fields = _object(document, "an input/output", {"name", "type", "optional", "description"})
        return cls(
            name=fields.get("name"),  # type: ignore[arg-type]
            kind=fields.get("type"),  # type: ignore[arg-type]
            optional=bool(fields.get("optional", False)),
            description=str(fields.get("description", "")),
        )


def ports(declared: Mapping[str, Any] | Iterable[Port] | None) -> tuple[Port, ...]:
    """`{"volume": Volume}` (or Port objects) → Ports, names unique."""
    if declared is None:
        return ()
    if isinstance(declared, Mapping):
        result = tuple(
            value if isinstance(value, Port) else Port(name, value)
            for name, value in declared.items()
        )
    else:
        result = tuple(declared)
    _unique([port.name for port in result], "input/output")
    return result


@dataclass(frozen=True)
class OperationSpec:
    """Everything a caller and the bridge need to know about an operation."""

    name: str
    parameters: tuple[Parameter, ...] = ()
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    description: str = ""
    #: Seconds a job may run on a node before it is failed (None: the bridge's default).
    timeout: float | None = None
    _by_name: dict[str, Parameter] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "operation")
        _unique([p.name for p in self.parameters], "parameter")
        _unique([p.name for p in self.inputs], "input")
        _unique([p.name for p in self.outputs], "output")
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not self.timeout > 0
        ):
            raise SchemaError(f"operation '{self.name}': timeout must be a positive number")
        self._by_name.update({parameter.name: parameter for parameter in self.parameters})

    def validate_parameters(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Complete, typed parameters (defaults filled in), or a ParameterError naming the
        first parameter that is unknown, missing or out of range."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self._by_name))
        if unknown:
            known = ", ".join(self._by_name) or "(none)"
            raise ParameterError(
                f"unknown parameter(s) {', '.join(unknown)} for '{self.name}'; parameters: {known}"
            )
        checked: dict[str, Any] = {}
        for name, parameter in self._by_name.items():
            if name in given:
                checked[name] = parameter.check(given[name])
            elif parameter.required:
                raise ParameterError("is required", name)
            else:
                checked[name] = parameter.default
        return checked

    def check_input_names(self, given: Iterable[str]) -> None:
        """Every required input given, nothing undeclared (a SchemaError says which)."""
        given = set(given)
        declared = {port.name for port in self.inputs}
        unknown = sorted(given - declared)
        if unknown:
            raise SchemaError(
                f"unknown input(s) {', '.join(unknown)} for '{self.name}'; "
                f"inputs: {', '.join(sorted(declared)) or '(none)'}"
            )
        missing = [p.name for p in self.inputs if not p.optional and p.name not in given]
        if missing:
            raise SchemaError(f"input(s) {', '.join(missing)} of '{self.name}' are required")

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": [parameter.to_json() for parameter in self.parameters],
            "inputs": [port.to_json() for port in self.inputs],
            "outputs": [port.to_json() for port in self.outputs],
        }
        if self.timeout is not None:
            document["timeout"] = self.timeout
        return document

    @classmethod
    def from_json(cls, document: Any) -> OperationSpec:
        fields = _object(
            document,
            "an operation",
            {"name", "description", "parameters", "inputs", "outputs", "timeout"},
        )
        name = fields.get("name")
        try:
            return cls(
                name=name,  # type: ignore[arg-type]
                description=str(fields.get("description", "")),
                parameters=tuple(Parameter.from_json(p) for p in _list(fields, "parameters")),
                inputs=tuple(Port.from_json(p) for p in _list(fields, "inputs")),
                outputs=tuple(Port.from_json(p) for p in _list(fields, "outputs")),
                timeout=fields.get("timeout"),
            )
        except SchemaError as error:
            raise SchemaError(f"operation {name!r}: {error}") from None


def _object(document: Any, what: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise SchemaError(f"{what} must be a JSON object, got {type(document).__name__}")
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise SchemaError(f"{what} has unknown field(s) {', '.join(unknown)}")
    return dict(document)


def _list(fields: Mapping[str, Any], key: str) -> list[Any]:
    value = fields.get(key, [])
    if not isinstance(value, list):
        raise SchemaError(f"{key} must be a list")
    return value


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError(f"{what} '{name}' is declared twice")
        seen.add(name)


__all__ = [
    "KINDS",
    "REQUIRED",
    "OperationSpec",
    "Parameter",
    "ParameterError",
    "Port",
    "SchemaError",
]
