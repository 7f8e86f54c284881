"""`MrmlScene`: the Scene protocol over a running 3D Slicer's MRML scene (`slicer.mrmlScene`).

A thin translation. Everything that is not MRML-specific is shared with the headless scene:
argument checks (`checks`), slice and camera geometry (`views`, `camera_axes`), which node
kinds save in which formats (`files.save_suffix`), which files load as what
(`io.formats.detect_filetype`), the property shapes laid over Slicer's parsed PrintSelf
(`properties`, `printself`), and — where Slicer has no view to grab (`--no-main-window`) —
the numpy renderer and the glTF export (`render.SceneRenderer`, which reads any Scene
through the protocol). What is here is only the MRML side: finding nodes, reading and
writing their data with `slicer.util` (`arrayFromVolume`, `updateVolumeFromArray`,
`loadNodesFromFile`, `exportNode`, …), the views through their slice and camera nodes (and
slice logic, when the layout has one), and grabbing Slicer's own views for PNGs.

Semantics follow the Scene contract (`tests/scene/test_scene_contract.py`) where it and
Slicer differ; each such place says so: node ids are never reused (`clear` reserves the ids
it frees, where MRML's `Clear()` would hand them out again), removing a transform moves its
children up to its parent, the first volume added becomes the active one, and the change
events of the protocol are emitted exactly for changes made through it. Changes made in
Slicer itself (the GUI, other modules) reach listeners through MRML observers.

Main thread only, like all MRML. `slicer` (and `vtk`, `qt`) are imported when a scene is
made, so this module imports anywhere; outside Slicer, `MrmlScene()` raises SceneError.
This module and the Slicer module are the only places that import `slicer`. Not runnable on
CI: `tests/slicer/run_in_slicer.py` runs the contract suite against it inside Slicer.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bridge.scene import camera_axes, checks, files, views
from bridge.scene import properties as shapes
from bridge.scene.nodes import VTK_ENCODING_US_ASCII, VTK_ENCODING_UTF_8
from bridge.scene.printself import parse_printself
from bridge.scene.types import (
    LAYOUT_NAMES,
    SLICE_ORIENTATIONS,
    SLICE_VIEWS,
    CameraState,
    ControlPoint,
    EventKind,
    GridTransformData,
    MarkupsData,
    ModelData,
    NodeInfo,
    NodeNotFound,
    NodeSource,
    NonLinearTransformError,
    SceneError,
    SceneEvent,
    SceneListener,
    Segment,
    SegmentationData,
    SliceViewState,
    VolumeData,
    canonical_layout,
    canonical_view,
)

logger = logging.getLogger(__name__)

TRACKER_NAME = "tracker"
TRACKING_DEVICE_NAME = "trackingDevice"
#: The `/slicer/tracking` cursor, as Slicer's WebServer makes it: a vtkCubeSource box.
TRACKING_DEVICE_SIZE: tuple[float, float, float] = (30.0, 70.0, 5.0)
TRACKING_DEVICE_COLOR: tuple[float, float, float] = (1.0, 1.0, 0.0)

#: The singleton nodes every scene has, as the layout makes them (id → name).
THREED_LAYOUT_NAME = "1"
VIEW_NODE_ID = "vtkMRMLViewNode1"
LAYOUT_NODE_ID = "vtkMRMLLayoutNodevtkMRMLLayoutNode"
LAYOUT_SINGLETON_TAG = "vtkMRMLLayoutNode"


# -- pure helpers (unit-tested without Slicer) ----------------------------------------------------
def slice_layout_name(view: str) -> str:
    """`red`, `Red`, `vtkMRMLSliceNodeRed` → `Red` (the layout name MRML ids are built on);
    SceneError for anything that is not a slice view."""
    name = canonical_view(view)
    if name not in SLICE_VIEWS:
        raise SceneError(f"{view!r} is not a slice view; slice views: {', '.join(SLICE_VIEWS)}")
    return name.capitalize()


def slice_node_id(view: str) -> str:
    return f"vtkMRMLSliceNode{slice_layout_name(view)}"


def slice_composite_node_id(view: str) -> str:
    return f"vtkMRMLSliceCompositeNode{slice_layout_name(view)}"


def layout_numbers(layout_node_class: Any) -> dict[str, int]:
    """Layout name → `vtkMRMLLayoutNode.SlicerLayout<Name>View`, for every name in
    `LAYOUT_NAMES` that this Slicer defines (older versions lack some)."""
    numbers: dict[str, int] = {}
    for name in LAYOUT_NAMES:
        value = getattr(layout_node_class, f"SlicerLayout{name}View", None)
        if isinstance(value, int) and not isinstance(value, bool):
            numbers[name] = value
    return numbers


def layout_name(numbers: Mapping[str, int], number: int) -> str:
    """The name of a layout number; the first name wins where two share one (`Initial` and
    `Default` may); `Custom<number>` for one registered by a module."""
    for name, value in numbers.items():
        if value == number:
            return name
    return f"Custom{number}"


def matches(node_id: str, name: str, pattern: str) -> bool:
    """`find`'s pattern rule: fnmatch on the id or on the name."""
    return fnmatch.fnmatchcase(node_id, pattern) or fnmatch.fnmatchcase(name, pattern)


