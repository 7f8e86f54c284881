"""What of the MRML scene and the Slicer module can be checked without Slicer: they import
(or compile), their pure logic (view and layout names, argument mapping, grid geometry,
property merging, panel settings, dependency detection) behaves, and nothing else imports
`slicer`. `StandInLayoutNodeClass` is the only stand-in: an object with the few layout
constants `layout_numbers` reads, named as what it stands in for.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from bridge.config import Settings
from bridge.scene import mrml
from bridge.scene.types import LAYOUT_NAMES, SceneError

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "slicer_module" / "SlicerBridge"


@pytest.fixture(scope="module")
def panel():
    sys.path.insert(0, str(MODULE_DIR))
    try:
        yield importlib.import_module("SlicerBridgeLib.panel")
    finally:
        sys.path.remove(str(MODULE_DIR))


# -- the MRML scene module ---------------------------------------------------------------------
def test_the_mrml_module_imports_without_slicer_and_the_scene_says_where_it_runs() -> None:
    assert "slicer" not in sys.modules
    with pytest.raises(SceneError, match="inside 3D Slicer"):
        mrml.MrmlScene()


def test_the_mrml_scene_has_every_protocol_method_with_the_same_parameters() -> None:
    from bridge.scene.protocol import Scene

    for name, member in inspect.getmembers(Scene):
        if name.startswith("_"):
            continue
        ours = getattr(mrml.MrmlScene, name, None)
        assert ours is not None, f"MrmlScene lacks {name}"
        if callable(member):
            expected = list(inspect.signature(member).parameters)
            assert list(inspect.signature(ours).parameters) == expected, name


@pytest.mark.parametrize(
    ("view", "node_id", "composite_id"),
    [
        ("red", "vtkMRMLSliceNodeRed", "vtkMRMLSliceCompositeNodeRed"),
        ("Yellow", "vtkMRMLSliceNodeYellow", "vtkMRMLSliceCompositeNodeYellow"),
        ("vtkMRMLSliceNodeGreen", "vtkMRMLSliceNodeGreen", "vtkMRMLSliceCompositeNodeGreen"),
    ],
)
def test_slice_view_names_map_to_mrml_singleton_ids(view, node_id, composite_id) -> None:
    assert mrml.slice_node_id(view) == node_id
    assert mrml.slice_composite_node_id(view) == composite_id


@pytest.mark.parametrize("view", ["3d", "View1", "blue", ""])
def test_non_slice_views_are_refused(view: str) -> None:
    with pytest.raises(SceneError):
        mrml.slice_node_id(view)


class StandInLayoutNodeClass:
    """Stands in for `slicer.vtkMRMLLayoutNode`: only its `SlicerLayout<Name>View`
    constants (real values from Slicer's header for these three), plus noise."""

    SlicerLayoutInitialView = 0
    SlicerLayoutConventionalView = 2
    SlicerLayoutFourUpView = 3
    SlicerLayoutOneUp3DView = 4
    SlicerLayoutNotAViewName = "x"
    SlicerLayoutDefaultView = True  # a bool is not a layout number


def test_layout_numbers_come_from_the_layout_node_constants() -> None:
    numbers = mrml.layout_numbers(StandInLayoutNodeClass)
    assert numbers == {"Initial": 0, "Conventional": 2, "FourUp": 3, "OneUp3D": 4}
    assert set(numbers) <= set(LAYOUT_NAMES)


def test_layout_names_for_numbers_and_unknown_custom_layouts() -> None:
    numbers = mrml.layout_numbers(StandInLayoutNodeClass)
    assert mrml.layout_name(numbers, 3) == "FourUp"
    assert mrml.layout_name(numbers, 501) == "Custom501"


def test_pattern_matching_is_on_id_or_name() -> None:
    assert mrml.matches("vtkMRMLLinearTransformNode3", "Needle", "vtkMRMLLinear*")
    assert mrml.matches("vtkMRMLLinearTransformNode3", "Needle", "Nee?le")
    assert not mrml.matches("vtkMRMLLinearTransformNode3", "Needle", "needle")


def test_contract_sections_win_over_parsed_printself() -> None:
    printed = {"ID": "x", "ViewArrangement": 3, "Debug": False}
    merged = mrml.with_properties(printed, {"ViewArrangement": "FourUp"}, {"ID": "Layout"})
    assert merged == {"ID": "Layout", "ViewArrangement": "FourUp", "Debug": False}
    assert printed["ViewArrangement"] == 3, "the parsed text is not changed"


def test_grid_geometry_round_trips_an_oblique_ijk_to_ras() -> None:
    angle = np.deg2rad(30.0)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1]]
    )
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = rotation * [0.8, 1.25, 2.5]
    ijk_to_ras[:3, 3] = (-10.0, 4.0, 7.5)
    origin, spacing, directions = mrml.grid_geometry(ijk_to_ras)
    assert spacing == pytest.approx([0.8, 1.25, 2.5])
    np.testing.assert_allclose(directions, rotation, atol=1e-12)
    np.testing.assert_allclose(mrml.grid_ijk_to_ras(origin, spacing, directions), ijk_to_ras)


