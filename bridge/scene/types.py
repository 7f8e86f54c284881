"""Plain data that crosses the Scene boundary: what readers return and what queries answer.

These types hold no behaviour and no references into a scene, so the same values come out
of the headless scene and the MRML scene, and file readers (NRRD, markups JSON, ITK .tfm,
DICOM) can produce them without knowing any scene at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: Slice view names as MRML lays them out, lower-cased; the one 3D view is "3d".
SLICE_VIEWS: tuple[str, ...] = ("red", "yellow", "green")
THREED_VIEWS: tuple[str, ...] = ("3d",)
SLICE_ORIENTATIONS: tuple[str, ...] = ("axial", "sagittal", "coronal")

#: Layout names as Slicer's `vtkMRMLLayoutNode.SlicerLayout<Name>View` constants, without the
#: prefix and suffix (what `/slicer/gui?viewersLayout=` and `SetLayout` accept, any case).
LAYOUT_NAMES: tuple[str, ...] = (
    "Initial", "Default", "Conventional", "FourUp", "OneUp3D", "OneUpRedSlice",
    "OneUpYellowSlice", "OneUpGreenSlice", "Tabbed3D", "TabbedSlice", "Compare",
    "SideBySideLightbox", "Dual3D", "ConventionalWidescreen", "CompareWidescreen",
    "Triple3DEndoscopy", "ThreeOverThree", "FourOverFour", "CompareGrid", "TwoOverTwo",
    "SideBySide", "FourByThreeSlice", "FourByTwoSlice", "FiveByTwoSlice", "ThreeByThreeSlice",
    "FourUpTable", "3DTable", "ConventionalPlot", "FourUpPlot", "FourUpPlotTable", "OneUpPlot",
    "ThreeOverThreePlot", "DicomBrowser",
)  # fmt: skip


def canonical_layout(name: str) -> str:
    """The canonical spelling of a layout name, matched case-insensitively."""
    wanted = name.strip().lower()
    for layout in LAYOUT_NAMES:
        if layout.lower() == wanted:
            return layout
    raise SceneError(f"unknown layout name {name!r}; known: {', '.join(LAYOUT_NAMES)}")


#: Accepted spellings of view names, mapped to the canonical lower-case name.
VIEW_ALIASES: dict[str, str] = {
    **{name: name for name in ("red", "yellow", "green")},
    **{alias: "3d" for alias in ("3d", "1", "view1", "threed", "vtkmrmlviewnode1")},
    **{f"vtkmrmlslicenode{name}": name for name in ("red", "yellow", "green")},
}


def canonical_view(name: str) -> str:
    """'Red', 'red', 'vtkMRMLSliceNodeRed' → 'red'; '1', 'View1', 'threeD' → '3d'."""
    try:
        return VIEW_ALIASES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise SceneError(
            f"unknown view {name!r}; known: red, yellow, green, 3d (also 1, View1)"
        ) from None


class SceneError(ValueError):
    """A scene operation that cannot be done with these arguments (caller's mistake)."""


class NodeNotFound(SceneError, LookupError):
    """No node matches the given id, name or pattern."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Identity of a node: MRML-style id (`vtkMRMLScalarVolumeNode1`), name and class."""

    id: str
    name: str
    class_name: str


@dataclass(frozen=True, slots=True, eq=False)
class VolumeData:
    """A scalar volume: voxels in numpy (k, j, i) order and the IJK→RAS matrix."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    labelmap: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ControlPoint:
    """One markups control point, position in the node's local RAS coordinates."""

    position: np.ndarray
    label: str = ""
    selected: bool = True
    locked: bool = False
    visible: bool = True


@dataclass(frozen=True, slots=True, eq=False)
class MarkupsData:
    """A markups point list as stored in a `.mrk.json` file or held by the scene."""

    points: tuple[ControlPoint, ...]
    name: str | None = None
    color: tuple[float, float, float] = (1.0, 0.5, 0.5)
    selected_color: tuple[float, float, float] = (1.0, 0.5, 0.5)
    glyph_scale: float = 3.0
    locked: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class SliceViewState:
    """What a slice view shows: orientation, offset along its normal (mm), layers."""

    name: str
    orientation: str
    offset: float
    slice_to_ras: np.ndarray
    background_volume_id: str | None = None
    foreground_volume_id: str | None = None
    label_volume_id: str | None = None
    foreground_opacity: float = 0.0
    field_of_view: tuple[float, float] = (250.0, 250.0)


@dataclass(frozen=True, slots=True, eq=False)
class CameraState:
    """A 3D view's camera in RAS."""

    position: np.ndarray
    focal_point: np.ndarray
    view_up: np.ndarray
    view_angle: float = 30.0


EventKind = Literal["added", "modified", "removed", "cleared"]


@dataclass(frozen=True, slots=True)
class SceneEvent:
    """A change adapters may publish outward (MQTT state, WebSocket subscriptions, IGTL push).

    `aspect` says what changed on a modified node: "transform", "markups", "volume",
    "view", "layout", "name", "properties", "display"; empty for added/removed/cleared.
    """

    kind: EventKind
    node: NodeInfo | None
    aspect: str = ""


SceneListener = Callable[[SceneEvent], None]


@dataclass(slots=True)
class ModelData:
    """A surface mesh (e.g. the tracking device cube): vertices (N×3 RAS) and triangles."""

    vertices: np.ndarray
    triangles: np.ndarray
    color: tuple[float, float, float] = (1.0, 1.0, 0.0)
    name: str | None = None
    normals: np.ndarray | None = field(default=None)
