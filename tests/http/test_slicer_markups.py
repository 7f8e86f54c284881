"""`/slicer` markups, segmentation and tracking routes over real sockets."""

from __future__ import annotations

import base64
import json

import numpy as np
import pygltflib
import pytest
from slicer_testdata import (
    SEG_ORIGIN_LPS,
    SEG_SPACING,
    seg_boxes,
    write_markups_file,
    write_seg_nrrd_file,
)

from bridge.geometry import quaternion_to_rotation
from bridge.scene.surfaces import SMOOTHING_LIMIT


async def json_of(session, url, status=200, **query):
    async with session.get(url, params=query) as response:
        assert response.status == status, await response.text()
        assert response.headers["Content-Type"] == "application/json"
        return await response.json()


@pytest.fixture
async def two_lists(http_bridge, http_session, tmp_path):
    for name, points in (("F", [(1, 2, 3), (4, 5, 6)]), ("G", [(-1, -2, -3)])):
        path = write_markups_file(tmp_path / f"{name}.mrk.json", name, points)
        async with http_session.post(
            http_bridge.url("/slicer/mrml"), params={"localfile": str(path)}
        ) as response:
            assert response.status == 200
    return http_bridge


async def test_fiducials_lists_every_point_list_as_the_original(two_lists, http_session):
    answer = await json_of(http_session, two_lists.url("/slicer/fiducials"))
    assert answer == {
        "vtkMRMLMarkupsFiducialNode1": {
            "name": "F",
            "color": [0.2, 0.4, 0.6],
            "scale": 2.5,
            "markups": [
                {"label": "F-1", "position": [1.0, 2.0, 3.0]},
                {"label": "F-2", "position": [4.0, 5.0, 6.0]},
            ],
        },
        "vtkMRMLMarkupsFiducialNode2": {
            "name": "G",
            "color": [0.2, 0.4, 0.6],
            "scale": 2.5,
            "markups": [{"label": "G-1", "position": [-1.0, -2.0, -3.0]}],
        },
    }


async def test_fiducial_moves_the_indexed_point_and_appends_at_the_end(two_lists, http_session):
    url = two_lists.url("/slicer/fiducial")
    async with http_session.put(
        url, params={"id": "G", "index": "0", "r": "7", "a": "8", "s": "9"}
    ) as response:
        assert await response.json() == {"success": True}
    async with http_session.put(url, params={"index": "1", "r": "1.5"}) as response:
        assert response.status == 200  # default id: the first point list
    async with http_session.put(url, params={"id": "F", "index": "2", "s": "-4"}) as response:
        assert response.status == 200
    lists = await json_of(http_session, two_lists.url("/slicer/fiducials"))
    assert lists["vtkMRMLMarkupsFiducialNode2"]["markups"][0]["position"] == [7.0, 8.0, 9.0]
    assert [point["position"] for point in lists["vtkMRMLMarkupsFiducialNode1"]["markups"]] == [
        [1.0, 2.0, 3.0],
        [1.5, 0.0, 0.0],  # r, a, s default to 0, as in the original
        [0.0, 0.0, -4.0],
    ]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"id": "F", "index": "9"}, 400),
        ({"id": "F", "index": "-1"}, 400),
        ({"id": "F", "index": "one"}, 400),
        ({"id": "F", "r": "north"}, 400),
        ({"id": "Nobody"}, 404),
    ],
)
async def test_bad_fiducial_requests(two_lists, http_session, query, status):
    async with http_session.put(two_lists.url("/slicer/fiducial"), params=query) as response:
        assert response.status == status
        assert "message" in await response.json()


async def test_fiducial_without_any_point_list_is_404(http_bridge, http_session):
    async with http_session.put(http_bridge.url("/slicer/fiducial")) as response:
        assert response.status == 404


