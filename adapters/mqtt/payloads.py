"""MQTT payloads → typed commands: one small decoder per kind of topic.

Each decoder takes the wildcard levels of its topic (a command name, a node, a view) and the
decoded JSON body, and returns a command (or a `Deferred` one) or raises `CommandError`
naming the field. The command classes do all value checking (`bridge.commands`,
`bridge.geometry`); decoders only map the convenience shapes simple publishers send onto the
one JSON form of the commands. Nothing here touches the bus, the scene or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from bridge import commands as c
from bridge import geometry

Decoder = Callable[[tuple[str, ...], Any, str], c.Submittable]
"""(topic wildcard levels, decoded JSON body or None for an empty payload, source)."""


class PayloadError(c.CommandError):
    """A payload that is not JSON, or not a shape the topic accepts."""


def parse_json(payload: bytes) -> Any:
    """The JSON value of a payload; None for an empty payload."""
    if not payload:
        return None
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise PayloadError(f"payload is not valid JSON: {error}") from None


def encode_json(value: Any) -> bytes:
    """JSON bytes for anything the adapter publishes (numpy arrays as nested lists)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


# -- …/cmd/<CommandName> ----------------------------------------------------------------------


def command(levels: tuple[str, ...], body: Any, source: str) -> c.Command:
    """`{"field": …}` for the command named by the topic; `"command"` may repeat the name."""
    (name,) = levels
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object of {name} fields, got {_json_type(body)}")
    stated = body.setdefault("command", name)
    if stated != name:
        raise PayloadError(f"payload names command {stated!r} but the topic names {name!r}")
    return c.Command.from_json(body, source=source)


# -- …/transform/<node>/set -------------------------------------------------------------------


def transform(levels: tuple[str, ...], body: Any, source: str) -> c.Submittable:
    """Three shapes: 16 numbers (row-major 4×4) or a nested 4×4 array; `{"matrix": …}`;
    `{"position": [x, y, z], "quaternion": [w, x, y, z]}` (a part left out is identity).

    The first shape is what trackers stream at high rates. When it is certainly valid, the
    command is built only if the bus applies it (a `Deferred`): of a 1 kHz stream into a
    60 Hz scene, 16 of 17 messages are never turned into arrays. Anything else is built at
    once, so every malformed payload is refused on arrival with the field named.
    """
    (node,) = levels
    if isinstance(body, list):
        if _certainly_a_matrix(body) and node and node == node.strip():
            return LazyTransform(node, body, source)
        return c.SetTransform(node=node, matrix=body, source=source)
    fields = _object_body(body, "SetTransform", "a 4×4 matrix, {matrix} or {position, quaternion}")
    if "matrix" in fields:
        return _from_json("SetTransform", node=node, fields=fields, source=source)
    pose_fields = {"position", "quaternion", "id"}
    unknown = set(fields) - pose_fields
    if unknown or not fields.keys() & {"position", "quaternion"}:
        raise PayloadError(
            f"expected matrix, or position and/or quaternion; got field(s) "
            f"{', '.join(sorted(unknown or fields)) or '(none)'}",
            command="SetTransform",
        )
    rotation = position = None
    if "quaternion" in fields:
        with _reported_as("quaternion"):
            quaternion = geometry.as_array(fields["quaternion"], (4,), what="[w, x, y, z]")
            rotation = geometry.quaternion_to_rotation(*quaternion)
    if "position" in fields:
        with _reported_as("position"):
            position = geometry.as_vector3(fields["position"], what="[x, y, z]")
    matrix = geometry.pose_matrix(rotation, position)
    return c.SetTransform(node=node, matrix=matrix, id=fields.get("id"), source=source)


def transform_key(node: str) -> tuple[str, str]:
    """`SetTransform(node=node, …).coalesce_key`, without building the command."""
    return c.SetTransform.key_for(node)


class LazyTransform(c.Deferred):
    """A `SetTransform` the bus builds (`build()`) only if it applies it."""

    __slots__ = ("matrix", "node", "on_build")

    def __init__(self, node: str, matrix: list[float], source: str) -> None:
        super().__init__("SetTransform", transform_key(node), source=source)
        self.node = node
        self.matrix = matrix
        self.on_build: Callable[[], Any] | None = None

    def when_built(self, callback: Callable[[], Any]) -> None:
        """Call `callback` when the bus builds this update, i.e. is about to apply it (a
        superseded update is never built)."""
        self.on_build = callback

    def build(self) -> c.SetTransform:
        if self.on_build is not None:
            self.on_build()
        return c.SetTransform(
            node=self.node, matrix=self.matrix, source=self.source, received=self.received
        )


_NUMBER_TYPES = frozenset({int, float})
_LAST_ROW = [0, 0, 0, 1]


def _certainly_a_matrix(body: list[Any]) -> bool:
    """16 JSON numbers ending in 0, 0, 0, 1: `SetTransform` will accept it (JSON numbers
    are finite: the parser refuses NaN and overflows). False means "build it now and see"."""
    return len(body) == 16 and set(map(type, body)) <= _NUMBER_TYPES and body[12:] == _LAST_ROW


# -- …/markups/<node>/set ---------------------------------------------------------------------


def markups(levels: tuple[str, ...], body: Any, source: str) -> c.SetMarkupsPoints:
    """`[[x, y, z], …]` or `{"points": […], "labels": […]}`: the node's whole point list."""
    (node,) = levels
    if isinstance(body, list):
        return c.SetMarkupsPoints(node=node, points=body, source=source)
    fields = _object_body(body, "SetMarkupsPoints", "a list of [x, y, z] or {points, labels}")
    return _from_json("SetMarkupsPoints", node=node, fields=fields, source=source)


# -- …/camera/<view>/set ----------------------------------------------------------------------


def camera(levels: tuple[str, ...], body: Any, source: str) -> c.SetCamera:
    """`{"position": …, "focal_point": …, "view_up": …}` for the view named by the topic."""
    (view,) = levels
    fields = _object_body(body, "SetCamera", "{position, focal_point, view_up}")
    if "view" in fields:
        raise PayloadError("the view is named by the topic", command="SetCamera", field="view")
    return c.Command.from_json({**fields, "command": "SetCamera", "view": view}, source=source)


# -- helpers ----------------------------------------------------------------------------------


def _object_body(body: Any, kind: str, expected: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected {expected}, got {_json_type(body)}", command=kind)
    return body


def _from_json(kind: str, *, node: str, fields: dict[str, Any], source: str) -> Any:
    if "node" in fields:
        raise PayloadError("the node is named by the topic", command=kind, field="node")
    return c.Command.from_json({**fields, "command": kind, "node": node}, source=source)


@contextmanager
def _reported_as(field: str) -> Iterator[None]:
    """Geometry errors inside the block become errors of the SetTransform field `field`."""
    try:
        yield
    except geometry.GeometryError as error:
        raise PayloadError(str(error), command="SetTransform", field=field) from None


def _json_type(value: Any) -> str:
    if value is None:
        return "an empty payload"
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    return names.get(type(value), "a number")
