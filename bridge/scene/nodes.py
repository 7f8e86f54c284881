"""The headless scene's node model: one small class per MRML node kind.

Each class carries its MRML class name, and the Python class hierarchy mirrors MRML's, so
`node.is_a("vtkMRMLVolumeNode")` answers the way Slicer's `IsA` (and so `getNodesByClass`)
does: a labelmap is a scalar volume is a volume is a displayable … is a `vtkMRMLNode`.

Nodes hold plain state (numpy arrays, tuples, ids of other nodes). They do not know the scene,
raise no events and read no files: `HeadlessScene` decides when they change and says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from bridge.scene import views
from bridge.scene.types import ControlPoint, ModelData, NodeInfo, Segment


def frozen_array(value: object) -> np.ndarray:
    """A private float64 copy that nobody can modify behind the scene's back."""
    array = np.array(value, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True)
class FileSource:
    """Where a node was loaded from, so `reload` can read it again (MRML's storage node).

    `index` picks the node's entry when one file yields several nodes (a markups file with
    several lists, a DICOM folder with several series).
    """

    path: Path
    filetype: str
    index: int = 0


# -- vtkMRMLNode and its abstract branches ----------------------------------------------------
@dataclass(eq=False, kw_only=True)
class Node:
    """vtkMRMLNode: identity and the generic flags every node prints."""

    class_name: ClassVar[str] = "vtkMRMLNode"

    #: Given by the scene when the node is added (`<className><N>`), fixed for singletons.
    id: str = ""
    name: str
    description: str | None = None
    hide_from_editors: bool = False
    selectable: bool = True
    selected: bool = False
    singleton_tag: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def mrml_classes(cls) -> tuple[str, ...]:
        """This kind's MRML class and all its MRML base classes, most derived first."""
        return _mrml_classes(cls)

    def is_a(self, class_name: str) -> bool:
        """True if this node is a `class_name` in MRML's inheritance (VTK's `IsA`)."""
        return class_name in _mrml_classes(type(self))

    @property
    def info(self) -> NodeInfo:
        return NodeInfo(id=self.id, name=self.name, class_name=self.class_name)


@functools.cache
def _mrml_classes(cls: type[Node]) -> tuple[str, ...]:
    # Cached per class: lookups filter by class on every tracking update.
    return tuple(
        klass.__dict__["class_name"] for klass in cls.__mro__ if "class_name" in klass.__dict__
    )


@dataclass(eq=False, kw_only=True)
class StorableNode(Node):
    """vtkMRMLStorableNode: a node whose data can come from, and go back to, a file."""

    class_name: ClassVar[str] = "vtkMRMLStorableNode"

    source: FileSource | None = None


@dataclass(eq=False, kw_only=True)
class TransformableNode(StorableNode):
    """vtkMRMLTransformableNode: may sit under a parent transform."""

    class_name: ClassVar[str] = "vtkMRMLTransformableNode"

    parent_transform_id: str | None = None


@dataclass(eq=False, kw_only=True)
class DisplayableNode(TransformableNode):
    """vtkMRMLDisplayableNode: shown in views (display nodes are folded into the node)."""

    class_name: ClassVar[str] = "vtkMRMLDisplayableNode"

    visible: bool = True


# -- volumes -----------------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class VolumeNode(DisplayableNode):
    """vtkMRMLVolumeNode: voxels in numpy (k, j, i) order plus the IJK→RAS matrix."""

    class_name: ClassVar[str] = "vtkMRMLVolumeNode"

    array: np.ndarray
    ijk_to_ras: np.ndarray


@dataclass(eq=False, kw_only=True)
class ScalarVolumeNode(VolumeNode):
    class_name: ClassVar[str] = "vtkMRMLScalarVolumeNode"


@dataclass(eq=False, kw_only=True)
class LabelMapVolumeNode(ScalarVolumeNode):
    class_name: ClassVar[str] = "vtkMRMLLabelMapVolumeNode"


# -- transforms --------------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class TransformNode(DisplayableNode):
    """vtkMRMLTransformNode: maps its children's coordinates into its parent's.

    The base holds no transform itself: a linear node holds a matrix, a grid node a
    displacement field, and only the linear one can answer a matrix.
    """

    class_name: ClassVar[str] = "vtkMRMLTransformNode"


@dataclass(eq=False, kw_only=True)
class LinearTransformNode(TransformNode):
    """vtkMRMLLinearTransformNode: a 4×4 matrix-to-parent."""

    class_name: ClassVar[str] = "vtkMRMLLinearTransformNode"

    matrix_to_parent: np.ndarray = field(default_factory=lambda: frozen_array(np.eye(4)))


