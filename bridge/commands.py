"""Typed commands: the one language every transport speaks to the bus.

Each command kind is a frozen dataclass. Its fields are validated and normalised when it is
built, so a bad matrix or an unknown view fails at the adapter, with a `CommandError` naming
the command and the field, before it can reach the bus. Validation is declared per field
(`metadata={"check": ...}`) and run by one loop in `Command.__post_init__`, not written out
by hand in every class.

`coalesce_key` says how the bus may merge a command: `None` makes it a *barrier* (applied in
submission order with everything around it); a hashable key marks a high-rate update whose
pending predecessor with the same key it may replace.

The JSON form is `{"command": "<Kind>", "<field>": ...}` with numpy arrays as nested lists;
bulk arrays travel out of band (`PutVolume.array` and `SetGridTransform.displacements` are
excluded from JSON). `PutModel`'s mesh stays in JSON as nested lists: surfaces sent as JSON
are small (a few thousand triangles), and transports with binary bodies (an IGTL POLYDATA)
hand the command numpy arrays directly, never through JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from bridge import geometry
from bridge.scene import checks, views
from bridge.scene.types import (
    SLICE_ORIENTATIONS,
    SLICE_VIEWS,
    THREED_VIEWS,
    SceneError,
    canonical_layout,
    canonical_view,
)

#: Every command class by kind name, filled in by `Command.__init_subclass__`.
COMMANDS: dict[str, type[Command]] = {}

#: Fields every command has, set by the transport rather than by the sender's payload.
_META_FIELDS = frozenset({"id", "source", "received"})


class CommandError(ValueError):
    """A command that cannot be built: unknown kind, unknown or missing field, bad value."""

    def __init__(self, message: str, *, command: str | None = None, field: str | None = None):
        self.command = command
        self.field = field
        where = ".".join(part for part in (command, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


# -- field checks: each takes the raw value and returns the normalised one, or raises ----------


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _any_text(value: object) -> str:
    """Free text, kept exactly: empty, whitespace and line breaks included."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _matrix4(value: object) -> np.ndarray:
    return geometry.as_matrix4(value, what="4×4 matrix")


def _optional_matrix3(value: object) -> np.ndarray | None:
    return None if value is None else geometry.as_array(value, (3, 3), what="3×3 matrix")


def _vector3(value: object) -> np.ndarray:
    return geometry.as_vector3(value, what="3-vector")


def _optional_vector3(value: object) -> np.ndarray | None:
    return None if value is None else _vector3(value)


def _points(value: object) -> np.ndarray:
    array = np.array(value, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 3))
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"expected a list of [x, y, z] points, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("contains NaN or infinite values")
    array.setflags(write=False)
    return array


def _labels(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(label, str) for label in value):  # type: ignore[union-attr]
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)  # type: ignore[arg-type]


def _node_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of node ids or names, got {value!r}")
    return tuple(_text(item) for item in value)


