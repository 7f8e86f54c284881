"""The Scene protocol: everything the bus, the appliers and the adapters may ask of a scene.

Two implementations satisfy it: `HeadlessScene` (numpy, standalone, what tests exercise) and
the MRML scene inside Slicer. Callers pass node references as strings: a node id
(`vtkMRMLLinearTransformNode2`) is tried first, then a node name, so clients that know only
names (IGTL device names, MQTT topics) and clients that know ids (slicerio) both work.

Every method runs on the loop thread, is synchronous and fast enough for an apply pass;
anything slow (downloads, DICOM parsing of large series) is done before calling in.
Errors: `NodeNotFound` for an unknown reference, `SceneError` for other caller mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bridge.scene.types import (
    CameraState,
    GridTransformData,
    MarkupsData,
    ModelData,
    NodeInfo,
    NodeSource,
    SceneListener,
    SegmentationData,
    SliceViewState,
    VolumeData,
)


@runtime_checkable
class Scene(Protocol):
    """A Slicer-like scene of MRML-style nodes, views and a layout."""

    # -- queries -------------------------------------------------------------------------------
    def nodes(
        self, *, id: str | None = None, class_name: str | None = None, name: str | None = None
    ) -> list[NodeInfo]:
        """Nodes matching every given filter, in creation order.

        `class_name` respects MRML inheritance (`vtkMRMLVolumeNode` matches scalar volumes and
        labelmaps; `vtkMRMLNode` matches all). With no filter: all nodes, singletons included.
        """

    def find(self, ref: str, class_name: str | None = None) -> NodeInfo:
        """One node by id, else by exact name, else by fnmatch pattern on id or name
        (first in creation order). Raises NodeNotFound."""

    def node_properties(self, ref: str) -> dict[str, Any]:
        """Nested property dict shaped like Slicer's parsed PrintSelf (`/mrml/properties`)."""

    def rename(self, ref: str, name: str) -> NodeInfo: ...

    # -- transforms ----------------------------------------------------------------------------
    def set_transform(self, ref: str, matrix: np.ndarray, *, create: bool = True) -> NodeInfo:
        """Set a linear transform's matrix-to-parent; create the node named `ref` if absent.
        SceneError if `ref` is a grid transform (a matrix does not replace a field)."""

    def transform_matrix(self, ref: str) -> np.ndarray:
        """The linear transform's matrix-to-parent (NonLinearTransformError for a grid)."""

    def world_matrix(self, ref: str) -> np.ndarray:
        """Local→world matrix of any node: the product of its parent transforms (identity for
        a node under no transform). For a transform node, includes its own matrix.

        A grid transform in that chain has no matrix: NonLinearTransformError (a SceneError)
        naming it, as Slicer's `GetMatrixTransformToWorld` fails — never a matrix that
        silently leaves the displacement out."""

    def set_parent_transform(self, ref: str, transform_ref: str | None) -> None:
        """Put a node under a transform (None: under none). Refuses cycles."""

    def parent_transform(self, ref: str) -> NodeInfo | None: ...

    def set_tracking_pose(
        self, rotation: np.ndarray | None = None, position: np.ndarray | None = None
    ) -> NodeInfo:
        """The `/slicer/tracking` cursor: update only the given parts of the `tracker`
        transform, creating it and the `trackingDevice` cube model under it on first use."""

    # -- grid transforms -------------------------------------------------------------------------
    def set_grid_transform(
        self, ref: str, data: GridTransformData, *, create: bool = True
    ) -> NodeInfo:
        """Replace a `vtkMRMLGridTransformNode`'s displacement field (vectors in RAS, the
        transform from parent as Slicer stores it), or create one named `ref`. SceneError if
        `ref` is a linear transform."""

    def grid_transform(self, ref: str) -> GridTransformData:
        """A grid transform's displacement field and grid geometry."""

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
        """Replace a volume's voxels and geometry, or create a volume named `ref`."""

    def volume(self, ref: str) -> VolumeData: ...

    def active_volume(self) -> NodeInfo | None:
        """The volume shown in the slice views' background (Slicer's active volume)."""

    def select_volume(self, ref: str | None = None, *, step: int = 0) -> NodeInfo:
        """Make `ref` the active volume, or move `step` volumes forward/back (wrapping),
        and show it in every slice view's background."""

    # -- markups -------------------------------------------------------------------------------
    def set_markups_points(
        self,
        ref: str,
        points: np.ndarray,
        labels: Sequence[str] | None = None,
        *,
        create: bool = True,
    ) -> NodeInfo: ...

    def set_control_point(self, ref: str, index: int, position: np.ndarray) -> NodeInfo:
        """Move control point `index` (appending one if `index` == the point count)."""

    def markups(self, ref: str) -> MarkupsData: ...

    # -- models and segmentations --------------------------------------------------------------
    def set_model(self, ref: str, data: ModelData, *, create: bool = True) -> NodeInfo:
        """Replace a `vtkMRMLModelNode`'s surface — vertices (N×3, local RAS), triangles
        (M×3 vertex indices, each in range), normals (one per vertex, or None: derived when
        drawn) and colour — or create a model named `ref`; `data.name` is not used. Emits
        `modified`/"model" on an existing node; SceneError for a bad mesh, before any change."""

    def model(self, ref: str) -> ModelData: ...

    def segmentation(self, ref: str) -> SegmentationData:
        """A `vtkMRMLSegmentationNode`'s segments (id, name, colour, binary labelmap) on its
        one grid, in local coordinates (`world_matrix` places them)."""

    # -- text ----------------------------------------------------------------------------------
    def set_text(self, ref: str, text: str, *, create: bool = True) -> NodeInfo:
        """Set a `vtkMRMLTextNode`'s text (any string, empty included, kept exactly), or
        create a text node named `ref`. Emits `modified`/"text" on an existing node every
        time, even when the text is unchanged: a repeated message is still a message."""

    def text(self, ref: str) -> str:
        """A text node's text."""

    # -- views and layout ----------------------------------------------------------------------
    def slice_view(self, view: str) -> SliceViewState: ...

    def set_slice_offset(self, view: str, offset: float) -> None: ...

    def set_slice_orientation(self, view: str, orientation: str) -> None: ...

    def set_slice_geometry(
        self, view: str, slice_to_ras: np.ndarray, field_of_view: tuple[float, float]
    ) -> None:
        """Set a slice view's whole SliceToRAS (orthonormal 3×3 columns: slice x, slice y,
        normal) and its field of view (width, height mm), as `copySliceGeometryFrom` does;
        the orientation becomes the matching preset's name or `reformat`."""

    def camera(self, view: str = "3d") -> CameraState: ...

    def set_camera(
        self,
        view: str,
        position: np.ndarray,
        focal_point: np.ndarray,
        view_up: np.ndarray,
    ) -> None: ...

    @property
    def layout(self) -> str: ...

    def set_layout(self, name: str) -> None: ...

    # -- rendering -----------------------------------------------------------------------------
    def render_slice(self, view: str, size: int | tuple[int, int] | None = None) -> bytes:
        """PNG of a slice view (`red`, `yellow`, `green` or any alias) as Slicer's slice
        logic blends it, without annotations: the background volume resliced at the view's
        orientation and offset with its window/level (labelmaps through their colour table),
        the foreground at the view's foreground opacity, the label layer on top; black
        outside the volumes, all black when the view shows no volume. 8-bit grey while every
        layer shown is grey, RGB once a labelmap adds colour (Slicer's is RGBA, which takes
        about twice as long to encode).

        `size` resamples the view (Slicer's original ignores it): an int sets the longer side
        keeping the view's aspect ratio; (width, height) sets both and widens the field of
        view so the whole fitted field stays in sight. None: the view's own size.
        """

    def render_threed(
        self,
        view: str = "3d",
        size: int | tuple[int, int] | None = None,
        look_from_axis: str | None = None,
    ) -> bytes:
        """PNG (RGB) of the 3D view through its camera: the volume, models and markups on
        the 3D background. `look_from_axis` (`r`, `l`, `a`, `p`, `s`, `i`; only the first
        letter counts) first *moves the camera* onto that axis, keeping its focal point and
        distance, as Slicer's `lookFromAxis`. `size` as in `render_slice`."""

    def screenshot(self, size: int | tuple[int, int] | None = None) -> bytes:
        """PNG (RGB) of the whole current layout: its views arranged as Slicer arranges them
        (FourUp: red and 3D over green and yellow; Conventional: 3D above red, green,
        yellow; OneUp*: one view), each framed in its view colour. `size`: the window."""

    def gltf(self, view: str = "3d", box_visible: bool = False) -> dict[str, Any]:
        """A glTF 2.0 document (JSON-ready dict, one buffer inlined as a base64 data URI) of
        the 3D view's visible models and markups control points, in world RAS millimetres
        (`/slicer/threeDGraphics`); with `box_visible`, also the volume's bounding box."""

    # -- lifecycle and files -------------------------------------------------------------------
    def remove(self, refs: Sequence[str]) -> list[str]:
        """Remove nodes; returns the removed ids. Raises NodeNotFound if none matched."""

    def clear(self) -> None:
        """Remove every node but the singletons (views, layout), as Slicer's scene Clear()."""

    def load_file(
        self, path: Path, filetype: str | None = None, properties: Mapping[str, str] | None = None
    ) -> list[str]:
        """Load a file (NRRD/NHDR volumes, .mrk.json, .tfm/.txt linear transforms, a
        displacement-field NRRD as `TransformFile`, `.seg.nrrd` segmentations, a DICOM folder
        or file) into new nodes; returns their ids. `properties` as Slicer's load properties
        (`name`, `labelmap`, …)."""

    def save_node(
        self,
        ref: str,
        path: Path,
        properties: Mapping[str, str] | None = None,
        *,
        apply_transforms: bool = False,
    ) -> bool:
        """Write one node to `path` (format from the extension or `fileFormat`)."""

    def reload(self, refs: Sequence[str] | None = None) -> list[str]:
        """Re-read storable nodes from the file they were loaded from; returns their ids."""

    def node_source(self, ref: str) -> NodeSource | None:
        """Where `ref` was loaded from (`load_file`'s path, resolved) and as which filetype;
        None for a node that did not come from a file. The DICOM store indexes the files of
        volumes loaded as `DICOM` from this."""

    def add_volume_data(self, data: VolumeData, name: str | None = None) -> NodeInfo: ...

    # -- change events -------------------------------------------------------------------------
    def host_application(self) -> dict[str, Any]:
        """Slicer's `mainApplication*` keys of the application hosting this scene (as
        `/slicer/system/version` reports them); empty standalone."""

    def subscribe(self, listener: SceneListener) -> Callable[[], None]:
        """Call `listener` for every change after it happens; returns an unsubscribe call.
        A listener that raises is logged and kept; it never breaks the change itself."""


__all__ = ["Scene"]
