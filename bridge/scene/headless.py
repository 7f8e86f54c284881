"""`HeadlessScene`: the Scene protocol on a numpy node store, for standalone use and for tests.

It behaves like Slicer's MRML scene where clients can observe it: MRML node ids and class
names, `getNodesByClass` inheritance, the default slice views, camera and layout, what
`/slicer/tracking` creates, what loading a first volume shows, and what `Clear()` keeps.
Geometry of views lives in `views`, node state in `nodes`, the PrintSelf-shaped property view
in `properties`, argument checks in `checks`, the mapping of files onto nodes in `files`
(whose formats are `bridge.scene.io`'s).

Grid (displacement field) transforms are held and can parent other nodes, but they are
non-linear: `world_matrix` (and `transform_matrix`) of a chain that holds one raises
`NonLinearTransformError`, as Slicer's `GetMatrixTransformToWorld` fails, instead of silently
treating the field as the identity. The renderer leaves such nodes out (it cannot warp them),
fitting a slice view to a volume under one uses the volume's own geometry, and saving with
transforms applied refuses the chain.

It must stay synchronous and free of transports: callers (the bus's appliers) run it on the
loop thread, and change events are plain callbacks made after each change.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bridge.scene import checks, files, views
from bridge.scene import nodes as n
from bridge.scene.properties import node_properties
from bridge.scene.render import SceneRenderer
from bridge.scene.types import (
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
    SegmentationData,
    SliceViewState,
    VolumeData,
    canonical_layout,
    canonical_view,
)

logger = logging.getLogger(__name__)

N = TypeVar("N", bound=n.Node)

TRACKER_NAME = "tracker"
TRACKING_DEVICE_NAME = "trackingDevice"
#: vtkCubeSource lengths (x, y, z, mm) of the `/slicer/tracking` device model.
TRACKING_DEVICE_SIZE: tuple[float, float, float] = (30.0, 70.0, 5.0)
TRACKING_DEVICE_COLOR: tuple[float, float, float] = (1.0, 1.0, 0.0)


class HeadlessScene:
    """An MRML-like scene in memory. `data_dir` anchors relative file paths in
    `load_file` / `save_node` (None: the process's working directory)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._nodes: dict[str, n.Node] = {node.id: node for node in n.make_singletons()}
        self._last_id_number: dict[str, int] = {}
        self._listeners: list[SceneListener] = []
        self._active_volume_id: str | None = None
        self._renderer = SceneRenderer(self)

    # -- queries -------------------------------------------------------------------------------
    def nodes(
        self, *, id: str | None = None, class_name: str | None = None, name: str | None = None
    ) -> list[NodeInfo]:
        """Nodes matching every given filter, in creation order (see `Scene.nodes`)."""
        return [
            node.info
            for node in self._nodes.values()
            if (id is None or node.id == id)
            and (class_name is None or node.is_a(class_name))
            and (name is None or node.name == name)
        ]

    def find(self, ref: str, class_name: str | None = None) -> NodeInfo:
        return self._find(ref, class_name).info

    def node_properties(self, ref: str) -> dict[str, Any]:
        return node_properties(self._find(ref))

    def rename(self, ref: str, name: str) -> NodeInfo:
        node = self._find(ref)
        node.name = str(name)
        self._emit("modified", node, "name")
        return node.info

    # -- transforms ----------------------------------------------------------------------------
    def set_transform(self, ref: str, matrix: np.ndarray, *, create: bool = True) -> NodeInfo:
        checked = checks.matrix4(matrix, "transform matrix")
        node = self._match(ref, n.TransformNode, create=create)
        if node is None:
            return self._add(n.LinearTransformNode(name=ref, matrix_to_parent=checked))
        if not isinstance(node, n.LinearTransformNode):
            raise SceneError(
                f"{node.id} is a {node.class_name}: a matrix sets linear transforms only"
            )
        node.matrix_to_parent = checked
        self._emit("modified", node, "transform")
        return node.info

    def transform_matrix(self, ref: str) -> np.ndarray:
        return np.array(_to_parent(self._get(ref, n.TransformNode)))

    def world_matrix(self, ref: str) -> np.ndarray:
        """See `Scene.world_matrix`; NonLinearTransformError under (or of) a grid transform."""
        return self._world(self._find(ref))

    def set_parent_transform(self, ref: str, transform_ref: str | None) -> None:
        node = self._get(ref, n.TransformableNode)
        parent = None if transform_ref is None else self._get(transform_ref, n.TransformNode)
        if parent is not None and (parent is node or node in self._ancestors(parent)):
            raise SceneError(f"putting {node.id} under {parent.id} would make a transform cycle")
        node.parent_transform_id = None if parent is None else parent.id
        self._emit("modified", node, "transform")

    def parent_transform(self, ref: str) -> NodeInfo | None:
        node = self._find(ref)
        parent_id = getattr(node, "parent_transform_id", None)
        return None if parent_id is None else self._nodes[parent_id].info

    def set_tracking_pose(
        self, rotation: np.ndarray | None = None, position: np.ndarray | None = None
    ) -> NodeInfo:
        """Overwrite only the given parts of `tracker`'s matrix, as `/slicer/tracking` does;
        (re)create `tracker` and the `trackingDevice` cube under it when they are missing."""
        checked_rotation = None if rotation is None else checks.array(rotation, (3, 3), "rotation")
        checked_position = None if position is None else checks.vector3(position, "position")
        tracker = self._match(TRACKER_NAME, n.TransformNode)
        matrix = np.eye(4) if tracker is None else np.array(_to_parent(tracker))
        if checked_rotation is not None:
            matrix[:3, :3] = checked_rotation
        if checked_position is not None:
            matrix[:3, 3] = checked_position
        info = self.set_transform(TRACKER_NAME, matrix)
        device = self._match(TRACKING_DEVICE_NAME, n.ModelNode)
        if device is None:
            self._add(
                n.ModelNode(
                    name=TRACKING_DEVICE_NAME,
                    mesh=_box_mesh(TRACKING_DEVICE_SIZE, TRACKING_DEVICE_COLOR),
                    parent_transform_id=info.id,
                )
            )
        elif tracker is None:
            self.set_parent_transform(device.id, info.id)
        return info

    # -- grid transforms -------------------------------------------------------------------------
    def set_grid_transform(
        self, ref: str, data: GridTransformData, *, create: bool = True
    ) -> NodeInfo:
        """Replace a grid transform's displacement field, or create one named `ref`; a
        linear transform of that name is refused, not converted."""
        node = self._match(ref, n.TransformNode, create=create)
        if node is None:
            return self._add(files.grid_transform_node(data, ref))
        if not isinstance(node, n.GridTransformNode):
            raise SceneError(
                f"{node.id} is a {node.class_name}: a displacement field sets grid transforms only"
            )
        files.apply_grid(node, data)
        self._emit("modified", node, "transform")
        return node.info

    def grid_transform(self, ref: str) -> GridTransformData:
        node = self._get(ref, n.GridTransformNode)
        return GridTransformData(
            displacements=node.displacements,
            ijk_to_ras=np.array(node.grid_ijk_to_ras),
            name=node.name,
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
        """Replace a volume's voxels and geometry (keeping its class), or create one named
        `ref`; a labelmap flag only chooses the class of a new node."""
        voxels, geometry = checks.voxels(array), checks.ijk_to_ras(ijk_to_ras)
        node = self._match(ref, n.VolumeNode, create=create)
        if node is None:
            kind = n.LabelMapVolumeNode if labelmap else n.ScalarVolumeNode
            return self._add(kind(name=ref, array=voxels, ijk_to_ras=geometry))
        node.array, node.ijk_to_ras = voxels, geometry
        self._emit("modified", node, "volume")
        return node.info

    def volume(self, ref: str) -> VolumeData:
        node = self._get(ref, n.VolumeNode)
        return VolumeData(
            array=node.array,
            ijk_to_ras=np.array(node.ijk_to_ras),
            labelmap=node.is_a(n.LabelMapVolumeNode.class_name),
            name=node.name,
        )

    def active_volume(self) -> NodeInfo | None:
        return None if self._active_volume_id is None else self._nodes[self._active_volume_id].info

    def select_volume(self, ref: str | None = None, *, step: int = 0) -> NodeInfo:
        """By `ref`: show it and fit the views to it (PropagateVolumeSelection). By `step`:
        cycle through scalar volumes and labelmaps in creation order without refitting, as
        `/slicer/volumeSelection` meant to."""
        if ref is not None:
            node: n.Node = self._get(ref, n.ScalarVolumeNode)
        else:
            node = self._stepped_volume(step)
        self._show_volume(node.id, fit=ref is not None)
        return node.info

    def add_volume_data(self, data: VolumeData, name: str | None = None) -> NodeInfo:
        """Always a new volume node (`set_volume` would overwrite one with the same name)."""
        return self._add(files.volume_node(data, name or data.name or "Volume", {}))

    # -- markups -------------------------------------------------------------------------------
    def set_markups_points(
        self,
        ref: str,
        points: np.ndarray,
        labels: Sequence[str] | None = None,
        *,
        create: bool = True,
    ) -> NodeInfo:
        """Replace every control point; unlabelled points are named `%N-%d` from 1 again."""
        positions = checks.points(points)
        if labels is not None and len(labels) != len(positions):
            raise SceneError(f"{len(labels)} labels given for {len(positions)} points")
        node = self._match(ref, n.MarkupsNode, create=create)
        if node is None:
            created = n.MarkupsFiducialNode(name=ref)
            _fill_points(created, positions, labels)
            return self._add(created)
        _fill_points(node, positions, labels)
        self._emit("modified", node, "markups")
        return node.info

    def set_control_point(self, ref: str, index: int, position: np.ndarray) -> NodeInfo:
        node = self._get(ref, n.MarkupsNode)
        checked = checks.vector3(position, "control point position")
        index = checks.index(index)
        count = len(node.points)
        if not 0 <= index <= count:
            raise SceneError(f"control point index {index} out of range 0..{count} for {node.id}")
        if index == count:
            node.points.append(ControlPoint(position=checked, label=node.next_label()))
        else:
            node.points[index] = replace(node.points[index], position=checked)
        self._emit("modified", node, "markups")
        return node.info

    def markups(self, ref: str) -> MarkupsData:
        node = self._get(ref, n.MarkupsNode)
        return MarkupsData(
            points=tuple(node.points),
            name=node.name,
            color=node.color,
            selected_color=node.selected_color,
            glyph_scale=node.glyph_scale,
            locked=node.locked,
        )

    # -- models and segmentations --------------------------------------------------------------
    def set_model(self, ref: str, data: ModelData, *, create: bool = True) -> NodeInfo:
        """Replace a model's surface (all of it: vertices, triangles, normals, colour), or
        create a model named `ref`."""
        mesh = replace(checks.model(data), name=None)
        node = self._match(ref, n.ModelNode, create=create)
        if node is None:
            return self._add(n.ModelNode(name=ref, mesh=mesh))
        node.mesh = mesh
        self._emit("modified", node, "model")
        return node.info

    def model(self, ref: str) -> ModelData:
        node = self._get(ref, n.ModelNode)
        return replace(node.mesh, name=node.name)

    def segmentation(self, ref: str) -> SegmentationData:
        return files.segmentation_data(self._get(ref, n.SegmentationNode))

    # -- text ----------------------------------------------------------------------------------
    def set_text(self, ref: str, text: str, *, create: bool = True) -> NodeInfo:
        if not isinstance(text, str):
            raise SceneError(f"text must be a string, got {type(text).__name__}")
        node = self._match(ref, n.TextNode, create=create)
        if node is None:
            created = n.TextNode(name=ref)
            created.set_text(text)
            return self._add(created)
        node.set_text(text)
        self._emit("modified", node, "text")
        return node.info

    def text(self, ref: str) -> str:
        return self._get(ref, n.TextNode).text

    # -- views and layout ----------------------------------------------------------------------
    def slice_view(self, view: str) -> SliceViewState:
        node = self._slice_node(view)
        return SliceViewState(
            name=node.layout_name.lower(),
            orientation=node.orientation,
            offset=node.offset,
            slice_to_ras=np.array(node.slice_to_ras),
            background_volume_id=node.background_volume_id,
            foreground_volume_id=node.foreground_volume_id,
            label_volume_id=node.label_volume_id,
            foreground_opacity=node.foreground_opacity,
            field_of_view=node.field_of_view,
        )

    def set_slice_offset(self, view: str, offset: float) -> None:
        node = self._slice_node(view)
        distance = float(checks.array(offset, (), "slice offset"))
        node.slice_to_ras = views.with_offset(node.slice_to_ras, distance)
        self._emit("modified", node, "view")

    def set_slice_orientation(self, view: str, orientation: str) -> None:
        """Turn the view and centre it on its background volume (FitSliceToBackground), or
        on the RAS origin when it shows none."""
        node = self._slice_node(view)
        wanted = str(orientation).strip().lower()
        if wanted not in SLICE_ORIENTATIONS:
            raise SceneError(
                f"unknown slice orientation {orientation!r}; known: {', '.join(SLICE_ORIENTATIONS)}"
            )
        node.orientation = wanted
        node.slice_to_ras = views.slice_to_ras(wanted)
        self._fit_slice(node)
        self._emit("modified", node, "view")

    def set_slice_geometry(
        self, view: str, slice_to_ras: np.ndarray, field_of_view: tuple[float, float]
    ) -> None:
        """Place the view's plane (its whole SliceToRAS) and size (field of view, mm), as
        `copySliceGeometryFrom` does; the orientation follows from the matrix (a preset's
        name, or `reformat`). Nothing is refitted."""
        node = self._slice_node(view)
        matrix = views.check_slice_to_ras(checks.matrix4(slice_to_ras, "SliceToRAS"))
        node.field_of_view = views.check_field_of_view(field_of_view)
        node.slice_to_ras = matrix
        node.orientation = views.orientation_of(matrix)
        self._emit("modified", node, "view")

    def camera(self, view: str = "3d") -> CameraState:
        node = self._camera_node(view)
        return CameraState(
            position=np.array(node.position),
            focal_point=np.array(node.focal_point),
            view_up=np.array(node.view_up),
            view_angle=node.view_angle,
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
        node.position, node.focal_point, node.view_up = checked
        self._emit("modified", node, "view")

    @property
    def layout(self) -> str:
        return self._layout_node().view_arrangement

    def set_layout(self, name: str) -> None:
        node = self._layout_node()
        node.view_arrangement = canonical_layout(name)
        self._emit("modified", node, "layout")

    # -- rendering (drawn by `render.SceneRenderer`) -------------------------------------------
    def render_slice(self, view: str, size: int | tuple[int, int] | None = None) -> bytes:
        return self._renderer.slice_png(view, size)

    def render_threed(
        self,
        view: str = "3d",
        size: int | tuple[int, int] | None = None,
        look_from_axis: str | None = None,
    ) -> bytes:
        return self._renderer.threed_png(view, size, look_from_axis)

    def screenshot(self, size: int | tuple[int, int] | None = None) -> bytes:
        return self._renderer.screenshot_png(size)

    def gltf(self, view: str = "3d", box_visible: bool = False) -> dict[str, Any]:
        return self._renderer.gltf(view, box_visible)

    # -- lifecycle -----------------------------------------------------------------------------
    def remove(self, refs: Sequence[str]) -> list[str]:
        """Remove the nodes `refs` name (each resolved as `find` does; unmatched refs are
        skipped). Singletons cannot be removed; nothing is removed if one is asked for."""
        if isinstance(refs, str):  # one ref, not a sequence of one-letter refs
            refs = [refs]
        targets: dict[str, n.Node] = {}
        for ref in refs:
            try:
                node = self._find(ref)
            except NodeNotFound:
                continue
            if node.singleton_tag is not None:
                raise SceneError(f"{node.id} is a singleton and cannot be removed")
            targets[node.id] = node
        if not targets:
            raise NodeNotFound(f"no node matches any of {', '.join(map(repr, refs)) or '()'}")
        for node in targets.values():
            self._remove_node(node)
        return list(targets)

    def clear(self) -> None:
        """Like `mrmlScene.Clear()`: every node but the singletons goes (one `removed` event
        each), views and camera return to their defaults, id counters keep counting; then
        one `cleared` event. The layout stays as it was, as Slicer's does."""
        for node in [node for node in self._nodes.values() if node.singleton_tag is None]:
            del self._nodes[node.id]
            self._emit("removed", node)
        self._active_volume_id = None
        layout = self._layout_node()
        for fresh in n.make_singletons():
            self._nodes[fresh.id] = fresh
        self._nodes[layout.id] = layout
        self._emit("cleared", None)

    # -- files ---------------------------------------------------------------------------------
    def load_file(
        self, path: Path, filetype: str | None = None, properties: Mapping[str, str] | None = None
    ) -> list[str]:
        """Read `path` with the reader for `filetype` (detected when None) into new nodes.

        Load properties as Slicer's: `name` names every node loaded, `labelmap` ("1", "true")
        loads volumes as labelmaps. The nodes remember the file for `reload`.
        """
        from bridge.scene.io.formats import detect_filetype

        source = self._resolve(path)
        if not source.exists():
            raise SceneError(f"no such file or folder: {source}")
        filetype = filetype or detect_filetype(source)
        kind = files.FILE_KINDS.get(filetype)
        if kind is None:
            raise SceneError(
                f"unsupported filetype {filetype!r}; known: {', '.join(files.FILE_KINDS)}"
            )
        props = dict(properties or {})
        created: list[n.Node] = []  # all checked before any is added: a bad entry adds nothing
        for index, payload in enumerate(kind.read(source)):
            name = props.get("name") or files.payload_name(payload) or files.default_name(source)
            node = kind.create(payload, name, props)
            assert isinstance(node, n.StorableNode)
            node.source = n.FileSource(path=source, filetype=filetype, index=index)
            created.append(node)
        return [self._add(node).id for node in created]

    def save_node(
        self,
        ref: str,
        path: Path,
        properties: Mapping[str, str] | None = None,
        *,
        apply_transforms: bool = False,
    ) -> bool:
        """Export one node, choosing the writer by node kind and by extension (or the
        `fileFormat` property); `apply_transforms` writes world coordinates. Like Slicer's
        exportNode this never touches where the node was loaded from. An unsupported node kind
        or format raises SceneError before anything is written; a write that then fails
        (file system, data the format cannot hold) is logged and answers False, as Slicer's
        `{"success": false}`."""
        node = self._find(ref)
        target = self._resolve(path)
        props = dict(properties or {})
        world = self._world_above(node) if apply_transforms else np.eye(4)
        hardened = not np.array_equal(world, np.eye(4))
        writer = files.writer_for(node, props.get("fileFormat") or target.name, hardened=hardened)
        try:
            writer(node, target, props, world)
        except (OSError, SceneError) as error:  # the io writers report file errors as SceneError
            logger.warning("saving %s to %s failed: %s", node.id, target, error)
            return False
        return True

    def reload(self, refs: Sequence[str] | None = None) -> list[str]:
        """Re-read each chosen node that came from a file; nodes without a file are skipped."""
        if isinstance(refs, str):
            refs = [refs]
        chosen = list(self._nodes.values()) if refs is None else [self._find(r) for r in refs]
        reloaded: list[str] = []
        for node in dict.fromkeys(chosen):
            source = getattr(node, "source", None)
            if source is None:
                continue
            kind = files.FILE_KINDS[source.filetype]
            payloads = kind.read(source.path)
            if source.index >= len(payloads):
                raise SceneError(f"{source.path} no longer holds entry {source.index} of {node.id}")
            aspect = kind.reload(node, payloads[source.index])
            self._emit("modified", node, aspect)
            reloaded.append(node.id)
        return reloaded

    def node_source(self, ref: str) -> NodeSource | None:
        source = getattr(self._find(ref), "source", None)
        return None if source is None else NodeSource(source.path, source.filetype)

    # -- change events -------------------------------------------------------------------------
    def host_application(self) -> dict[str, Any]:
        return {}  # standalone: the bridge is its own main application

    def subscribe(self, listener: SceneListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- internals: lookup ---------------------------------------------------------------------
    def _candidates(self, class_name: str | None) -> Iterator[n.Node]:
        return (
            node for node in self._nodes.values() if class_name is None or node.is_a(class_name)
        )

    def _search(self, ref: str, class_name: str | None) -> n.Node | None:
        """Exact id, else exact name, else fnmatch pattern on id or name; first created wins."""
        node = self._nodes.get(ref)
        if node is not None and (class_name is None or node.is_a(class_name)):
            return node
        for node in self._candidates(class_name):
            if node.name == ref:
                return node
        for node in self._candidates(class_name):
            if fnmatch.fnmatchcase(node.id, ref) or fnmatch.fnmatchcase(node.name, ref):
                return node
        return None

    def _find(self, ref: str, class_name: str | None = None) -> n.Node:
        node = self._search(str(ref), class_name)
        if node is None:
            kind = f" of class {class_name}" if class_name else ""
            raise NodeNotFound(f"no node{kind} matches {ref!r} (by id, name or pattern)")
        return node

    def _get(self, ref: str, kind: type[N]) -> N:
        node = self._find(ref, kind.class_name)
        assert isinstance(node, kind)
        return node

    def _match(self, ref: str, kind: type[N], *, create: bool = True) -> N | None:
        """The `kind` node `ref` names, None if there is none and the caller may create it."""
        node = self._search(str(ref), kind.class_name)
        if node is None and not create:
            raise NodeNotFound(f"no node of class {kind.class_name} matches {ref!r}")
        assert node is None or isinstance(node, kind)
        return node

    def _slice_node(self, view: str) -> n.SliceNode:
        name = canonical_view(view)
        if name not in SLICE_VIEWS:
            raise SceneError(f"{view!r} is not a slice view; slice views: {', '.join(SLICE_VIEWS)}")
        node = self._nodes[n.slice_node_id(name.capitalize())]
        assert isinstance(node, n.SliceNode)
        return node

    def _camera_node(self, view: str) -> n.CameraNode:
        if canonical_view(view) in SLICE_VIEWS:
            raise SceneError(f"{view!r} is a slice view; cameras belong to 3D views")
        node = self._nodes[n.CAMERA_NODE_ID]
        assert isinstance(node, n.CameraNode)
        return node

    def _layout_node(self) -> n.LayoutNode:
        node = self._nodes[n.LAYOUT_NODE_ID]
        assert isinstance(node, n.LayoutNode)
        return node

    # -- internals: adding and removing --------------------------------------------------------
    def _new_id(self, kind: type[n.Node]) -> str:
        """`<className><N>`, N counting from 1 per class and never handed out twice."""
        number = self._last_id_number.get(kind.class_name, 0)
        while True:
            number += 1
            candidate = f"{kind.class_name}{number}"
            if candidate not in self._nodes:
                self._last_id_number[kind.class_name] = number
                return candidate

    def _add(self, node: n.Node) -> NodeInfo:
        """Give a new node its id and add it; a first volume becomes the active one, shown
        and fitted in every slice view (what loading a volume does in Slicer)."""
        node.id = self._new_id(type(node))
        self._nodes[node.id] = node
        self._emit("added", node)
        if isinstance(node, n.VolumeNode) and self._active_volume_id is None:
            self._show_volume(node.id, fit=True)
        return node.info

    def _remove_node(self, node: n.Node) -> None:
        """Remove one node; its transform children move up to its parent, and views that
        showed it (as a volume) show nothing in that layer."""
        del self._nodes[node.id]
        self._emit("removed", node)
        if isinstance(node, n.TransformNode):
            for child in list(self._nodes.values()):
                if getattr(child, "parent_transform_id", None) == node.id:
                    assert isinstance(child, n.TransformableNode)
                    child.parent_transform_id = node.parent_transform_id
                    self._emit("modified", child, "transform")
        if node.id == self._active_volume_id:
            self._active_volume_id = None
        for slice_node in self._slice_nodes():
            if slice_node.drop_volume(node.id):
                self._emit("modified", slice_node, "view")

    # -- internals: geometry -------------------------------------------------------------------
    def _ancestors(self, node: n.Node) -> Iterator[n.TransformNode]:
        """Parent transforms from the nearest up to the root."""
        seen: set[str] = set()
        parent_id = getattr(node, "parent_transform_id", None)
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            parent = self._nodes[parent_id]
            assert isinstance(parent, n.TransformNode)
            yield parent
            parent_id = parent.parent_transform_id

    def _world_above(self, node: n.Node) -> np.ndarray:
        """Product of the parent transforms only: P_root … P_parent (NonLinearTransformError
        if one of them is a grid transform)."""
        matrix = np.eye(4)
        for parent in self._ancestors(node):
            matrix = _to_parent(parent, below=node) @ matrix
        return matrix

    def _world(self, node: n.Node) -> np.ndarray:
        own = _to_parent(node) if isinstance(node, n.TransformNode) else np.eye(4)
        return self._world_above(node) @ own

    def _slice_nodes(self) -> list[n.SliceNode]:
        return [node for node in self._nodes.values() if isinstance(node, n.SliceNode)]

    def _show_volume(self, volume_id: str, *, fit: bool) -> None:
        """Make the volume active and the background of every slice view."""
        self._active_volume_id = volume_id
        for slice_node in self._slice_nodes():
            slice_node.background_volume_id = volume_id
            if fit:
                self._fit_slice(slice_node)
            self._emit("modified", slice_node, "view")

    def _fit_slice(self, slice_node: n.SliceNode) -> None:
        """FitSliceToBackground: centre and size the view on its background volume in world
        RAS; with no background, centre the plane on the origin."""
        volume = self._nodes.get(slice_node.background_volume_id or "")
        if not isinstance(volume, n.VolumeNode):
            centred = np.array(slice_node.slice_to_ras)
            centred[:3, 3] = 0.0
            centred.setflags(write=False)
            slice_node.slice_to_ras = centred
            return
        try:
            ijk_to_world = self._world(volume) @ volume.ijk_to_ras
        except NonLinearTransformError:  # under a grid transform: fit to its own geometry
            ijk_to_world = np.asarray(volume.ijk_to_ras)
        corners = views.volume_corners(ijk_to_world, volume.array.shape)
        slice_node.slice_to_ras, slice_node.field_of_view = views.fit_to_corners(
            slice_node.slice_to_ras, corners
        )

    def _stepped_volume(self, step: int) -> n.Node:
        volumes = [
            node
            for node in self._candidates(n.ScalarVolumeNode.class_name)
            if isinstance(node, n.ScalarVolumeNode)
        ]
        if not volumes:
            raise SceneError("there is no volume to select")
        ids = [node.id for node in volumes]
        if self._active_volume_id not in ids:
            return volumes[0] if step >= 0 else volumes[-1]
        return volumes[(ids.index(self._active_volume_id) + step) % len(volumes)]

    # -- internals: files and events -----------------------------------------------------------
    def _resolve(self, path: Path) -> Path:
        candidate = Path(path).expanduser()
        if self.data_dir is not None and not candidate.is_absolute():
            return self.data_dir / candidate
        return candidate

    def _emit(self, kind: EventKind, node: n.Node | None, aspect: str = "") -> None:
        event = SceneEvent(kind=kind, node=None if node is None else node.info, aspect=aspect)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("scene listener %r failed on %s", listener, event)


def _to_parent(node: n.Node, below: n.Node | None = None) -> np.ndarray:
    """A transform node's matrix-to-parent; NonLinearTransformError for a grid transform."""
    if isinstance(node, n.LinearTransformNode):
        return node.matrix_to_parent
    under = "" if below is None else f"{below.id} is under "
    raise NonLinearTransformError(
        f"{under}{node.id} ({node.class_name}), a non-linear transform: it has no matrix"
    )


def _fill_points(node: n.MarkupsNode, positions: np.ndarray, labels: Sequence[str] | None) -> None:
    node.last_used_point_number = 0
    node.points = [
        ControlPoint(
            position=n.frozen_array(position),
            label=str(labels[index]) if labels is not None else node.next_label(),
        )
        for index, position in enumerate(positions)
    ]


# -- the tracking device ---------------------------------------------------------------------------
def _box_mesh(size: tuple[float, float, float], color: tuple[float, float, float]) -> ModelData:
    """vtkCubeSource's box, centred on the origin: 8 corners and 12 outward-facing triangles."""
    half = np.asarray(size, dtype=np.float64) / 2.0
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    # Corner index = 4·(x>0) + 2·(y>0) + (z>0); each face as two counter-clockwise triangles.
    faces = (
        (0, 1, 3, 2),  # -x
        (4, 6, 7, 5),  # +x
        (0, 4, 5, 1),  # -y
        (2, 3, 7, 6),  # +y
        (0, 2, 6, 4),  # -z
        (1, 5, 7, 3),  # +z
    )
    triangles = np.array(
        [tri for a, b, c, d in faces for tri in ((a, b, c), (a, c, d))], dtype=np.int64
    )
    vertices = signs * half
    vertices.setflags(write=False)
    triangles.setflags(write=False)
    return ModelData(vertices=vertices, triangles=triangles, color=color)


__all__ = ["HeadlessScene"]
