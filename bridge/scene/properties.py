"""Node properties shaped like Slicer's parsed PrintSelf, as `GET /slicer/mrml/properties` answers.

Slicer builds that answer by parsing `str(node)`: each class in the node's hierarchy prints
its own lines after its base class's, nested blocks become nested dicts, `(none)` values are
left out, numbers and vectors become numbers and lists. Here each node class contributes one
section function (the `SECTIONS` table), applied from `vtkMRMLNode` down to the node's own
class, so a labelmap gets the volume section and a fiducial list gets the markups section.
Clients such as slicerio read `ClassName` and `ImageData → Extent` from this.

The `*_properties` functions build each section from plain data (`VolumeData` parts,
`MarkupsData`, `SliceViewState`, …), so the MRML scene lays the same shapes over the
PrintSelf text it parses (`printself`) where Slicer's own text lacks them or loses them.
Only plain JSON values come out (str, int, float, bool, lists, dicts). Nothing here changes
a node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bridge.scene import nodes as n
from bridge.scene.io.nrrd_io import SLICER_NRRD_TYPES
from bridge.scene.types import CameraState, MarkupsData, ModelData, Segment, SliceViewState
from bridge.scene.views import slice_offset

Properties = dict[str, Any]
Section = Callable[[Any], Properties]

#: numpy dtype → the VTK scalar type name vtkImageData reports: VTK spells them as ITK does
#: in NRRD headers, and a bool volume is stored as unsigned char.
VTK_SCALAR_TYPES: dict[str, str] = {**SLICER_NRRD_TYPES, "bool": "unsigned char"}


def node_properties(node: n.Node) -> Properties:
    """All property sections of `node`'s class hierarchy, base class first."""
    properties: Properties = {}
    for klass in reversed(type(node).__mro__):
        section = SECTIONS.get(klass)
        if section is not None:
            properties.update(section(node))
    return properties


def _without_none(properties: Properties) -> Properties:
    """Slicer's parser drops `(none)` values: so do we."""
    return {key: value for key, value in properties.items() if value is not None}


def _floats(values: Any) -> list[Any]:
    return np.asarray(values, dtype=np.float64).tolist()


def _flat(matrix: np.ndarray) -> list[float]:
    return np.asarray(matrix, dtype=np.float64).ravel().tolist()


def _node(node: n.Node) -> Properties:
    properties = _without_none(
        {
            "ID": node.id,
            "ClassName": node.class_name,
            "Name": node.name,
            "Debug": False,
            "Description": node.description,
            "SingletonTag": node.singleton_tag,
            "HideFromEditors": node.hide_from_editors,
            "Selectable": node.selectable,
            "Selected": node.selected,
            "UndoEnabled": False,
        }
    )
    if node.attributes:
        properties["Attributes"] = dict(node.attributes)
    return properties


def _transformable(node: n.TransformableNode) -> Properties:
    return _without_none({"TransformNodeID": node.parent_transform_id})


def _displayable(node: n.DisplayableNode) -> Properties:
    return {"Visibility": node.visible}


