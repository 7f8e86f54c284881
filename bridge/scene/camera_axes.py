"""Where a 3D camera goes to "look from" an anatomical axis, as Slicer's 3D view does.

`/slicer/threeD?lookFromAxis=left` (and the axis buttons of Slicer's 3D view, CTK's
`ctkVTKRenderView::lookFromAxis`) keep the focal point and the camera distance and move the
camera onto the chosen axis through the focal point; view-up is superior, except when looking
from superior or inferior, where it is anterior. Pure geometry: nothing here changes a scene.
"""

from __future__ import annotations

import numpy as np

from bridge.scene.types import CameraState, SceneError

#: Axis letter → (direction from the focal point to the camera, view-up), RAS.
LOOK_FROM: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "r": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "l": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "a": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "p": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "s": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "i": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
}


def axis_letter(text: str) -> str:
    """`L`, `left`, `Left` → `l`: the first letter counts, as in Slicer's WebServer."""
    letter = text.strip()[:1].lower()
    if letter not in LOOK_FROM:
        raise SceneError(
            f"unknown axis {text!r}; look from one of R, L, A, P, S, I "
            "(right, left, anterior, posterior, superior, inferior)"
        )
    return letter


def look_from_axis(camera: CameraState, axis: str) -> CameraState:
    """`camera` moved onto `axis` (a letter or a word) at its current distance."""
    direction, view_up = LOOK_FROM[axis_letter(axis)]
    focal_point = np.asarray(camera.focal_point, dtype=np.float64)
    distance = float(np.linalg.norm(np.asarray(camera.position) - focal_point)) or 1.0
    return CameraState(
        position=focal_point + distance * np.asarray(direction),
        focal_point=focal_point,
        view_up=np.asarray(view_up),
        view_angle=camera.view_angle,
    )


__all__ = ["LOOK_FROM", "axis_letter", "look_from_axis"]
