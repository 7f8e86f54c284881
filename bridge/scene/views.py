"""Slice-view and camera geometry of the headless scene, computed the way MRML's slice logic does.

Pure functions on numpy arrays: what a slice orientation's SliceToRAS is, where a slice sits
along its normal, how Slicer's FitSliceToBackground centres and sizes a view on a volume, and
whether a camera is well defined. No nodes, no events: inside Slicer, MRML does all of this.
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

#: vtkMRMLCameraNode's defaults: looking from anterior at the origin, superior up.
DEFAULT_CAMERA_POSITION: tuple[float, float, float] = (0.0, 500.0, 0.0)
DEFAULT_FOCAL_POINT: tuple[float, float, float] = (0.0, 0.0, 0.0)
DEFAULT_VIEW_UP: tuple[float, float, float] = (0.0, 0.0, 1.0)
DEFAULT_VIEW_ANGLE = 30.0

#: Below this, two directions count as parallel (sine of the angle between them).
_PARALLEL_TOLERANCE = 1e-6


def slice_to_ras(orientation: str, center: np.ndarray | None = None) -> np.ndarray:
    """A read-only SliceToRAS for `orientation`, its plane through `center` (default origin)."""
    matrix = np.eye(4)
    matrix[:3, :3] = SLICE_AXES[orientation]
    if center is not None:
        matrix[:3, 3] = center
    matrix.setflags(write=False)
    return matrix


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
    "SLICE_AXES",
    "check_camera",
    "fit_to_corners",
    "slice_normal",
    "slice_offset",
    "slice_to_ras",
    "volume_corners",
    "with_offset",
]