def volume_properties(ijk_to_ras: np.ndarray, shape: tuple[int, ...], dtype: Any) -> Properties:
    """Geometry lives on the volume node; its vtkImageData has unit spacing and zero origin,
    exactly as in Slicer, so clients computing from `ImageData` alone get what Slicer gives.
    `shape` is the voxel array's (k, j, i)."""
    matrix = np.asarray(ijk_to_ras, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    nk, nj, ni = shape[:3]
    name = np.dtype(dtype).name
    return {
        "IJKToRASDirections": (matrix[:3, :3] / spacing).tolist(),
        "Origin": _floats(matrix[:3, 3]),
        "Spacing": _floats(spacing),
        "ImageData": {
            "Spacing": [1.0, 1.0, 1.0],
            "Origin": [0.0, 0.0, 0.0],
            "Dimensions": [ni, nj, nk],
            "Extent": [0, ni - 1, 0, nj - 1, 0, nk - 1],
            "ScalarType": VTK_SCALAR_TYPES.get(name, name),
            "NumberOfScalarComponents": 1,
        },
    }


def _volume(node: n.VolumeNode) -> Properties:
    return volume_properties(node.ijk_to_ras, node.array.shape, node.array.dtype)


def linear_transform_properties(matrix_to_parent: np.ndarray) -> Properties:
    """16 numbers, row-major, as the matrix is read out of Slicer."""
    return {"MatrixTransformToParent": _flat(matrix_to_parent)}


def _linear_transform(node: n.LinearTransformNode) -> Properties:
    return linear_transform_properties(node.matrix_to_parent)


def grid_transform_properties(
    grid_ijk_to_ras: np.ndarray, displacement_shape: tuple[int, ...], dtype: Any
) -> Properties:
    """The vtkOrientedGridTransform a grid node holds (from parent): its displacement grid
    as vtkImageData prints it (geometry in spacing, origin and a direction matrix), scale,
    shift and cubic interpolation, as Slicer sets them on load. `displacement_shape` is the
    field's (k, j, i, 3)."""
    matrix = np.asarray(grid_ijk_to_ras, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    nk, nj, ni = displacement_shape[:3]
    name = np.dtype(dtype).name
    return {
        "TransformFromParent": {
            "DisplacementGrid": {
                "Spacing": _floats(spacing),
                "Origin": _floats(matrix[:3, 3]),
                "Dimensions": [ni, nj, nk],
                "Extent": [0, ni - 1, 0, nj - 1, 0, nk - 1],
                "ScalarType": VTK_SCALAR_TYPES.get(name, name),
                "NumberOfScalarComponents": 3,
            },
            "GridDirectionMatrix": _flat(_direction_matrix(matrix[:3, :3] / spacing)),
            "DisplacementScale": 1.0,
            "DisplacementShift": 0.0,
            "InterpolationMode": "Cubic",
        }
    }


def _grid_transform(node: n.GridTransformNode) -> Properties:
    return grid_transform_properties(
        node.grid_ijk_to_ras, node.displacements.shape, node.displacements.dtype
    )


def _direction_matrix(directions: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = directions
    return matrix


def segmentation_properties(segments: Sequence[Segment]) -> Properties:
    """`Segmentation → Segments → <id> → Name/Color…`, the shape `/slicer/segmentations`
    (and clients parsing Slicer's PrintSelf) read; segments in their order."""
    return {
        "Segmentation": {
            "SourceRepresentationName": "Binary labelmap",
            "NumberOfSegments": len(segments),
            "Segments": {
                segment.id: {
                    "Name": segment.name,
                    "Color": _floats(segment.color),
                    "LabelValue": int(segment.label_value),
                    "Tags": dict(segment.tags),
                }
                for segment in segments
            },
        }
    }


def _segmentation(node: n.SegmentationNode) -> Properties:
    return segmentation_properties(node.segments)


def _control_point(point: Any) -> Properties:
    return {
        "Label": point.label,
        "Position": _floats(point.position),
        "Selected": point.selected,
        "Locked": point.locked,
        "Visibility": point.visible,
    }


def markups_properties(data: MarkupsData, label_format: str = "%N-%d") -> Properties:
    return {
        "Locked": data.locked,
        "ControlPointLabelFormat": label_format,
        "NumberOfControlPoints": len(data.points),
        "ControlPoints": [_control_point(point) for point in data.points],
        "Display": {
            "Color": _floats(data.color),
            "SelectedColor": _floats(data.selected_color),
            "GlyphScale": float(data.glyph_scale),
        },
    }


def _markups(node: n.MarkupsNode) -> Properties:
    data = MarkupsData(
        points=tuple(node.points),
        color=node.color,
        selected_color=node.selected_color,
        glyph_scale=node.glyph_scale,
        locked=node.locked,
    )
    return markups_properties(data, node.label_format)


def model_properties(mesh: ModelData) -> Properties:
    return {
        "PolyData": {
            "NumberOfPoints": len(mesh.vertices),
            "NumberOfPolys": len(mesh.triangles),
        },
        "Display": {"Color": _floats(mesh.color)},
    }


def _model(node: n.ModelNode) -> Properties:
    return model_properties(node.mesh)


def _text(node: n.TextNode) -> Properties:
    """`Text` and `Encoding` (a VTK encoding number), as vtkMRMLTextNode prints them."""
    return {"Text": node.text, "Encoding": node.encoding}


def _view(node: n.AbstractViewNode) -> Properties:
    return {"LayoutName": node.layout_name}


def slice_properties(state: SliceViewState) -> Properties:
    return _without_none(
        {
            "Orientation": state.orientation.capitalize(),
            "SliceOffset": slice_offset(state.slice_to_ras),
            "SliceToRAS": _flat(state.slice_to_ras),
            "FieldOfView": _floats(state.field_of_view),
            "BackgroundVolumeID": state.background_volume_id,
            "ForegroundVolumeID": state.foreground_volume_id,
            "LabelVolumeID": state.label_volume_id,
            "ForegroundOpacity": float(state.foreground_opacity),
        }
    )


def _slice(node: n.SliceNode) -> Properties:
    return slice_properties(
        SliceViewState(
            name=node.layout_name.lower(),
            orientation=node.orientation,
            offset=slice_offset(node.slice_to_ras),
            slice_to_ras=node.slice_to_ras,
            background_volume_id=node.background_volume_id,
            foreground_volume_id=node.foreground_volume_id,
            label_volume_id=node.label_volume_id,
            foreground_opacity=node.foreground_opacity,
            field_of_view=node.field_of_view,
        )
    )


def camera_properties(camera: CameraState) -> Properties:
    return {
        "Position": _floats(camera.position),
        "FocalPoint": _floats(camera.focal_point),
        "ViewUp": _floats(camera.view_up),
        "ViewAngle": float(camera.view_angle),
    }


def _camera(node: n.CameraNode) -> Properties:
    return camera_properties(
        CameraState(node.position, node.focal_point, node.view_up, node.view_angle)
    )


def layout_properties(layout: str) -> Properties:
    """The layout by name (`FourUp`), where Slicer's PrintSelf prints its number."""
    return {"ViewArrangement": layout}


def _layout(node: n.LayoutNode) -> Properties:
    return layout_properties(node.view_arrangement)


#: Node class → the lines that class adds to PrintSelf. Subclasses without an entry (a
#: labelmap, a fiducial list) print only what their bases print, as in MRML.
SECTIONS: dict[type, Section] = {
    n.Node: _node,
    n.TransformableNode: _transformable,
    n.DisplayableNode: _displayable,
    n.VolumeNode: _volume,
    n.LinearTransformNode: _linear_transform,
    n.GridTransformNode: _grid_transform,
    n.SegmentationNode: _segmentation,
    n.MarkupsNode: _markups,
    n.ModelNode: _model,
    n.TextNode: _text,
    n.AbstractViewNode: _view,
    n.SliceNode: _slice,
    n.CameraNode: _camera,
    n.LayoutNode: _layout,
}


__all__ = [
    "SECTIONS",
    "VTK_SCALAR_TYPES",
    "camera_properties",
    "grid_transform_properties",
    "layout_properties",
    "linear_transform_properties",
    "markups_properties",
    "model_properties",
    "node_properties",
    "segmentation_properties",
    "slice_properties",
    "volume_properties",
]
