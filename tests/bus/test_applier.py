"""Every command kind, from its JSON form through a running bridge's bus into the scene."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bridge.app import Bridge
from bridge.bus import Outcome
from bridge.commands import Command, PutModel, PutVolume, SetText
from bridge.config import Settings
from bridge.exec_namespace import ExecDisabled
from bridge.scene.types import NodeNotFound


@pytest.fixture
async def bridge(tmp_path: Path):
    running = Bridge(Settings(http=False, igtl=False, mqtt=False, data_dir=tmp_path))
    await running.start()
    yield running
    await running.stop()


async def send(bridge: Bridge, payload: dict, **out_of_band):
    return await bridge.bus.submit(Command.from_json(payload, source="test", **out_of_band))


async def test_transforms_tracking_and_markups_reach_the_scene(bridge: Bridge) -> None:
    matrix = np.eye(4)
    matrix[:3, 3] = (1, 2, 3)
    result = await send(bridge, {"command": "SetTransform", "node": "Tool", "matrix": matrix})
    assert result.ok and result.value["node"].startswith("vtkMRMLLinearTransformNode")
    assert np.array_equal(bridge.scene.transform_matrix("Tool"), matrix)

    pose = await send(bridge, {"command": "SetTrackingPose", "position": [5, 6, 7]})
    assert pose.ok
    assert bridge.scene.transform_matrix("tracker")[:3, 3].tolist() == [5, 6, 7]
    assert bridge.scene.find("trackingDevice").class_name == "vtkMRMLModelNode"

    points = [[0, 0, 0], [1, 1, 1]]
    await send(bridge, {"command": "SetMarkupsPoints", "node": "F", "points": points})
    moved = await send(
        bridge, {"command": "SetControlPoint", "node": "F", "index": 1, "position": [9, 9, 9]}
    )
    assert moved.ok
    markups = bridge.scene.markups("F")
    assert [p.position.tolist() for p in markups.points] == [[0, 0, 0], [9, 9, 9]]


async def test_views_layout_and_volumes(bridge: Bridge) -> None:
    voxels = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    put = await send(bridge, {"command": "PutVolume", "node": "CT"}, array=voxels)
    assert put.ok
    assert np.array_equal(bridge.scene.volume("CT").array, voxels)
    await send(bridge, {"command": "SetSliceOrientation", "view": "red", "orientation": "coronal"})
    await send(bridge, {"command": "SetSliceOffset", "view": "red", "offset": 2.5})
    red = bridge.scene.slice_view("red")
    assert (red.orientation, red.offset) == ("coronal", 2.5)
    camera = {"command": "SetCamera", "position": [0, -300, 0], "focal_point": [0, 0, 0]}
    assert (await send(bridge, camera)).ok
    assert bridge.scene.camera("3d").position.tolist() == [0, -300, 0]
    layout = await send(bridge, {"command": "SetLayout", "layout": "oneup3d"})
    assert layout.value == {"layout": "OneUp3D"} and bridge.scene.layout == "OneUp3D"
    second = PutVolume(node="MR", array=voxels.astype(np.float32))
    await bridge.bus.submit(second)
    selected = await send(bridge, {"command": "SelectVolume", "node": "MR"})
    assert bridge.scene.active_volume().id == selected.value["node"]


async def test_grid_transforms_and_slice_geometry_reach_the_scene(bridge: Bridge) -> None:
    field = np.arange(2 * 3 * 4 * 3, dtype=np.float64).reshape(2, 3, 4, 3)
    put = await send(bridge, {"command": "SetGridTransform", "node": "Warp"}, displacements=field)
    assert put.ok and put.value["node"].startswith("vtkMRMLGridTransformNode")
    assert np.array_equal(bridge.scene.grid_transform("Warp").displacements, field)
    oblique = np.eye(4)
    oblique[:3, :3] = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    oblique[:3, 3] = (1.0, 2.0, 3.0)
    placed = await send(
        bridge,
        {"command": "SetSliceGeometry", "view": "red", "slice_to_ras": oblique.tolist(),
         "field_of_view": [80, 40]},
    )  # fmt: skip
    assert placed.ok
    red = bridge.scene.slice_view("red")
    assert np.array_equal(red.slice_to_ras, oblique) and red.field_of_view == (80.0, 40.0)
    linear = await send(
        bridge, {"command": "SetTransform", "node": "Warp", "matrix": np.eye(4).tolist()}
    )
    assert linear.outcome is Outcome.FAILED and "linear transforms only" in linear.error


async def test_texts_are_set_in_order_and_models_replaced(bridge: Bridge) -> None:
    seen: list[str] = []
    bridge.scene.subscribe(
        lambda event: event.aspect == "text" and seen.append(bridge.scene.text(event.node.id))
    )
    first = await send(bridge, {"command": "SetText", "node": "Log", "text": "one"})
    assert first.ok and first.value["node"].startswith("vtkMRMLTextNode")
    texts = [SetText(node="Log", text=word) for word in ("two", "two", "three")]
    results = await asyncio.gather(*(bridge.bus.submit(cmd) for cmd in texts))
    assert [result.outcome for result in results] == [Outcome.APPLIED] * 3  # never superseded
    assert seen == ["two", "two", "three"] and bridge.scene.text("Log") == "three"

    square = {"command": "PutModel", "node": "Plan", "vertices": [[0, 0, 0], [1, 0, 0],
              [1, 1, 0], [0, 1, 0]], "triangles": [[0, 1, 2], [0, 2, 3]]}  # fmt: skip
    put = await send(bridge, square)
    assert put.ok and put.value["node"].startswith("vtkMRMLModelNode")
    model = bridge.scene.model("Plan")
    assert model.triangles.tolist() == [[0, 1, 2], [0, 2, 3]] and model.color == (0.5, 0.5, 1.0)
    await send(bridge, {**square, "color": [1, 0, 0]})
    await send(bridge, {**square, "triangles": [[0, 1, 2]]})  # no colour: the model keeps its own
    model = bridge.scene.model("Plan")
    assert len(model.triangles) == 1 and model.color == (1.0, 0.0, 0.0)
    streamed = [PutModel(node="Plan", vertices=np.full((3, 3), float(k)) + np.eye(3),
                         triangles=[[0, 1, 2]]) for k in range(5)]  # fmt: skip
    outcomes = await asyncio.gather(*(bridge.bus.submit(cmd) for cmd in streamed))
    assert outcomes[-1].ok and Outcome.SUPERSEDED in {result.outcome for result in outcomes}
    assert bridge.scene.model("Plan").vertices[0, 1] == 4.0


async def test_a_put_model_surface_shows_in_the_3d_view_and_the_gltf(bridge: Bridge) -> None:
    half = 20.0  # a red square in the R-S plane, facing the default camera (from anterior)
    square = [[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]]
    command = PutModel(node="Plate", vertices=square, triangles=[[0, 1, 2], [0, 2, 3]],
                       color=(1.0, 0.0, 0.0))  # fmt: skip
    assert (await bridge.bus.submit(command)).ok
    shift = np.eye(4)
    shift[:3, 3] = (0.0, 0.0, 5.0)
    bridge.scene.set_transform("Lift", shift)
    bridge.scene.set_parent_transform("Plate", "Lift")
    document = bridge.scene.gltf()
    (node,) = document["nodes"]
    assert node["name"] == "Plate" and node["extras"]["id"] == bridge.scene.find("Plate").id
    mesh = document["meshes"][node["mesh"]]["primitives"][0]
    position = document["accessors"][mesh["attributes"]["POSITION"]]
    assert position["min"] == pytest.approx([-half, 0, 5 - half])  # world RAS: lifted 5 mm
    assert position["max"] == pytest.approx([half, 0, 5 + half])
    (material,) = document["materials"]
    assert material["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 0.0, 0.0, 1.0]
    image = np.asarray(Image.open(io.BytesIO(bridge.scene.render_threed(size=96))).convert("RGB"))
    red, green, blue = (int(channel) for channel in image[48, 48])
    assert red > 100 and red > 3 * max(green, blue, 1)  # the lit red plate fills the centre


async def test_files_sample_data_reload_and_delete(bridge: Bridge, tmp_path: Path) -> None:
    loaded = await send(bridge, {"command": "LoadSampleData", "name": "Phantom"})
    assert loaded.ok
    (phantom_id,) = loaded.value["loadedNodeIDs"]
    target = tmp_path / "phantom.nrrd"
    saved = await send(bridge, {"command": "SaveNode", "node": phantom_id, "path": str(target)})
    assert saved.value == {"success": True} and target.stat().st_size > 0
    again = await send(bridge, {"command": "LoadFile", "path": str(target)})
    (copy_id,) = again.value["loadedNodeIDs"]
    assert np.array_equal(bridge.scene.volume(copy_id).array, bridge.scene.volume(phantom_id).array)
    reloaded = await send(bridge, {"command": "ReloadNodes", "nodes": [copy_id]})
    assert reloaded.value == {"reloadedNodeIDs": [copy_id]}
    removed = await send(bridge, {"command": "DeleteNodes", "nodes": [copy_id]})
    assert removed.value == {"removedNodeIDs": [copy_id]}
    cleared = await send(bridge, {"command": "DeleteNodes", "all": True})
    assert cleared.ok and bridge.scene.nodes(class_name="vtkMRMLVolumeNode") == []


async def test_scene_errors_fail_the_command_with_their_type(
    bridge: Bridge, tmp_path: Path
) -> None:
    missing = await send(bridge, {"command": "DeleteNodes", "nodes": ["no-such-node"]})
    assert missing.outcome is Outcome.FAILED and isinstance(missing.exception, NodeNotFound)
    assert "no-such-node" in missing.error
    absent = await send(bridge, {"command": "LoadFile", "path": str(tmp_path / "absent.nrrd")})
    assert absent.outcome is Outcome.FAILED and "absent.nrrd" in absent.error
    offline = await send(bridge, {"command": "LoadSampleData", "name": "NoSuchSample"})
    assert offline.outcome is Outcome.FAILED and "Phantom" in offline.error
    compute = await send(bridge, {"command": "RunCompute", "operation": "threshold"})
    assert compute.outcome is Outcome.FAILED
    assert compute.error == (  # no compute node is connected
        "RunCompute.operation: no compute node offers 'threshold'; operations: (none)"
    )


async def test_exec_is_refused_unless_enabled(bridge: Bridge) -> None:
    result = await send(bridge, {"command": "Exec", "code": "__execResult = 1"})
    assert result.outcome is Outcome.FAILED and isinstance(result.exception, ExecDisabled)
    assert "--enable-exec" in result.error


async def test_exec_namespace_persists_and_sees_the_scene(tmp_path: Path) -> None:
    bridge = Bridge(
        Settings(http=False, igtl=False, mqtt=False, data_dir=tmp_path, enable_exec=True)
    )
    await bridge.start()
    try:
        first = await send(bridge, {"command": "Exec", "code": "counter = 41"})
        assert first.value == {}, "__execResult defaults to {}"
        code = "counter += 1\n__execResult = {'n': counter, 'nodes': len(scene.nodes())}"
        second = await send(bridge, {"command": "Exec", "code": code})
        assert second.value["n"] == 42 and second.value["nodes"] > 0
        broken = await send(bridge, {"command": "Exec", "code": "1/0"})
        assert broken.outcome is Outcome.FAILED and "division by zero" in broken.error
    finally:
        await bridge.stop()


async def test_shutdown_replies_then_requests_shutdown(bridge: Bridge) -> None:
    result = await send(bridge, {"command": "Shutdown"})
    assert result.value == {"success": True}
    await asyncio.wait_for(bridge.wait_for_shutdown(), timeout=5)


async def test_status_reports_bus_counters(bridge: Bridge) -> None:
    await send(bridge, {"command": "SetLayout", "layout": "FourUp"})
    status = bridge.status()
    assert status["bus"]["applied"] == 1 and status["bus"]["max_rate"] == 60.0
    assert status["bus"]["by_source"]["test"]["applied"] == 1
    assert {"p50", "p99"} <= set(status["bus"]["latency_ms"])
