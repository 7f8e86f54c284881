"""`/slicer/threeDGraphics`'s glTF: loaded back by independent glTF readers (trimesh for the
geometry with its node transforms, pygltflib for the document structure), never by this
project's own code."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pygltflib
import pytest
import trimesh

from bridge.scene.headless import HeadlessScene
from bridge.scene.samples import shepp_logan_phantom
from bridge.scene.views import volume_corners


def load(document: dict[str, Any]) -> trimesh.Scene:
    """The document through JSON text and trimesh's glTF reader, vertices kept unmerged."""
    text = json.dumps(document)  # must be plain JSON: no numpy values inside
    return trimesh.load(io.BytesIO(text.encode()), file_type="gltf", process=False)


def world_geometry(scene: trimesh.Scene, name: str) -> trimesh.Trimesh:
    """A geometry with its node's transform applied, as a viewer would place it."""
    node = next(n for n in scene.graph.nodes_geometry if scene.graph[n][1] == name)
    transform, geometry_name = scene.graph[node]
    mesh = scene.geometry[geometry_name].copy()
    mesh.apply_transform(transform)
    return mesh


def winding_agrees(mesh: trimesh.Trimesh) -> np.ndarray:
    """Per triangle, cos between its winding's normal and its first vertex's normal."""
    return np.einsum("ij,ij->i", mesh.face_normals, mesh.vertex_normals[mesh.faces[:, 0]])


def structure(document: dict[str, Any]) -> pygltflib.GLTF2:
    return pygltflib.GLTF2.from_json(json.dumps(document))


def accessor_array(document: dict[str, Any], index: int) -> np.ndarray:
    """Decode one accessor by the glTF spec from the document's data URI."""
    gltf = structure(document)
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    uri = gltf.buffers[view.buffer].uri
    data = base64.b64decode(uri.split(",", 1)[1])
    dtype = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}[accessor.componentType]
    width = {"SCALAR": 1, "VEC3": 3}[accessor.type]
    start = view.byteOffset + (accessor.byteOffset or 0)
    flat = np.frombuffer(data, dtype=dtype, count=accessor.count * width, offset=start)
    return flat.reshape(accessor.count, width)


@pytest.fixture
def scene() -> HeadlessScene:
    return HeadlessScene()


#: The tracking device: a vtkCubeSource 30 × 70 × 5 mm centred on the tracker's origin.
HALF = np.array([15.0, 35.0, 2.5])
CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * HALF


def test_empty_scene_is_a_valid_empty_gltf(scene: HeadlessScene) -> None:
    document = scene.gltf()
    assert document["asset"]["version"] == "2.0"
    gltf = structure(document)
    assert gltf.scene == 0 and len(gltf.scenes) == 1 and not gltf.meshes
    loaded = load(document)
    assert len(loaded.geometry) == 0


def test_tracking_cube_loads_with_its_world_pose(scene: HeadlessScene) -> None:
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90° about S
    position = np.array([10.0, -20.0, 35.0])
    scene.set_tracking_pose(rotation=rotation, position=position)
    document = scene.gltf()

    cube = world_geometry(load(document), "trackingDevice")
    # flat faces as vtkCubeSource: 4 vertices per face, 2 triangles per face
    assert len(cube.vertices) == 24 and len(cube.faces) == 12
    expected = CORNERS @ rotation.T + position
    found = {tuple(np.round(vertex, 4)) for vertex in cube.vertices}
    assert found == {tuple(np.round(corner, 4)) for corner in expected}
    np.testing.assert_allclose(cube.bounds, [expected.min(axis=0), expected.max(axis=0)], atol=1e-4)
    # normals are unit, face outwards, and agree with the winding of their triangles
    normals = cube.vertex_normals
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    outward = ((cube.vertices - position) * normals).sum(axis=1)
    assert (outward > 0).all()
    assert (winding_agrees(cube) > 0.99).all()
    merged = trimesh.Trimesh(cube.vertices, cube.faces)  # welded: a closed box
    assert merged.is_watertight and merged.volume == pytest.approx(30 * 70 * 5)

    gltf = structure(document)
    (material,) = gltf.materials
    assert material.pbrMetallicRoughness.baseColorFactor == [1.0, 1.0, 0.0, 1.0]
    node = gltf.nodes[0]
    assert node.name == "trackingDevice" and node.extras["id"] == scene.find("trackingDevice").id


def test_exported_positions_follow_every_parent_transform(scene: HeadlessScene) -> None:
    scene.set_tracking_pose(position=np.array([0.0, 0.0, 10.0]))
    outer = np.eye(4)
    outer[:3, 3] = (100.0, 0.0, 0.0)
    scene.set_transform("Outer", outer)
    scene.set_parent_transform("tracker", "Outer")
    cube = world_geometry(load(scene.gltf()), "trackingDevice")
    np.testing.assert_allclose(cube.bounds.mean(axis=0), [100.0, 0.0, 10.0], atol=1e-5)


