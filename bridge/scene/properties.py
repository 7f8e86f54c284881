"""Node properties shaped like Slicer's parsed PrintSelf, as `GET /slicer/mrml/properties` answers.

Slicer builds that answer by parsing `str(node)`: each class in the node's hierarchy prints
its own lines after its base class's, nested blocks become nested dicts, `(none)` values are
left out, numbers and vectors become numbers and lists. Here each node class contributes one
section function (the `SECTIONS` table), applied from `vtkMRMLNode` down to the node's own
class, so a labelmap gets the volume section and a fiducial list gets the markups section.
Clients such as slicerio read `ClassName` and `ImageData → Extent` from this.

Only plain JSON values come out (str, int, float, bool, lists, dicts). Nothing here changes
a node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bridge.scene import nodes as n
from bridge.scene.views import slice_offset

Properties = dict[str, Any]
Section = Callable[[Any], Properties]

#: numpy dtype → the VTK scalar type name vtkImageData reports.
VTK_SCALAR_TYPES: dict[str, str] = {
    "int8": "signed char",
    "uint8": "unsigned char",
    "int16": "short",
    "uint16": "unsigned short",
    "int32": "int",
    "uint32": "unsigned int",
    "int64": "long long",
    "uint64": "unsigned long long",
    "float32": "float",
    "float64": "double",
    "bool": "unsigned char",
}


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


def _volume(node: n.VolumeNode) -> Properties:
    """Geometry lives on the volume node; its vtkImageData has unit spacing and zero origin,
    exactly as in Slicer, so clients computing from `ImageData` alone get what Slicer gives."""
    matrix = np.asarray(node.ijk_to_ras, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    nk, nj, ni = node.array.shape
    return {
        "IJKToRASDirections": (matrix[:3, :3] / spacing).tolist(),
        "Origin": _floats(matrix[:3, 3]),
        "Spacing": _floats(spacing),
        "ImageData": {
            "Spacing": [1.0, 1.0, 1.0],
            "Origin": [0.0, 0.0, 0.0],
            "Dimensions": [ni, nj, nk],
            "Extent": [0, ni - 1, 0, nj - 1, 0, nk - 1],
            "ScalarType": VTK_SCALAR_TYPES.get(node.array.dtype.name, node.array.dtype.name),
            "NumberOfScalarComponents": 1,
        },
    }


def _linear_transform(node: n.LinearTransformNode) -> Properties:
    """16 numbers, row-major, as the matrix is read out of Slicer."""
    return {"MatrixTransformToParent": _flat(node.matrix_to_parent)}


def _grid_transform(node: n.GridTransformNode) -> Properties:
    """The vtkOrientedGridTransform a grid node holds (from parent): its displacement grid
    as vtkImageData prints it (geometry in spacing, origin and a direction matrix), scale,
    shift and cubic interpolation, as Slicer sets them on load."""
    matrix = np.asarray(node.grid_ijk_to_ras, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    nk, nj, ni, _ = node.displacements.shape
    return {
        "TransformFromParent": {
            "DisplacementGrid": {
                "Spacing": _floats(spacing),
                "Origin": _floats(matrix[:3, 3]),
                "Dimensions": [ni, nj, nk],
                "Extent": [0, ni - 1, 0, nj - 1, 0, nk - 1],
                "ScalarType": VTK_SCALAR_TYPES.get(
                    node.displacements.dtype.name, node.displacements.dtype.name
                ),
                "NumberOfScalarComponents": 3,
            },
            "GridDirectionMatrix": _flat(_direction_matrix(matrix[:3, :3] / spacing)),
            "DisplacementScale": 1.0,
            "DisplacementShift": 0.0,
            "InterpolationMode": "Cubic",
        }
    }


def _direction_matrix(directions: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = directions
    return matrix


def _segmentation(node: n.SegmentationNode) -> Properties:
    """`Segmentation → Segments → <id> → Name/Color…`, the shape `/slicer/segmentations`
    (and clients parsing Slicer's PrintSelf) read; segments in their order."""
    return {
        "Segmentation": {
            "SourceRepresentationName": "Binary labelmap",
            "NumberOfSegments": len(node.segments),
            "Segments": {
                segment.id: {
                    "Name": segment.name,
                    "Color": _floats(segment.color),
                    "LabelValue": int(segment.label_value),
                    "Tags": dict(segment.tags),
                }
                for segment in node.segments
            },
        }
    }


def _control_point(point: Any) -> Properties:
    return {
        "Label": point.label,
        "Position": _floats(point.position),
        "Selected": point.selected,
        "Locked": point.locked,
        "Visibility": point.visible,
    }


def _markups(node: n.MarkupsNode) -> Properties:
    return {
        "Locked": node.locked,
        "ControlPointLabelFormat": node.label_format,
        "NumberOfControlPoints": len(node.points),
        "ControlPoints": [_control_point(point) for point in node.points],
        "Display": {
            "Color": _floats(node.color),
            "SelectedColor": _floats(node.selected_color),
            "GlyphScale": float(node.glyph_scale),
        },
    }


def _model(node: n.ModelNode) -> Properties:
    return {
        "PolyData": {
            "NumberOfPoints": len(node.mesh.vertices),
            "NumberOfPolys": len(node.mesh.triangles),
        },
        "Display": {"Color": _floats(node.mesh.color)},
    }


def _view(node: n.AbstractViewNode) -> Properties:
    return {"LayoutName": node.layout_name}


def _slice(node: n.SliceNode) -> Properties:
    return _without_none(
        {
            "Orientation": node.orientation.capitalize(),
            "SliceOffset": slice_offset(node.slice_to_ras),
            "SliceToRAS": _flat(node.slice_to_ras),
            "FieldOfView": _floats(node.field_of_view),
            "BackgroundVolumeID": node.background_volume_id,
            "ForegroundVolumeID": node.foreground_volume_id,
            "LabelVolumeID": node.label_volume_id,
            "ForegroundOpacity": float(node.foreground_opacity),
        }
    )


def _camera(node: n.CameraNode) -> Properties:
    return {
        "Position": _floats(node.position),
        "FocalPoint": _floats(node.focal_point),
        "ViewUp": _floats(node.view_up),
        "ViewAngle": float(node.view_angle),
    }


def _layout(node: n.LayoutNode) -> Properties:
    return {"ViewArrangement": node.view_arrangement}


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
    n.AbstractViewNode: _view,
    n.SliceNode: _slice,
    n.CameraNode: _camera,
    n.LayoutNode: _layout,
}


__all__ = ["SECTIONS", "VTK_SCALAR_TYPES", "node_properties"]