@dataclass(eq=False, kw_only=True)
class GridTransformNode(TransformNode):
    """vtkMRMLGridTransformNode: a displacement field (vtkOrientedGridTransform), stored as
    the transform from parent as Slicer stores it: `displacements` (k, j, i, 3) RAS vectors
    on the grid `grid_ijk_to_ras` places. Non-linear: it has no matrix."""

    class_name: ClassVar[str] = "vtkMRMLGridTransformNode"

    displacements: np.ndarray
    grid_ijk_to_ras: np.ndarray


# -- markups and models ------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class MarkupsNode(DisplayableNode):
    """vtkMRMLMarkupsNode: control points in local RAS plus their display settings."""

    class_name: ClassVar[str] = "vtkMRMLMarkupsNode"

    points: list[ControlPoint] = field(default_factory=list)
    color: tuple[float, float, float] = (1.0, 0.5, 0.5)
    selected_color: tuple[float, float, float] = (1.0, 0.5, 0.5)
    glyph_scale: float = 3.0
    locked: bool = False
    label_format: str = "%N-%d"
    #: Slicer numbers new points from this counter, not from the point count, so a label is
    #: not handed out twice while points are appended and moved.
    last_used_point_number: int = 0

    def next_label(self) -> str:
        """The label Slicer gives the next new point: `%N` → list name, `%d` → number."""
        self.last_used_point_number += 1
        return self.label_format.replace("%N", self.name).replace(
            "%d", str(self.last_used_point_number)
        )


@dataclass(eq=False, kw_only=True)
class MarkupsFiducialNode(MarkupsNode):
    class_name: ClassVar[str] = "vtkMRMLMarkupsFiducialNode"


@dataclass(eq=False, kw_only=True)
class ModelNode(DisplayableNode):
    """vtkMRMLModelNode: a surface mesh (vertices in local RAS, triangles)."""

    class_name: ClassVar[str] = "vtkMRMLModelNode"

    mesh: ModelData


# -- text ------------------------------------------------------------------------------------------
#: VTK's text encodings (vtkSystemIncludes.h) as vtkMRMLTextNode stores them.
VTK_ENCODING_US_ASCII = 1
VTK_ENCODING_UTF_8 = 3


@dataclass(eq=False, kw_only=True)
class TextNode(StorableNode):
    """vtkMRMLTextNode: a string (what an OpenIGTLink STRING message sets) and its encoding.

    The text is held as Python text; `encoding` says how Slicer would store it: US-ASCII (its
    default) while the text is ASCII, UTF-8 once it is not.
    """

    class_name: ClassVar[str] = "vtkMRMLTextNode"

    text: str = ""
    encoding: int = VTK_ENCODING_US_ASCII

    def set_text(self, text: str) -> None:
        self.text = text
        self.encoding = VTK_ENCODING_US_ASCII if text.isascii() else VTK_ENCODING_UTF_8


# -- segmentations -----------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class SegmentationNode(DisplayableNode):
    """vtkMRMLSegmentationNode with a binary labelmap source representation: segments in
    order, each a bool (k, j, i) mask on the one grid `ijk_to_ras` places."""

    class_name: ClassVar[str] = "vtkMRMLSegmentationNode"

    segments: list[Segment] = field(default_factory=list)
    ijk_to_ras: np.ndarray = field(default_factory=lambda: frozen_array(np.eye(4)))
    shape: tuple[int, int, int] = (1, 1, 1)
    reference_extent_offset: tuple[int, int, int] = (0, 0, 0)
    metadata: dict[str, str] = field(default_factory=dict)


# -- views, camera, layout ---------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class AbstractViewNode(Node):
    """vtkMRMLAbstractViewNode: a view in the layout, named as the layout names it."""

    class_name: ClassVar[str] = "vtkMRMLAbstractViewNode"

    layout_name: str = ""