def _string_map(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of string values, got {value!r}")
    return {str(key): str(item) for key, item in value.items()}


def _json_object(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {value!r}")
    return dict(value)


def _volume_array(value: object) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ValueError("expected a numpy array (volumes travel out of band, not in JSON)")
    if value.ndim != 3 or value.size == 0:
        raise ValueError(f"expected a non-empty 3-D array (k, j, i), got shape {value.shape}")
    if value.dtype.kind not in "biuf":
        raise ValueError(f"expected a numeric voxel type, got {value.dtype}")
    return value


def _triangles(value: object) -> np.ndarray:
    return checks.triangles(value)  # in range of the vertices: checked in PutModel


def _optional_normals(value: object) -> np.ndarray | None:
    return checks.normals(value)  # one per vertex: checked in PutModel


def _optional_color(value: object) -> tuple[float, float, float] | None:
    return None if value is None else checks.color(value)


def _displacement_field(value: object) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ValueError(
            "expected a numpy array (displacement fields travel out of band, not in JSON)"
        )
    if value.ndim != 4 or value.shape[3] != 3 or 0 in value.shape:
        raise ValueError(f"expected a non-empty (k, j, i, 3) array, got shape {value.shape}")
    if value.dtype.kind not in "iuf":
        raise ValueError(f"expected numeric vectors, got {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ValueError("contains NaN or infinite vectors")
    return value


def _slice_to_ras(value: object) -> np.ndarray:
    return views.check_slice_to_ras(_matrix4(value))


def _field_of_view(value: object) -> tuple[float, float]:
    return views.check_field_of_view(value)


def _slice_view(value: object) -> str:
    view = canonical_view(_text(value))
    if view not in SLICE_VIEWS:
        raise ValueError(f"{value!r} is not a slice view; slice views: {', '.join(SLICE_VIEWS)}")
    return view


def _threed_view(value: object) -> str:
    view = canonical_view(_text(value))
    if view not in THREED_VIEWS:
        raise ValueError(f"{value!r} is not a 3D view; 3D views: 3d (also 1, View1)")
    return view


def _orientation(value: object) -> str:
    orientation = _text(value).lower()
    if orientation not in SLICE_ORIENTATIONS:
        raise ValueError(f"{value!r} is not one of {', '.join(SLICE_ORIENTATIONS)}")
    return orientation


def _layout(value: object) -> str:
    return canonical_layout(_text(value))


def _step(value: object) -> int:
    if value in ("next", 1):
        return 1
    if value in ("previous", -1):
        return -1
    raise ValueError(f"expected 'next' or 'previous', got {value!r}")


def checked(check: Callable[[Any], Any], default: Any = MISSING, **options: Any) -> Any:
    """A dataclass field whose value is validated and normalised by `check` on construction."""
    metadata = {"check": check, **options.pop("metadata", {})}
    if default is MISSING:
        return field(metadata=metadata, **options)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata, **options)
    return field(default=default, metadata=metadata, **options)


# -- the base class ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class Command:
    """Base of every command: who sent it, when it arrived, an optional id echoed back."""

    id: str | None = None
    source: str = "local"
    received: float = field(default_factory=time.monotonic)

    #: Fields kept out of the JSON form (large binary payloads).
    json_excluded: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        COMMANDS[cls.__name__] = cls

    def __post_init__(self) -> None:
        for name, check in _checks_of(type(self)):
            try:
                normalised = check(getattr(self, name))
            except (ValueError, TypeError, SceneError) as error:
                raise CommandError(str(error), command=self.kind, field=name) from None
            object.__setattr__(self, name, normalised)
        if self.id is not None and not isinstance(self.id, str):
            object.__setattr__(self, "id", str(self.id))

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def coalesce_key(self) -> Hashable | None:
        """None: a barrier, applied in order. Otherwise the key it coalesces under."""
        return None

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON form: `{"command": kind, ...fields}`; `id` only when set."""
        payload: dict[str, Any] = {"command": self.kind}
        if self.id is not None:
            payload["id"] = self.id
        for spec in _payload_fields(type(self)):
            if spec.name not in self.json_excluded:
                payload[spec.name] = _to_json_value(getattr(self, spec.name))
        return payload

    @staticmethod
    def from_json(
        payload: Mapping[str, Any], *, source: str = "json", **out_of_band: Any
    ) -> Command:
        """Build a command from its JSON form. `out_of_band` supplies excluded fields (the
        voxel array of `PutVolume`) and transport metadata (`received`)."""
        if not isinstance(payload, Mapping):
            raise CommandError(f"a command must be a JSON object, got {type(payload).__name__}")
        name = payload.get("command")
        cls = COMMANDS.get(name) if isinstance(name, str) else None
        if cls is None:
            known = ", ".join(sorted(COMMANDS))
            raise CommandError(f"unknown command {name!r}; known commands: {known}")
        allowed = {spec.name for spec in _payload_fields(cls)} - cls.json_excluded
        unknown = set(payload) - allowed - {"command", "id"}
        if unknown:
            raise CommandError(
                f"unknown field(s) {', '.join(sorted(unknown))}; "
                f"fields: {', '.join(sorted(allowed)) or '(none)'}",
                command=cls.__name__,
            )
        for spec in _payload_fields(cls):
            required = spec.default is MISSING and spec.default_factory is MISSING
            if required and spec.name not in payload and spec.name not in out_of_band:
                raise CommandError("is required", command=cls.__name__, field=spec.name)
        arguments = {key: value for key, value in payload.items() if key != "command"}
        try:
            return cls(**arguments, **out_of_band, source=source)
        except TypeError as error:  # e.g. a positional/keyword clash from odd payloads
            raise CommandError(str(error), command=cls.__name__) from None


_CHECKS: dict[type, tuple[tuple[str, Callable[[Any], Any]], ...]] = {}


def _checks_of(cls: type[Command]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """(field name, check) pairs of a command class, computed once: commands are built at
    tracking rates, and `dataclasses.fields()` on every construction would dominate."""
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = tuple(
            (spec.name, spec.metadata["check"]) for spec in fields(cls) if "check" in spec.metadata
        )
    return checks


def _payload_fields(cls: type[Command]) -> tuple[Any, ...]:
    return tuple(spec for spec in fields(cls) if spec.name not in _META_FIELDS)


def _to_json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [_to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _to_json_value(item) for key, item in value.items()}
    return value


# -- coalescible updates -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class SetTransform(Command):
    """Set a linear transform's matrix-to-parent (node id or name; created if absent)."""

    node: str = checked(_text)
    matrix: np.ndarray = checked(_matrix4)

    @staticmethod
    def key_for(node: str) -> Hashable:
        """The key of an update to `node`, for transports that know the target before
        building the command (lazily decoded updates)."""
        return ("transform", node)

    @property
    def coalesce_key(self) -> Hashable:
        return self.key_for(self.node)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetTrackingPose(Command):
    """The `/slicer/tracking` cursor: rotation and/or position of the `tracker` transform.

    Parts left out keep their current value, so the key includes which parts are present:
    a position-only update never supersedes a rotation-only one.
    """

    rotation: np.ndarray | None = checked(_optional_matrix3, None)
    position: np.ndarray | None = checked(_optional_vector3, None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rotation is None and self.position is None:
            raise CommandError("needs rotation, position or both", command=self.kind)

    @property
    def coalesce_key(self) -> Hashable:
        return ("tracking", self.rotation is not None, self.position is not None)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetCamera(Command):
    """Place a 3D view's camera (RAS)."""

    view: str = checked(_threed_view, "3d")
    position: np.ndarray = checked(_vector3)
    focal_point: np.ndarray = checked(_vector3)
    view_up: np.ndarray = checked(_vector3, [0.0, 0.0, 1.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        direction = self.focal_point - self.position
        if np.linalg.norm(direction) < 1e-9:
            raise CommandError("must differ from position", command=self.kind, field="focal_point")
        if np.linalg.norm(np.cross(direction, self.view_up)) < 1e-9 * np.linalg.norm(direction):
            raise CommandError(
                "must not be zero or parallel to the view direction",
                command=self.kind,
                field="view_up",
            )

    @property
    def coalesce_key(self) -> Hashable:
        return ("camera", self.view)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetSliceOffset(Command):
    """Move a slice view along its normal to an absolute offset in mm."""

    view: str = checked(_slice_view)
    offset: float = checked(_number)

    @property
    def coalesce_key(self) -> Hashable:
        return ("slice-offset", self.view)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetMarkupsPoints(Command):
    """Replace a point list's control points (created if absent)."""

    node: str = checked(_text)
    points: np.ndarray = checked(_points)
    labels: tuple[str, ...] | None = checked(_labels, None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labels is not None and len(self.labels) != len(self.points):
            raise CommandError(
                f"has {len(self.labels)} labels for {len(self.points)} points",
                command=self.kind,
                field="labels",
            )

    @staticmethod
    def key_for(node: str) -> Hashable:
        """The key of an update to `node`, for transports that know the target before
        building the command (lazily decoded updates)."""
        return ("markups", node)

    @property
    def coalesce_key(self) -> Hashable:
        return self.key_for(self.node)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetControlPoint(Command):
    """Move one control point of a point list (index == count appends)."""

    node: str = checked(_text)
    index: int = checked(_index)
    position: np.ndarray = checked(_vector3)

    @property
    def coalesce_key(self) -> Hashable:
        return ("control-point", self.node, self.index)


@dataclass(frozen=True, kw_only=True, eq=False)
class PutVolume(Command):
    """Replace (or create) a volume's voxels and geometry; voxels travel out of band."""

    json_excluded: ClassVar[frozenset[str]] = frozenset({"array"})

    node: str = checked(_text)
    array: np.ndarray = checked(_volume_array)
    ijk_to_ras: np.ndarray = checked(_matrix4, np.eye(4).tolist())
    labelmap: bool = checked(_flag, False)

    @staticmethod
    def key_for(node: str) -> Hashable:
        """The key of an update to `node`, for transports that know the target before
        building the command (lazily decoded updates)."""
        return ("volume", node)

    @property
    def coalesce_key(self) -> Hashable:
        return self.key_for(self.node)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetGridTransform(Command):
    """Replace (or create) a grid transform's displacement field; vectors travel out of band.

    Coalesced per node like `PutVolume`: a field replaces the whole previous one, so a newer
    upload for the same node (a registration streaming its iterations) makes an older one
    that is still pending pointless.
    """

    json_excluded: ClassVar[frozenset[str]] = frozenset({"displacements"})

    node: str = checked(_text)
    displacements: np.ndarray = checked(_displacement_field)
    ijk_to_ras: np.ndarray = checked(_matrix4, np.eye(4).tolist())

    @staticmethod
    def key_for(node: str) -> Hashable:
        """The key of an update to `node`, for transports that know the target before
        building the command (lazily decoded updates)."""
        return ("grid-transform", node)

    @property
    def coalesce_key(self) -> Hashable:
        return self.key_for(self.node)


@dataclass(frozen=True, kw_only=True, eq=False)
class PutModel(Command):
    """Replace (or create) a model's surface: vertices, triangles, optional normals/colour.

    `vertices` are N×3 (local RAS mm), `triangles` M×3 indices into them, `normals` one per
    vertex (left out: derived when drawn), `color` RGB in 0..1 (left out: an existing model
    keeps its colour, a new one gets SlicerOpenIGTLink's (0.5, 0.5, 1)). Coalesced per node:
    a surface replaces the whole previous one, so of a stream of them only the newest
    pending one is applied.
    """

    node: str = checked(_text)
    vertices: np.ndarray = checked(checks.vertices)
    triangles: np.ndarray = checked(_triangles)
    normals: np.ndarray | None = checked(_optional_normals, None)
    color: tuple[float, float, float] | None = checked(_optional_color, None)

    def __post_init__(self) -> None:
        super().__post_init__()
        count = len(self.vertices)
        try:
            checks.indices_in_range(self.triangles, count)
        except SceneError as error:
            raise CommandError(str(error), command=self.kind, field="triangles") from None
        if self.normals is not None and len(self.normals) != count:
            raise CommandError(
                f"has {len(self.normals)} normals for {count} vertices",
                command=self.kind,
                field="normals",
            )

    @staticmethod
    def key_for(node: str) -> Hashable:
        """The key of an update to `node`, for transports that know the target before
        building the command (lazily decoded updates)."""
        return ("model", node)

    @property
    def coalesce_key(self) -> Hashable:
        return self.key_for(self.node)


# -- barriers ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class SetText(Command):
    """Set (or create) a text node's text, kept exactly (empty and whitespace included).

    Ordered, never coalesced: a stream of strings (IGTL STRING) is a log, not a state, so
    every one of them is applied, in order.
    """

    node: str = checked(_text)
    text: str = checked(_any_text)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetSliceOrientation(Command):
    """Change a slice view's orientation (fits the slice to the background volume)."""

    view: str = checked(_slice_view)
    orientation: str = checked(_orientation)


@dataclass(frozen=True, kw_only=True, eq=False)
class SetSliceGeometry(Command):
    """Place a slice view: its whole SliceToRAS and field of view (`copySliceGeometryFrom`).

    A barrier: it sets the offset too, so it must stay ordered with the offset and
    orientation changes around it.
    """

    view: str = checked(_slice_view)
    slice_to_ras: np.ndarray = checked(_slice_to_ras)
    field_of_view: tuple[float, float] = checked(_field_of_view)


@dataclass(frozen=True, kw_only=True, eq=False)
class LoadFile(Command):
    """Load a file into the scene (`filetype` as Slicer's, detected when omitted)."""

    path: str = checked(_text)
    filetype: str | None = checked(_optional_text, None)
    properties: dict[str, str] = checked(_string_map, {})


@dataclass(frozen=True, kw_only=True, eq=False)
class SaveNode(Command):
    """Write one node to a file."""

    node: str = checked(_text)
    path: str = checked(_text)
    properties: dict[str, str] = checked(_string_map, {})
    apply_transforms: bool = checked(_flag, False)


@dataclass(frozen=True, kw_only=True, eq=False)
class DeleteNodes(Command):
    """Remove the given nodes, or with `all` clear the scene (views and layout remain)."""

    nodes: tuple[str, ...] = checked(_node_list, [])
    all: bool = checked(_flag, False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if bool(self.nodes) == self.all:
            raise CommandError("give either nodes or all=true", command=self.kind)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReloadNodes(Command):
    """Re-read nodes from their files (no nodes: every storable node)."""

    nodes: tuple[str, ...] = checked(_node_list, [])


@dataclass(frozen=True, kw_only=True, eq=False)
class SetLayout(Command):
    """Switch the view layout (`FourUp`, `OneUp3D`, … any case)."""

    layout: str = checked(_layout)


@dataclass(frozen=True, kw_only=True, eq=False)
class LoadSampleData(Command):
    """Load a named sample (`Phantom` works offline)."""

    name: str = checked(_text)


@dataclass(frozen=True, kw_only=True, eq=False)
class SelectVolume(Command):
    """Make a volume active: a given node, or the next/previous one."""

    node: str | None = checked(_optional_text, None)
    step: int = checked(_step, "next")


@dataclass(frozen=True, kw_only=True, eq=False)
class Exec(Command):
    """Run Python in the bridge's persistent namespace (refused unless exec is enabled)."""

    code: str = checked(_text)


@dataclass(frozen=True, kw_only=True, eq=False)
class Shutdown(Command):
    """Stop the bridge (Slicer: exit the application) shortly after replying."""


def _optional_seconds(value: object) -> float | None:
    if value is None:
        return None
    seconds = _number(value)
    if not seconds > 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return seconds


@dataclass(frozen=True, kw_only=True, eq=False)
class RunCompute(Command):
    """Start a job on a compute node; the result is the job id.

    `inputs` maps the operation's inputs to scene nodes, `outputs` its data outputs to the
    names of the nodes they become; `timeout` (seconds a node may run it) overrides the
    operation's own."""

    operation: str = checked(_text)
    inputs: dict[str, str] = checked(_string_map, {})
    parameters: dict[str, Any] = checked(_json_object, {})
    outputs: dict[str, str] = checked(_string_map, {})
    timeout: float | None = checked(_optional_seconds, None)


# -- lazily decoded updates --------------------------------------------------------------------


class Deferred:
    """A coalescible update whose payload is decoded only if it is the one applied.

    High-rate transports (an IGTL TRANSFORM or IMAGE stream, MQTT poses) know the kind and the
    target from a message header or topic; decoding the body of a message that a newer one
    will supersede is wasted work. The bus calls `build()` just before applying; an error
    there fails this update alone.

    Give `build` as a callable, or subclass and override `build()`; subclasses call this
    constructor (a plain slotted class: it is made once per received message, so it must be
    cheaper than a dataclass).
    """

    __slots__ = ("_factory", "coalesce_key", "id", "kind", "received", "source")

    def __init__(
        self,
        kind: str,
        coalesce_key: Hashable,
        build: Callable[[], Command] | None = None,
        *,
        source: str = "local",
        received: float | None = None,
        id: str | None = None,
    ) -> None:
        self.kind = kind
        self.coalesce_key = coalesce_key
        self._factory = build
        self.source = source
        self.received = time.monotonic() if received is None else received
        self.id = id

    def build(self) -> Command:
        """The command to apply; called by the bus only for the update that survives."""
        if self._factory is None:
            raise NotImplementedError(f"{type(self).__name__} must override build()")
        return self._factory()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}, {self.coalesce_key!r}, from {self.source})"


Submittable = Command | Deferred


def describe_command(cls: type[Command]) -> str:
    """One line for `slicer-bridge commands`: kind, coalescing, JSON fields (* = required)."""
    names = []
    for spec in _payload_fields(cls):
        required = spec.default is MISSING and spec.default_factory is MISSING
        suffix = " (out of band)" if spec.name in cls.json_excluded else ""
        names.append(f"{spec.name}{'*' if required else ''}{suffix}")
    keyed = cls.coalesce_key is not Command.coalesce_key
    mode = "coalesced" if keyed else "ordered  "
    summary = (cls.__doc__ or "").strip().splitlines()[0]
    return f"{cls.__name__:<20} {mode}  {', '.join(names) or '-'}\n{'':<22}{summary}"
