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
    MarkupsData,
    ModelData,
    NodeInfo,
    SceneListener,
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
        """Set a linear transform's matrix-to-parent; create the node named `ref` if absent."""

    def transform_matrix(self, ref: str) -> np.ndarray:
        """The linear transform's matrix-to-parent."""

    def world_matrix(self, ref: str) -> np.ndarray:
        """Local→world matrix of any node: the product of its parent transforms (identity for
        a node under no transform). For a transform node, includes its own matrix."""

    def set_parent_transform(self, ref: str, transform_ref: str | None) -> None:
        """Put a node under a transform (None: under none). Refuses cycles."""

    def parent_transform(self, ref: str) -> NodeInfo | None: ...

    def set_tracking_pose(
        self, rotation: np.ndarray | None = None, position: np.ndarray | None = None
    ) -> NodeInfo:
        """The `/slicer/tracking` cursor: update only the given parts of the `tracker`
        transform, creating it and the `trackingDevice` cube model under it on first use."""

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

    # -- models --------------------------------------------------------------------------------
    def model(self, ref: str) -> ModelData: ...

    # -- views and layout ----------------------------------------------------------------------
    def slice_view(self, view: str) -> SliceViewState: ...

    def set_slice_offset(self, view: str, offset: float) -> None: ...

    def set_slice_orientation(self, view: str, orientation: str) -> None: ...

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

    # -- lifecycle and files -------------------------------------------------------------------
    def remove(self, refs: Sequence[str]) -> list[str]:
        """Remove nodes; returns the removed ids. Raises NodeNotFound if none matched."""

    def clear(self) -> None:
        """Remove every node but the singletons (views, layout), as Slicer's scene Clear()."""

    def load_file(
        self, path: Path, filetype: str | None = None, properties: Mapping[str, str] | None = None
    ) -> list[str]:
        """Load a file (NRRD/NHDR, .mrk.json, .tfm/.txt/.h5 linear, DICOM folder or file)
        into new nodes; returns their ids. `properties` as Slicer's load properties
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

    def add_volume_data(self, data: VolumeData, name: str | None = None) -> NodeInfo: ...

    # -- change events -------------------------------------------------------------------------
    def subscribe(self, listener: SceneListener) -> Callable[[], None]:
        """Call `listener` for every change after it happens; returns an unsubscribe call.
        A listener that raises is logged and kept; it never breaks the change itself."""


__all__ = ["Scene"]
