"""Perspective projection of a 3D view's camera onto an image.

Pure functions on numpy arrays and `CameraState`: where a RAS point lands on a width×height
image and which ray each pixel casts (where "look from axis" puts the camera is
`camera_axes`'s). The projection is
VTK's default camera: perspective, `view_angle` the vertical field of view, view-up
orthogonalised against the view direction. No scene, no drawing: `render` draws with it.

Image conventions: pixel (column, row) covers [column, column+1) × [row, row+1), rows grow
downwards, the optical axis passes through the image centre (width/2, height/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bridge.scene.types import CameraState, SceneError

#: Camera-space depth (mm) below which geometry is not drawn (VTK's near clipping plane).
NEAR_DEPTH = 1e-3


@dataclass(frozen=True, slots=True, eq=False)
class Projection:
    """A camera looking at a `width`×`height` image: its eye, orthonormal basis (right, up,
    forward: forward points from the eye to the focal point) and focal length in pixels."""

    eye: np.ndarray
    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray
    focal_px: float
    width: int
    height: int

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """RAS points (N×3) in camera coordinates: x right, y up, z depth along forward."""
        basis = np.stack([self.right, self.up, self.forward])
        return (np.asarray(points, dtype=np.float64) - self.eye) @ basis.T

    def to_pixels(self, camera_points: np.ndarray) -> np.ndarray:
        """Camera-space points (N×3, depth > 0) → continuous pixel positions (N×2: x, y)."""
        depth = camera_points[:, 2]
        x = self.width / 2.0 + self.focal_px * camera_points[:, 0] / depth
        y = self.height / 2.0 - self.focal_px * camera_points[:, 1] / depth
        return np.stack([x, y], axis=1)

    def pixel_directions(self) -> np.ndarray:
        """Per pixel centre, the ray direction in RAS scaled so that one unit along it is one
        unit of depth (height×width×3): a ray's point at depth t is `eye + t·direction`."""
        columns = (np.arange(self.width) + 0.5 - self.width / 2.0) / self.focal_px
        rows = (self.height / 2.0 - np.arange(self.height) - 0.5) / self.focal_px
        return (
            self.forward[None, None, :]
            + columns[None, :, None] * self.right[None, None, :]
            + rows[:, None, None] * self.up[None, None, :]
        )


def projection(camera: CameraState, width: int, height: int) -> Projection:
    """The projection of `camera` onto a `width`×`height` image."""
    eye = np.asarray(camera.position, dtype=np.float64)
    forward = np.asarray(camera.focal_point, dtype=np.float64) - eye
    distance = float(np.linalg.norm(forward))
    if distance == 0.0:
        raise SceneError("camera position and focal point coincide: no view direction")
    forward /= distance
    up = np.asarray(camera.view_up, dtype=np.float64)
    up = up - np.dot(up, forward) * forward
    up_length = float(np.linalg.norm(up))
    if up_length < 1e-9:
        raise SceneError("camera view_up is parallel to the view direction")
    up /= up_length
    right = np.cross(forward, up)
    focal_px = (height / 2.0) / math.tan(math.radians(camera.view_angle) / 2.0)
    return Projection(eye, right, up, forward, focal_px, int(width), int(height))


__all__ = ["NEAR_DEPTH", "Projection", "projection"]
