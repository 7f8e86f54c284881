"""The data a compute job takes and returns: volumes, transforms, point lists, JSON values.

These are the types a node's operation sees (`job.inputs["volume"]`) and returns. They are
plain numpy holders with the geometry a scene needs, checked when built, and they know
nothing of OpenIGTLink or of the scene: the IGTL encoding lives in
`adapters.igtl.codecs.job_data`, the scene reading and writing in `bridge.compute.scene_data`.

Only numpy is needed here (the node SDK runs where the bridge's other dependencies are not
installed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Voxel types a volume may have (what an OpenIGTLink IMAGE can carry).
VOXEL_TYPES = frozenset(
    np.dtype(name) for name in ("int8", "uint8", "int16", "uint16", "int32", "uint32")
) | frozenset(np.dtype(name) for name in ("float32", "float64"))


class DataError(ValueError):
    """A value that cannot be what its declaration says (wrong shape, type or kind)."""


@dataclass(frozen=True, eq=False)
class Volume:
    """A scalar volume: voxels in numpy (k, j, i) order and the 4×4 IJK→RAS matrix.

    `labelmap` asks the bridge to store it as a labelmap volume. `like(array)` makes a volume
    with the same geometry, the usual way to return a result.
    """

    array: np.ndarray
    ijk_to_ras: np.ndarray = field(default_factory=lambda: np.eye(4))
    labelmap: bool = False

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim != 3 or array.size == 0:
            raise DataError(f"a volume needs a non-empty 3-D (k, j, i) array, got {array.shape}")
        array = _sendable(array)
        if max(array.shape) > 0xFFFF:
            raise DataError(f"volume sizes are at most 65535 per axis, got {array.shape}")
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "ijk_to_ras", _matrix4(self.ijk_to_ras, "ijk_to_ras"))
        object.__setattr__(self, "labelmap", bool(self.labelmap))

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along i, j, k in millimetres."""
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def origin(self) -> np.ndarray:
        """RAS position of voxel (0, 0, 0)."""
        return self.ijk_to_ras[:3, 3].copy()

    def like(self, array: np.ndarray, *, labelmap: bool = False) -> Volume:
        """A volume with this one's geometry and other voxels (same shape)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise DataError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return Volume(array, self.ijk_to_ras, labelmap=labelmap)


@dataclass(frozen=True, eq=False)
class Transform:
    """A linear transform: its 4×4 matrix-to-parent (RAS)."""

    matrix: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", _matrix4(self.matrix, "matrix"))


@dataclass(frozen=True, eq=False)
class Points:
    """A point list: N×3 RAS positions and one label per point."""

    positions: np.ndarray
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positions = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        if not np.all(np.isfinite(positions)):
            raise DataError("point positions must be finite")
        labels = tuple(str(label) for label in self.labels)
        if labels and len(labels) != len(positions):
            raise DataError(f"{len(labels)} labels for {len(positions)} points")
        positions.setflags(write=False)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "labels", labels or tuple("" for _ in range(len(positions))))


#: Data kinds by the name a capability document uses, and the class of their values.
#: `value` is any JSON value (numbers, strings, lists, objects), returned inline.
KINDS: dict[str, type | None] = {
    "volume": Volume,
    "transform": Transform,
    "points": Points,
    "value": None,
}
_KIND_OF_CLASS = {cls: name for name, cls in KINDS.items() if cls is not None}


def kind_name(kind: str | type) -> str:
    """`Volume` or `"volume"` → `"volume"`; anything else is a DataError."""
    if isinstance(kind, type) and kind in _KIND_OF_CLASS:
        return _KIND_OF_CLASS[kind]
    if isinstance(kind, str) and kind in KINDS:
        return kind
    raise DataError(f"unknown data kind {kind!r}; kinds: {', '.join(KINDS)}")


def kind_of(value: Any) -> str:
    """The kind of a value: a Volume is "volume"…, anything else "value"."""
    return _KIND_OF_CLASS.get(type(value), "value")


def check_value(kind: str, value: Any, what: str) -> Any:
    """`value` if it is of `kind` (JSON values are checked to be JSON-friendly)."""
    expected = KINDS[kind]
    if expected is not None:
        if not isinstance(value, expected):
            raise DataError(f"{what} must be a {expected.__name__}, got {type(value).__name__}")
        return value
    _check_json(value, what)
    return value


def _check_json(value: Any, what: str) -> None:
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{what}: {value} is not a JSON number")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(item, what)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DataError(f"{what}: object keys must be strings, got {key!r}")
            _check_json(item, what)
        return
    raise DataError(f"{what}: {type(value).__name__} is not a JSON value")


def json_value(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values (what a handler may return)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value


#: Voxel types converted on the way (numpy's defaults that OpenIGTLink lacks), when the
#: values fit: bool → uint8, int64 → int32, uint64 → uint32, float16 → float32.
_NARROWER = {"b": np.uint8, "i": np.int32, "u": np.uint32, "f": np.float32}


def _sendable(array: np.ndarray) -> np.ndarray:
    if array.dtype.newbyteorder("=") in VOXEL_TYPES:
        return array
    narrower = np.dtype(_NARROWER.get(array.dtype.kind, np.void))
    if narrower.kind != "V" and array.dtype.kind in "iu":
        limits = np.iinfo(narrower)
        if array.min() < limits.min or array.max() > limits.max:
            narrower = np.dtype(np.void)
    if narrower.kind == "V":
        raise DataError(
            f"voxel type {array.dtype} cannot be sent; use int8…int32, uint8…uint32, "
            "float32 or float64"
        )
    return array.astype(narrower)


def _matrix4(value: Any, what: str) -> np.ndarray:
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be a 4×4 matrix of numbers") from None
    if matrix.shape == (16,):
        matrix = matrix.reshape(4, 4)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise DataError(f"{what} must be a finite 4×4 matrix, got shape {matrix.shape}")
    matrix.setflags(write=False)
    return matrix
