"""Slicer markups JSON (`.mrk.json`, schema markups-schema-v1.0.x) ↔ `MarkupsData`.

Only point lists (`"type": "Fiducial"`) map onto `MarkupsData`; other markups types (lines,
curves, planes, ROIs) are refused rather than silently turned into point lists.

What this mirrors from Slicer's `vtkMRMLMarkupsJsonStorageNode` (read from its source):

* Files are accepted when `@schema` matches `markups-schema-v1.<minor>.<patch>.json`; Slicer
  writes the v1.0.3 schema id, and so does `write_markups_json`. A file without `@schema` is
  accepted too (lenient); one with another schema is refused.
* `coordinateSystem` is `LPS` (the default when absent) or `RAS`; LPS positions are negated in
  x and y on read and write, and orientation matrices (row-major 3×3) have their first six
  entries negated. Slicer writes LPS; so does this module.
* `coordinateUnits` must be millimetres (`"mm"` or the UCUM code triplet); other units are
  refused, as Slicer refuses a unit that differs from the scene's.
* A control point whose `positionStatus` is `undefined` (written by Slicer with `"position": ""`)
  has no position; `MarkupsData` cannot hold one, so such points are skipped on read.
* Missing optional fields take the schema defaults (`selected` true, `locked` false,
  `visibility` true, `positionStatus` defined). The node name is the markup's `name` if given,
  else the file name without `.mrk.json`, as Slicer names the node it creates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bridge.scene.io.formats import strip_known_suffix
from bridge.scene.types import ControlPoint, MarkupsData, SceneError

#: The schema id current Slicer writes (it keeps "master" in the URL for compatibility).
MARKUPS_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
_ACCEPTED_SCHEMA = re.compile(r"markups-schema-v1\.[0-9]+\.[0-9]+\.json#*$", re.IGNORECASE)

#: coordinateSystem → per-axis sign that takes file coordinates to RAS (and back).
_AXIS_SIGNS: dict[str, np.ndarray] = {
    "LPS": np.array([-1.0, -1.0, 1.0]),
    "RAS": np.array([1.0, 1.0, 1.0]),
}
_MILLIMETRE_UNITS = ("mm", ["mm", "UCUM", "millimeter"])
_POSITION_STATUSES = ("undefined", "preview", "defined")

#: Display properties MarkupsData does not carry. Slicer's reader sets only the display
#: properties present in the file, so every one left out keeps Slicer's default for a new list.
_DISPLAY_DEFAULTS: dict[str, Any] = {"visibility": True, "opacity": 1.0}


# -- reading ----------------------------------------------------------------------------------


def read_markups_json(path: Path) -> list[MarkupsData]:
    """Every markup in a `.mrk.json` file, positions in RAS. Raises SceneError saying what is
    wrong with a malformed file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SceneError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise SceneError(f"{path}: not UTF-8 text ({error.reason})") from None
    return parse_markups_json(text, default_name=strip_known_suffix(path), origin=str(path))


