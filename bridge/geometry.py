"""Matrix, vector and coordinate-system helpers shared by every layer.

This is the one place where SlicerBridge converts between the shapes people send (nested
lists, flat row-major lists, quaternions, LPS geometry from files) and the numpy arrays the
scene stores. Every conversion validates: a matrix that is not finite or has the wrong shape is
refused here, once, so commands, codecs and scene code can trust what they receive.

Conventions (as in 3D Slicer): the scene works in RAS; files such as NRRD and DICOM are usually
LPS; a volume's geometry is its IJK→RAS 4×4 matrix, whose upper-left 3×3 holds the axis
directions scaled by the spacing and whose last column holds the origin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Flips the first two axes: LPS→RAS and, being its own inverse, RAS→LPS.
LPS_TO_RAS: np.ndarray = np.diag([-1.0, -1.0, 1.0, 1.0])
LPS_TO_RAS.setflags(write=False)


class GeometryError(ValueError):
    """A value that cannot be a matrix, vector or rotation of the expected shape."""


def as_array(value: object, shape: tuple[int, ...], *, what: str = "value") -> np.ndarray:
    """Return `value` as a read-only float64 array of exactly `shape`, all entries finite.

    Accepts nested lists, tuples and arrays. A flat sequence of the right total size is
    accepted too and read row-major (e.g. 16 numbers for a 4×4 matrix), because MQTT and
    IGTL peers commonly send matrices flat.
    """
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GeometryError(f"{what}: not numeric ({error})") from None
    expected = math.prod(shape)
    if array.shape != shape:
        if array.ndim == 1 and array.size == expected and len(shape) > 1:
            array = array.reshape(shape)
        else:
            raise GeometryError(
                f"{what}: expected shape {_shape_text(shape)}, got {_shape_text(array.shape)}"
            )
    if not np.isfinite(array).all():
        raise GeometryError(f"{what}: contains NaN or infinite values")
    array.setflags(write=False)
    return array


def as_matrix4(value: object, *, what: str = "matrix") -> np.ndarray:
    """A finite 4×4 homogeneous matrix whose last row is (0, 0, 0, 1)."""
    matrix = as_array(value, (4, 4), what=what)
    last_row = matrix[3]  # plain comparisons: np.allclose costs more than the rest together
    if not (
        abs(last_row[0]) <= 1e-6
        and abs(last_row[1]) <= 1e-6
        and abs(last_row[2]) <= 1e-6
        and abs(last_row[3] - 1.0) <= 1e-6
    ):
        raise GeometryError(f"{what}: last row must be [0, 0, 0, 1], got {matrix[3].tolist()}")
    return matrix


def as_vector3(value: object, *, what: str = "vector") -> np.ndarray:
    """A finite 3-vector."""
    return as_array(value, (3,), what=what)


def quaternion_to_rotation(w: float, x: float, y: float, z: float) -> np.ndarray:
    """Rotation matrix of the unit quaternion (w, x, y, z); the quaternion is normalised."""
    q = np.array([w, x, y, z], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not math.isfinite(norm) or norm < 1e-12:
        raise GeometryError("quaternion: must be finite and non-zero")
    w, x, y, z = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (w, x, y, z) of a 3×3 rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        w, x, y, z = (
            0.25 * s,
            (m[2, 1] - m[1, 2]) / s,
            (m[0, 2] - m[2, 0]) / s,
            (m[1, 0] - m[0, 1]) / s,
        )
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x, y, z = (
            (m[2, 1] - m[1, 2]) / s,
            0.25 * s,
            (m[0, 1] + m[1, 0]) / s,
            (m[0, 2] + m[2, 0]) / s,
        )
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x, y, z = (
            (m[0, 2] - m[2, 0]) / s,
            (m[0, 1] + m[1, 0]) / s,
            0.25 * s,
            (m[1, 2] + m[2, 1]) / s,
        )
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x, y, z = (
            (m[1, 0] - m[0, 1]) / s,
            (m[0, 2] + m[2, 0]) / s,
            (m[1, 2] + m[2, 1]) / s,
            (0.25 * s),
        )
    if w < 0:  # one canonical sign, so round trips compare equal
        w, x, y, z = -w, -x, -y, -z
    return float(w), float(x), float(y), float(z)


def pose_matrix(
    rotation: np.ndarray | None = None, position: Sequence[float] | None = None
) -> np.ndarray:
    """A 4×4 matrix from an optional 3×3 rotation and an optional translation."""
    matrix = np.eye(4)
    if rotation is not None:
        matrix[:3, :3] = rotation
    if position is not None:
        matrix[:3, 3] = position
    return matrix


def ijk_to_ras_matrix(
    spacing: Sequence[float], origin: Sequence[float], directions: np.ndarray | None = None
) -> np.ndarray:
    """IJK→RAS from spacing, RAS origin and unit axis directions (columns: I, J, K axes)."""
    directions = np.eye(3) if directions is None else np.asarray(directions, dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = directions * np.asarray(spacing, dtype=np.float64)[np.newaxis, :]
    matrix[:3, 3] = origin
    return matrix


def decompose_ijk_to_ras(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spacing, origin and unit axis directions (3×3, columns) of an IJK→RAS matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    axes = matrix[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    if np.any(spacing <= 0):
        raise GeometryError("IJK→RAS matrix has a zero-length axis")
    return spacing, matrix[:3, 3].copy(), axes / spacing[np.newaxis, :]


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"
