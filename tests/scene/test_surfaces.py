"""Surfaces of binary labelmaps and segments as glTF: closed, outward-facing, in world RAS,
within the labelmap's outer voxel edges, and loadable by real glTF readers."""

from __future__ import annotations

import base64
import json

import numpy as np
import pygltflib
import pytest
import trimesh

from bridge.scene.surfaces import SMOOTHING_LIMIT, labelmap_surface, segments_gltf
from bridge.scene.types import NodeNotFound, Segment, SegmentationData

#: 2 × 3 × 4 mm voxels along R, A, S, first voxel centre at (10, 20, 30).
GRID = np.array(
    [[2.0, 0.0, 0.0, 10.0], [0.0, 3.0, 0.0, 20.0], [0.0, 0.0, 4.0, 30.0], [0.0, 0.0, 0.0, 1.0]]
)


def box_mask(shape=(8, 9, 10), k=(2, 5), j=(1, 7), i=(3, 9)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[k[0] : k[1], j[0] : j[1], i[0] : i[1]] = True
    return mask


def voxel_edge_bounds(mask: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RAS bounds of the outer voxel edges of an axis-aligned grid's True voxels."""
    k, j, i = np.nonzero(mask)
    low = np.array([i.min(), j.min(), k.min()]) - 0.5
    high = np.array([i.max(), j.max(), k.max()]) + 0.5
    corners = np.array([low, high]) @ grid[:3, :3].T + grid[:3, 3]
    return corners.min(axis=0), corners.max(axis=0)


def as_trimesh(mesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(mesh.positions, mesh.triangles, process=True)


def test_box_surface_is_closed_faces_out_and_stays_within_a_quarter_voxel_of_its_edges():
    mask = box_mask()
    mesh = labelmap_surface(mask, GRID)
    solid = as_trimesh(mesh)
    assert solid.is_watertight and solid.is_winding_consistent
    assert solid.volume > 0  # outward faces
    low, high = voxel_edge_bounds(mask, GRID)
    spacing = np.array([2.0, 3.0, 4.0])
    assert np.all(mesh.positions >= low - 1e-9) and np.all(mesh.positions <= high + 1e-9)
    assert np.all(mesh.positions.min(axis=0) <= low + SMOOTHING_LIMIT * spacing + 1e-9)
    assert np.all(mesh.positions.max(axis=0) >= high - SMOOTHING_LIMIT * spacing - 1e-9)
    outward = mesh.positions - mesh.positions.mean(axis=0)
    assert np.mean(np.sum(mesh.normals * outward, axis=1) > 0) > 0.95


def test_wide_faces_keep_their_exact_plane():
    mask = box_mask(shape=(3, 30, 30), k=(1, 2), j=(1, 29), i=(1, 29))
    mesh = labelmap_surface(mask, np.eye(4))
    low, high = voxel_edge_bounds(mask, np.eye(4))
    assert mesh.positions[:, 2].min() == pytest.approx(low[2])
    assert mesh.positions[:, 2].max() == pytest.approx(high[2])


def test_sphere_keeps_its_volume_and_radius():
    k, j, i = np.mgrid[:24, :24, :24]
    sphere = (i - 11.5) ** 2 + (j - 11.5) ** 2 + (k - 11.5) ** 2 <= 9.0**2
    mesh = labelmap_surface(sphere, np.eye(4))
    solid = as_trimesh(mesh)
    assert solid.is_watertight
    assert solid.volume == pytest.approx(sphere.sum(), rel=0.03)
    radii = np.linalg.norm(mesh.positions - 11.5, axis=1)
    assert radii.min() > 8.5 and radii.max() < 9.9


@pytest.mark.parametrize(
    "grid",
    [np.diag([-1.0, -1.0, 1.0, 1.0]), np.diag([-1.0, 2.0, 1.5, 1.0])],
    ids=["lps-like", "mirroring"],
)
def test_surfaces_face_out_whatever_the_grid_handedness(grid):
    solid = as_trimesh(labelmap_surface(box_mask(), grid))
    assert solid.is_watertight and solid.volume > 0


def test_an_empty_mask_has_an_empty_surface():
    mesh = labelmap_surface(np.zeros((3, 3, 3), dtype=bool), GRID)
    assert mesh.positions.shape == (0, 3) and mesh.triangles.shape == (0, 3)


def segmentation() -> SegmentationData:
    shape = (8, 9, 10)
    return SegmentationData(
        segments=(
            Segment(id="Segment_1", name="Liver", color=(0.8, 0.5, 0.4), mask=box_mask(shape)),
            Segment(
                id="Segment_2",
                name="Empty",
                color=(0.1, 0.2, 0.3),
                mask=np.zeros(shape, dtype=bool),
            ),
        ),
        ijk_to_ras=GRID,
        shape=shape,
        name="Abdomen",
    )


def load(document: dict) -> tuple[pygltflib.GLTF2, bytes]:
    gltf = pygltflib.GLTF2.from_json(json.dumps(document))
    uri = gltf.buffers[0].uri
    return gltf, base64.b64decode(uri.split(",", 1)[1])


def test_segment_gltf_loads_with_pygltflib_in_world_ras_with_the_right_bounds():
    world = np.eye(4)
    world[:3, 3] = (100.0, 0.0, -50.0)  # the segmentation's parent transform
    data = segmentation()
    document = segments_gltf(data, ["Segment_1"], world, node_id="vtkMRMLSegmentationNode1")
    gltf, blob = load(document)
    assert gltf.asset.version == "2.0" and len(gltf.nodes) == 1
    node = gltf.nodes[0]
    assert node.name == "Liver"
    assert node.extras == {"segmentID": "Segment_1", "segmentationID": "vtkMRMLSegmentationNode1"}
    primitive = gltf.meshes[node.mesh].primitives[0]
    material = gltf.materials[primitive.material]
    assert material.pbrMetallicRoughness.baseColorFactor == pytest.approx([0.8, 0.5, 0.4, 1.0])
    accessor = gltf.accessors[primitive.attributes.POSITION]
    view = gltf.bufferViews[accessor.bufferView]
    positions = np.frombuffer(
        blob, "<f4", accessor.count * 3, view.byteOffset + (accessor.byteOffset or 0)
    ).reshape(-1, 3)
    low, high = voxel_edge_bounds(data.segments[0].mask, world @ GRID)
    assert np.allclose(accessor.min, positions.min(axis=0)) and np.allclose(
        accessor.max, positions.max(axis=0)
    )
    spacing = np.array([2.0, 3.0, 4.0]) * SMOOTHING_LIMIT
    assert np.all(positions.min(axis=0) >= low - 1e-3)
    assert np.all(positions.min(axis=0) <= low + spacing + 1e-3)
    assert np.all(positions.max(axis=0) <= high + 1e-3)
    assert np.all(positions.max(axis=0) >= high - spacing - 1e-3)


def test_all_segments_by_default_empty_ones_left_out_and_unknown_ids_refused():
    gltf, _ = load(segments_gltf(segmentation(), None, np.eye(4)))
    assert [node.name for node in gltf.nodes] == ["Liver"]
    with pytest.raises(NodeNotFound, match="no segment 'Segment_9'.*Segment_1, Segment_2"):
        segments_gltf(segmentation(), ["Segment_9"], np.eye(4))


def test_trimesh_reads_the_segment_document_as_one_closed_mesh():
    document = segments_gltf(segmentation(), ["Segment_1"], np.eye(4))
    scene = trimesh.load(
        trimesh.util.wrap_as_stream(json.dumps(document).encode()), file_type="gltf"
    )
    (mesh,) = scene.geometry.values()
    assert mesh.is_watertight