def with_properties(printed: Mapping[str, Any], *sections: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed PrintSelf with the contract's sections laid over it (they win, key by key at
    the top level: e.g. `ImageData` from the volume, where PrintSelf's is parsed too)."""
    merged = dict(printed)
    for section in sections:
        merged.update(section)
    return merged


def grid_ijk_to_ras(
    origin: Sequence[float], spacing: Sequence[float], directions: np.ndarray
) -> np.ndarray:
    """IJK→RAS of a displacement grid from vtkImageData geometry and the grid's direction
    matrix (3×3, columns = axes)."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(directions, dtype=np.float64)[:3, :3] * np.asarray(spacing)
    matrix[:3, 3] = origin
    return matrix


def grid_geometry(ijk_to_ras: np.ndarray) -> tuple[list[float], list[float], np.ndarray]:
    """(origin, spacing, directions 3×3) of an IJK→RAS, as vtkImageData and
    vtkOrientedGridTransform hold a grid."""
    matrix = np.asarray(ijk_to_ras, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    return matrix[:3, 3].tolist(), spacing.tolist(), matrix[:3, :3] / spacing


# -- Slicer access -----------------------------------------------------------------------------
def _slicer() -> Any:
    try:
        return importlib.import_module("slicer")
    except ImportError:
        raise SceneError(
            "the MRML scene runs inside 3D Slicer only (its Python has no 'slicer' module here)"
        ) from None


def _vtk() -> Any:
    return importlib.import_module("vtk")


def _numpy_support() -> Any:
    return importlib.import_module("vtk.util.numpy_support")


class MrmlScene:
    """The Scene protocol over `slicer.mrmlScene`. `data_dir` anchors relative file paths.
    Call `close()` to remove its MRML observers when it is no longer used."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._slicer = _slicer()
        self._vtk = _vtk()
        self.mrml = self._slicer.mrmlScene
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._listeners: list[SceneListener] = []
        self._quiet = 0  # > 0 while this scene itself changes MRML: observers stay silent
        self._issued: set[str] = set()  # every node id seen, so `clear` can reserve them
        self._sources: dict[str, NodeSource] = {}  # what `load_file` loaded, from where
        self._logics: list[Any] = []  # slice/view logics made for a scene without a layout
        self._observers: list[tuple[Any, int]] = []
        self._node_observers: dict[str, list[tuple[Any, int]]] = {}
        self._layouts = layout_numbers(self._slicer.vtkMRMLLayoutNode)
        self._renderer: Any = None
        for node in self._all():
            self._issued.add(node.GetID())
        self._ensure_views()
        self._observe_scene()

    def close(self) -> None:
        """Stop observing MRML (the scene itself is Slicer's and stays)."""
        for target, tag in self._observers:
            target.RemoveObserver(tag)
        self._observers.clear()
        for node_id in list(self._node_observers):
            self._unwatch(node_id)

    # -- queries -------------------------------------------------------------------------------
    def nodes(
        self, *, id: str | None = None, class_name: str | None = None, name: str | None = None
    ) -> list[NodeInfo]:
        if id is not None:
            found = self.mrml.GetNodeByID(id)
            candidates = [found] if found is not None else []
        else:
            candidates = self._all()
        return [
            self._info(node)
            for node in candidates
            if (class_name is None or node.IsA(class_name))
            and (name is None or (node.GetName() or "") == name)
        ]

    def find(self, ref: str, class_name: str | None = None) -> NodeInfo:
        return self._info(self._find(ref, class_name))

    def node_properties(self, ref: str) -> dict[str, Any]:
        """Slicer's answer (parsed PrintSelf) with the contract's sections laid over it."""
        node = self._find(ref)
        printed = parse_printself(str(node))
        info = self._info(node)
        identity = {"ID": info.id, "ClassName": info.class_name, "Name": info.name}
        return with_properties(printed, identity, *self._sections(node, printed))

    def rename(self, ref: str, name: str) -> NodeInfo:
        node = self._find(ref)
        with self._changing():
            node.SetName(str(name))
        self._emit("modified", node, "name")
        return self._info(node)

    # -- transforms ----------------------------------------------------------------------------
    def set_transform(self, ref: str, matrix: np.ndarray, *, create: bool = True) -> NodeInfo:
        checked = checks.matrix4(matrix, "transform matrix")
        node = self._match(ref, "vtkMRMLTransformNode", create=create)
        if node is None:
            with self._changing():
                node = self._new("vtkMRMLLinearTransformNode", ref)
                self._slicer.util.updateTransformMatrixFromArray(node, np.array(checked))
            self._emit("added", node)
            return self._info(node)
        if not node.IsA("vtkMRMLLinearTransformNode"):
            raise SceneError(
                f"{node.GetID()} is a {node.GetClassName()}: a matrix sets linear transforms only"
            )
        with self._changing():
            self._slicer.util.updateTransformMatrixFromArray(node, np.array(checked))
        self._emit("modified", node, "transform")
        return self._info(node)

    def transform_matrix(self, ref: str) -> np.ndarray:
        node = self._get(ref, "vtkMRMLTransformNode")
        self._require_linear(node)
        return np.array(self._slicer.util.arrayFromTransformMatrix(node))

    def world_matrix(self, ref: str) -> np.ndarray:
        """See `Scene.world_matrix`; NonLinearTransformError naming the grid transform."""
        node = self._find(ref)
        chain = list(self._ancestors(node))
        if node.IsA("vtkMRMLTransformNode"):
            chain.insert(0, node)
        for transform in chain:
            self._require_linear(transform, below=node if transform is not node else None)
        if not chain:
            return np.eye(4)
        return np.array(self._slicer.util.arrayFromTransformMatrix(chain[0], toWorld=True))

    def set_parent_transform(self, ref: str, transform_ref: str | None) -> None:
        node = self._get(ref, "vtkMRMLTransformableNode")
        parent = None if transform_ref is None else self._get(transform_ref, "vtkMRMLTransformNode")
        if parent is not None and (
            parent.GetID() == node.GetID()
            or node.GetID() in {a.GetID() for a in self._ancestors(parent)}
        ):
            raise SceneError(
                f"putting {node.GetID()} under {parent.GetID()} would make a transform cycle"
            )
        with self._changing():
            node.SetAndObserveTransformNodeID(None if parent is None else parent.GetID())
        self._emit("modified", node, "transform")

    def parent_transform(self, ref: str) -> NodeInfo | None:
        node = self._find(ref)
        if not node.IsA("vtkMRMLTransformableNode"):
            return None
        parent = node.GetParentTransformNode()
        return None if parent is None else self._info(parent)

    def set_tracking_pose(
        self, rotation: np.ndarray | None = None, position: np.ndarray | None = None
    ) -> NodeInfo:
        """As `/slicer/tracking`: overwrite only the given parts of `tracker`, making it and
        the `trackingDevice` box under it when missing."""
        checked_rotation = None if rotation is None else checks.array(rotation, (3, 3), "rotation")
        checked_position = None if position is None else checks.vector3(position, "position")
        tracker = self._search(TRACKER_NAME, "vtkMRMLTransformNode")
        matrix = np.eye(4) if tracker is None else self.transform_matrix(tracker.GetID())
        if checked_rotation is not None:
            matrix[:3, :3] = checked_rotation
        if checked_position is not None:
            matrix[:3, 3] = checked_position
        info = self.set_transform(TRACKER_NAME, matrix)
        device = self._search(TRACKING_DEVICE_NAME, "vtkMRMLModelNode")
        if device is None:
            with self._changing():
                device = self._tracking_device(info.id)
            self._emit("added", device)
        elif tracker is None:
            self.set_parent_transform(device.GetID(), info.id)
        return info

    # -- grid transforms -----------------------------------------------------------------------
    def set_grid_transform(
        self, ref: str, data: GridTransformData, *, create: bool = True
    ) -> NodeInfo:
        field = checks.displacement_field(data.displacements)
        geometry = checks.ijk_to_ras(data.ijk_to_ras)
        node = self._match(ref, "vtkMRMLTransformNode", create=create)
        if node is not None and not node.IsA("vtkMRMLGridTransformNode"):
            raise SceneError(
                f"{node.GetID()} is a {node.GetClassName()}: a displacement field sets grid "
                "transforms only"
            )
        created = node is None
        with self._changing():
            if node is None:
                node = self._new("vtkMRMLGridTransformNode", ref)
            self._write_grid(node, field, geometry)
        self._emit("added" if created else "modified", node, "" if created else "transform")
        return self._info(node)

    def grid_transform(self, ref: str) -> GridTransformData:
        node = self._get(ref, "vtkMRMLGridTransformNode")
        transform = self._grid_of(node)
        grid = transform.GetDisplacementGrid()
        directions = self._slicer.util.arrayFromVTKMatrix(transform.GetGridDirectionMatrix())
        return GridTransformData(
            displacements=np.array(self._slicer.util.arrayFromGridTransform(node)),
            ijk_to_ras=grid_ijk_to_ras(grid.GetOrigin(), grid.GetSpacing(), directions),
            name=node.GetName(),
        )

    # -- volumes -------------------------------------------------------------------------------
    def set_volume(
        self,
        ref: str,
        array: np.ndarray,
        ijk_to_ras: np.ndarray,
        *,
        labelmap: bool = False,
        create: bool = True,
    ) -> NodeInfo:
        voxels, geometry = checks.voxels(array), checks.ijk_to_ras(ijk_to_ras)
        node = self._match(ref, "vtkMRMLVolumeNode", create=create)
        if node is None:
            kind = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
            return self._add_volume(kind, ref, voxels, geometry)
        with self._changing():
            self._write_volume(node, voxels, geometry)
        self._emit("modified", node, "volume")
        return self._info(node)

    def volume(self, ref: str) -> VolumeData:
        node = self._get(ref, "vtkMRMLVolumeNode")
        matrix = self._vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(matrix)
        return VolumeData(
            array=np.array(self._slicer.util.arrayFromVolume(node)),
            ijk_to_ras=self._slicer.util.arrayFromVTKMatrix(matrix),
            labelmap=bool(node.IsA("vtkMRMLLabelMapVolumeNode")),
            name=node.GetName(),
        )

    def active_volume(self) -> NodeInfo | None:
        node = self._active_volume_node()
        return None if node is None else self._info(node)

    def select_volume(self, ref: str | None = None, *, step: int = 0) -> NodeInfo:
        """By `ref`: show it and fit the views to it. By `step`: cycle through scalar volumes
        and labelmaps in creation order without refitting (as the headless scene)."""
        if ref is not None:
            node = self._get(ref, "vtkMRMLScalarVolumeNode")
        else:
            node = self._stepped_volume(step)
        self._show_volume(node, fit=ref is not None)
        return self._info(node)

    def add_volume_data(self, data: VolumeData, name: str | None = None) -> NodeInfo:
        kind = "vtkMRMLLabelMapVolumeNode" if data.labelmap else "vtkMRMLScalarVolumeNode"
        voxels, geometry = checks.voxels(data.array), checks.ijk_to_ras(data.ijk_to_ras)
        return self._add_volume(kind, name or data.name or "Volume", voxels, geometry)

    # -- markups -------------------------------------------------------------------------------
    def set_markups_points(
        self,
        ref: str,
        points: np.ndarray,
        labels: Sequence[str] | None = None,
        *,
        create: bool = True,
    ) -> NodeInfo:
        positions = checks.points(points)
        if labels is not None and len(labels) != len(positions):
            raise SceneError(f"{len(labels)} labels given for {len(positions)} points")
        node = self._match(ref, "vtkMRMLMarkupsNode", create=create)
        created = node is None
        with self._changing():
            if node is None:
                node = self._new("vtkMRMLMarkupsFiducialNode", ref)
                node.CreateDefaultDisplayNodes()
            self._fill_points(node, positions, labels)
        self._emit("added" if created else "modified", node, "" if created else "markups")
        return self._info(node)

    def set_control_point(self, ref: str, index: int, position: np.ndarray) -> NodeInfo:
        node = self._get(ref, "vtkMRMLMarkupsNode")
        checked = checks.vector3(position, "control point position")
        index = checks.index(index)
        count = node.GetNumberOfControlPoints()
        if not 0 <= index <= count:
            raise SceneError(
                f"control point index {index} out of range 0..{count} for {node.GetID()}"
            )
        with self._changing():
            if index == count:
                node.AddControlPoint([float(v) for v in checked])
            else:
                node.SetNthControlPointPosition(index, *(float(v) for v in checked))
        self._emit("modified", node, "markups")
        return self._info(node)

    def markups(self, ref: str) -> MarkupsData:
        node = self._get(ref, "vtkMRMLMarkupsNode")
        points = []
        for index in range(node.GetNumberOfControlPoints()):
            position = [0.0, 0.0, 0.0]
            node.GetNthControlPointPosition(index, position)
            points.append(
                ControlPoint(
                    position=np.array(position),
                    label=node.GetNthControlPointLabel(index),
                    selected=bool(node.GetNthControlPointSelected(index)),
                    locked=bool(node.GetNthControlPointLocked(index)),
                    visible=bool(node.GetNthControlPointVisibility(index)),
                )
            )
        display = node.GetDisplayNode()
        defaults = MarkupsData(points=())
        return MarkupsData(
            points=tuple(points),
            name=node.GetName(),
            color=tuple(display.GetColor()) if display else defaults.color,
            selected_color=tuple(display.GetSelectedColor()) if display else defaults.color,
            glyph_scale=float(display.GetGlyphScale()) if display else defaults.glyph_scale,
            locked=bool(node.GetLocked()),
        )

    # -- models and segmentations --------------------------------------------------------------
    def set_model(self, ref: str, data: ModelData, *, create: bool = True) -> NodeInfo:
        """Replace a model's whole surface (points, triangles, point normals, colour), or
        create a model named `ref`."""
        mesh = checks.model(data)
        node = self._match(ref, "vtkMRMLModelNode", create=create)
        created = node is None
        with self._changing():
            if node is None:
                node = self._new("vtkMRMLModelNode", ref)
                node.CreateDefaultDisplayNodes()
            node.SetAndObservePolyData(self._polydata(mesh))
            display = node.GetDisplayNode()
            if display is not None:
                display.SetColor(*mesh.color)
        self._emit("added" if created else "modified", node, "" if created else "model")
        return self._info(node)

    def model(self, ref: str) -> ModelData:
        """The model's surface as triangles (vtkTriangleFilter). Points a source repeats per
        face (a box's corners) are merged (vtkCleanPolyData); then the per-face normals no
        longer fit and are left out, otherwise the model's point normals come along."""
        node = self._get(ref, "vtkMRMLModelNode")
        vtk, support = self._vtk, _numpy_support()
        display = node.GetDisplayNode()
        color = tuple(float(c) for c in display.GetColor()) if display else (1.0, 1.0, 1.0)
        poly = node.GetPolyData()
        if poly is None or poly.GetNumberOfPoints() == 0:
            empty = np.zeros((0, 3))
            return ModelData(empty, np.zeros((0, 3), np.int64), color, node.GetName())
        triangles = vtk.vtkTriangleFilter()
        triangles.SetInputData(poly)
        triangles.PassVertsOff()
        triangles.PassLinesOff()
        clean = vtk.vtkCleanPolyData()
        clean.SetInputConnection(triangles.GetOutputPort())
        clean.Update()
        surface = clean.GetOutput()
        merged = surface.GetNumberOfPoints() != poly.GetNumberOfPoints()
        if not merged:
            triangles.Update()
            surface = triangles.GetOutput()
        vertices = np.array(support.vtk_to_numpy(surface.GetPoints().GetData()), np.float64)
        connectivity = support.vtk_to_numpy(surface.GetPolys().GetConnectivityArray())
        faces = np.array(connectivity, dtype=np.int64).reshape(-1, 3)
        point_normals = surface.GetPointData().GetNormals()
        normals = None
        if point_normals is not None and not merged:
            normals = np.array(support.vtk_to_numpy(point_normals), np.float64).reshape(-1, 3)
        return ModelData(vertices, faces, color, node.GetName(), normals)

    def segmentation(self, ref: str) -> SegmentationData:
        """Every segment's binary labelmap placed on one grid: the union of the labelmaps'
        extents, in the geometry they share (SceneError if their axes differ)."""
        node = self._get(ref, "vtkMRMLSegmentationNode")
        segmentation = node.GetSegmentation()
        support = _numpy_support()
        layers = []
        for index in range(segmentation.GetNumberOfSegments()):
            segment_id = segmentation.GetNthSegmentID(index)
            segment = segmentation.GetSegment(segment_id)
            image = node.GetBinaryLabelmapInternalRepresentation(segment_id)
            matrix = self._vtk.vtkMatrix4x4()
            image.GetImageToWorldMatrix(matrix)
            values = support.vtk_to_numpy(image.GetPointData().GetScalars())
            extent = image.GetExtent()
            shape = (
                extent[5] - extent[4] + 1,
                extent[3] - extent[2] + 1,
                extent[1] - extent[0] + 1,
            )
            layers.append(
                (
                    segment_id,
                    segment,
                    self._slicer.util.arrayFromVTKMatrix(matrix),
                    extent,
                    np.asarray(values).reshape(shape),
                )
            )
        if not layers:
            return SegmentationData((), np.eye(4), (1, 1, 1), node.GetName())
        axes = layers[0][2]
        if any(not np.allclose(layer[2], axes) for layer in layers):
            raise SceneError(f"{node.GetID()}: segments lie on grids with different axes")
        low = np.min([layer[3][0::2] for layer in layers], axis=0)
        high = np.max([layer[3][1::2] for layer in layers], axis=0)
        shape_kji = tuple(int(v) for v in (high - low + 1)[::-1])
        ijk_to_ras = axes @ _translation(low)
        segments = []
        for segment_id, segment, _, extent, labels in layers:
            mask = np.zeros(shape_kji, dtype=bool)
            start = np.asarray(extent[0::2]) - low
            k, j, i = start[2], start[1], start[0]
            nk, nj, ni = labels.shape
            mask[k : k + nk, j : j + nj, i : i + ni] = labels == segment.GetLabelValue()
            segments.append(
                Segment(
                    id=segment_id,
                    name=segment.GetName(),
                    color=tuple(float(c) for c in segment.GetColor()),
                    mask=mask,
                    label_value=int(segment.GetLabelValue()),
                )
            )
        return SegmentationData(tuple(segments), ijk_to_ras, shape_kji, node.GetName())

    # -- text ----------------------------------------------------------------------------------
    def set_text(self, ref: str, text: str, *, create: bool = True) -> NodeInfo:
        """A text node's text, kept exactly; US-ASCII while it is ASCII, else UTF-8 (as the
        headless scene says Slicer stores it). A `modified`/"text" event every time."""
        if not isinstance(text, str):
            raise SceneError(f"text must be a string, got {type(text).__name__}")
        node = self._match(ref, "vtkMRMLTextNode", create=create)
        created = node is None
        encoding = VTK_ENCODING_US_ASCII if text.isascii() else VTK_ENCODING_UTF_8
        with self._changing():
            if node is None:
                node = self._new("vtkMRMLTextNode", ref)
            node.SetText(text, encoding)
        self._emit("added" if created else "modified", node, "" if created else "text")
        return self._info(node)

    def text(self, ref: str) -> str:
        return str(self._get(ref, "vtkMRMLTextNode").GetText() or "")

    # -- views and layout ----------------------------------------------------------------------
    def slice_view(self, view: str) -> SliceViewState:
        node, composite = self._slice_node(view), self._composite_node(view)
        matrix = self._slice_to_ras(node)
        field = node.GetFieldOfView()
        return SliceViewState(
            name=slice_layout_name(view).lower(),
            orientation=views.orientation_of(matrix),
            offset=views.slice_offset(matrix),
            slice_to_ras=matrix,
            background_volume_id=composite.GetBackgroundVolumeID() if composite else None,
            foreground_volume_id=composite.GetForegroundVolumeID() if composite else None,
            label_volume_id=composite.GetLabelVolumeID() if composite else None,
            foreground_opacity=float(composite.GetForegroundOpacity()) if composite else 0.0,
            field_of_view=(float(field[0]), float(field[1])),
        )

    def set_slice_offset(self, view: str, offset: float) -> None:
        node = self._slice_node(view)
        distance = float(checks.array(offset, (), "slice offset"))
        with self._changing():
            self._write_slice(node, views.with_offset(self._slice_to_ras(node), distance))
        self._emit("modified", node, "view")

    def set_slice_orientation(self, view: str, orientation: str) -> None:
        """Turn the view, then fit it to its background (Slicer's slice logic when the layout
        has one, else the same fit computed here), or centre it on the origin."""
        node = self._slice_node(view)
        wanted = str(orientation).strip().lower()
        if wanted not in SLICE_ORIENTATIONS:
            raise SceneError(
                f"unknown slice orientation {orientation!r}; known: {', '.join(SLICE_ORIENTATIONS)}"
            )
        with self._changing():
            self._write_slice(node, views.slice_to_ras(wanted))
            self._fit_slice(view)
        self._emit("modified", node, "view")

    def set_slice_geometry(
        self, view: str, slice_to_ras: np.ndarray, field_of_view: tuple[float, float]
    ) -> None:
        node = self._slice_node(view)
        matrix = views.check_slice_to_ras(checks.matrix4(slice_to_ras, "SliceToRAS"))
        width, height = views.check_field_of_view(field_of_view)
        with self._changing():
            self._write_slice(node, matrix, (width, height))
        self._emit("modified", node, "view")

    def camera(self, view: str = "3d") -> CameraState:
        node = self._camera_node(view)
        return CameraState(
            position=np.array(node.GetPosition(), dtype=np.float64),
            focal_point=np.array(node.GetFocalPoint(), dtype=np.float64),
            view_up=np.array(node.GetViewUp(), dtype=np.float64),
            view_angle=float(node.GetViewAngle()),
        )

    def set_camera(
        self,
        view: str,
        position: np.ndarray,
        focal_point: np.ndarray,
        view_up: np.ndarray,
    ) -> None:
        node = self._camera_node(view)
        checked = (
            checks.vector3(position, "camera position"),
            checks.vector3(focal_point, "camera focal point"),
            checks.vector3(view_up, "camera view_up"),
        )
        views.check_camera(*checked)
        with self._changing():
            node.SetPosition(*(float(v) for v in checked[0]))
            node.SetFocalPoint(*(float(v) for v in checked[1]))
            node.SetViewUp(*(float(v) for v in checked[2]))  # VTK normalises it
        self._emit("modified", node, "view")

    @property
    def layout(self) -> str:
        node = self._layout_node()
        return layout_name(self._layouts, int(node.GetViewArrangement()))

    def set_layout(self, name: str) -> None:
        canonical = canonical_layout(name)
        number = self._layouts.get(canonical)
        if number is None:
            raise SceneError(f"this Slicer has no {canonical} layout")
        node = self._layout_node()
        with self._changing():
            manager = self._layout_manager()
            if manager is not None:
                manager.setLayout(number)
            else:
                node.SetViewArrangement(number)
        self._emit("modified", node, "layout")

    # -- rendering -----------------------------------------------------------------------------
    def render_slice(self, view: str, size: int | tuple[int, int] | None = None) -> bytes:
        """Slicer's own slice view, grabbed; the shared renderer without a main window."""
        widget = self._slice_widget(view)
        if widget is None:
            return self._fallback_renderer().slice_png(view, size)
        widget.sliceView().forceRender()
        return _resized(self._grab_render_window(widget.sliceView().renderWindow()), size)

    def render_threed(
        self,
        view: str = "3d",
        size: int | tuple[int, int] | None = None,
        look_from_axis: str | None = None,
    ) -> bytes:
        if canonical_view(view) in SLICE_VIEWS:
            raise SceneError(f"{view!r} is a slice view; cameras belong to 3D views")
        if look_from_axis:
            moved = camera_axes.look_from_axis(self.camera(view), look_from_axis)
            self.set_camera(view, moved.position, moved.focal_point, moved.view_up)
        manager = self._layout_manager()
        if manager is None or manager.threeDViewCount == 0:
            return self._fallback_renderer().threed_png(view, size, None)
        threed = manager.threeDWidget(0).threeDView()
        threed.forceRender()
        return _resized(self._grab_render_window(threed.renderWindow()), size)

    def screenshot(self, size: int | tuple[int, int] | None = None) -> bytes:
        """The layout's viewport grabbed (all views as Slicer arranges them)."""
        manager = self._layout_manager()
        if manager is None:
            return self._fallback_renderer().screenshot_png(size)
        self._slicer.util.forceRenderAllViews()
        qt = importlib.import_module("qt")
        pixmap = manager.viewport().grab()
        data = qt.QByteArray()
        buffer = qt.QBuffer(data)
        buffer.open(qt.QIODevice.WriteOnly)
        pixmap.save(buffer, "PNG")
        return _resized(bytes(data.data()), size)

    def gltf(self, view: str = "3d", box_visible: bool = False) -> dict[str, Any]:
        """The shared export over this scene's models and markups (Slicer's route runs
        vtkGLTFExporter on the render window; this needs none)."""
        return self._fallback_renderer().gltf(view, box_visible)

    # -- lifecycle and files -------------------------------------------------------------------
    def remove(self, refs: Sequence[str]) -> list[str]:
        if isinstance(refs, str):
            refs = [refs]
        targets: dict[str, Any] = {}
        for ref in refs:
            node = self._search(str(ref), None)
            if node is None:
                continue
            if node.GetSingletonTag() is not None:
                raise SceneError(f"{node.GetID()} is a singleton and cannot be removed")
            targets[node.GetID()] = node
        if not targets:
            raise NodeNotFound(f"no node matches any of {', '.join(map(repr, refs)) or '()'}")
        for node in targets.values():
            self._remove_node(node)
        return list(targets)

    def clear(self) -> None:
        """Slicer's `Clear(0)` (modules restore their defaults), then: the ids it freed are
        reserved (the contract never reuses ids; MRML would), the views are back at their
        default orientation through the origin, and the layout is kept. One `removed` event
        per node, then `cleared`."""
        layout = self._layout_node().GetViewArrangement()
        removed = [self._info(node) for node in self._all() if node.GetSingletonTag() is None]
        with self._changing():
            self.mrml.Clear(0)
            for node_id in self._issued:
                if self.mrml.GetNodeByID(node_id) is None:
                    self.mrml.AddReservedID(node_id)
            self._ensure_views()
            for name in SLICE_VIEWS:
                node = self._slice_node(name)
                self._write_slice(node, views.slice_to_ras(_DEFAULT_ORIENTATION[name]))
            layout_node = self._layout_node()
            if layout_node.GetViewArrangement() != layout:
                layout_node.SetViewArrangement(layout)
        for node in removed:
            self._emit_info("removed", node)
        self._emit("cleared", None)

    def load_file(
        self, path: Path, filetype: str | None = None, properties: Mapping[str, str] | None = None
    ) -> list[str]:
        """Load with Slicer's readers (`DICOM`: through a temporary DICOM database); the
        filetypes and their detection are the headless scene's, so both accept the same."""
        from bridge.scene.io.formats import detect_filetype

        source = self._resolve(path)
        if not source.exists():
            raise SceneError(f"no such file or folder: {source}")
        filetype = filetype or detect_filetype(source)
        if filetype not in files.FILE_KINDS:
            raise SceneError(
                f"unsupported filetype {filetype!r}; known: {', '.join(files.FILE_KINDS)}"
            )
        before = self._view_layers()
        with self._changing():
            if filetype == "DICOM":
                loaded = self._load_dicom(source)
            else:
                try:
                    nodes = self._slicer.util.loadNodesFromFile(
                        str(source),
                        filetype,
                        {str(k): str(v) for k, v in (properties or {}).items()},
                    )
                except RuntimeError as error:
                    raise SceneError(str(error)) from None
                loaded = [node for node in nodes if node is not None]
        for node in loaded:
            self._sources[node.GetID()] = NodeSource(source, filetype)
            self._emit("added", node)
        self._emit_view_changes(before)
        return [node.GetID() for node in loaded]

    def save_node(
        self,
        ref: str,
        path: Path,
        properties: Mapping[str, str] | None = None,
        *,
        apply_transforms: bool = False,
    ) -> bool:
        """`slicer.util.exportNode` (never touches where the node was loaded from); what it
        cannot save raises SceneError first, as in the headless scene."""
        node = self._find(ref)
        target = self._resolve(path)
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        hardened = apply_transforms and bool(
            node.IsA("vtkMRMLTransformableNode") and node.GetParentTransformNode()
        )
        files.save_suffix(
            lambda name: bool(node.IsA(name)),
            f"{node.GetClassName()} {node.GetID()}",
            props.get("fileFormat") or target.name,
            hardened=hardened,
        )
        try:
            return bool(
                self._slicer.util.exportNode(node, str(target), props, world=apply_transforms)
            )
        except (OSError, RuntimeError, ValueError) as error:
            logger.warning("saving %s to %s failed: %s", node.GetID(), target, error)
            return False

    def reload(self, refs: Sequence[str] | None = None) -> list[str]:
        """Re-read nodes from their storage node's file; nodes without one are skipped, and
        with no `refs` so are singletons and hidden nodes (colour tables and the like)."""
        if isinstance(refs, str):
            refs = [refs]
        if refs is None:
            chosen = [
                node
                for node in self._all()
                if node.GetSingletonTag() is None and not node.GetHideFromEditors()
            ]
        else:
            chosen = [self._find(ref) for ref in refs]
        reloaded: list[str] = []
        for node in {n.GetID(): n for n in chosen}.values():
            storage = node.GetStorageNode() if node.IsA("vtkMRMLStorableNode") else None
            if storage is None or not storage.GetFileName():
                continue
            with self._changing():
                if not storage.ReadData(node):
                    raise SceneError(f"{node.GetID()}: cannot re-read {storage.GetFileName()}")
            self._emit("modified", node, _aspect_of(node))
            reloaded.append(node.GetID())
        return reloaded

    def node_source(self, ref: str) -> NodeSource | None:
        """What `load_file` loaded the node from; else the file its storage node reads, as
        the filetype the shared detection names (None when it names none)."""
        node = self._find(ref)
        source = self._sources.get(node.GetID())
        if source is not None:
            return source
        storage = node.GetStorageNode() if node.IsA("vtkMRMLStorableNode") else None
        if storage is None or not storage.GetFileName():
            return None
        from bridge.scene.io.formats import detect_filetype

        path = Path(storage.GetFileName())
        try:
            return NodeSource(path, detect_filetype(path))
        except (SceneError, OSError):
            return None

    # -- change events -------------------------------------------------------------------------
    def host_application(self) -> dict[str, Any]:
        app = self._slicer.app
        return {
            "isCustomMainApplication": True,
            "mainApplicationName": app.mainApplicationName,
            "mainApplicationRepositoryUrl": app.mainApplicationRepositoryUrl,
            "mainApplicationRepositoryRevision": app.mainApplicationRepositoryRevision,
            "mainApplicationRevision": app.mainApplicationRevision,
            "mainApplicationMajorVersion": app.mainApplicationMajorVersion,
            "mainApplicationMinorVersion": app.mainApplicationMinorVersion,
            "mainApplicationPatchVersion": app.mainApplicationPatchVersion,
        }

    def subscribe(self, listener: SceneListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- internals: lookup ---------------------------------------------------------------------
    def _all(self) -> list[Any]:
        scene = self.mrml
        return [scene.GetNthNode(index) for index in range(scene.GetNumberOfNodes())]

    def _info(self, node: Any) -> NodeInfo:
        return NodeInfo(id=node.GetID(), name=node.GetName() or "", class_name=node.GetClassName())

    def _search(self, ref: str, class_name: str | None) -> Any:
        """Exact id, else exact name, else fnmatch pattern on id or name; first created wins."""
        node = self.mrml.GetNodeByID(ref)
        if node is not None and (class_name is None or node.IsA(class_name)):
            return node
        candidates = [node for node in self._all() if class_name is None or node.IsA(class_name)]
        for node in candidates:
            if (node.GetName() or "") == ref:
                return node
        for node in candidates:
            if matches(node.GetID(), node.GetName() or "", ref):
                return node
        return None

    def _find(self, ref: str, class_name: str | None = None) -> Any:
        node = self._search(str(ref), class_name)
        if node is None:
            kind = f" of class {class_name}" if class_name else ""
            raise NodeNotFound(f"no node{kind} matches {ref!r} (by id, name or pattern)")
        return node

    def _get(self, ref: str, class_name: str) -> Any:
        return self._find(ref, class_name)

    def _match(self, ref: str, class_name: str, *, create: bool) -> Any:
        node = self._search(str(ref), class_name)
        if node is None and not create:
            raise NodeNotFound(f"no node of class {class_name} matches {ref!r}")
        return node

    def _ancestors(self, node: Any) -> Iterator[Any]:
        seen: set[str] = set()
        parent = node.GetParentTransformNode() if node.IsA("vtkMRMLTransformableNode") else None
        while parent is not None and parent.GetID() not in seen:
            seen.add(parent.GetID())
            yield parent
            parent = parent.GetParentTransformNode()

    def _require_linear(self, transform: Any, below: Any = None) -> None:
        if transform.IsA("vtkMRMLGridTransformNode") or not transform.IsLinear():
            under = "" if below is None else f"{below.GetID()} is under "
            raise NonLinearTransformError(
                f"{under}{transform.GetID()} ({transform.GetClassName()}), a non-linear "
                "transform: it has no matrix"
            )

    # -- internals: views ----------------------------------------------------------------------
    def _slice_node(self, view: str) -> Any:
        node = self.mrml.GetNodeByID(slice_node_id(view))
        if node is None:
            raise SceneError(f"this scene has no {slice_layout_name(view)} slice view")
        return node

    def _composite_node(self, view: str) -> Any:
        return self.mrml.GetNodeByID(slice_composite_node_id(view))

    def _slice_to_ras(self, node: Any) -> np.ndarray:
        return self._slicer.util.arrayFromVTKMatrix(node.GetSliceToRAS())

    def _write_slice(
        self, node: Any, matrix: np.ndarray, field: tuple[float, float] | None = None
    ) -> None:
        modifying = node.StartModify()
        try:
            node.GetSliceToRAS().DeepCopy(self._slicer.util.vtkMatrixFromArray(np.array(matrix)))
            if field is not None:
                depth = node.GetFieldOfView()[2]
                node.SetFieldOfView(field[0], field[1], depth)
            node.UpdateMatrices()
        finally:
            node.EndModify(modifying)

    def _slice_logic(self, view: str) -> Any:
        manager = self._layout_manager()
        if manager is None:
            return None
        widget = manager.sliceWidget(slice_layout_name(view))
        return None if widget is None else widget.sliceLogic()

    def _slice_widget(self, view: str) -> Any:
        manager = self._layout_manager()
        return None if manager is None else manager.sliceWidget(slice_layout_name(view))

    def _fit_slice(self, view: str) -> None:
        """FitSliceToBackground: Slicer's slice logic when there is one; else the same fit
        from the shared geometry (centre and size on the background's world box)."""
        logic = self._slice_logic(view)
        if logic is not None:
            logic.FitSliceToBackground()
            return
        node = self._slice_node(view)
        matrix = np.array(self._slice_to_ras(node))
        composite = self._composite_node(view)
        volume_id = composite.GetBackgroundVolumeID() if composite else None
        volume = self.mrml.GetNodeByID(volume_id) if volume_id else None
        if volume is None or volume.GetImageData() is None:
            matrix[:3, 3] = 0.0
            self._write_slice(node, matrix)
            return
        data = self.volume(volume.GetID())
        try:
            ijk_to_world = self.world_matrix(volume.GetID()) @ data.ijk_to_ras
        except NonLinearTransformError:
            ijk_to_world = data.ijk_to_ras
        corners = views.volume_corners(ijk_to_world, data.array.shape)
        fitted, field = views.fit_to_corners(matrix, corners)
        self._write_slice(node, fitted, field)

    def _camera_node(self, view: str) -> Any:
        if canonical_view(view) in SLICE_VIEWS:
            raise SceneError(f"{view!r} is a slice view; cameras belong to 3D views")
        node = self.mrml.GetSingletonNode(THREED_LAYOUT_NAME, "vtkMRMLCameraNode")
        if node is None:
            node = self.mrml.GetFirstNodeByClass("vtkMRMLCameraNode")
        if node is None:
            raise SceneError("this scene has no 3D view camera")
        return node

    def _layout_node(self) -> Any:
        node = self.mrml.GetSingletonNode(LAYOUT_SINGLETON_TAG, "vtkMRMLLayoutNode")
        if node is None:
            raise SceneError("this scene has no layout node")
        return node

    def _layout_manager(self) -> Any:
        return self._slicer.app.layoutManager() if hasattr(self._slicer, "app") else None

    def _ensure_views(self) -> None:
        """Without a main window (`--no-main-window`) Slicer makes no views: make the slice
        views, the 3D view, its camera and the layout node the way its layout would (the
        logics that make them stay with this scene)."""
        slicer, scene = self._slicer, self.mrml
        for view in SLICE_VIEWS:
            name = view.capitalize()
            if scene.GetNodeByID(f"vtkMRMLSliceNode{name}") is None:
                logic = slicer.vtkMRMLSliceLogic()
                logic.SetMRMLScene(scene)
                node = logic.AddSliceNode(name)
                node.SetName(name)
                self._logics.append(logic)
        if scene.GetNodeByID(VIEW_NODE_ID) is None:
            logic = slicer.vtkMRMLViewLogic()
            logic.SetMRMLScene(scene)
            logic.AddViewNode(THREED_LAYOUT_NAME).SetName("View1")
            self._logics.append(logic)
        if scene.GetSingletonNode(THREED_LAYOUT_NAME, "vtkMRMLCameraNode") is None:
            camera = slicer.vtkMRMLCameraNode()
            camera.SetLayoutName(THREED_LAYOUT_NAME)
            camera.SetName("Camera")
            scene.AddNode(camera)
        if scene.GetSingletonNode(LAYOUT_SINGLETON_TAG, "vtkMRMLLayoutNode") is None:
            layout = slicer.vtkMRMLLayoutNode()
            layout.SetSingletonTag(LAYOUT_SINGLETON_TAG)
            layout.SetName("Layout")
            scene.AddNode(layout)

    def _view_layers(self) -> dict[str, tuple[Any, ...]]:
        layers = {}
        for view in SLICE_VIEWS:
            composite = self._composite_node(view)
            node = self.mrml.GetNodeByID(slice_node_id(view))
            if composite is None or node is None:
                continue
            layers[view] = (
                composite.GetBackgroundVolumeID(),
                composite.GetForegroundVolumeID(),
                composite.GetLabelVolumeID(),
                tuple(self._slice_to_ras(node).ravel()),
            )
        return layers

    def _emit_view_changes(self, before: Mapping[str, tuple[Any, ...]]) -> None:
        for view, layers in self._view_layers().items():
            if before.get(view) != layers:
                self._emit("modified", self._slice_node(view), "view")

    # -- internals: volumes --------------------------------------------------------------------
    def _write_volume(self, node: Any, voxels: np.ndarray, geometry: np.ndarray) -> None:
        try:
            self._slicer.util.updateVolumeFromArray(node, np.array(voxels))
        except RuntimeError as error:  # e.g. int64 voxels, which Slicer refuses
            raise SceneError(str(error)) from None
        node.SetIJKToRASMatrix(self._slicer.util.vtkMatrixFromArray(np.array(geometry)))

    def _add_volume(
        self, kind: str, name: str, voxels: np.ndarray, geometry: np.ndarray
    ) -> NodeInfo:
        """A new volume; the first one becomes the active volume, shown and fitted in every
        slice view (as loading a volume does in Slicer)."""
        with self._changing():
            node = self._new(kind, name)
            try:
                self._write_volume(node, voxels, geometry)
            except SceneError:
                self.mrml.RemoveNode(node)
                raise
            node.CreateDefaultDisplayNodes()
        self._emit("added", node)
        if self._active_volume_node() is None:
            self._show_volume(node, fit=True)
        return self._info(node)

    def _selection_node(self) -> Any:
        return self._slicer.app.applicationLogic().GetSelectionNode()

    def _active_volume_node(self) -> Any:
        selection = self._selection_node()
        volume_id = selection.GetActiveVolumeID() if selection else None
        node = self.mrml.GetNodeByID(volume_id) if volume_id else None
        return node if node is not None and node.IsA("vtkMRMLVolumeNode") else None

    def _show_volume(self, node: Any, *, fit: bool) -> None:
        with self._changing():
            selection = self._selection_node()
            if selection is not None:
                selection.SetActiveVolumeID(node.GetID())
            for view in SLICE_VIEWS:
                composite = self._composite_node(view)
                if composite is not None:
                    composite.SetBackgroundVolumeID(node.GetID())
                if fit:
                    self._fit_slice(view)
        for view in SLICE_VIEWS:
            self._emit("modified", self._slice_node(view), "view")

    def _stepped_volume(self, step: int) -> Any:
        volumes = [node for node in self._all() if node.IsA("vtkMRMLScalarVolumeNode")]
        if not volumes:
            raise SceneError("there is no volume to select")
        ids = [node.GetID() for node in volumes]
        active = self._active_volume_node()
        if active is None or active.GetID() not in ids:
            return volumes[0] if step >= 0 else volumes[-1]
        return volumes[(ids.index(active.GetID()) + step) % len(volumes)]

    # -- internals: markups, grids, models -----------------------------------------------------
    def _fill_points(self, node: Any, positions: np.ndarray, labels: Sequence[str] | None) -> None:
        """Every point replaced; unlabelled ones named from `%N-1` again."""
        modifying = node.StartModify()
        try:
            node.RemoveAllControlPoints()
            node.SetLastUsedControlPointNumber(0)
            for index, position in enumerate(positions):
                point = [float(v) for v in position]
                if labels is None:
                    node.AddControlPoint(point)
                else:
                    node.AddControlPoint(point, str(labels[index]))
        finally:
            node.EndModify(modifying)

    def _grid_of(self, node: Any) -> Any:
        transform = node.GetTransformFromParentAs("vtkOrientedGridTransform")
        if transform is None or transform.GetDisplacementGrid() is None:
            raise SceneError(f"{node.GetID()} holds no displacement grid")
        return transform

    def _write_grid(self, node: Any, field: np.ndarray, geometry: np.ndarray) -> None:
        vtk, support = self._vtk, _numpy_support()
        origin, spacing, directions = grid_geometry(geometry)
        nk, nj, ni, _ = field.shape
        image = vtk.vtkImageData()
        image.SetDimensions(ni, nj, nk)
        image.SetOrigin(*origin)
        image.SetSpacing(*spacing)
        vectors = support.numpy_to_vtk(np.ascontiguousarray(field).reshape(-1, 3), deep=True)
        vectors.SetNumberOfComponents(3)
        image.GetPointData().SetScalars(vectors)
        direction_matrix = np.eye(4)
        direction_matrix[:3, :3] = directions
        transform = self._slicer.vtkOrientedGridTransform()
        transform.SetDisplacementGridData(image)
        transform.SetGridDirectionMatrix(self._slicer.util.vtkMatrixFromArray(direction_matrix))
        transform.SetInterpolationModeToCubic()
        node.SetAndObserveTransformFromParent(transform)

    def _polydata(self, mesh: ModelData) -> Any:
        """A vtkPolyData of a checked mesh: points, triangles, point normals if given."""
        vtk, support = self._vtk, _numpy_support()
        poly = vtk.vtkPolyData()
        points = vtk.vtkPoints()
        points.SetData(
            support.numpy_to_vtk(np.ascontiguousarray(mesh.vertices, np.float64), deep=True)
        )
        poly.SetPoints(points)
        cells = vtk.vtkCellArray()
        offsets = np.arange(0, 3 * len(mesh.triangles) + 1, 3, dtype=np.int64)
        cells.SetData(
            support.numpy_to_vtk(offsets, deep=True, array_type=vtk.VTK_ID_TYPE),
            support.numpy_to_vtk(
                np.ascontiguousarray(mesh.triangles, np.int64).ravel(),
                deep=True,
                array_type=vtk.VTK_ID_TYPE,
            ),
        )
        poly.SetPolys(cells)
        if mesh.normals is not None:
            normals = support.numpy_to_vtk(
                np.ascontiguousarray(mesh.normals, np.float64), deep=True
            )
            normals.SetName("Normals")
            poly.GetPointData().SetNormals(normals)
        return poly

    def _tracking_device(self, tracker_id: str) -> Any:
        """The yellow 30×70×5 mm box Slicer's WebServer shows under `tracker`."""
        cube = self._vtk.vtkCubeSource()
        cube.SetXLength(TRACKING_DEVICE_SIZE[0])
        cube.SetYLength(TRACKING_DEVICE_SIZE[1])
        cube.SetZLength(TRACKING_DEVICE_SIZE[2])
        cube.Update()
        model = self._new("vtkMRMLModelNode", TRACKING_DEVICE_NAME)
        model.SetAndObservePolyData(cube.GetOutput())
        model.CreateDefaultDisplayNodes()
        model.GetDisplayNode().SetColor(*TRACKING_DEVICE_COLOR)
        model.SetAndObserveTransformNodeID(tracker_id)
        return model

    # -- internals: adding and removing --------------------------------------------------------
    def _new(self, class_name: str, name: str) -> Any:
        node = self.mrml.AddNewNodeByClass(class_name, str(name))
        self._issued.add(node.GetID())
        return node

    def _remove_node(self, node: Any) -> None:
        """Remove one node with its display and storage nodes; its transform children move
        up to its parent (MRML would leave them under none), views that showed it show
        nothing in that layer."""
        node_id = node.GetID()
        info = self._info(node)
        before = self._view_layers()
        children = []
        if node.IsA("vtkMRMLTransformNode"):
            parent = node.GetParentTransformNode()
            children = [
                child
                for child in self._all()
                if child.IsA("vtkMRMLTransformableNode") and child.GetTransformNodeID() == node_id
            ]
        with self._changing():
            for child in children:
                child.SetAndObserveTransformNodeID(None if parent is None else parent.GetID())
            helpers = []
            if node.IsA("vtkMRMLDisplayableNode"):
                helpers += [
                    node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())
                ]
            if node.IsA("vtkMRMLStorableNode") and node.GetStorageNode() is not None:
                helpers.append(node.GetStorageNode())
            self.mrml.RemoveNode(node)
            for helper in helpers:
                if helper is not None and helper.GetScene() is not None:
                    self.mrml.RemoveNode(helper)
        self._emit_info("removed", info)
        for child in children:
            self._emit("modified", child, "transform")
        self._emit_view_changes(before)

    def _load_dicom(self, source: Path) -> list[Any]:
        """Import into a temporary DICOM database and load every patient in it."""
        dicom_utils = importlib.import_module("DICOMLib.DICOMUtils")
        loaded_ids: list[str] = []
        with dicom_utils.TemporaryDICOMDatabase() as database:
            dicom_utils.importDicom(str(source), database)
            for patient in database.patients():
                loaded_ids += dicom_utils.loadPatientByUID(patient) or []
        return [self.mrml.GetNodeByID(node_id) for node_id in loaded_ids]

    def _resolve(self, path: Path) -> Path:
        candidate = Path(path).expanduser()
        if self.data_dir is not None and not candidate.is_absolute():
            return self.data_dir / candidate
        return candidate

    # -- internals: properties -----------------------------------------------------------------
    def _sections(self, node: Any, printed: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The contract's property sections for this node's kind, from MRML data."""
        sections: list[dict[str, Any]] = []
        node_id = node.GetID()
        if node.IsA("vtkMRMLDisplayableNode") and node.GetDisplayNode() is not None:
            sections.append({"Visibility": bool(node.GetDisplayNode().GetVisibility())})
        if node.IsA("vtkMRMLVolumeNode") and node.GetImageData() is not None:
            data = self.volume(node_id)
            sections.append(
                shapes.volume_properties(data.ijk_to_ras, data.array.shape, data.array.dtype)
            )
        elif node.IsA("vtkMRMLGridTransformNode"):
            grid = self.grid_transform(node_id)
            sections.append(
                shapes.grid_transform_properties(
                    grid.ijk_to_ras, grid.displacements.shape, grid.displacements.dtype
                )
            )
        elif node.IsA("vtkMRMLLinearTransformNode") and node.IsLinear():
            sections.append(shapes.linear_transform_properties(self.transform_matrix(node_id)))
        elif node.IsA("vtkMRMLSegmentationNode"):
            sections.append(shapes.segmentation_properties(self._segment_list(node, printed)))
        elif node.IsA("vtkMRMLMarkupsNode"):
            label_format = node.GetControlPointLabelFormat()
            sections.append(shapes.markups_properties(self.markups(node_id), label_format))
        elif node.IsA("vtkMRMLModelNode"):
            sections.append(shapes.model_properties(self.model(node_id)))
        elif node.IsA("vtkMRMLTextNode"):  # the shape of the headless `Text` section
            sections.append({"Text": self.text(node_id), "Encoding": int(node.GetEncoding())})
        elif node.IsA("vtkMRMLSliceNode") and node_id.startswith("vtkMRMLSliceNode"):
            view = node_id.removeprefix("vtkMRMLSliceNode").lower()
            if view in SLICE_VIEWS:
                sections.append(shapes.slice_properties(self.slice_view(view)))
        elif node.IsA("vtkMRMLCameraNode"):
            sections.append(shapes.camera_properties(_camera_state(node)))
        elif node.IsA("vtkMRMLLayoutNode"):
            sections.append(shapes.layout_properties(self.layout))
        return sections

    def _segment_list(self, node: Any, printed: Mapping[str, Any]) -> list[Segment]:
        """Segments without masks (properties need identity and colour only); tags as the
        PrintSelf text lists them."""
        segmentation = node.GetSegmentation()
        printed_segments = printed.get("Segmentation", {}).get("Segments", {})
        segments = []
        for index in range(segmentation.GetNumberOfSegments()):
            segment_id = segmentation.GetNthSegmentID(index)
            segment = segmentation.GetSegment(segment_id)
            tags = printed_segments.get(segment_id, {}).get("Tags", {})
            segments.append(
                Segment(
                    id=segment_id,
                    name=segment.GetName(),
                    color=tuple(float(c) for c in segment.GetColor()),
                    mask=np.zeros((0, 0, 0), dtype=bool),
                    label_value=int(segment.GetLabelValue()),
                    tags={str(k): str(v) for k, v in tags.items()}
                    if isinstance(tags, dict)
                    else {},
                )
            )
        return segments

    # -- internals: rendering ------------------------------------------------------------------
    def _fallback_renderer(self) -> Any:
        if self._renderer is None:
            from bridge.scene.render import SceneRenderer

            self._renderer = SceneRenderer(self)
        return self._renderer

    def _grab_render_window(self, window: Any) -> bytes:
        vtk, support = self._vtk, _numpy_support()
        grabber = vtk.vtkWindowToImageFilter()
        grabber.SetInput(window)
        grabber.ReadFrontBufferOff()
        grabber.Update()
        writer = vtk.vtkPNGWriter()
        writer.SetWriteToMemory(True)
        writer.SetInputConnection(grabber.GetOutputPort())
        writer.Write()
        return bytes(support.vtk_to_numpy(writer.GetResult()))

    # -- internals: events ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Around this scene's own MRML changes: observers stay silent (the protocol's events
        are emitted explicitly, exactly)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _emit(self, kind: EventKind, node: Any, aspect: str = "") -> None:
        self._emit_info(kind, None if node is None else self._info(node), aspect)

    def _emit_info(self, kind: EventKind, info: NodeInfo | Any, aspect: str = "") -> None:
        if info is not None and not isinstance(info, NodeInfo):
            info = self._info(info)
        event = SceneEvent(kind=kind, node=info, aspect=aspect)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("scene listener %r failed on %s", listener, event)

    def _observe_scene(self) -> None:
        """Changes made in Slicer itself (GUI, other modules) reach listeners too."""
        vtk, scene = self._vtk, self.mrml

        @vtk.calldata_type(vtk.VTK_OBJECT)
        def added(_caller: Any, _event: Any, node: Any) -> None:
            if node is None:
                return
            self._issued.add(node.GetID())
            self._watch(node)
            if not self._quiet:
                self._emit("added", node)

        @vtk.calldata_type(vtk.VTK_OBJECT)
        def removed(_caller: Any, _event: Any, node: Any) -> None:
            if node is None:
                return
            self._unwatch(node.GetID())
            if not self._quiet:
                self._emit_info("removed", node)

        for event, callback in (
            (scene.NodeAddedEvent, added),
            (scene.NodeRemovedEvent, removed),
        ):
            self._observers.append((scene, scene.AddObserver(event, callback)))
        for node in self._all():
            self._watch(node)

    def _watch(self, node: Any) -> None:
        events = _watched_events(self._slicer, node)
        if not events or node.GetID() in self._node_observers:
            return
        aspect = _aspect_of(node)

        def modified(caller: Any, _event: Any) -> None:
            if not self._quiet:
                self._emit("modified", caller, aspect)

        self._node_observers[node.GetID()] = [
            (node, node.AddObserver(event, modified)) for event in events
        ]

    def _unwatch(self, node_id: str) -> None:
        for target, tag in self._node_observers.pop(node_id, []):
            target.RemoveObserver(tag)


_DEFAULT_ORIENTATION = {"red": "axial", "yellow": "sagittal", "green": "coronal"}


def _translation(offset: Sequence[float]) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def _camera_state(node: Any) -> CameraState:
    return CameraState(
        position=np.array(node.GetPosition(), dtype=np.float64),
        focal_point=np.array(node.GetFocalPoint(), dtype=np.float64),
        view_up=np.array(node.GetViewUp(), dtype=np.float64),
        view_angle=float(node.GetViewAngle()),
    )


#: MRML class → the event aspect its changes are published under (first match wins).
ASPECTS: tuple[tuple[str, str], ...] = (
    ("vtkMRMLTransformNode", "transform"),
    ("vtkMRMLMarkupsNode", "markups"),
    ("vtkMRMLVolumeNode", "volume"),
    ("vtkMRMLSegmentationNode", "volume"),
    ("vtkMRMLModelNode", "model"),
    ("vtkMRMLTextNode", "text"),
    ("vtkMRMLAbstractViewNode", "view"),
    ("vtkMRMLCameraNode", "view"),
    ("vtkMRMLLayoutNode", "layout"),
)


def _aspect_of(node: Any) -> str:
    for class_name, aspect in ASPECTS:
        if node.IsA(class_name):
            return aspect
    return "properties"


def _watched_events(slicer: Any, node: Any) -> tuple[int, ...]:
    """The MRML events that mean "this node's published state changed"."""
    if node.IsA("vtkMRMLTransformNode"):
        return (slicer.vtkMRMLTransformableNode.TransformModifiedEvent,)
    if node.IsA("vtkMRMLMarkupsNode"):
        markups = slicer.vtkMRMLMarkupsNode
        return (markups.PointModifiedEvent, markups.PointAddedEvent, markups.PointRemovedEvent)
    if node.IsA("vtkMRMLVolumeNode"):
        return (slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent,)
    if node.IsA("vtkMRMLModelNode"):
        return (slicer.vtkMRMLModelNode.MeshModifiedEvent,)
    if node.IsA("vtkMRMLTextNode"):
        return (slicer.vtkMRMLTextNode.TextModifiedEvent,)
    if any(
        node.IsA(name) for name in ("vtkMRMLSliceNode", "vtkMRMLCameraNode", "vtkMRMLLayoutNode")
    ):
        return (importlib.import_module("vtk").vtkCommand.ModifiedEvent,)
    return ()


def _resized(png: bytes, size: int | tuple[int, int] | None) -> bytes:
    """A grabbed PNG at the asked size: an int sets the longer side (aspect kept), a pair
    sets both; None leaves it as grabbed."""
    if size is None:
        return png
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if isinstance(size, int):
        scale = size / max(image.size)
        target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    else:
        target = (int(size[0]), int(size[1]))
    output = io.BytesIO()
    image.resize(target, Image.Resampling.LANCZOS).save(output, "PNG")
    return output.getvalue()


__all__ = [
    "ASPECTS",
    "MrmlScene",
    "grid_geometry",
    "grid_ijk_to_ras",
    "layout_name",
    "layout_numbers",
    "matches",
    "slice_composite_node_id",
    "slice_layout_name",
    "slice_node_id",
    "with_properties",
]