async def test_tracking_creates_the_cursor_and_sets_only_given_parts(http_bridge, http_session):
    url = http_bridge.url("/slicer/tracking")
    rotation = [0, -1, 0, 1, 0, 0, 0, 0, 1]  # row-major: 90° about S
    async with http_session.get(url, params={"m": ",".join(map(str, rotation))}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert await response.text() == "Set matrix"
    async with http_session.put(url, params={"p": "10,20,30"}) as response:
        assert response.status == 200
    names = await json_of(http_session, http_bridge.url("/slicer/mrml/names"))
    assert "tracker" in names and "trackingDevice" in names
    tracker = await json_of(
        http_session, http_bridge.url("/slicer/mrml/properties"), name="tracker"
    )
    matrix = np.array(next(iter(tracker.values()))["MatrixTransformToParent"]).reshape(4, 4)
    assert np.array_equal(matrix[:3, :3], np.array(rotation).reshape(3, 3))
    assert np.array_equal(matrix[:3, 3], [10, 20, 30])
    device = await json_of(
        http_session, http_bridge.url("/slicer/mrml/properties"), name="trackingDevice"
    )
    device = next(iter(device.values()))
    assert device["TransformNodeID"] == next(iter(tracker))
    assert device["Display"]["Color"] == [1.0, 1.0, 0.0]
    # the WebXR demo's form: position in mm and a w,x,y,z quaternion that overrides m
    quaternion = (0.9238795, 0.0, 0.3826834, 0.0)
    async with http_session.put(
        url, params={"p": "1,2,3", "q": ",".join(map(str, quaternion)), "m": "1,0,0,0,1,0,0,0,1"}
    ) as response:
        assert response.status == 200
    tracker = await json_of(
        http_session, http_bridge.url("/slicer/mrml/properties"), name="tracker"
    )
    matrix = np.array(next(iter(tracker.values()))["MatrixTransformToParent"]).reshape(4, 4)
    assert np.allclose(matrix[:3, :3], quaternion_to_rotation(*quaternion))
    assert np.array_equal(matrix[:3, 3], [1, 2, 3])


async def test_tracking_without_values_only_creates_the_cursor(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/tracking")) as response:
        assert response.status == 200
    assert await json_of(http_session, http_bridge.url("/slicer/mrml/ids"), name="tracker") == [
        "vtkMRMLLinearTransformNode1"
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"m": "1,0,0,0,1,0,0,0"},
        {"m": "1,0,0,0,1,0,0,0,1,0"},
        {"m": "a,b,c,d,e,f,g,h,i"},
        {"m": "0,0,0,0,0,0,0,0,0"},
        {"m": "1,0,0,0,1,0,0,0,inf"},
        {"p": "1,2"},
        {"p": "1,2,nan"},
        {"q": "0,0,0,0"},
        {"q": "1,0,0"},
    ],
)
async def test_bad_matrices_positions_and_quaternions_are_400(http_bridge, http_session, query):
    async with http_session.get(http_bridge.url("/slicer/tracking"), params=query) as response:
        assert response.status == 400
        assert response.headers["Content-Type"] == "application/json"
        assert (await response.json())["success"] is False
    assert await json_of(http_session, http_bridge.url("/slicer/mrml/ids"), name="tracker") == []


async def test_segmentations_are_empty_and_an_unknown_one_is_404(http_bridge, http_session):
    assert await json_of(http_session, http_bridge.url("/slicer/segmentations")) == {}
    answer = await json_of(http_session, http_bridge.url("/slicer/segmentation"), status=404)
    assert "vtkMRMLSegmentationNode" in answer["message"]


@pytest.fixture
async def abdomen(http_bridge, http_session, tmp_path):
    """A Slicer `.seg.nrrd` loaded as Slicer's clients load it (`filetype` detected)."""
    path = write_seg_nrrd_file(tmp_path / "Abdomen.seg.nrrd")
    async with http_session.post(
        http_bridge.url("/slicer/mrml"), params={"localfile": str(path)}
    ) as response:
        assert response.status == 200, await response.text()
        (node_id,) = (await response.json())["loadedNodeIDs"]
    return http_bridge, node_id


