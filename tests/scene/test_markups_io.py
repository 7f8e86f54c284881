"""Slicer markups JSON: round trip, LPS↔RAS, Slicer's own file layout, defaults, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.scene.io.markups_io import MARKUPS_SCHEMA, read_markups_json, write_markups_json
from bridge.scene.types import ControlPoint, MarkupsData, SceneError

#: A file laid out as Slicer 5 writes a point list (LPS, v1.0.3 schema, no "name").
SLICER_FILE = {
    "@schema": MARKUPS_SCHEMA,
    "markups": [
        {
            "type": "Fiducial",
            "coordinateSystem": "LPS",
            "coordinateUnits": "mm",
            "locked": False,
            "fixedNumberOfControlPoints": False,
            "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": 2,
            "controlPoints": [
                {
                    "id": "1",
                    "label": "F-1",
                    "description": "",
                    "associatedNodeID": "vtkMRMLScalarVolumeNode1",
                    "position": [-10.5, 20.25, 30.0],
                    "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                    "selected": True,
                    "locked": False,
                    "visibility": True,
                    "positionStatus": "defined",
                },
                {
                    "id": "2",
                    "label": "F-2",
                    "description": "",
                    "associatedNodeID": "",
                    "position": [1.0, 2.0, -3.0],
                    "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                    "selected": False,
                    "locked": True,
                    "visibility": False,
                    "positionStatus": "defined",
                },
            ],
            "measurements": [],
            "display": {
                "visibility": True,
                "opacity": 1.0,
                "color": [0.4, 1.0, 1.0],
                "selectedColor": [1.0, 0.5000076295109483, 0.5000076295109483],
                "activeColor": [0.4, 1.0, 0.0],
                "glyphType": "Sphere3D",
                "glyphScale": 3.0,
                "glyphSize": 5.0,
                "useGlyphScale": True,
            },
        }
    ],
}


def write_json(path, document) -> object:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_slicer_lps_file_is_read_in_ras(tmp_path):
    path = write_json(tmp_path / "Landmarks.mrk.json", SLICER_FILE)

    [markups] = read_markups_json(path)

    assert markups.name == "Landmarks"  # Slicer names the node after the file
    np.testing.assert_array_equal(markups.points[0].position, [10.5, -20.25, 30.0])
    np.testing.assert_array_equal(markups.points[1].position, [-1.0, -2.0, -3.0])
    assert [p.label for p in markups.points] == ["F-1", "F-2"]
    second = markups.points[1]
    assert (second.selected, second.locked, second.visible) == (False, True, False)
    assert markups.color == (0.4, 1.0, 1.0)
    assert markups.selected_color[0] == 1.0
    assert markups.glyph_scale == 3.0


def test_ras_file_is_read_as_is(tmp_path):
    document = json.loads(json.dumps(SLICER_FILE))
    document["markups"][0]["coordinateSystem"] = "RAS"
    [markups] = read_markups_json(write_json(tmp_path / "ras.mrk.json", document))
    np.testing.assert_array_equal(markups.points[0].position, [-10.5, 20.25, 30.0])


def test_missing_optional_fields_take_schema_defaults(tmp_path):
    minimal = {"markups": [{"type": "Fiducial", "controlPoints": [{"position": [1, 2, 3]}]}]}
    [markups] = read_markups_json(write_json(tmp_path / "min.mrk.json", minimal))

    [point] = markups.points
    np.testing.assert_array_equal(point.position, [-1.0, -2.0, 3.0])  # LPS is the default
    assert (point.label, point.selected, point.locked, point.visible) == ("", True, False, True)
    defaults = MarkupsData(points=())
    assert (markups.color, markups.glyph_scale, markups.locked) == (
        defaults.color,
        defaults.glyph_scale,
        defaults.locked,
    )


def test_points_without_position_are_skipped(tmp_path):
    document = json.loads(json.dumps(SLICER_FILE))
    document["markups"][0]["controlPoints"][0].update(position="", positionStatus="undefined")
    [markups] = read_markups_json(write_json(tmp_path / "u.mrk.json", document))
    assert [p.label for p in markups.points] == ["F-2"]


def test_name_in_file_wins_and_every_markup_is_returned(tmp_path):
    document = json.loads(json.dumps(SLICER_FILE))
    second = json.loads(json.dumps(document["markups"][0]))
    second["name"] = "Second"
    document["markups"].append(second)
    first, again = read_markups_json(write_json(tmp_path / "two.mrk.json", document))
    assert (first.name, again.name) == ("two", "Second")


def test_round_trip_keeps_everything_markups_data_holds(tmp_path):
    data = MarkupsData(
        points=(
            ControlPoint(position=np.array([1.5, -2.25, 3.0]), label="tip"),
            ControlPoint(
                position=np.array([0.0, 100.0, -50.125]),
                label="entry",
                selected=False,
                locked=True,
                visible=False,
            ),
        ),
        name="Trajectory",
        color=(0.1, 0.2, 0.3),
        selected_color=(0.9, 0.8, 0.7),
        glyph_scale=2.5,
        locked=True,
    )
    path = tmp_path / "Trajectory.mrk.json"
    write_markups_json(path, data)

    [again] = read_markups_json(path)

    assert again.name == "Trajectory"
    assert (again.color, again.selected_color) == (data.color, data.selected_color)
    assert (again.glyph_scale, again.locked) == (2.5, True)
    for original, read in zip(data.points, again.points, strict=True):
        np.testing.assert_array_equal(read.position, original.position)
        assert (read.label, read.selected, read.locked, read.visible) == (
            original.label,
            original.selected,
            original.locked,
            original.visible,
        )


def test_written_file_is_laid_out_as_slicer_writes_it(tmp_path):
    data = MarkupsData(points=(ControlPoint(position=np.array([10.0, 20.0, 30.0]), label="A"),))
    path = tmp_path / "F.mrk.json"
    write_markups_json(path, data)

    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["@schema"] == MARKUPS_SCHEMA
    [markup] = document["markups"]
    assert (markup["type"], markup["coordinateSystem"], markup["coordinateUnits"]) == (
        "Fiducial",
        "LPS",
        "mm",
    )
    [point] = markup["controlPoints"]
    assert point["position"] == [-10.0, -20.0, 30.0]
    assert point["id"] == "1"
    assert point["positionStatus"] == "defined"
    assert point["orientation"] == [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0]
    assert {"visibility", "opacity", "color", "selectedColor", "glyphScale"} <= set(
        markup["display"]
    )
    assert markup["measurements"] == []


def _with(change) -> dict:
    document = json.loads(json.dumps(SLICER_FILE))
    change(document)
    return document


MALFORMED = [
    ("not json", "not valid JSON"),
    ([1, 2, 3], "must be a JSON object"),
    ({"@schema": MARKUPS_SCHEMA}, "'markups' must be a non-empty array"),
    (_with(lambda d: d.update({"@schema": "https://example.org/other.json"})), "'@schema' is"),
    (_with(lambda d: d["markups"][0].update(type="Line")), "type 'Line' is not supported"),
    (_with(lambda d: d["markups"][0].update(coordinateSystem="XYZ")), "must be 'LPS' or 'RAS'"),
    (_with(lambda d: d["markups"][0].update(coordinateUnits="um")), "positions must be in mm"),
    (_with(lambda d: d["markups"][0].update(controlPoints={})), "'controlPoints' must be an array"),
    (
        _with(lambda d: d["markups"][0]["controlPoints"][0].update(position=[1, 2])),
        r"controlPoints\[0\]\.position: must be an array of 3 finite numbers",
    ),
    (
        _with(lambda d: d["markups"][0]["controlPoints"][1].update(position=[1, "x", 3])),
        r"controlPoints\[1\]\.position",
    ),
    (
        _with(lambda d: d["markups"][0]["controlPoints"][0].update(locked="yes")),
        "'locked' must be true or false",
    ),
    (
        _with(lambda d: d["markups"][0]["controlPoints"][0].update(positionStatus="maybe")),
        "'positionStatus' must be one of",
    ),
    (_with(lambda d: d["markups"][0]["display"].update(color=[2, 0, 0])), "must be in \\[0, 1\\]"),
]


@pytest.mark.parametrize(("document", "message"), MALFORMED)
def test_malformed_file_says_what_is_wrong(tmp_path, document, message):
    path = tmp_path / "bad.mrk.json"
    if isinstance(document, str):
        path.write_text(document, encoding="utf-8")
    else:
        write_json(path, document)
    with pytest.raises(SceneError, match=message):
        read_markups_json(path)


def test_missing_file_raises_scene_error(tmp_path):
    with pytest.raises(SceneError, match="cannot read"):
        read_markups_json(tmp_path / "absent.mrk.json")