@dataclass(eq=False, kw_only=True)
class SliceNode(AbstractViewNode):
    """vtkMRMLSliceNode, with its slice-composite layers folded in (which volume shows)."""

    class_name: ClassVar[str] = "vtkMRMLSliceNode"

    orientation: str = "axial"
    slice_to_ras: np.ndarray = field(default_factory=lambda: views.slice_to_ras("axial"))
    field_of_view: tuple[float, float] = views.DEFAULT_FIELD_OF_VIEW
    background_volume_id: str | None = None
    foreground_volume_id: str | None = None
    label_volume_id: str | None = None
    foreground_opacity: float = 0.0

    @property
    def offset(self) -> float:
        return views.slice_offset(self.slice_to_ras)

    def drop_volume(self, volume_id: str) -> bool:
        """Stop showing `volume_id` in any layer; True if it was shown."""
        shown = False
        for layer in ("background_volume_id", "foreground_volume_id", "label_volume_id"):
            if getattr(self, layer) == volume_id:
                setattr(self, layer, None)
                shown = True
        return shown


@dataclass(eq=False, kw_only=True)
class ViewNode(AbstractViewNode):
    """vtkMRMLViewNode: the 3D view."""

    class_name: ClassVar[str] = "vtkMRMLViewNode"


@dataclass(eq=False, kw_only=True)
class CameraNode(TransformableNode):
    """vtkMRMLCameraNode: the 3D view's camera in RAS."""

    class_name: ClassVar[str] = "vtkMRMLCameraNode"

    position: np.ndarray = field(
        default_factory=lambda: frozen_array(views.DEFAULT_CAMERA_POSITION)
    )
    focal_point: np.ndarray = field(default_factory=lambda: frozen_array(views.DEFAULT_FOCAL_POINT))
    view_up: np.ndarray = field(default_factory=lambda: frozen_array(views.DEFAULT_VIEW_UP))
    view_angle: float = views.DEFAULT_VIEW_ANGLE


@dataclass(eq=False, kw_only=True)
class AbstractLayoutNode(Node):
    class_name: ClassVar[str] = "vtkMRMLAbstractLayoutNode"


@dataclass(eq=False, kw_only=True)
class LayoutNode(AbstractLayoutNode):
    """vtkMRMLLayoutNode: which view arrangement the window shows."""

    class_name: ClassVar[str] = "vtkMRMLLayoutNode"

    view_arrangement: str = "Conventional"


# -- the nodes a scene is born with ------------------------------------------------------------
#: Slice views as Slicer's default layout creates them: (layout name, orientation).
SLICE_VIEW_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("Red", "axial"),
    ("Yellow", "sagittal"),
    ("Green", "coronal"),
)

LAYOUT_NODE_ID = "vtkMRMLLayoutNodevtkMRMLLayoutNode"
VIEW_NODE_ID = "vtkMRMLViewNode1"
CAMERA_NODE_ID = "vtkMRMLCameraNode1"


def slice_node_id(layout_name: str) -> str:
    """`Red` → `vtkMRMLSliceNodeRed`: MRML ids singletons by class name + singleton tag."""
    return f"{SliceNode.class_name}{layout_name}"


def make_singletons() -> list[Node]:
    """Fresh default views, camera and layout, in the order Slicer's startup creates them.

    Also used by `clear()`: replacing the singletons with fresh ones is MRML's node Reset.
    """
    slices: list[Node] = [
        SliceNode(
            id=slice_node_id(layout_name),
            name=layout_name,
            singleton_tag=layout_name,
            layout_name=layout_name,
            orientation=orientation,
            slice_to_ras=views.slice_to_ras(orientation),
        )
        for layout_name, orientation in SLICE_VIEW_DEFAULTS
    ]
    return [
        *slices,
        ViewNode(id=VIEW_NODE_ID, name="View1", singleton_tag="1", layout_name="1"),
        CameraNode(id=CAMERA_NODE_ID, name="Camera", singleton_tag="1"),
        LayoutNode(id=LAYOUT_NODE_ID, name="Layout", singleton_tag="vtkMRMLLayoutNode"),
    ]


__all__ = [
    "CAMERA_NODE_ID",
    "LAYOUT_NODE_ID",
    "SLICE_VIEW_DEFAULTS",
    "VIEW_NODE_ID",
    "VTK_ENCODING_US_ASCII",
    "VTK_ENCODING_UTF_8",
    "AbstractLayoutNode",
    "AbstractViewNode",
    "CameraNode",
    "DisplayableNode",
    "FileSource",
    "GridTransformNode",
    "LabelMapVolumeNode",
    "LayoutNode",
    "LinearTransformNode",
    "MarkupsFiducialNode",
    "MarkupsNode",
    "ModelNode",
    "Node",
    "ScalarVolumeNode",
    "SegmentationNode",
    "SliceNode",
    "StorableNode",
    "TextNode",
    "TransformNode",
    "TransformableNode",
    "VolumeNode",
    "frozen_array",
    "make_singletons",
    "slice_node_id",
]
