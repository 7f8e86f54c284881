"""Slice-view and camera geometry of the headless scene, computed the way MRML's slice logic does.

Pure functions on numpy arrays: what a slice orientation's SliceToRAS is (and which
orientation a given SliceToRAS has), where a slice sits along its normal, how Slicer's
FitSliceToBackground centres and sizes a view on a volume, how `copySliceGeometryFrom` sizes
the field of view, and whether a camera or a slice placement is well defined. No nodes, no
events: inside Slicer, MRML does all of this.
"""

from __future__ import annotations

import numpy as np

from bridge.scene.types import SceneError

#: SliceToRAS 3×3 of Slicer's default orientations, written as rows; its columns are the
#: slice x axis, the slice y axis and the plane normal.
SLICE_AXES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "axial": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "sagittal": ((0.0, 0.0, 1.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
}

DEFAULT_FIELD_OF_VIEW: tuple[float, float] = (250.0, 250.0)

#: The orientation name of a SliceToRAS that matches no preset (Slicer's "Reformat").
REFORMAT = "reformat"
#: How far (per matrix entry) a SliceToRAS rotation may be from a preset and still be named
#: after it, and from orthonormal and still be accepted.
_ORIENTATION_TOLERANCE = 1e-6
_ORTHONORMAL_TOLERANCE = 1e-4

#: vtkMRMLCameraNode's defaults: looking from anterior at the origin, superior up.
DEFAULT_CAMERA_POSITION: tuple[float, float, float] = (0.0, 500.0, 0.0)
DEFAULT_FOCAL_POINT: tuple[float, float, float] = (0.0, 0.0, 0.0)
DEFAULT_VIEW_UP: tuple[float, float, float] = (0.0, 0.0, 1.0)
DEFAULT_VIEW_ANGLE = 30.0

#: Below this, two directions count as parallel (sine of the angle between them).
_PARALLEL_TOLERANCE = 1e-6


def slice_to_ras(orientation: str, center: np.ndarray | None = None) -> np.ndarray:
    """A read-only SliceToRAS for a preset `orientation`, its plane through `center`
    (default origin)."""
    matrix = np.eye(4)
    matrix[:3, :3] = SLICE_AXES[orientation]
    if center is not None:
        matrix[:3, 3] = center
    matrix.setflags(write=False)
    return matrix


def orientation_of(matrix: np.ndarray) -> str:
    """The preset whose axes SliceToRAS has (`axial`, `sagittal`, `coronal`), else
    `reformat` — what Slicer's `GetOrientationString` answers after a geometry copy."""
    axes = np.asarray(matrix, dtype=np.float64)[:3, :3]
    for name, preset in SLICE_AXES.items():
        if np.allclose(axes, preset, rtol=0.0, atol=_ORIENTATION_TOLERANCE):
            return name
    return REFORMAT


def check_slice_to_ras(matrix: np.ndarray) -> np.ndarray:
    """A read-only SliceToRAS whose 3×3 columns are orthonormal (slice x, slice y, normal),
    as every slice computation assumes; SceneError otherwise. Left-handed is fine: Slicer's
    own axial preset is."""
    checked = np.array(matrix, dtype=np.float64)
    axes = checked[:3, :3]
    if not np.allclose(axes.T @ axes, np.eye(3), rtol=0.0, atol=_ORTHONORMAL_TOLERANCE):
        raise SceneError(
            "SliceToRAS: the upper 3×3 must have orthonormal columns (slice x, slice y, normal)"
        )
    checked.setflags(write=False)
    return checked


def check_field_of_view(value: object) -> tuple[float, float]:
    """(width, height) in mm, both finite and positive; SceneError otherwise."""
    try:
        sides = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SceneError(
            f"field of view must be two numbers (width, height), got {value!r}"
        ) from None
    if sides.shape != (2,) or not np.all(np.isfinite(sides)) or not np.all(sides > 0):
        raise SceneError(
            f"field of view must be two finite positive numbers (width, height), got {value!r}"
        )
    return float(sides[0]), float(sides[1])


def copied_field_of_view(
    source: tuple[float, float], target: tuple[float, float]
) -> tuple[float, float]:
    """`copySliceGeometryFrom`'s field of view: the source's width, the target's aspect
    (vtkMRMLSliceLinkLogic's technique, as the WebServer uses it)."""
    width = float(source[0])
    return width, width * float(target[1]) / float(target[0])


def slice_normal(matrix: np.ndarray) -> np.ndarray:
    """The slice plane's unit normal: SliceToRAS's third column."""
    normal = np.asarray(matrix, dtype=np.float64)[:3, 2]
    return normal / np.linalg.norm(normal)


def slice_offset(matrix: np.ndarray) -> float:
    """Signed distance (mm) of the slice plane from the RAS origin along its normal."""
    return float(np.dot(np.asarray(matrix)[:3, 3], slice_normal(matrix)))


def with_offset(matrix: np.ndarray, offset: float) -> np.ndarray:
    """`matrix` moved along its normal to `offset`, keeping its in-plane centre."""
    moved = np.array(matrix, dtype=np.float64)
    moved[:3, 3] += (offset - slice_offset(matrix)) * slice_normal(matrix)
    moved.setflags(write=False)
    return moved


def volume_corners(ijk_to_ras: np.ndarray, shape_kji: tuple[int, ...]) -> np.ndarray:
    """RAS positions (8×3) of a volume's outer voxel edges, as Slicer's RAS bounds use them
    (voxel centres ±½ voxel)."""
    nk, nj, ni = shape_kji[:3]
    edges_i, edges_j, edges_k = (-0.5, ni - 0.5), (-0.5, nj - 0.5), (-0.5, nk - 0.5)
    ijk = np.array([[i, j, k, 1.0] for i in edges_i for j in edges_j for k in edges_k])
    return (ijk @ np.asarray(ijk_to_ras, dtype=np.float64).T)[:, :3]


def fit_to_corners(
    orientation_matrix: np.ndarray, corners: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """Slicer's FitSliceToVolume for a square view: centre the slice on the corners' centre
    and size the field of view so the volume's in-plane extent fits."""
    matrix = np.array(orientation_matrix, dtype=np.float64)
    center = corners.mean(axis=0)
    matrix[:3, 3] = center
    in_plane = corners @ matrix[:3, :2]
    extent = float(np.max(np.ptp(in_plane, axis=0)))
    matrix.setflags(write=False)
    return matrix, (extent, extent)


def check_camera(position: np.ndarray, focal_point: np.ndarray, view_up: np.ndarray) -> None:
    """Refuse a camera VTK cannot orient: no view direction, or view-up along it."""
    direction = np.asarray(focal_point) - np.asarray(position)
    length, up_length = float(np.linalg.norm(direction)), float(np.linalg.norm(view_up))
    if length == 0.0:
        raise SceneError("camera position and focal point coincide: no view direction")
    if up_length == 0.0:
        raise SceneError("camera view_up must not be a zero vector")
    sine = float(np.linalg.norm(np.cross(direction / length, np.asarray(view_up) / up_length)))
    if sine < _PARALLEL_TOLERANCE:
        raise SceneError("camera view_up is parallel to the view direction")


__all__ = [
    "DEFAULT_CAMERA_POSITION",
    "DEFAULT_FIELD_OF_VIEW",
    "DEFAULT_FOCAL_POINT",
    "DEFAULT_VIEW_ANGLE",
    "DEFAULT_VIEW_UP",
    "REFORMAT",
    "SLICE_AXES",
    "check_camera",
    "check_field_of_view",
    "check_slice_to_ras",
    "copied_field_of_view",
    "fit_to_corners",
    "orientation_of",
    "slice_normal",
    "slice_offset",
    "slice_to_ras",
    "volume_corners",
    "with_offset",
]