def test_every_mrml_aspect_is_one_the_scene_events_use() -> None:
    assert {aspect for _, aspect in mrml.ASPECTS} <= {
        "transform", "markups", "volume", "model", "text", "view", "layout", "name", "properties",
        "display",
    }  # fmt: skip


# -- only the MRML scene and the module import slicer ------------------------------------------
ALLOWED_SLICER_IMPORTERS = {
    "bridge/scene/mrml.py",
    "slicer_module/SlicerBridge/SlicerBridge.py",
    "tests/slicer/run_in_slicer.py",  # the runner inside Slicer
}


def _imports_slicer(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "slicer" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "slicer":
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] == "slicer"
        ):
            return True
    return False


def test_nothing_but_the_mrml_scene_and_the_module_imports_slicer() -> None:
    offenders = []
    for folder in ("bridge", "adapters", "bench", "tests", "slicer_module"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if _imports_slicer(path) and relative not in ALLOWED_SLICER_IMPORTERS:
                offenders.append(relative)
    assert offenders == []
    assert _imports_slicer(ROOT / "bridge" / "scene" / "mrml.py")


# -- the Slicer module -------------------------------------------------------------------------
def test_the_module_compiles_and_lists_every_script_in_its_cmake_file() -> None:
    source = (MODULE_DIR / "SlicerBridge.py").read_text(encoding="utf-8")
    compile(source, "SlicerBridge.py", "exec")
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts = sorted(p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*.py"))
    listed = [name.replace("${MODULE_NAME}", "SlicerBridge") for name in cmake.split()]
    assert [script for script in scripts if script not in listed] == []


def test_panel_bridge_settings_exist_and_default_to_the_bridge_defaults(panel) -> None:
    declared = {spec.name for spec in fields(Settings)}
    defaults = Settings()
    for setting in panel.PANEL_SETTINGS:
        if setting.bridge_setting is None:
            continue
        assert setting.bridge_setting in declared
        expected = getattr(defaults, setting.bridge_setting)
        assert setting.default == ("" if expected is None else expected)


def test_panel_switches_cover_what_the_webserver_panel_offers(panel) -> None:
    keys = set(panel.BY_KEY)
    assert {"slicer_api", "enable_exec", "dicom", "static", "cors"} <= keys
    assert {"http_port", "igtl_port", "mqtt_url", "token", "log_to_gui", "log_to_console"} <= keys


def test_stored_settings_are_read_back_with_their_types(panel) -> None:
    stored = {"cors": "true", "enable_exec": "false", "http_port": "2017", "max_rate": "30",
              "mqtt_url": "mqtt://broker:1883", "igtl_port": "not a number"}  # fmt: skip
    values = panel.from_stored(stored)
    assert values["cors"] is True and values["enable_exec"] is False
    assert values["http_port"] == 2017 and values["max_rate"] == 30.0
    assert values["igtl_port"] == 18944, "unreadable values fall back to the default"
    assert values["slicer_api"] is True, "missing keys take their defaults"
    assert panel.to_stored(values)["SlicerBridge/cors"] is True


def test_panel_values_become_start_in_qt_overrides(panel) -> None:
    values = panel.from_stored({"token": "", "http_port": 2020, "mqtt": False})
    overrides = panel.overrides(values)
    assert overrides["token"] is None, "an empty token field means no token"
    assert overrides["http_port"] == 2020 and overrides["mqtt"] is False
    assert "log_to_gui" not in overrides, "panel-only settings stay in the panel"
    Settings(**overrides)  # every override is a valid bridge setting


def test_missing_requirements_are_the_ones_whose_modules_are_not_found(panel) -> None:
    present = {"aiohttp", "orjson", "pyigtl", "nrrd", "pydicom", "PIL", "dicomweb_client"}

    def find_spec(name: str):
        if name == "paho.mqtt":
            raise ModuleNotFoundError("No module named 'paho'")
        return object() if name in present else None

    assert panel.missing_requirements(find_spec) == ["paho-mqtt>=2.0"]
    assert panel.missing_requirements(lambda name: object()) == []


def test_status_line(panel) -> None:
    assert panel.status_text({}, running=False) == "Stopped"
    assert panel.status_text({"http": 2016, "igtl": None}, running=True) == "Running: HTTP 2016"