def test_mirroring_transform_keeps_faces_outward(scene: HeadlessScene) -> None:
    scene.set_tracking_pose(rotation=np.diag([-1.0, 1.0, 1.0]), position=np.array([5.0, 0, 0]))
    cube = world_geometry(load(scene.gltf()), "trackingDevice")
    outward = ((cube.vertices - [5.0, 0, 0]) * cube.vertex_normals).sum(axis=1)
    assert (outward > 0).all()
    assert (winding_agrees(cube) > 0.99).all()


def test_markups_points_are_small_spheres_at_their_positions(scene: HeadlessScene) -> None:
    points = np.array([[0.0, 0.0, 0.0], [25.0, -10.0, 40.0], [-30.0, 5.0, 5.0]])
    scene.set_markups_points("F", points)
    document = scene.gltf()
    spheres = world_geometry(load(document), "F")
    assert len(spheres.vertices) == 3 * 42 and len(spheres.faces) == 3 * 80
    for index, point in enumerate(points):
        sphere = spheres.vertices[index * 42 : (index + 1) * 42]
        np.testing.assert_allclose(sphere.mean(axis=0), point, atol=1e-4)
        radii = np.linalg.norm(sphere - point, axis=1)
        np.testing.assert_allclose(radii, radii[0], rtol=1e-5)
        assert 1.0 < radii[0] < 10.0  # a glyph, a few millimetres across
    (material,) = structure(document).materials
    assert material.pbrMetallicRoughness.baseColorFactor == [1.0, 0.5, 0.5, 1.0]


def test_markups_under_a_transform_are_exported_in_world_coordinates(scene: HeadlessScene) -> None:
    scene.set_markups_points("F", np.array([[1.0, 2.0, 3.0]]))
    shift = np.eye(4)
    shift[:3, 3] = (0.0, 50.0, 0.0)
    scene.set_transform("Shift", shift)
    scene.set_parent_transform("F", "Shift")
    sphere = world_geometry(load(scene.gltf()), "F")
    np.testing.assert_allclose(sphere.vertices.mean(axis=0), [1.0, 52.0, 3.0], atol=1e-4)


def test_hidden_nodes_and_points_are_left_out(scene: HeadlessScene) -> None:
    scene.set_tracking_pose()
    scene.set_markups_points("F", np.zeros((2, 3)))
    scene._find("trackingDevice").visible = False  # no protocol setter for visibility yet
    assert [mesh["name"] for mesh in scene.gltf()["meshes"]] == ["F"]


def test_box_visible_adds_the_volume_bounding_box_as_lines(scene: HeadlessScene) -> None:
    scene.add_volume_data(shepp_logan_phantom(16, spacing=3.0))
    scene.set_tracking_pose()
    without = scene.gltf()
    assert [mesh["name"] for mesh in without["meshes"]] == ["trackingDevice"]
    document = scene.gltf(box_visible=True)
    (box,) = (mesh for mesh in document["meshes"] if mesh["name"] == "Box")
    (primitive,) = box["primitives"]
    assert primitive["mode"] == 1  # LINES
    positions = accessor_array(document, primitive["attributes"]["POSITION"])
    edges = accessor_array(document, primitive["indices"]).reshape(-1, 2)
    volume = scene.volume("Phantom")
    corners = volume_corners(volume.ijk_to_ras, volume.array.shape)
    np.testing.assert_allclose(positions.min(axis=0), corners.min(axis=0), atol=1e-4)
    np.testing.assert_allclose(positions.max(axis=0), corners.max(axis=0), atol=1e-4)
    assert len(positions) == 8 and len(edges) == 12
    lengths = np.linalg.norm(positions[edges[:, 0]] - positions[edges[:, 1]], axis=1)
    assert sorted(np.round(lengths, 3)) == [48.0] * 12  # 16 voxels × 3 mm each way


def test_document_follows_the_gltf_layout_rules(scene: HeadlessScene) -> None:
    scene.set_tracking_pose()
    scene.set_markups_points("F", np.array([[1.0, 1.0, 1.0]]))
    document = scene.gltf()
    gltf = structure(document)
    (buffer,) = gltf.buffers
    assert buffer.uri.startswith("data:application/octet-stream;base64,")
    assert len(base64.b64decode(buffer.uri.split(",", 1)[1])) == buffer.byteLength
    for view in gltf.bufferViews:
        assert view.byteOffset % 4 == 0
        assert view.byteOffset + view.byteLength <= buffer.byteLength
    for mesh in gltf.meshes:
        (primitive,) = mesh.primitives
        position = gltf.accessors[primitive.attributes.POSITION]
        assert position.min is not None and position.max is not None
        normals = accessor_array(document, primitive.attributes.NORMAL)
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
        indices = accessor_array(document, primitive.indices)
        assert indices.max() < position.count
    assert gltf.scenes[0].nodes == list(range(len(gltf.nodes)))
