"""Plain data that crosses the Scene boundary: what readers return and what queries answer.

These types hold no behaviour and no references into a scene, so the same values come out
of the headless scene and the MRML scene, and file readers (NRRD, markups JSON, ITK .tfm,
displacement fields, segmentations, DICOM) can produce them without knowing any scene at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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


class NonLinearTransformError(SceneError):
    """A matrix was asked of a transform chain that holds a non-linear (grid) transform.

    Slicer's `GetMatrixTransformToWorld` fails the same way: a displacement field has no
    4×4 matrix, and pretending it is the identity would put nodes in the wrong place.
    """


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
class GridTransformData:
    """A displacement field, as a `vtkMRMLGridTransformNode` holds it.

    `displacements` is numpy (k, j, i, 3): one vector per grid point, RAS millimetres;
    `ijk_to_ras` places the grid points. It is the transform *from parent* (Slicer's storage
    sense, the ITK resampling sense): a point p of the parent frame maps to p + d(p) in the
    node's own frame, d interpolated between grid points.
    """

    displacements: np.ndarray
    ijk_to_ras: np.ndarray
    name: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """One segment of a segmentation: identity, display colour and its binary labelmap.

    `mask` is bool numpy (k, j, i) on the segmentation's shared grid. `label_value` is the
    voxel value the segment had (and gets again) in its layer of a `.seg.nrrd`; `tags` are
    Slicer's segment tags (terminology, status), kept so a file round-trips.
    """

    id: str
    name: str
    color: tuple[float, float, float]
    mask: np.ndarray
    label_value: int = 1
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class SegmentationData:
    """A segmentation with a binary labelmap source representation: segments, in order, all
    on one grid of `shape` (k, j, i) voxels placed by `ijk_to_ras` (the IJK of the file's
    voxels). A segmentation may have no segments and still have its grid.

    `reference_extent_offset` is where that grid starts in the segmentation's reference
    image (Slicer's `Segmentation_ReferenceImageExtentOffset`); `metadata` holds the other
    `Segmentation_*` fields of a file (conversion parameters, contained representations),
    written back unchanged.
    """

    segments: tuple[Segment, ...]
    ijk_to_ras: np.ndarray
    shape: tuple[int, int, int]
    name: str | None = None
    reference_extent_offset: tuple[int, int, int] = (0, 0, 0)
    metadata: Mapping[str, str] = field(default_factory=dict)

    def segment(self, segment_id: str) -> Segment:
        """The segment with this id; NodeNotFound naming the ids there are."""
        for segment in self.segments:
            if segment.id == segment_id:
                return segment
        known = ", ".join(segment.id for segment in self.segments) or "none"
        raise NodeNotFound(f"no segment {segment_id!r} in {self.name!r}; segments: {known}")


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
    """What a slice view shows: orientation, offset along its normal (mm), layers, and the
    field of view (width, height in mm). `orientation` is `axial`, `sagittal`, `coronal`,
    or `reformat` when SliceToRAS matches none of them (Slicer's orientation string)."""

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
    "model", "text", "view", "layout", "name", "properties", "display"; empty for
    added/removed/cleared.
    """

    kind: EventKind
    node: NodeInfo | None
    aspect: str = ""


SceneListener = Callable[[SceneEvent], None]


@dataclass(frozen=True, slots=True)
class NodeSource:
    """The file or folder a node was loaded from, and the Slicer filetype it was read as
    (`VolumeFile`, `DICOM`, …): what `reload` reads again."""

    path: Path
    filetype: str


@dataclass(slots=True)
class ModelData:
    """A surface mesh (e.g. the tracking device cube): vertices (N×3 RAS) and triangles."""

    vertices: np.ndarray
    triangles: np.ndarray
    color: tuple[float, float, float] = (1.0, 1.0, 0.0)
    name: str | None = None
    normals: np.ndarray | None = field(default=None)