async def test_segmentations_lists_each_segmentation_with_its_segment_ids(abdomen, http_session):
    running, node_id = abdomen
    assert node_id.startswith("vtkMRMLSegmentationNode")
    answer = await json_of(http_session, running.url("/slicer/segmentations"))
    assert answer == {
        node_id: {"name": "Abdomen", "segmentIDs": ["Segment_1", "Segment_2", "Segment_3"]}
    }
    props = await json_of(http_session, running.url("/slicer/mrml/properties"), id=node_id)
    assert props[node_id]["Segmentation"]["Segments"]["Segment_2"]["Name"] == "Tumor"


def gltf_positions(document: dict, node_index: int) -> tuple[pygltflib.GLTF2, np.ndarray]:
    gltf = pygltflib.GLTF2.from_json(json.dumps(document))
    blob = base64.b64decode(gltf.buffers[0].uri.split(",", 1)[1])
    primitive = gltf.meshes[gltf.nodes[node_index].mesh].primitives[0]
    accessor = gltf.accessors[primitive.attributes.POSITION]
    offset = gltf.bufferViews[accessor.bufferView].byteOffset + (accessor.byteOffset or 0)
    positions = np.frombuffer(blob, "<f4", accessor.count * 3, offset).reshape(-1, 3)
    return gltf, positions


def box_bounds_ras(box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """RAS bounds of a (k, j, i) box's outer voxel edges on the test grid (LPS axes)."""
    k, j, i = box
    low_ijk = np.array([i.start, j.start, k.start]) - 0.5
    high_ijk = np.array([i.stop - 1, j.stop - 1, k.stop - 1]) + 0.5
    corners = np.array([low_ijk, high_ijk]) * SEG_SPACING + SEG_ORIGIN_LPS
    corners[:, :2] *= -1  # LPS → RAS
    return corners.min(axis=0), corners.max(axis=0)


async def test_segment_exports_as_gltf_with_the_segments_bounds_in_world_ras(abdomen, http_session):
    running, node_id = abdomen
    lift = np.eye(4)
    lift[2, 3] = 25.0
    running.bridge.scene.set_transform("Lift", lift)
    running.bridge.scene.set_parent_transform(node_id, "Lift")
    async with http_session.get(
        running.url("/slicer/segmentation"),
        params={"segmentationID": node_id, "segmentID": "Segment_2", "format": "glTF"},
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        document = await response.json()
    gltf, positions = gltf_positions(document, 0)
    assert gltf.asset.version == "2.0" and [node.name for node in gltf.nodes] == ["Tumor"]
    assert gltf.nodes[0].extras == {"segmentID": "Segment_2", "segmentationID": node_id}
    low, high = box_bounds_ras(seg_boxes()["Segment_2"])
    low[2], high[2] = low[2] + 25.0, high[2] + 25.0
    reach = np.array(SEG_SPACING) * SMOOTHING_LIMIT
    assert np.all(positions.min(axis=0) >= low - 1e-3)
    assert np.all(positions.max(axis=0) <= high + 1e-3)
    assert np.all(positions.min(axis=0) <= low + reach + 1e-3)
    assert np.all(positions.max(axis=0) >= high - reach - 1e-3)


async def test_segmentation_without_segment_id_exports_every_segment(abdomen, http_session):
    running, _ = abdomen
    document = await json_of(http_session, running.url("/slicer/segmentation"))
    gltf, _ = gltf_positions(document, 0)
    assert [node.name for node in gltf.nodes] == ["Liver", "Tumor", "Vessel"]
    materials = [gltf.materials[mesh.primitives[0].material] for mesh in gltf.meshes]
    colors = [material.pbrMetallicRoughness.baseColorFactor for material in materials]
    assert colors[1] == pytest.approx([0.564706, 0.933333, 0.564706, 1.0])


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ({"segmentID": "Segment_9"}, 404, "no segment 'Segment_9'"),
        ({"format": "STL"}, 400, "format STL not supported"),
        ({"segmentationID": "vtkMRMLSegmentationNode99"}, 404, "vtkMRMLSegmentationNode99"),
    ],
)
async def test_bad_segmentation_requests_say_what_is_wrong(
    abdomen, http_session, query, status, fragment
):
    running, _ = abdomen
    answer = await json_of(http_session, running.url("/slicer/segmentation"), status, **query)
    assert answer["success"] is False and fragment in answer["message"]
