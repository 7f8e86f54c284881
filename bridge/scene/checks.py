"""Checks on values callers hand the headless scene, each failure a `SceneError`.

Geometry shapes are `bridge.geometry`'s (used here, not repeated); this module adds what only
a scene needs — voxel arrays, point lists, IJK→RAS that spans space, control point indices,
Slicer's string flags — and turns `GeometryError` into the scene's caller error, so the bus and
the adapters see one error type for "your arguments are wrong". Checked arrays come back as
private read-only copies: the scene keeps them, and callers may reuse their buffers.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from bridge.geometry import GeometryError, as_array, as_matrix4, as_vector3
from bridge.scene.types import SceneError

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


__all__ = ["array", "ijk_to_ras", "index", "matrix4", "points", "truthy", "vector3", "voxels"]
