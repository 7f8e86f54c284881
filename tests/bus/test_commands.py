"""Typed commands: validation names the field, JSON round trips, coalescing keys."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.commands import (
    COMMANDS,
    Command,
    CommandError,
    DeleteNodes,
    PutModel,
    PutVolume,
    SetCamera,
    SetControlPoint,
    SetGridTransform,
    SetLayout,
    SetMarkupsPoints,
    SetSliceGeometry,
    SetSliceOffset,
    SetSliceOrientation,
    SetText,
    SetTrackingPose,
    SetTransform,
)

TRIANGLE = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]

EVERY_KIND = {
    "SetTransform", "SetTrackingPose", "SetCamera", "SetSliceOffset", "SetSliceOrientation",
    "SetMarkupsPoints", "SetControlPoint", "PutVolume", "LoadFile", "SaveNode", "DeleteNodes",
    "ReloadNodes", "SetLayout", "LoadSampleData", "SelectVolume", "Exec", "Shutdown",
    "RunCompute", "SetText", "PutModel",
}  # fmt: skip


def test_every_command_kind_the_adapters_need_exists() -> None:
    assert set(COMMANDS) >= EVERY_KIND


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"command": "SetTransform", "node": "T", "matrix": [[1, 0], [0, 1]]}, "matrix",
         "expected shape 4×4, got 2×2"),
        ({"command": "SetTransform", "node": "T", "matrix": [[1, 0, 0, math.nan]] + [[0] * 4] * 2
          + [[0, 0, 0, 1]]}, "matrix", "NaN"),
        ({"command": "SetTransform", "node": "T", "matrix": [[2] * 4] * 4}, "matrix",
         "last row must be [0, 0, 0, 1]"),
        ({"command": "SetTransform", "node": "", "matrix": np.eye(4).tolist()}, "node",
         "non-empty string"),
        ({"command": "SetSliceOffset", "view": "purple", "offset": 1}, "view", "unknown view"),
        ({"command": "SetSliceOffset", "view": "3d", "offset": 1}, "view", "not a slice view"),
        ({"command": "SetSliceOffset", "view": "red", "offset": "far"}, "offset",
         "expected a number"),
        ({"command": "SetSliceOffset", "view": "red", "offset": math.inf}, "offset", "finite"),
        ({"command": "SetCamera", "view": "red", "position": [0, 0, 1], "focal_point": [0, 0, 0]},
         "view", "not a 3D view"),
        ({"command": "SetCamera", "position": [0, 0, 1], "focal_point": [0, 0, 0],
          "view_up": [0, 0, 5]}, "view_up", "parallel"),
        ({"command": "SetSliceOrientation", "view": "red", "orientation": "oblique"},
         "orientation", "axial, sagittal, coronal"),
        ({"command": "SetMarkupsPoints", "node": "F", "points": [[1, 2]]}, "points",
         "[x, y, z] points"),
        ({"command": "SetMarkupsPoints", "node": "F", "points": [[1, 2, 3]], "labels": ["a", "b"]},
         "labels", "2 labels for 1 points"),
        ({"command": "SetControlPoint", "node": "F", "index": -1, "position": [0, 0, 0]},
         "index", "non-negative integer"),
        ({"command": "SetLayout", "layout": "Sideways"}, "layout", "unknown layout name"),
        ({"command": "SetTransform", "node": "T"}, "matrix", "is required"),
        ({"command": "SetSliceGeometry", "view": "red", "slice_to_ras": np.diag([2, 1, 1, 1]),
          "field_of_view": [10, 10]}, "slice_to_ras", "orthonormal"),
        ({"command": "SetSliceGeometry", "view": "red", "slice_to_ras": np.eye(4),
          "field_of_view": [10, -1]}, "field_of_view", "positive"),
        ({"command": "SetSliceGeometry", "view": "3d", "slice_to_ras": np.eye(4),
          "field_of_view": [10, 10]}, "view", "not a slice view"),
        ({"command": "SetText", "node": "Note", "text": 42}, "text", "expected a string"),
        ({"command": "SetText", "node": " ", "text": "hi"}, "node", "non-empty string"),
        ({"command": "PutModel", "node": "M", "vertices": [[0, 0]], "triangles": []},
         "vertices", "N×3"),
        ({"command": "PutModel", "node": "M", "vertices": [[0, 0, math.nan]], "triangles": []},
         "vertices", "NaN"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1]]},
         "triangles", "M×3"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1, 2.5]]},
         "triangles", "integer vertex indices"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1, 3]]},
         "triangles", "vertex index 3 is out of range for 3 vertices"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, -1, 2]]},
         "triangles", "vertex index -1 is out of range"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1, 2]],
          "normals": [[0, 0, 1]]}, "normals", "1 normals for 3 vertices"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1, 2]],
          "color": [1, 0, 2]}, "color", "within 0..1"),
        ({"command": "PutModel", "node": "M", "vertices": TRIANGLE}, "triangles", "is required"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_the_field_named(payload, field, fragment) -> None:
    with pytest.raises(CommandError) as caught:
        Command.from_json(payload)
    assert caught.value.field == field
    assert caught.value.command == payload["command"]
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{payload['command']}.{field}: ")


def test_unknown_command_and_unknown_fields_are_named() -> None:
    with pytest.raises(CommandError, match="unknown command 'Teleport'; known commands: .*Exec"):
        Command.from_json({"command": "Teleport"})
    with pytest.raises(CommandError, match=r"SetLayout: unknown field\(s\) colour; fields: layout"):
        Command.from_json({"command": "SetLayout", "layout": "FourUp", "colour": "red"})
    with pytest.raises(CommandError, match="must be a JSON object"):
        Command.from_json(["SetLayout"])  # type: ignore[arg-type]


def test_constraints_across_fields() -> None:
    with pytest.raises(CommandError, match="needs rotation, position or both"):
        SetTrackingPose()
    with pytest.raises(CommandError, match="either nodes or all=true"):
        DeleteNodes()
    with pytest.raises(CommandError, match="either nodes or all=true"):
        DeleteNodes(nodes=["a"], all=True)
    with pytest.raises(CommandError, match="focal_point: must differ from position"):
        SetCamera(position=[1, 1, 1], focal_point=[1, 1, 1])
    with pytest.raises(CommandError, match="PutVolume.array: expected a numpy array"):
        Command.from_json({"command": "PutVolume", "node": "V"}, array=[[[1]]])


def test_flat_row_major_matrix_is_accepted() -> None:
    command = SetTransform(node="T", matrix=[*range(12), 0, 0, 0, 1])
    assert command.matrix[0].tolist() == [0, 1, 2, 3]
    assert command.matrix[2, 3] == 11


def test_view_and_layout_names_are_canonical() -> None:
    assert SetSliceOffset(view="Red", offset=1).view == "red"
    assert SetSliceOffset(view="vtkMRMLSliceNodeGreen", offset=1).view == "green"
    assert SetCamera(view="View1", position=[0, 0, 1], focal_point=[0, 0, 0],
                     view_up=[0, 1, 0]).view == "3d"  # fmt: skip
    assert SetLayout(layout="fourup").layout == "FourUp"


def test_coalesce_keys() -> None:
    eye = np.eye(4)
    assert SetTransform(node="T", matrix=eye).coalesce_key == ("transform", "T")
    assert SetSliceOffset(view="red", offset=0).coalesce_key == ("slice-offset", "red")
    assert SetControlPoint(node="F", index=2, position=[0, 0, 0]).coalesce_key == (
        "control-point", "F", 2)  # fmt: skip
    rotation_only = SetTrackingPose(rotation=np.eye(3))
    position_only = SetTrackingPose(position=[1, 2, 3])
    assert rotation_only.coalesce_key != position_only.coalesce_key
    assert SetSliceOrientation(view="red", orientation="axial").coalesce_key is None
    assert SetLayout(layout="FourUp").coalesce_key is None


def test_put_volume_array_travels_out_of_band() -> None:
    voxels = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    command = PutVolume(node="CT", array=voxels, ijk_to_ras=np.diag([2, 2, 3, 1]), id="v1")
    payload = command.to_json()
    assert "array" not in payload and payload["id"] == "v1"
    again = Command.from_json(payload, array=voxels)
    assert again.array is voxels and np.array_equal(again.ijk_to_ras, command.ijk_to_ras)


def test_grid_transform_field_travels_out_of_band_and_coalesces_per_node() -> None:
    field = np.zeros((2, 3, 4, 3), dtype=np.float32)
    command = SetGridTransform(node="Warp", displacements=field, ijk_to_ras=np.diag([2, 2, 3, 1]))
    payload = command.to_json()
    assert "displacements" not in payload and payload["node"] == "Warp"
    again = Command.from_json(payload, displacements=field)
    assert again.displacements is field and again.coalesce_key == ("grid-transform", "Warp")
    with pytest.raises(CommandError, match="SetGridTransform.displacements: expected a numpy"):
        Command.from_json({"command": "SetGridTransform", "node": "W"}, displacements=[[1]])
    with pytest.raises(CommandError, match=r"\(k, j, i, 3\)"):
        SetGridTransform(node="W", displacements=np.zeros((2, 2, 2)))
    with pytest.raises(CommandError, match="NaN"):
        SetGridTransform(node="W", displacements=np.full((1, 1, 1, 3), np.nan))


def test_text_is_a_barrier_kept_exactly_through_json() -> None:
    for value in ("", "  two  spaces \n", "grüße ✓"):
        command = SetText(node="Note", text=value)
        assert command.coalesce_key is None and command.text == value
        again = Command.from_json(command.to_json())
        assert isinstance(again, SetText) and again.text == value


def test_put_model_coalesces_per_node_and_round_trips_through_json() -> None:
    command = PutModel(
        node="Surface",
        vertices=np.array(TRIANGLE, dtype=np.float32),
        triangles=np.array([[0, 1, 2]], dtype=np.uint32),
        normals=[[0, 0, 1]] * 3,
        color=(0.2, 0.4, 0.6),
        id="m1",
    )
    assert command.coalesce_key == ("model", "Surface")
    assert command.vertices.dtype == np.float64 and command.triangles.dtype == np.int64
    payload = command.to_json()
    assert payload["triangles"] == [[0, 1, 2]] and payload["color"] == [0.2, 0.4, 0.6]
    again = Command.from_json(json.loads(json.dumps(payload)))
    assert isinstance(again, PutModel) and again.id == "m1"
    assert np.array_equal(again.vertices, command.vertices)
    assert np.array_equal(again.triangles, command.triangles)
    assert np.array_equal(again.normals, command.normals) and again.color == (0.2, 0.4, 0.6)
    bare = Command.from_json({"command": "PutModel", "node": "Empty", "vertices": [],
                              "triangles": []})  # fmt: skip
    assert bare.vertices.shape == (0, 3) and bare.triangles.shape == (0, 3)
    assert bare.normals is None and bare.color is None


def test_slice_geometry_is_a_barrier_with_a_json_form() -> None:
    command = SetSliceGeometry(view="Green", slice_to_ras=np.eye(4), field_of_view=[120, 60.5])
    assert command.coalesce_key is None and command.view == "green"
    assert command.field_of_view == (120.0, 60.5)
    again = Command.from_json(command.to_json())
    assert np.array_equal(again.slice_to_ras, np.eye(4))
    assert again.field_of_view == (120.0, 60.5)


def test_id_is_echoed_and_source_comes_from_the_transport() -> None:
    command = Command.from_json(
        {"command": "SetSliceOffset", "view": "red", "offset": 3, "id": 17}, source="mqtt:x"
    )
    assert command.id == "17" and command.source == "mqtt:x"
    assert command.to_json() == {"command": "SetSliceOffset", "id": "17", "view": "red",
                                 "offset": 3.0}  # fmt: skip


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=12, max_size=12), st.text(min_size=1).filter(str.strip))
def test_set_transform_json_round_trip(numbers, node) -> None:
    matrix = np.array([*numbers, 0, 0, 0, 1]).reshape(4, 4)
    command = SetTransform(node=node, matrix=matrix)
    again = Command.from_json(command.to_json())
    assert isinstance(again, SetTransform)
    assert again.node == node.strip()
    assert np.array_equal(again.matrix, matrix)


@given(st.lists(st.tuples(finite, finite, finite), max_size=20), st.data())
def test_markups_json_round_trip(points, data) -> None:
    labels = data.draw(st.none() | st.lists(st.text(), min_size=len(points), max_size=len(points)))
    command = SetMarkupsPoints(node="F", points=points, labels=labels)
    again = Command.from_json(command.to_json())
    assert np.array_equal(again.points, np.array(points, dtype=float).reshape(-1, 3))
    assert again.labels == (None if labels is None else tuple(labels))


def test_every_kind_round_trips_through_json() -> None:
    samples = [
        {"command": "SetTrackingPose", "rotation": np.eye(3).tolist(), "position": [1, 2, 3]},
        {"command": "SetCamera", "view": "3d", "position": [0, -500, 0], "focal_point": [0, 0, 0],
         "view_up": [0, 0, 1]},
        {"command": "SetSliceOrientation", "view": "yellow", "orientation": "sagittal"},
        {"command": "SetSliceGeometry", "view": "green", "slice_to_ras": np.eye(4).tolist(),
         "field_of_view": [100.0, 50.0]},
        {"command": "LoadFile", "path": "/tmp/a.nrrd", "filetype": "VolumeFile",
         "properties": {"name": "A"}},
        {"command": "SaveNode", "node": "A", "path": "/tmp/a.nrrd", "properties": {},
         "apply_transforms": True},
        {"command": "DeleteNodes", "nodes": ["A", "B"], "all": False},
        {"command": "ReloadNodes", "nodes": []},
        {"command": "LoadSampleData", "name": "Phantom"},
        {"command": "SelectVolume", "node": None, "step": -1},
        {"command": "Exec", "code": "__execResult = 1"},
        {"command": "Shutdown"},
        {"command": "RunCompute", "operation": "threshold", "inputs": {"volume": "V"},
         "parameters": {"level": 100}, "outputs": {"volume": "Out"}, "timeout": 60.0},
        {"command": "SetText", "node": "Note", "text": "hello\nworld"},
        {"command": "PutModel", "node": "M", "vertices": TRIANGLE, "triangles": [[0, 1, 2]],
         "normals": None, "color": [0.5, 0.5, 1.0]},
    ]  # fmt: skip
    for payload in samples:
        command = Command.from_json(payload)
        assert command.to_json() == {**payload, "command": command.kind}