def parse_markups_json(
    text: str, *, default_name: str | None = None, origin: str = "markups JSON"
) -> list[MarkupsData]:
    """`read_markups_json` for a document already in memory (e.g. an HTTP body)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SceneError(f"{origin}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise SceneError(f"{origin}: the document must be a JSON object with a 'markups' array")
    _check_schema(document.get("@schema"), origin)
    markups = document.get("markups")
    if not isinstance(markups, list) or not markups:
        raise SceneError(f"{origin}: 'markups' must be a non-empty array")
    return [
        _markup_from_json(item, f"{origin}: markups[{index}]", default_name)
        for index, item in enumerate(markups)
    ]


def _check_schema(schema: object, origin: str) -> None:
    if schema is None:
        return
    if not isinstance(schema, str) or not _ACCEPTED_SCHEMA.search(schema.strip()):
        raise SceneError(
            f"{origin}: '@schema' is {schema!r}, expected a markups-schema-v1.x.y.json id "
            f"such as {MARKUPS_SCHEMA!r}"
        )


def _markup_from_json(item: object, where: str, default_name: str | None) -> MarkupsData:
    if not isinstance(item, dict):
        raise SceneError(f"{where}: must be an object")
    kind = item.get("type")
    if kind != "Fiducial":
        raise SceneError(
            f"{where}: markups type {kind!r} is not supported (only 'Fiducial' point lists)"
        )
    signs = _coordinate_signs(item.get("coordinateSystem", "LPS"), where)
    _check_units(item.get("coordinateUnits", "mm"), where)
    points_json = item.get("controlPoints", [])
    if not isinstance(points_json, list):
        raise SceneError(f"{where}: 'controlPoints' must be an array")
    points = []
    for index, point_json in enumerate(points_json):
        point = _control_point(point_json, signs, f"{where}.controlPoints[{index}]")
        if point is not None:
            points.append(point)
    display = item.get("display", {})
    if not isinstance(display, dict):
        raise SceneError(f"{where}: 'display' must be an object")
    defaults = MarkupsData(points=())
    return MarkupsData(
        points=tuple(points),
        name=_optional(item, "name", str, where) or default_name,
        color=_color(display, "color", defaults.color, where),
        selected_color=_color(display, "selectedColor", defaults.selected_color, where),
        glyph_scale=_number(display, "glyphScale", defaults.glyph_scale, where),
        locked=_flag(item, "locked", defaults.locked, where),
    )


def _coordinate_signs(system: object, where: str) -> np.ndarray:
    if not isinstance(system, str) or system.upper() not in _AXIS_SIGNS:
        raise SceneError(f"{where}: 'coordinateSystem' must be 'LPS' or 'RAS', got {system!r}")
    return _AXIS_SIGNS[system.upper()]


def _check_units(units: object, where: str) -> None:
    if units not in _MILLIMETRE_UNITS:
        raise SceneError(
            f"{where}: 'coordinateUnits' {units!r} is not supported; positions must be in mm"
        )


def _control_point(point: object, signs: np.ndarray, where: str) -> ControlPoint | None:
    """One control point in RAS, or None for a point without a position (undefined)."""
    if not isinstance(point, dict):
        raise SceneError(f"{where}: must be an object")
    status = point.get("positionStatus", "defined")
    if status not in _POSITION_STATUSES:
        raise SceneError(
            f"{where}: 'positionStatus' must be one of {', '.join(_POSITION_STATUSES)}, "
            f"got {status!r}"
        )
    position = point.get("position")
    if status == "undefined" or position in (None, ""):
        return None
    return ControlPoint(
        position=_vector3(position, f"{where}.position") * signs,
        label=_optional(point, "label", str, where) or "",
        selected=_flag(point, "selected", True, where),
        locked=_flag(point, "locked", False, where),
        visible=_flag(point, "visibility", True, where),
    )


def _vector3(value: object, where: str) -> np.ndarray:
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(_is_number(x) and math.isfinite(x) for x in value)
    ):
        raise SceneError(f"{where}: must be an array of 3 finite numbers, got {value!r}")
    return np.array(value, dtype=np.float64)


def _color(
    display: Mapping[str, Any], key: str, default: tuple[float, float, float], where: str
) -> tuple[float, float, float]:
    value = display.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or len(value) != 3 or not all(_is_number(x) for x in value):
        raise SceneError(f"{where}: display.{key} must be 3 numbers, got {value!r}")
    if not all(0.0 <= x <= 1.0 for x in value):
        raise SceneError(f"{where}: display.{key} components must be in [0, 1], got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _number(display: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = display.get(key, default)
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise SceneError(f"{where}: display.{key} must be a non-negative number, got {value!r}")
    return float(value)


def _flag(item: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise SceneError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _optional(item: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = item.get(key)
    if value is not None and not isinstance(value, kind):
        raise SceneError(f"{where}: '{key}' must be a {kind.__name__}, got {value!r}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- writing ----------------------------------------------------------------------------------


def write_markups_json(path: Path, data: MarkupsData) -> None:
    """Write one point list as Slicer does: v1.0.3 schema id, LPS coordinates, mm."""
    path = Path(path)
    try:
        path.write_text(markups_json_text(data), encoding="utf-8")
    except OSError as error:
        raise SceneError(f"cannot write {path}: {error.strerror or error}") from None


def markups_json_text(data: MarkupsData) -> str:
    """The `.mrk.json` document for `data` (what `write_markups_json` writes)."""
    document = {"@schema": MARKUPS_SCHEMA, "markups": [_markup_to_json(data)]}
    return json.dumps(document, indent=4) + "\n"


def _markup_to_json(data: MarkupsData) -> dict[str, Any]:
    markup: dict[str, Any] = {
        "type": "Fiducial",
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": bool(data.locked),
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(data.points),
    }
    if data.name:
        markup["name"] = data.name  # Slicer reads it; without it Slicer names from the file
    markup["controlPoints"] = [
        _control_point_to_json(index, point) for index, point in enumerate(data.points)
    ]
    markup["measurements"] = []
    markup["display"] = {
        **_DISPLAY_DEFAULTS,
        "color": _floats(data.color),
        "selectedColor": _floats(data.selected_color),
        "glyphScale": float(data.glyph_scale),
    }
    return markup


def _control_point_to_json(index: int, point: ControlPoint) -> dict[str, Any]:
    position = np.asarray(point.position, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(position)):
        raise SceneError(f"control point {index + 1} has a non-finite position")
    signs = _AXIS_SIGNS["LPS"]
    return {
        "id": str(index + 1),
        "label": point.label,
        "description": "",
        "associatedNodeID": "",
        "position": _floats(position * signs),
        # identity orientation in RAS, written in LPS: the first two rows negated
        "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
        "selected": bool(point.selected),
        "locked": bool(point.locked),
        "visibility": bool(point.visible),
        "positionStatus": "defined",
    }


def _floats(values: Sequence[float] | np.ndarray) -> list[float]:
    return [float(x) for x in values]
