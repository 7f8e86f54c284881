"""Checks on values callers hand the headless scene, each failure a `SceneError`.

Geometry shapes are `bridge.geometry`'s (used here, not repeated); this module adds what only
a scene needs — voxel arrays, displacement fields, segments, point lists, surface meshes
(vertices, in-range triangles, normals, colour), IJK→RAS that spans space, control point
indices, Slicer's string flags — and turns `GeometryError` into the
scene's caller error, so the bus and the adapters see one error type for "your arguments are
wrong". Checked arrays come back as
private read-only copies: the scene keeps them, and callers may reuse their buffers.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from bridge.geometry import GeometryError, as_array, as_matrix4, as_vector3
from bridge.scene.types import ModelData, SceneError, Segment

#: Voxel kinds a scalar volume may hold (bool is stored as uint8, as VTK has no bool).
_VOXEL_KINDS = frozenset("biuf")
#: How Slicer's load/save properties spell "yes" (slicerio sends Python's `str(True)`).
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def _checked(convert: Callable[..., np.ndarray], value: object, *args: Any) -> np.ndarray:
    try:
        return convert(value, *args)
    except GeometryError as error:
        raise SceneError(str(error)) from None


def array(value: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    return _checked(functools.partial(as_array, what=what), value, shape)


def vector3(value: object, what: str) -> np.ndarray:
    return _checked(functools.partial(as_vector3, what=what), value)


def matrix4(value: object, what: str) -> np.ndarray:
    return _checked(functools.partial(as_matrix4, what=what), value)


def ijk_to_ras(value: object) -> np.ndarray:
    """A 4×4 IJK→RAS whose axes span 3D space (no zero or parallel axes)."""
    matrix = matrix4(value, "IJK to RAS matrix")
    if abs(float(np.linalg.det(matrix[:3, :3]))) < 1e-12:
        raise SceneError("IJK to RAS matrix: axes are degenerate (zero or parallel)")
    return matrix


def _numpy(value: object, what: str, dtype: Any = None) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise SceneError(f"{what}: not a numeric array ({error})") from None


def voxels(value: object) -> np.ndarray:
    """A 3-D numeric voxel array in numpy (k, j, i) order, dtype kept."""
    source = _numpy(value, "volume array")
    if source.ndim != 3:
        raise SceneError(f"volume array must be 3-D (k, j, i), got {source.ndim}-D")
    if 0 in source.shape:
        raise SceneError(f"volume array must not be empty, got shape {source.shape}")
    if source.dtype.kind not in _VOXEL_KINDS:
        raise SceneError(f"volume voxels must be numeric, got dtype {source.dtype}")
    copy = np.array(source, dtype=np.uint8 if source.dtype.kind == "b" else source.dtype)
    copy.setflags(write=False)
    return copy


def displacement_field(value: object) -> np.ndarray:
    """A (k, j, i, 3) field of finite displacement vectors, as floating point: float32 and
    float64 are kept (a grid transform's NRRD says which), anything else becomes float64."""
    source = _numpy(value, "displacement field")
    if source.ndim != 4 or source.shape[3] != 3 or 0 in source.shape:
        raise SceneError(
            f"displacement field must be (k, j, i, 3) and not empty, got shape {source.shape}"
        )
    if source.dtype.kind not in _VOXEL_KINDS:
        raise SceneError(f"displacement vectors must be numeric, got dtype {source.dtype}")
    kept = source.dtype.kind == "f" and source.dtype.itemsize in (4, 8)
    copy = np.array(source, dtype=source.dtype.newbyteorder("=") if kept else np.float64)
    if not np.all(np.isfinite(copy)):
        raise SceneError("displacement field contains NaN or infinite vectors")
    copy.setflags(write=False)
    return copy


def grid_shape(value: object) -> tuple[int, int, int]:
    """A (k, j, i) grid size: three positive integers."""
    try:
        shape = tuple(operator.index(side) for side in value)  # type: ignore[attr-defined]
    except TypeError:
        raise SceneError(f"grid shape must be three whole numbers, got {value!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise SceneError(f"grid shape must be three positive whole numbers, got {value!r}")
    return shape  # type: ignore[return-value]


def segments(values: object, shape: tuple[int, int, int]) -> list[Segment]:
    """Segments with unique non-empty ids, RGB colours in 0..1, non-zero label values and
    bool masks of the segmentation's grid `shape`; each mask (and the tags) a private
    read-only copy."""
    checked: list[Segment] = []
    seen: set[str] = set()
    for segment in values:  # type: ignore[attr-defined]
        if not isinstance(segment, Segment):
            raise SceneError(f"expected Segment values, got {type(segment).__name__}")
        if not segment.id or segment.id in seen:
            raise SceneError(f"segment ids must be unique and non-empty, got {segment.id!r}")
        seen.add(segment.id)
        mask = _numpy(segment.mask, f"segment {segment.id} mask")
        if mask.shape != tuple(shape):
            raise SceneError(
                f"segment {segment.id}: mask shape {mask.shape} is not the grid's {tuple(shape)}"
            )
        color = array(segment.color, (3,), f"segment {segment.id} colour")
        if not np.all((color >= 0.0) & (color <= 1.0)):
            raise SceneError(f"segment {segment.id}: colour components must be within 0..1")
        label = index(segment.label_value)
        if label == 0:
            raise SceneError(f"segment {segment.id}: label value 0 means no segment")
        copy = np.array(mask, dtype=bool)
        copy.setflags(write=False)
        checked.append(
            Segment(
                id=str(segment.id),
                name=str(segment.name),
                color=(float(color[0]), float(color[1]), float(color[2])),
                mask=copy,
                label_value=label,
                tags=MappingProxyType({str(k): str(v) for k, v in dict(segment.tags).items()}),
            )
        )
    return checked


def points(value: object) -> np.ndarray:
    """Control point positions as an N×3 float array (an empty sequence is zero points)."""
    positions = _numpy(value, "points", np.float64)
    if positions.size == 0:
        positions = positions.reshape(0, 3)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise SceneError(f"points must be N×3, got shape {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise SceneError("points contain NaN or infinite values")
    return positions


def vertices(value: object) -> np.ndarray:
    """Model vertices as a private read-only N×3 float array (zero vertices allowed)."""
    positions = _numpy(value, "vertices", np.float64)
    if positions.size == 0:
        positions = positions.reshape(0, 3)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise SceneError(f"vertices must be N×3, got shape {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise SceneError("vertices contain NaN or infinite values")
    copy = np.array(positions)
    copy.setflags(write=False)
    return copy


def triangles(value: object, vertex_count: int | None = None) -> np.ndarray:
    """Triangles as a private read-only M×3 int64 array of vertex indices; with
    `vertex_count`, every index must also name one of that many vertices."""
    source = _numpy(value, "triangles")
    if source.size == 0:
        source = np.zeros((0, 3), dtype=np.int64)
    if source.ndim != 2 or source.shape[1] != 3:
        raise SceneError(f"triangles must be M×3 vertex indices, got shape {source.shape}")
    if source.dtype.kind not in "iu":
        raise SceneError(f"triangles must hold integer vertex indices, got dtype {source.dtype}")
    copy = np.array(source, dtype=np.int64)
    if vertex_count is not None:
        indices_in_range(copy, vertex_count)
    copy.setflags(write=False)
    return copy


def indices_in_range(triangles: np.ndarray, vertex_count: int) -> None:
    """SceneError naming the first vertex index of `triangles` that is not 0..count-1."""
    if triangles.size == 0:
        return
    bad = (triangles < 0) | (triangles >= vertex_count)
    if bad.any():
        first = int(triangles[bad][0])
        raise SceneError(
            f"triangle vertex index {first} is out of range for {vertex_count} vertices"
        )


def normals(value: object, vertex_count: int | None = None) -> np.ndarray | None:
    """Per-vertex normals (None: none) as a private read-only N×3 float array of finite
    vectors; with `vertex_count`, exactly one per vertex."""
    if value is None:
        return None
    vectors = _numpy(value, "normals", np.float64)
    if vectors.ndim != 2 or vectors.shape[1] != 3:
        raise SceneError(f"normals must be N×3, got shape {vectors.shape}")
    if not np.all(np.isfinite(vectors)):
        raise SceneError("normals contain NaN or infinite values")
    if vertex_count is not None and len(vectors) != vertex_count:
        raise SceneError(f"{len(vectors)} normals given for {vertex_count} vertices")
    copy = np.array(vectors)
    copy.setflags(write=False)
    return copy


def color(value: object, what: str = "colour") -> tuple[float, float, float]:
    """An RGB colour: three numbers within 0..1."""
    rgb = array(value, (3,), what)
    if not np.all((rgb >= 0.0) & (rgb <= 1.0)):
        raise SceneError(f"{what} components must be within 0..1, got {rgb.tolist()}")
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def model(data: ModelData) -> ModelData:
    """A checked private copy of a surface mesh: vertices, in-range triangles, normals (one
    per vertex, or none) and colour."""
    if not isinstance(data, ModelData):
        raise SceneError(f"expected ModelData, got {type(data).__name__}")
    checked_vertices = vertices(data.vertices)
    count = len(checked_vertices)
    return ModelData(
        vertices=checked_vertices,
        triangles=triangles(data.triangles, count),
        color=color(data.color, "model colour"),
        name=data.name,
        normals=normals(data.normals, count),
    )


def index(value: object) -> int:
    """An integer index; text such as the WebServer's `index=2` is refused, not guessed."""
    if isinstance(value, bool):
        raise SceneError(f"index must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise SceneError(f"index must be an integer, got {value!r}") from None


def truthy(value: object) -> bool:
    """A Slicer string property read as a flag: "1", "true", "True", "yes", "on"."""
    return str(value).strip().lower() in _TRUE_WORDS


__all__ = [
    "array",
    "color",
    "displacement_field",
    "grid_shape",
    "ijk_to_ras",
    "index",
    "indices_in_range",
    "matrix4",
    "model",
    "normals",
    "points",
    "segments",
    "triangles",
    "truthy",
    "vector3",
    "vertices",
    "voxels",
]
