"""The Scene contract: behaviour every Scene implementation shows, through the protocol only.

Runs against each implementation `conftest.SCENE_FACTORIES` lists (the headless scene in CI,
the MRML scene inside Slicer), so nothing here relies on id counters starting at 1 or on the
scene holding no MRML helper nodes.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from slicer_files import (
    GRID_SHAPE,
    IJK_TO_RAS,
    SEG_SEGMENTS,
    displacements_ras,
    seg_masks,
    write_displacement_field,
    write_seg_nrrd,
)

from bridge.scene.protocol import Scene
from bridge.scene.types import (
    GridTransformData,
    ModelData,
    NodeNotFound,
    NodeSource,
    NonLinearTransformError,
    SceneError,
    SceneEvent,
)

#: Hypothesis and the function-scoped `scene` fixture: each example clears the scene first.
scene_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

finite = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False, allow_infinity=False)


@st.composite
def affine_matrices(draw: st.DrawFn) -> np.ndarray:
    """A 4×4 affine matrix (last row 0 0 0 1) with bounded entries."""
    top = draw(arrays(np.float64, (3, 4), elements=st.floats(-3.0, 3.0)))
    return np.vstack([top, [0.0, 0.0, 0.0, 1.0]])


def translation(x: float, y: float, z: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = (x, y, z)
    return matrix


def id_number(node_id: str, class_name: str) -> int:
    match = re.fullmatch(rf"{class_name}(\d+)", node_id)
    assert match, f"{node_id!r} is not an MRML id of {class_name}"
    return int(match.group(1))


def grid_data(scale: float = 1.0) -> GridTransformData:
    return GridTransformData(displacements_ras() * scale, IJK_TO_RAS)


def square(color: tuple[float, float, float] = (0.5, 0.5, 1.0)) -> ModelData:
    """A 10 mm square in the z = 0 plane: 4 vertices, 2 triangles."""
    vertices = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0]])
    return ModelData(vertices=vertices, triangles=np.array([[0, 1, 2], [0, 2, 3]]), color=color)


def event_summary(events: list[SceneEvent]) -> list[tuple[str, str | None, str]]:
    return [(e.kind, None if e.node is None else e.node.id, e.aspect) for e in events]


# -- node ids and classes ------------------------------------------------------------------------
def test_new_nodes_get_mrml_ids_numbered_per_class(scene: Scene, voxels, ijk_to_ras) -> None:
    first = scene.set_transform("First", np.eye(4))
    second = scene.set_transform("Second", np.eye(4))
    volume = scene.set_volume("Volume", voxels, ijk_to_ras)
    cls = "vtkMRMLLinearTransformNode"
    assert id_number(second.id, cls) == id_number(first.id, cls) + 1
    assert first.class_name == cls
    id_number(volume.id, "vtkMRMLScalarVolumeNode")
    assert volume.class_name == "vtkMRMLScalarVolumeNode"


def test_ids_are_not_reused_after_removal_or_clear(scene: Scene) -> None:
    cls = "vtkMRMLLinearTransformNode"
    removed = scene.set_transform("T", np.eye(4))
    scene.remove([removed.id])
    after_remove = scene.set_transform("T", np.eye(4))
    scene.clear()
    after_clear = scene.set_transform("T", np.eye(4))
    numbers = [id_number(info.id, cls) for info in (removed, after_remove, after_clear)]
    assert numbers == sorted(set(numbers))


def test_singleton_views_camera_and_layout_exist_with_mrml_ids(scene: Scene) -> None:
    expected = {
        "vtkMRMLSliceNodeRed": ("Red", "vtkMRMLSliceNode"),
        "vtkMRMLSliceNodeYellow": ("Yellow", "vtkMRMLSliceNode"),
        "vtkMRMLSliceNodeGreen": ("Green", "vtkMRMLSliceNode"),
        "vtkMRMLViewNode1": ("View1", "vtkMRMLViewNode"),
        "vtkMRMLLayoutNodevtkMRMLLayoutNode": ("Layout", "vtkMRMLLayoutNode"),
    }
    for node_id, (name, class_name) in expected.items():
        info = scene.find(node_id)
        assert (info.id, info.name, info.class_name) == (node_id, name, class_name)
    assert scene.nodes(class_name="vtkMRMLCameraNode")


def _make_kinds(
    scene: Scene, voxels: np.ndarray, ijk_to_ras: np.ndarray, folder: Path
) -> dict[str, str]:
    (segmentation,) = scene.load_file(write_seg_nrrd(folder / "kinds.seg.nrrd"))
    return {
        "scalar": scene.set_volume("Scalar", voxels, ijk_to_ras).id,
        "labelmap": scene.set_volume("Label", voxels, ijk_to_ras, labelmap=True).id,
        "transform": scene.set_transform("T", np.eye(4)).id,
        "grid": scene.set_grid_transform("G", grid_data()).id,
        "segmentation": segmentation,
        "fiducials": scene.set_markups_points("F", np.zeros((1, 3))).id,
        "model": (scene.set_tracking_pose(), scene.find("trackingDevice").id)[1],
        "surface": scene.set_model("Surface", square()).id,
        "text": scene.set_text("Note", "hello").id,
        "slice": "vtkMRMLSliceNodeRed",
        "view": "vtkMRMLViewNode1",
        "layout": "vtkMRMLLayoutNodevtkMRMLLayoutNode",
    }


_DATA_KINDS = {
    "scalar", "labelmap", "transform", "grid", "fiducials", "model", "surface", "segmentation",
}  # fmt: skip

CLASS_MEMBERSHIP: list[tuple[str, set[str]]] = [
    ("vtkMRMLNode", _DATA_KINDS | {"text", "slice", "view", "layout"}),
    ("vtkMRMLStorableNode", _DATA_KINDS | {"text"}),
    ("vtkMRMLTransformableNode", _DATA_KINDS),
    ("vtkMRMLDisplayableNode", _DATA_KINDS),
    ("vtkMRMLVolumeNode", {"scalar", "labelmap"}),
    ("vtkMRMLScalarVolumeNode", {"scalar", "labelmap"}),
    ("vtkMRMLLabelMapVolumeNode", {"labelmap"}),
    ("vtkMRMLTransformNode", {"transform", "grid"}),
    ("vtkMRMLLinearTransformNode", {"transform"}),
    ("vtkMRMLGridTransformNode", {"grid"}),
    ("vtkMRMLSegmentationNode", {"segmentation"}),
    ("vtkMRMLMarkupsNode", {"fiducials"}),
    ("vtkMRMLMarkupsFiducialNode", {"fiducials"}),
    ("vtkMRMLModelNode", {"model", "surface"}),
    ("vtkMRMLTextNode", {"text"}),
    ("vtkMRMLAbstractViewNode", {"slice", "view"}),
    ("vtkMRMLSliceNode", {"slice"}),
    ("vtkMRMLViewNode", {"view"}),
    ("vtkMRMLAbstractLayoutNode", {"layout"}),
    ("vtkMRMLLayoutNode", {"layout"}),
]


@pytest.mark.parametrize(("class_name", "members"), CLASS_MEMBERSHIP)
def test_class_filter_follows_mrml_inheritance(
    scene: Scene, voxels, ijk_to_ras, tmp_path: Path, class_name: str, members: set[str]
) -> None:
    kinds = _make_kinds(scene, voxels, ijk_to_ras, tmp_path)
    matched = {node.id for node in scene.nodes(class_name=class_name)}
    assert {kind for kind, node_id in kinds.items() if node_id in matched} >= members
    assert not {kind for kind in set(kinds) - members if kinds[kind] in matched}


def test_vtkmrmlnode_filter_and_no_filter_list_every_node(scene: Scene) -> None:
    scene.set_transform("T", np.eye(4))
    assert scene.nodes(class_name="vtkMRMLNode") == scene.nodes()


def test_unknown_class_name_matches_nothing(scene: Scene) -> None:
    scene.set_transform("T", np.eye(4))
    assert scene.nodes(class_name="vtkMRMLNoSuchNode") == []


def test_filters_combine_and_keep_creation_order(scene: Scene) -> None:
    a = scene.set_transform("A", np.eye(4))
    scene.set_markups_points("A", np.zeros((0, 3)))
    b = scene.set_transform("B", np.eye(4))
    assert scene.nodes(class_name="vtkMRMLTransformNode") == [a, b]
    assert scene.nodes(class_name="vtkMRMLTransformNode", name="A") == [a]
    assert scene.nodes(id=b.id, name="A") == []


# -- find ----------------------------------------------------------------------------------------
def test_find_prefers_id_then_exact_name_then_pattern(scene: Scene) -> None:
    target = scene.set_transform("Target", np.eye(4))
    impostor = scene.set_transform("Impostor", np.eye(4))
    scene.rename(impostor.id, target.id)  # a name equal to another node's id
    assert scene.find(target.id).id == target.id
    starred = scene.set_transform("Tar*", np.eye(4))
    assert scene.find("Tar*").id == starred.id  # exact name beats the pattern
    assert scene.find("Targ?t").id == target.id
    assert scene.find("vtkMRMLLinearTransformNode*").id == target.id


def test_find_by_name_returns_the_first_created(scene: Scene) -> None:
    first = scene.set_transform("Twin", np.eye(4))
    second = scene.set_transform("Other", np.eye(4))
    scene.rename(second.id, "Twin")
    assert scene.find("Twin") == scene.find(first.id)
    assert [n.id for n in scene.nodes(name="Twin")] == [first.id, second.id]


def test_find_with_class_skips_other_kinds(scene: Scene, voxels, ijk_to_ras) -> None:
    scene.set_markups_points("Shared", np.zeros((1, 3)))
    volume = scene.set_volume("Shared", voxels, ijk_to_ras)
    assert scene.find("Shared", "vtkMRMLVolumeNode") == volume
    assert scene.find("Shared").class_name == "vtkMRMLMarkupsFiducialNode"


def test_find_unknown_reference_raises_node_not_found_naming_it(scene: Scene) -> None:
    with pytest.raises(NodeNotFound, match="NoSuchNode") as caught:
        scene.find("NoSuchNode")
    assert isinstance(caught.value, SceneError)
    assert isinstance(caught.value, LookupError)
    scene.set_transform("T", np.eye(4))
    with pytest.raises(NodeNotFound):
        scene.find("T", "vtkMRMLVolumeNode")


def test_rename_changes_the_name_only(scene: Scene) -> None:
    info = scene.set_transform("Old", np.eye(4))
    renamed = scene.rename("Old", "New")
    assert (renamed.id, renamed.name) == (info.id, "New")
    with pytest.raises(NodeNotFound):
        scene.find("Old")


# -- transforms ----------------------------------------------------------------------------------
def test_set_transform_creates_a_linear_transform_named_ref(scene: Scene) -> None:
    info = scene.set_transform("Needle", translation(1, 2, 3))
    assert (info.name, info.class_name) == ("Needle", "vtkMRMLLinearTransformNode")
    np.testing.assert_array_equal(scene.transform_matrix("Needle"), translation(1, 2, 3))


def test_set_transform_updates_the_existing_node(scene: Scene) -> None:
    info = scene.set_transform("Needle", np.eye(4))
    again = scene.set_transform("Needle", translation(5, 0, 0))
    assert again == info
    assert len(scene.nodes(name="Needle")) == 1
    np.testing.assert_array_equal(scene.transform_matrix(info.id), translation(5, 0, 0))


def test_set_transform_without_create_refuses_unknown_nodes(scene: Scene) -> None:
    with pytest.raises(NodeNotFound):
        scene.set_transform("Ghost", np.eye(4), create=False)
    assert scene.nodes(name="Ghost") == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 3)), np.full((4, 4), np.nan), np.ones((4, 4)), [[1, 2], [3, 4]], "text"],
    ids=["3x3", "nan", "bad-last-row", "2x2", "text"],
)
def test_set_transform_refuses_invalid_matrices(scene: Scene, bad) -> None:
    with pytest.raises(SceneError):
        scene.set_transform("T", bad)
    assert scene.nodes(name="T") == []


def test_set_transform_accepts_16_numbers_row_major(scene: Scene) -> None:
    scene.set_transform("T", translation(1, 2, 3).ravel().tolist())
    np.testing.assert_array_equal(scene.transform_matrix("T"), translation(1, 2, 3))


def test_returned_matrices_are_copies(scene: Scene) -> None:
    scene.set_transform("T", np.eye(4))
    matrix = scene.transform_matrix("T")
    matrix[0, 3] = 99.0
    assert scene.transform_matrix("T")[0, 3] == 0.0


@scene_settings
@given(matrix=affine_matrices())
def test_transform_matrix_round_trips(scene: Scene, matrix: np.ndarray) -> None:
    scene.set_transform("T", matrix)
    np.testing.assert_array_equal(scene.transform_matrix("T"), matrix)


@scene_settings
@given(chain=st.lists(affine_matrices(), min_size=1, max_size=5))
def test_world_matrix_is_the_product_of_the_parent_chain(
    scene: Scene, chain: list[np.ndarray]
) -> None:
    scene.clear()
    ids: list[str] = []
    for depth, matrix in enumerate(chain):  # chain[0] is the root
        ids.append(scene.set_transform(f"Level{depth}", matrix).id)
        if depth:
            scene.set_parent_transform(ids[depth], ids[depth - 1])
    expected = np.eye(4)
    for matrix in chain:
        expected = expected @ matrix
    np.testing.assert_allclose(scene.world_matrix(ids[-1]), expected, rtol=1e-9, atol=1e-9)


def test_world_matrix_of_a_non_transform_node_excludes_nothing_of_its_own(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    volume = scene.set_volume("V", voxels, ijk_to_ras)
    np.testing.assert_array_equal(scene.world_matrix(volume.id), np.eye(4))
    scene.set_transform("Outer", translation(0, 0, 7))
    scene.set_transform("Inner", np.diag([2.0, 2.0, 2.0, 1.0]))
    scene.set_parent_transform("Inner", "Outer")
    scene.set_parent_transform(volume.id, "Inner")
    np.testing.assert_allclose(
        scene.world_matrix(volume.id), translation(0, 0, 7) @ np.diag([2.0, 2.0, 2.0, 1.0])
    )


def test_parent_transform_reports_and_clears_the_parent(scene: Scene) -> None:
    parent = scene.set_transform("Parent", np.eye(4))
    child = scene.set_transform("Child", np.eye(4))
    assert scene.parent_transform(child.id) is None
    scene.set_parent_transform(child.id, parent.id)
    assert scene.parent_transform(child.id) == parent
    scene.set_parent_transform(child.id, None)
    assert scene.parent_transform(child.id) is None


def test_set_parent_transform_refuses_cycles(scene: Scene) -> None:
    a = scene.set_transform("A", np.eye(4))
    b = scene.set_transform("B", np.eye(4))
    c = scene.set_transform("C", np.eye(4))
    scene.set_parent_transform(b.id, a.id)
    scene.set_parent_transform(c.id, b.id)
    with pytest.raises(SceneError, match="cycle"):
        scene.set_parent_transform(a.id, c.id)
    with pytest.raises(SceneError, match="cycle"):
        scene.set_parent_transform(a.id, a.id)
    assert scene.parent_transform(a.id) is None


def test_only_transformable_nodes_go_under_transforms(scene: Scene) -> None:
    scene.set_transform("T", np.eye(4))
    with pytest.raises(SceneError):
        scene.set_parent_transform("vtkMRMLSliceNodeRed", "T")
    with pytest.raises(SceneError):
        scene.set_parent_transform("T", "vtkMRMLSliceNodeRed")


# -- tracking ------------------------------------------------------------------------------------
def test_first_tracking_pose_creates_tracker_and_device_under_it(scene: Scene) -> None:
    tracker = scene.set_tracking_pose(position=np.array([1.0, 2.0, 3.0]))
    assert (tracker.name, tracker.class_name) == ("tracker", "vtkMRMLLinearTransformNode")
    device = scene.find("trackingDevice")
    assert device.class_name == "vtkMRMLModelNode"
    assert scene.parent_transform(device.id) == tracker
    np.testing.assert_array_equal(scene.transform_matrix("tracker"), translation(1, 2, 3))


def test_tracking_device_is_a_yellow_30_by_70_by_5_cube(scene: Scene) -> None:
    scene.set_tracking_pose()
    mesh = scene.model("trackingDevice")
    assert mesh.vertices.shape == (8, 3)
    assert mesh.triangles.shape == (12, 3)
    np.testing.assert_allclose(mesh.vertices.min(axis=0), [-15.0, -35.0, -2.5])
    np.testing.assert_allclose(mesh.vertices.max(axis=0), [15.0, 35.0, 2.5])
    assert tuple(mesh.color) == (1.0, 1.0, 0.0)


def test_tracking_pose_parts_are_overwritten_independently(scene: Scene) -> None:
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    scene.set_tracking_pose(rotation=rotation, position=np.array([1.0, 2.0, 3.0]))
    scene.set_tracking_pose(position=np.array([4.0, 5.0, 6.0]))
    matrix = scene.transform_matrix("tracker")
    np.testing.assert_array_equal(matrix[:3, :3], rotation)
    np.testing.assert_array_equal(matrix[:3, 3], [4.0, 5.0, 6.0])
    scene.set_tracking_pose(rotation=np.eye(3))
    matrix = scene.transform_matrix("tracker")
    np.testing.assert_array_equal(matrix[:3, :3], np.eye(3))
    np.testing.assert_array_equal(matrix[:3, 3], [4.0, 5.0, 6.0])


def test_tracking_nodes_are_created_once(scene: Scene) -> None:
    for step in range(3):
        scene.set_tracking_pose(position=np.array([step, 0.0, 0.0]))
    assert len(scene.nodes(name="tracker")) == 1
    assert len(scene.nodes(name="trackingDevice")) == 1


def test_tracking_nodes_are_recreated_after_clear(scene: Scene) -> None:
    before = scene.set_tracking_pose(position=np.array([1.0, 0.0, 0.0]))
    scene.clear()
    after = scene.set_tracking_pose(position=np.array([2.0, 0.0, 0.0]))
    assert after.id != before.id
    assert scene.parent_transform("trackingDevice") == after
    np.testing.assert_array_equal(scene.transform_matrix("tracker"), translation(2, 0, 0))


def test_removed_tracker_is_recreated_with_the_device_under_it(scene: Scene) -> None:
    scene.set_tracking_pose()
    scene.remove(["tracker"])
    tracker = scene.set_tracking_pose()
    assert len(scene.nodes(name="trackingDevice")) == 1
    assert scene.parent_transform("trackingDevice") == tracker


def test_tracking_pose_refuses_bad_parts(scene: Scene) -> None:
    with pytest.raises(SceneError):
        scene.set_tracking_pose(rotation=np.eye(4))
    with pytest.raises(SceneError):
        scene.set_tracking_pose(position=np.array([1.0, np.inf, 0.0]))


# -- grid transforms -----------------------------------------------------------------------------
def test_set_grid_transform_creates_a_grid_transform_holding_a_copy(scene: Scene) -> None:
    field = displacements_ras()
    info = scene.set_grid_transform("Warp", GridTransformData(field, IJK_TO_RAS))
    assert (info.name, info.class_name) == ("Warp", "vtkMRMLGridTransformNode")
    assert info in scene.nodes(class_name="vtkMRMLTransformNode")
    field[...] = 0.0  # the caller's buffer is not the scene's
    data = scene.grid_transform("Warp")
    np.testing.assert_array_equal(data.displacements, displacements_ras())
    np.testing.assert_allclose(data.ijk_to_ras, IJK_TO_RAS)
    assert data.displacements.shape == (*GRID_SHAPE, 3)


def test_set_grid_transform_replaces_the_field_of_the_same_node(scene: Scene, events) -> None:
    info = scene.set_grid_transform("Warp", grid_data())
    events.clear()
    again = scene.set_grid_transform(info.id, grid_data(scale=2.0))
    assert again == info and len(scene.nodes(name="Warp")) == 1
    np.testing.assert_array_equal(
        scene.grid_transform("Warp").displacements, 2 * displacements_ras()
    )
    assert event_summary(events) == [("modified", info.id, "transform")]
    with pytest.raises(NodeNotFound):
        scene.set_grid_transform("Ghost", grid_data(), create=False)


def test_linear_and_grid_transforms_do_not_overwrite_each_other(scene: Scene) -> None:
    scene.set_transform("Linear", np.eye(4))
    scene.set_grid_transform("Grid", grid_data())
    with pytest.raises(SceneError, match="linear"):
        scene.set_transform("Grid", np.eye(4))
    with pytest.raises(SceneError, match="grid"):
        scene.set_grid_transform("Linear", grid_data())
    with pytest.raises(NodeNotFound):
        scene.grid_transform("Linear")


@pytest.mark.parametrize(
    "field",
    [np.zeros((2, 2, 2)), np.zeros((2, 2, 2, 2)), np.full((1, 1, 1, 3), np.inf), "text"],
    ids=["3-d", "2-vectors", "infinite", "text"],
)
def test_set_grid_transform_refuses_bad_fields(scene: Scene, field) -> None:
    with pytest.raises(SceneError):
        scene.set_grid_transform("Warp", GridTransformData(field, np.eye(4)))
    assert scene.nodes(name="Warp") == []


def test_nothing_under_a_grid_transform_has_a_world_matrix(scene: Scene, voxels, ijk_to_ras):
    """A displacement field has no matrix: asking for one through it fails, naming the grid
    transform, rather than answering a matrix that leaves the displacement out."""
    grid = scene.set_grid_transform("Warp", grid_data())
    inner = scene.set_transform("Inner", translation(1, 0, 0))
    volume = scene.set_volume("V", voxels, ijk_to_ras)
    scene.set_parent_transform(inner.id, grid.id)
    scene.set_parent_transform(volume.id, inner.id)
    for ref in (grid.id, inner.id, volume.id):
        with pytest.raises(NonLinearTransformError, match=grid.id):
            scene.world_matrix(ref)
    with pytest.raises(NonLinearTransformError):
        scene.transform_matrix(grid.id)
    np.testing.assert_array_equal(scene.transform_matrix(inner.id), translation(1, 0, 0))
    scene.set_transform("Outer", translation(0, 5, 0))
    scene.set_parent_transform(grid.id, "Outer")  # a grid under a linear transform is fine
    assert scene.parent_transform(grid.id).name == "Outer"
    scene.remove([grid.id])  # its children move up to its parent
    np.testing.assert_allclose(
        scene.world_matrix(volume.id), translation(0, 5, 0) @ translation(1, 0, 0)
    )


def test_grid_transform_properties_describe_the_displacement_grid(scene: Scene) -> None:
    scene.set_grid_transform("Warp", grid_data())
    props = scene.node_properties("Warp")
    assert props["ClassName"] == "vtkMRMLGridTransformNode"
    grid = props["TransformFromParent"]["DisplacementGrid"]
    assert grid["Dimensions"] == [GRID_SHAPE[2], GRID_SHAPE[1], GRID_SHAPE[0]]
    assert grid["NumberOfScalarComponents"] == 3
    assert grid["Spacing"] == pytest.approx([0.8, 1.25, 2.5])
    assert "MatrixTransformToParent" not in props


# -- volumes -------------------------------------------------------------------------------------
def test_set_volume_creates_a_scalar_volume_holding_a_copy(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    info = scene.set_volume("CT", voxels, ijk_to_ras)
    voxels[0, 0, 0] = 1000  # the caller reusing its buffer must not change the scene
    data = scene.volume("CT")
    assert (info.name, info.class_name) == ("CT", "vtkMRMLScalarVolumeNode")
    assert data.array.dtype == np.int16
    assert data.array[0, 0, 0] == 0
    np.testing.assert_array_equal(data.array[1:], np.arange(6, 24).reshape(3, 3, 2))
    np.testing.assert_array_equal(data.ijk_to_ras, ijk_to_ras)
    assert data.labelmap is False


def test_set_volume_with_labelmap_creates_a_labelmap(scene: Scene, voxels, ijk_to_ras) -> None:
    info = scene.set_volume("Seg", voxels, ijk_to_ras, labelmap=True)
    assert info.class_name == "vtkMRMLLabelMapVolumeNode"
    assert scene.volume(info.id).labelmap is True


def test_set_volume_replaces_voxels_and_geometry_of_the_same_node(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    info = scene.set_volume("CT", voxels, ijk_to_ras)
    bigger = np.ones((5, 6, 7), dtype=np.float32)
    again = scene.set_volume("CT", bigger, np.eye(4))
    assert again == info
    data = scene.volume("CT")
    assert data.array.shape == (5, 6, 7)
    assert data.array.dtype == np.float32
    np.testing.assert_array_equal(data.ijk_to_ras, np.eye(4))


def test_set_volume_without_create_refuses_unknown_nodes(scene: Scene, voxels, ijk_to_ras):
    with pytest.raises(NodeNotFound):
        scene.set_volume("Ghost", voxels, ijk_to_ras, create=False)


@pytest.mark.parametrize(
    ("array", "matrix"),
    [
        (np.zeros((3, 3)), np.eye(4)),
        (np.zeros((2, 2, 2, 2)), np.eye(4)),
        (np.zeros((0, 2, 2)), np.eye(4)),
        (np.array([[["a"]]]), np.eye(4)),
        (np.zeros((2, 2, 2)), np.diag([1.0, 0.0, 1.0, 1.0])),
        (np.zeros((2, 2, 2)), np.eye(3)),
        (np.zeros((2, 2, 2)), np.full((4, 4), np.nan)),
    ],
    ids=["2d", "4d", "empty", "strings", "singular", "3x3", "nan"],
)
def test_set_volume_refuses_bad_arrays_and_geometry(scene: Scene, array, matrix) -> None:
    with pytest.raises(SceneError):
        scene.set_volume("Bad", array, matrix)
    assert scene.nodes(name="Bad") == []


def test_first_volume_becomes_active_and_shows_in_every_slice_view(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    assert scene.active_volume() is None
    first = scene.set_volume("First", voxels, ijk_to_ras)
    scene.set_volume("Second", voxels, ijk_to_ras)
    assert scene.active_volume() == first
    for view in ("red", "yellow", "green"):
        assert scene.slice_view(view).background_volume_id == first.id


def test_select_volume_steps_through_volumes_and_labelmaps_wrapping(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    ids = [
        scene.set_volume("A", voxels, ijk_to_ras).id,
        scene.set_volume("B", voxels, ijk_to_ras, labelmap=True).id,
        scene.set_volume("C", voxels, ijk_to_ras).id,
    ]
    forward = [scene.select_volume(step=1).id for _ in range(4)]
    assert forward == [ids[1], ids[2], ids[0], ids[1]]
    backward = [scene.select_volume(step=-1).id for _ in range(2)]
    assert backward == [ids[0], ids[2]]
    assert scene.active_volume().id == ids[2]
    assert scene.slice_view("green").background_volume_id == ids[2]


def test_select_volume_by_reference(scene: Scene, voxels, ijk_to_ras) -> None:
    scene.set_volume("A", voxels, ijk_to_ras)
    b = scene.set_volume("B", voxels, ijk_to_ras)
    assert scene.select_volume("B") == b
    assert scene.active_volume() == b
    assert scene.slice_view("red").background_volume_id == b.id
    with pytest.raises(NodeNotFound):
        scene.select_volume("NoSuchVolume")


def test_select_volume_without_volumes_is_an_error(scene: Scene) -> None:
    with pytest.raises(SceneError):
        scene.select_volume(step=1)


def test_add_volume_data_always_adds_a_new_node(scene: Scene, voxels, ijk_to_ras) -> None:
    from bridge.scene.types import VolumeData

    data = VolumeData(array=voxels, ijk_to_ras=ijk_to_ras, labelmap=True, name="Seg")
    first = scene.add_volume_data(data)
    second = scene.add_volume_data(data)
    named = scene.add_volume_data(data, name="Renamed")
    assert first.id != second.id
    assert (first.name, named.name) == ("Seg", "Renamed")
    assert first.class_name == "vtkMRMLLabelMapVolumeNode"


# -- text ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "  spaced \n lines \t", "grüße ✓", "x" * 70_000])
def test_set_text_creates_a_text_node_keeping_the_text_exactly(scene: Scene, text: str) -> None:
    info = scene.set_text("Note", text)
    assert (info.name, info.class_name) == ("Note", "vtkMRMLTextNode")
    assert scene.text("Note") == text and scene.text(info.id) == text
    assert scene.node_properties("Note")["Text"] == text


def test_text_nodes_are_storable_not_displayable(scene: Scene) -> None:
    info = scene.set_text("Note", "hi")
    assert info.id in {node.id for node in scene.nodes(class_name="vtkMRMLStorableNode")}
    for base in ("vtkMRMLTransformableNode", "vtkMRMLDisplayableNode"):
        assert info.id not in {node.id for node in scene.nodes(class_name=base)}


def test_set_text_updates_the_node_with_a_text_event_every_time(scene: Scene, events) -> None:
    info = scene.set_text("Log", "one")
    for text in ("two", "two"):
        assert scene.set_text("Log", text) == info
    assert event_summary(events) == [
        ("added", info.id, ""),
        ("modified", info.id, "text"),
        ("modified", info.id, "text"),  # the same text again is still a message
    ]
    assert len(scene.nodes(class_name="vtkMRMLTextNode")) == 1


def test_text_encoding_follows_the_text(scene: Scene) -> None:
    scene.set_text("Note", "plain")
    assert scene.node_properties("Note")["Encoding"] == 1  # VTK_ENCODING_US_ASCII
    scene.set_text("Note", "grüße")
    assert scene.node_properties("Note")["Encoding"] == 3  # VTK_ENCODING_UTF_8


def test_set_text_refuses_non_text_and_unknown_nodes_without_create(scene: Scene, events) -> None:
    with pytest.raises(SceneError):
        scene.set_text("Note", 42)  # type: ignore[arg-type]
    with pytest.raises(NodeNotFound):
        scene.set_text("Note", "hi", create=False)
    scene.set_transform("T", np.eye(4))
    events.clear()
    with pytest.raises(NodeNotFound):
        scene.text("T")  # not a text node
    assert scene.set_text("T", "a text node named T").class_name == "vtkMRMLTextNode"
    assert scene.transform_matrix("T").shape == (4, 4)  # the transform is untouched


# -- models --------------------------------------------------------------------------------------
def test_set_model_creates_a_model_holding_a_copy(scene: Scene) -> None:
    data = square(color=(1.0, 0.0, 0.0))
    normals = np.tile([0.0, 0.0, 1.0], (4, 1))
    data.normals = normals
    info = scene.set_model("Plan", data)
    assert (info.name, info.class_name) == ("Plan", "vtkMRMLModelNode")
    data.vertices[0] = 99.0
    normals[0] = 0.0
    stored = scene.model("Plan")
    assert stored.name == "Plan" and stored.color == (1.0, 0.0, 0.0)
    np.testing.assert_array_equal(stored.vertices, square().vertices)
    np.testing.assert_array_equal(stored.triangles, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(stored.normals, np.tile([0.0, 0.0, 1.0], (4, 1)))
    props = scene.node_properties("Plan")["PolyData"]
    assert (props["NumberOfPoints"], props["NumberOfPolys"]) == (4, 2)


def test_set_model_replaces_the_whole_surface_of_the_same_node(scene: Scene, events) -> None:
    data = square()
    data.normals = np.tile([0.0, 0.0, 1.0], (4, 1))
    info = scene.set_model("Plan", data)
    triangle = ModelData(vertices=np.eye(3), triangles=np.array([[0, 1, 2]]), color=(0, 1, 0))
    assert scene.set_model(info.id, triangle) == info
    stored = scene.model("Plan")
    assert stored.triangles.tolist() == [[0, 1, 2]] and stored.normals is None
    assert stored.color == (0.0, 1.0, 0.0)
    assert event_summary(events) == [("added", info.id, ""), ("modified", info.id, "model")]
    assert len(scene.nodes(class_name="vtkMRMLModelNode")) == 1


def test_set_model_accepts_an_empty_surface(scene: Scene) -> None:
    empty = ModelData(vertices=np.zeros((0, 3)), triangles=np.zeros((0, 3), dtype=int))
    scene.set_model("Empty", empty)
    assert scene.model("Empty").vertices.shape == (0, 3)
    assert scene.model("Empty").triangles.shape == (0, 3)


@pytest.mark.parametrize(
    ("vertices", "triangles", "normals", "color"),
    [
        (np.zeros((3, 2)), [[0, 1, 2]], None, (1, 1, 1)),  # vertices not N×3
        ([[0, 0, np.nan]] * 3, [[0, 1, 2]], None, (1, 1, 1)),  # NaN vertex
        (np.eye(3), [[0, 1, 3]], None, (1, 1, 1)),  # index past the last vertex
        (np.eye(3), [[0, -1, 2]], None, (1, 1, 1)),  # negative index
        (np.eye(3), [[0.0, 1.0, 2.5]], None, (1, 1, 1)),  # not integers
        (np.eye(3), [[0, 1]], None, (1, 1, 1)),  # not triangles
        (np.eye(3), [[0, 1, 2]], np.zeros((2, 3)), (1, 1, 1)),  # a normal missing
        (np.eye(3), [[0, 1, 2]], None, (1, 2, 1)),  # colour out of 0..1
    ],
)
def test_set_model_refuses_bad_meshes_and_changes_nothing(
    scene: Scene, events, vertices, triangles, normals, color
) -> None:
    info = scene.set_model("Plan", square())
    events.clear()
    bad = ModelData(vertices=np.asarray(vertices, float), triangles=np.asarray(triangles),
                    color=color, normals=normals)  # fmt: skip
    with pytest.raises(SceneError):
        scene.set_model("Plan", bad)
    with pytest.raises(SceneError):
        scene.set_model("Other", bad)
    assert events == [] and scene.nodes(class_name="vtkMRMLModelNode") == [info]
    assert scene.model("Plan").triangles.tolist() == [[0, 1, 2], [0, 2, 3]]


def test_set_model_without_create_refuses_unknown_nodes(scene: Scene) -> None:
    with pytest.raises(NodeNotFound):
        scene.set_model("Missing", square(), create=False)
    assert scene.nodes(class_name="vtkMRMLModelNode") == []


# -- markups -------------------------------------------------------------------------------------
def test_set_markups_points_creates_a_fiducial_list_with_slicer_labels(scene: Scene) -> None:
    info = scene.set_markups_points("F", np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert info.class_name == "vtkMRMLMarkupsFiducialNode"
    data = scene.markups("F")
    assert [p.label for p in data.points] == ["F-1", "F-2"]
    np.testing.assert_array_equal(data.points[1].position, [4.0, 5.0, 6.0])


def test_set_markups_points_replaces_all_points_and_takes_labels(scene: Scene) -> None:
    scene.set_markups_points("F", np.zeros((3, 3)))
    scene.set_markups_points("F", np.ones((1, 3)), labels=["tip"])
    data = scene.markups("F")
    assert [p.label for p in data.points] == ["tip"]
    scene.set_markups_points("F", np.ones((2, 3)))
    assert [p.label for p in scene.markups("F").points] == ["F-1", "F-2"]


def test_set_markups_points_refuses_mismatched_labels_and_bad_shapes(scene: Scene) -> None:
    with pytest.raises(SceneError):
        scene.set_markups_points("F", np.zeros((2, 3)), labels=["only one"])
    with pytest.raises(SceneError):
        scene.set_markups_points("F", np.zeros((2, 2)))
    with pytest.raises(NodeNotFound):
        scene.set_markups_points("F", np.zeros((2, 3)), create=False)


def test_set_control_point_at_count_appends_a_labelled_point(scene: Scene) -> None:
    scene.set_markups_points("F", np.zeros((2, 3)))
    scene.set_control_point("F", 2, np.array([7.0, 8.0, 9.0]))
    data = scene.markups("F")
    assert [p.label for p in data.points] == ["F-1", "F-2", "F-3"]
    np.testing.assert_array_equal(data.points[2].position, [7.0, 8.0, 9.0])


def test_set_control_point_moves_a_point_and_keeps_its_label(scene: Scene) -> None:
    scene.set_markups_points("F", np.zeros((2, 3)), labels=["a", "b"])
    scene.set_control_point("F", 0, np.array([1.0, 1.0, 1.0]))
    data = scene.markups("F")
    assert [p.label for p in data.points] == ["a", "b"]
    np.testing.assert_array_equal(data.points[0].position, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("index", [-1, 3, 10])
def test_set_control_point_out_of_range_is_an_error(scene: Scene, index: int) -> None:
    scene.set_markups_points("F", np.zeros((2, 3)))
    with pytest.raises(SceneError, match="range"):
        scene.set_control_point("F", index, np.zeros(3))
    assert len(scene.markups("F").points) == 2


@pytest.mark.parametrize("index", ["1", 1.5, None])
def test_set_control_point_refuses_non_integer_indices(scene: Scene, index) -> None:
    scene.set_markups_points("F", np.zeros((2, 3)))
    with pytest.raises(SceneError, match="integer"):
        scene.set_control_point("F", index, np.zeros(3))


@scene_settings
@given(points=arrays(np.float64, st.tuples(st.integers(0, 6), st.just(3)), elements=finite))
def test_markups_points_round_trip(scene: Scene, points: np.ndarray) -> None:
    scene.set_markups_points("F", points)
    stored = np.array([p.position for p in scene.markups("F").points]).reshape(-1, 3)
    np.testing.assert_array_equal(stored, points)


# -- segmentations ------------------------------------------------------------------------------
def test_loaded_segmentation_holds_its_segments_on_one_grid(scene: Scene, tmp_path: Path):
    (node_id,) = scene.load_file(write_seg_nrrd(tmp_path / "Abdomen.seg.nrrd"))
    info = scene.find(node_id)
    assert (info.name, info.class_name) == ("Abdomen", "vtkMRMLSegmentationNode")
    data = scene.segmentation(node_id)
    np.testing.assert_allclose(data.ijk_to_ras, IJK_TO_RAS, atol=1e-12)
    masks = seg_masks()
    assert [(s.id, s.name, s.color) for s in data.segments] == [
        (segment_id, name, color) for segment_id, name, color, *_ in SEG_SEGMENTS
    ]
    for segment in data.segments:
        np.testing.assert_array_equal(segment.mask, masks[segment.id])


def test_segmentation_properties_name_each_segment_as_printself_nests_them(
    scene: Scene, tmp_path: Path
) -> None:
    (node_id,) = scene.load_file(write_seg_nrrd(tmp_path / "s.seg.nrrd"))
    segments = scene.node_properties(node_id)["Segmentation"]["Segments"]
    assert list(segments) == ["Segment_1", "Segment_2", "Segment_3"]
    assert segments["Segment_2"]["Name"] == "Tumor"
    assert segments["Segment_2"]["Color"] == pytest.approx([0.564706, 0.933333, 0.564706])


def test_segmentation_save_load_round_trip_and_reload(scene: Scene, tmp_path: Path) -> None:
    (first,) = scene.load_file(write_seg_nrrd(tmp_path / "in.seg.nrrd"))
    assert scene.save_node(first, tmp_path / "out.seg.nrrd") is True
    (second,) = scene.load_file(tmp_path / "out.seg.nrrd", properties={"name": "Copy"})
    before, after = scene.segmentation(first), scene.segmentation(second)
    assert after.name == "Copy"
    assert [(s.id, s.name, s.color) for s in before.segments] == [
        (s.id, s.name, s.color) for s in after.segments
    ]
    for one, other in zip(before.segments, after.segments, strict=True):
        np.testing.assert_array_equal(one.mask, other.mask)
    write_seg_nrrd(tmp_path / "out.seg.nrrd", single_layer=True)  # the file changes on disk
    assert scene.reload([second]) == [second]
    assert [s.id for s in scene.segmentation(second).segments] == ["Segment_1", "Segment_2"]


def test_segmentation_under_a_transform_saves_in_world_coordinates(scene: Scene, tmp_path: Path):
    (node_id,) = scene.load_file(write_seg_nrrd(tmp_path / "s.seg.nrrd"))
    scene.set_transform("Shift", translation(0, 0, 40))
    scene.set_parent_transform(node_id, "Shift")
    scene.save_node(node_id, tmp_path / "world.seg.nrrd", apply_transforms=True)
    (world,) = scene.load_file(tmp_path / "world.seg.nrrd")
    np.testing.assert_allclose(
        scene.segmentation(world).ijk_to_ras, translation(0, 0, 40) @ IJK_TO_RAS, atol=1e-12
    )


# -- views ---------------------------------------------------------------------------------------
DEFAULT_AXES = {
    "red": ("axial", [[-1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    "yellow": ("sagittal", [[0, 0, 1], [-1, 0, 0], [0, 1, 0]]),
    "green": ("coronal", [[-1, 0, 0], [0, 0, 1], [0, 1, 0]]),
}


@pytest.mark.parametrize("view", sorted(DEFAULT_AXES))
def test_slice_views_start_in_slicer_default_orientations(scene: Scene, view: str) -> None:
    orientation, axes = DEFAULT_AXES[view]
    state = scene.slice_view(view)
    assert state.orientation == orientation
    np.testing.assert_array_equal(state.slice_to_ras[:3, :3], axes)
    assert state.offset == 0.0


@pytest.mark.parametrize("alias", ["red", "Red", "RED", "vtkMRMLSliceNodeRed"])
def test_slice_view_names_are_accepted_in_any_spelling(scene: Scene, alias: str) -> None:
    scene.set_slice_offset(alias, 12.5)
    assert scene.slice_view("red").offset == 12.5


@scene_settings
@given(offset=finite, view=st.sampled_from(["red", "yellow", "green"]))
def test_slice_offset_moves_along_the_normal(scene: Scene, offset: float, view: str) -> None:
    scene.clear()
    scene.set_slice_offset(view, offset)
    state = scene.slice_view(view)
    assert state.offset == pytest.approx(offset, abs=1e-9)
    normal = state.slice_to_ras[:3, 2]
    np.testing.assert_allclose(state.slice_to_ras[:3, 3], offset * normal, atol=1e-9)


def test_set_slice_orientation_centres_on_the_background_volume(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    scene.set_volume("V", voxels, ijk_to_ras)
    center = np.array([10.5, 22.0, 34.5])  # voxel edges: R 9.5..11.5, A 19..25, S 28.5..40.5
    scene.set_slice_offset("red", 0.0)
    scene.set_slice_orientation("red", "Sagittal")
    state = scene.slice_view("red")
    assert state.orientation == "sagittal"
    np.testing.assert_array_equal(state.slice_to_ras[:3, :3], DEFAULT_AXES["yellow"][1])
    np.testing.assert_allclose(state.slice_to_ras[:3, 3], center)
    assert state.offset == pytest.approx(10.5)


def test_set_slice_orientation_without_volume_centres_on_the_origin(scene: Scene) -> None:
    scene.set_slice_offset("green", 40.0)
    scene.set_slice_orientation("green", "axial")
    state = scene.slice_view("green")
    assert state.orientation == "axial"
    np.testing.assert_array_equal(state.slice_to_ras, np.eye(4) @ _axial())


def _axial() -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = DEFAULT_AXES["red"][1]
    return matrix


@pytest.mark.parametrize("view", ["blue", "", "3d", "View1"])
def test_slice_operations_refuse_non_slice_views(scene: Scene, view: str) -> None:
    with pytest.raises(SceneError):
        scene.slice_view(view)
    with pytest.raises(SceneError):
        scene.set_slice_offset(view, 1.0)


def test_set_slice_orientation_refuses_unknown_orientations(scene: Scene) -> None:
    with pytest.raises(SceneError, match="orientation"):
        scene.set_slice_orientation("red", "oblique")
    assert scene.slice_view("red").orientation == "axial"


def test_default_camera_looks_at_something_with_a_valid_view_up(scene: Scene) -> None:
    camera = scene.camera()
    direction = camera.focal_point - camera.position
    assert np.linalg.norm(direction) > 0
    assert np.linalg.norm(np.cross(direction, camera.view_up)) > 0


@scene_settings
@given(
    position=arrays(np.float64, 3, elements=finite),
    focal=arrays(np.float64, 3, elements=finite),
    up=arrays(np.float64, 3, elements=finite),
)
def test_set_camera_round_trips_or_refuses_degenerate_cameras(
    scene: Scene, position: np.ndarray, focal: np.ndarray, up: np.ndarray
) -> None:
    direction = focal - position
    degenerate = (
        np.linalg.norm(direction) < 1e-3
        or np.linalg.norm(up) < 1e-3
        or np.linalg.norm(np.cross(direction / np.linalg.norm(direction), up / np.linalg.norm(up)))
        < 1e-3
    )
    if degenerate:
        return  # the explicit tests below pin the refusals
    scene.set_camera("3d", position, focal, up)
    camera = scene.camera("View1")
    np.testing.assert_allclose(camera.position, position)
    np.testing.assert_allclose(camera.focal_point, focal)
    np.testing.assert_allclose(camera.view_up, up)


@pytest.mark.parametrize(
    ("position", "focal", "up"),
    [
        ([0, 0, 0], [0, 0, 0], [0, 0, 1]),  # no view direction
        ([0, 100, 0], [0, 0, 0], [0, 1, 0]),  # up along the view direction
        ([0, 100, 0], [0, 0, 0], [0, -2, 0]),  # … or against it
        ([0, 100, 0], [0, 0, 0], [0, 0, 0]),  # no up
    ],
)
def test_set_camera_refuses_degenerate_cameras(scene: Scene, position, focal, up) -> None:
    before = scene.camera()
    with pytest.raises(SceneError):
        scene.set_camera("3d", np.array(position), np.array(focal), np.array(up))
    np.testing.assert_array_equal(scene.camera().position, before.position)


def test_camera_of_a_slice_view_is_an_error(scene: Scene) -> None:
    with pytest.raises(SceneError):
        scene.camera("red")


def oblique_slice_to_ras(angle_degrees: float = 30.0) -> np.ndarray:
    angle = np.deg2rad(angle_degrees)
    matrix = translation(4.0, -2.0, 9.5)
    matrix[:3, :3] = [
        [-np.cos(angle), 0.0, np.sin(angle)],
        [np.sin(angle), 0.0, np.cos(angle)],
        [0.0, 1.0, 0.0],
    ]
    return matrix


def test_set_slice_geometry_places_the_whole_plane_and_its_size(scene: Scene, events) -> None:
    matrix = oblique_slice_to_ras()
    scene.set_slice_geometry("yellow", matrix, (180.0, 120.0))
    yellow = scene.slice_view("yellow")
    np.testing.assert_allclose(yellow.slice_to_ras, matrix)
    assert yellow.field_of_view == (180.0, 120.0)
    assert yellow.orientation == "reformat"
    assert yellow.offset == pytest.approx(float(matrix[:3, 3] @ matrix[:3, 2]))
    assert event_summary(events)[-1] == ("modified", "vtkMRMLSliceNodeYellow", "view")
    assert scene.node_properties("vtkMRMLSliceNodeYellow")["Orientation"] == "Reformat"


def test_set_slice_geometry_names_preset_orientations(scene: Scene) -> None:
    red = scene.slice_view("red")
    scene.set_slice_geometry("green", red.slice_to_ras, red.field_of_view)
    assert scene.slice_view("green").orientation == "axial"
    scene.set_slice_orientation("green", "coronal")  # back from a copy to a preset
    assert scene.slice_view("green").orientation == "coronal"


@pytest.mark.parametrize(
    ("matrix", "field_of_view"),
    [
        (np.diag([2.0, 1.0, 1.0, 1.0]), (100.0, 100.0)),
        (np.eye(4), (100.0, 0.0)),
        (np.eye(4), (100.0,)),
        (np.eye(4), (np.nan, 10.0)),
        (np.ones((4, 4)), (100.0, 100.0)),
    ],
    ids=["scaled-axes", "zero-height", "one-side", "nan", "bad-last-row"],
)
def test_set_slice_geometry_refuses_what_is_not_a_slice_placement(
    scene: Scene, matrix, field_of_view
) -> None:
    before = scene.slice_view("red")
    with pytest.raises(SceneError):
        scene.set_slice_geometry("red", matrix, field_of_view)
    after = scene.slice_view("red")
    np.testing.assert_array_equal(after.slice_to_ras, before.slice_to_ras)
    assert after.field_of_view == before.field_of_view


def test_set_slice_geometry_refuses_the_3d_view(scene: Scene) -> None:
    with pytest.raises(SceneError):
        scene.set_slice_geometry("3d", np.eye(4), (10.0, 10.0))


# -- layout --------------------------------------------------------------------------------------
def test_set_layout_is_case_insensitive_and_canonical(scene: Scene) -> None:
    scene.set_layout("fourup")
    assert scene.layout == "FourUp"
    scene.set_layout("ONEUP3D")
    assert scene.layout == "OneUp3D"


def test_set_layout_refuses_unknown_names(scene: Scene) -> None:
    scene.set_layout("Conventional")
    with pytest.raises(SceneError, match="layout"):
        scene.set_layout("NineUp")
    assert scene.layout == "Conventional"


# -- remove and clear ----------------------------------------------------------------------------
def test_remove_returns_removed_ids_and_forgets_the_nodes(scene: Scene) -> None:
    a = scene.set_transform("A", np.eye(4))
    b = scene.set_transform("B", np.eye(4))
    assert scene.remove(["A", b.id, "NoSuchNode"]) == [a.id, b.id]
    assert scene.nodes(class_name="vtkMRMLTransformNode") == []


def test_remove_accepts_a_single_reference_string(scene: Scene) -> None:
    info = scene.set_transform("Alone", np.eye(4))
    assert scene.remove("Alone") == [info.id]


def test_remove_of_nothing_matching_raises_node_not_found(scene: Scene) -> None:
    with pytest.raises(NodeNotFound):
        scene.remove(["NoSuchNode"])


def test_remove_refuses_singletons(scene: Scene) -> None:
    scene.set_transform("T", np.eye(4))
    with pytest.raises(SceneError):
        scene.remove(["T", "vtkMRMLSliceNodeRed"])
    assert scene.nodes(name="T")
    assert scene.nodes(id="vtkMRMLSliceNodeRed")


def test_removing_a_transform_moves_its_children_to_its_parent(scene: Scene) -> None:
    root = scene.set_transform("Root", translation(1, 0, 0))
    middle = scene.set_transform("Middle", translation(0, 1, 0))
    leaf = scene.set_transform("Leaf", translation(0, 0, 1))
    scene.set_parent_transform(middle.id, root.id)
    scene.set_parent_transform(leaf.id, middle.id)
    scene.remove([middle.id])
    assert scene.parent_transform(leaf.id) == root
    np.testing.assert_array_equal(scene.world_matrix(leaf.id), translation(1, 0, 1))


def test_removing_the_active_volume_clears_it_from_the_views(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    volume = scene.set_volume("V", voxels, ijk_to_ras)
    scene.remove([volume.id])
    assert scene.active_volume() is None
    assert all(scene.slice_view(v).background_volume_id is None for v in DEFAULT_AXES)


def test_clear_removes_all_but_singletons_and_resets_views(
    scene: Scene, voxels, ijk_to_ras
) -> None:
    singletons = {n.id for n in scene.nodes()}
    scene.set_volume("V", voxels, ijk_to_ras)
    scene.set_markups_points("F", np.zeros((1, 3)))
    scene.set_tracking_pose()
    scene.set_slice_orientation("red", "coronal")
    scene.set_slice_offset("yellow", 5.0)
    scene.clear()
    assert {n.id for n in scene.nodes()} == singletons
    assert scene.active_volume() is None
    for view, (orientation, _) in DEFAULT_AXES.items():
        state = scene.slice_view(view)
        assert (state.orientation, state.offset, state.background_volume_id) == (
            orientation,
            0.0,
            None,
        )


def test_layout_survives_clear(scene: Scene) -> None:
    scene.set_layout("FourUp")
    scene.clear()
    assert scene.layout == "FourUp"


# -- events --------------------------------------------------------------------------------------
def test_changes_emit_added_modified_removed_in_order(scene: Scene, events) -> None:
    info = scene.set_transform("T", np.eye(4))
    scene.set_transform("T", translation(1, 0, 0))
    scene.rename(info.id, "Renamed")
    scene.remove([info.id])
    assert event_summary(events) == [
        ("added", info.id, ""),
        ("modified", info.id, "transform"),
        ("modified", info.id, "name"),
        ("removed", info.id, ""),
    ]
    assert events[-1].node.name == "Renamed"


def test_view_layout_and_markups_changes_name_their_aspect(scene: Scene, events) -> None:
    scene.set_markups_points("F", np.zeros((1, 3)))
    events.clear()
    scene.set_control_point("F", 0, np.ones(3))
    scene.set_slice_offset("red", 3.0)
    scene.set_camera("3d", np.array([0, 0, 500.0]), np.zeros(3), np.array([0, 1.0, 0]))
    scene.set_layout("FourUp")
    assert [(e.kind, e.aspect) for e in events] == [
        ("modified", "markups"),
        ("modified", "view"),
        ("modified", "view"),
        ("modified", "layout"),
    ]
    assert events[1].node.id == "vtkMRMLSliceNodeRed"
    assert events[3].node.id == "vtkMRMLLayoutNodevtkMRMLLayoutNode"


def test_first_volume_emits_added_then_view_changes(
    scene: Scene, events, voxels, ijk_to_ras
) -> None:
    volume = scene.set_volume("V", voxels, ijk_to_ras)
    assert event_summary(events)[0] == ("added", volume.id, "")
    view_ids = {e.node.id for e in events[1:] if e.aspect == "view"}
    assert view_ids >= {"vtkMRMLSliceNodeRed", "vtkMRMLSliceNodeYellow", "vtkMRMLSliceNodeGreen"}


def test_clear_emits_removed_for_each_node_then_cleared(scene: Scene, events) -> None:
    a = scene.set_transform("A", np.eye(4))
    b = scene.set_transform("B", np.eye(4))
    events.clear()
    scene.clear()
    removed = [e.node.id for e in events if e.kind == "removed"]
    assert a.id in removed and b.id in removed
    assert (events[-1].kind, events[-1].node) == ("cleared", None)


def test_failed_changes_emit_nothing(scene: Scene, events) -> None:
    with pytest.raises(SceneError):
        scene.set_transform("T", np.zeros((2, 2)))
    with pytest.raises(SceneError):
        scene.set_layout("NineUp")
    assert events == []


def test_a_raising_listener_is_logged_and_kept(scene: Scene, caplog) -> None:
    calls: list[SceneEvent] = []
    received: list[SceneEvent] = []

    def broken(event: SceneEvent) -> None:
        calls.append(event)
        raise RuntimeError("listener bug")

    scene.subscribe(broken)
    scene.subscribe(received.append)
    with caplog.at_level(logging.ERROR):
        scene.set_transform("T", np.eye(4))
        scene.set_transform("T", np.eye(4))
    assert len(calls) == 2  # still subscribed after raising
    assert len(received) == 2  # later listeners still called
    assert "listener bug" in caplog.text
    np.testing.assert_array_equal(scene.transform_matrix("T"), np.eye(4))


def test_unsubscribe_stops_events_and_is_idempotent(scene: Scene) -> None:
    received: list[SceneEvent] = []
    unsubscribe = scene.subscribe(received.append)
    scene.set_transform("A", np.eye(4))
    unsubscribe()
    unsubscribe()
    scene.set_transform("B", np.eye(4))
    assert len(received) == 1


# -- properties ----------------------------------------------------------------------------------
def test_volume_properties_carry_image_data_extent(scene: Scene, voxels, ijk_to_ras) -> None:
    info = scene.set_volume("CT", voxels, ijk_to_ras)
    props = scene.node_properties("CT")
    assert (props["ID"], props["ClassName"], props["Name"]) == (info.id, info.class_name, "CT")
    assert props["ImageData"]["Extent"] == [0, 1, 0, 2, 0, 3]  # i, j, k from a (4, 3, 2) array
    assert props["ImageData"]["Dimensions"] == [2, 3, 4]
    assert props["Spacing"] == pytest.approx([1.0, 2.0, 3.0])
    assert props["Origin"] == pytest.approx([10.0, 20.0, 30.0])
    assert np.allclose(props["IJKToRASDirections"], np.eye(3))


def test_transform_properties_hold_the_matrix_row_major(scene: Scene) -> None:
    scene.set_transform("T", translation(1, 2, 3))
    props = scene.node_properties("T")
    assert props["ClassName"] == "vtkMRMLLinearTransformNode"
    assert props["MatrixTransformToParent"] == translation(1, 2, 3).ravel().tolist()


def test_markups_properties_list_the_control_points(scene: Scene) -> None:
    scene.set_markups_points("F", np.array([[1.0, 2.0, 3.0]]))
    props = scene.node_properties("F")
    assert props["NumberOfControlPoints"] == 1
    assert props["ControlPoints"][0]["Label"] == "F-1"
    assert props["ControlPoints"][0]["Position"] == [1.0, 2.0, 3.0]


def test_view_and_layout_properties(scene: Scene) -> None:
    scene.set_slice_offset("red", 4.0)
    red = scene.node_properties("vtkMRMLSliceNodeRed")
    assert red["Orientation"] == "Axial"
    assert red["SliceOffset"] == pytest.approx(4.0)
    assert len(red["SliceToRAS"]) == 16
    scene.set_layout("FourUp")
    assert scene.node_properties("Layout")["ViewArrangement"] == "FourUp"


def test_every_node_has_json_properties_with_id_and_class(
    scene: Scene, voxels, ijk_to_ras, tmp_path: Path
) -> None:
    _make_kinds(scene, voxels, ijk_to_ras, tmp_path)
    for info in scene.nodes():
        props = json.loads(json.dumps(scene.node_properties(info.id)))
        assert (props["ID"], props["ClassName"], props["Name"]) == (
            info.id,
            info.class_name,
            info.name,
        )


# -- files ---------------------------------------------------------------------------------------
def test_load_file_refuses_missing_files_and_unknown_filetypes(scene: Scene, tmp_path: Path):
    with pytest.raises(SceneError):
        scene.load_file(tmp_path / "missing.nrrd")
    (tmp_path / "x.nrrd").write_bytes(b"")
    with pytest.raises(SceneError):
        scene.load_file(tmp_path / "x.nrrd", filetype="SceneFile")


def test_save_node_refuses_unsupported_kind_and_extension(
    scene: Scene, tmp_path: Path, voxels, ijk_to_ras
) -> None:
    scene.set_volume("V", voxels, ijk_to_ras)
    scene.set_transform("T", np.eye(4))
    with pytest.raises(SceneError):
        scene.save_node("V", tmp_path / "v.mrk.json")
    with pytest.raises(SceneError):
        scene.save_node("T", tmp_path / "t.nrrd")
    with pytest.raises(SceneError):
        scene.save_node("vtkMRMLSliceNodeRed", tmp_path / "red.nrrd")


def test_volume_save_load_round_trip_with_name_and_labelmap(
    scene: Scene, tmp_path: Path, voxels, ijk_to_ras
) -> None:
    pytest.importorskip("bridge.scene.io.nrrd_io")
    scene.set_volume("CT", voxels, ijk_to_ras)
    path = tmp_path / "ct.nrrd"
    assert scene.save_node("CT", path) is True
    (plain,) = scene.load_file(path)
    (labels,) = scene.load_file(path, "VolumeFile", {"name": "Seg", "labelmap": "True"})
    assert scene.find(plain).name == "ct"
    assert (scene.find(labels).name, scene.find(labels).class_name) == (
        "Seg",
        "vtkMRMLLabelMapVolumeNode",
    )
    loaded = scene.volume(plain)
    np.testing.assert_array_equal(loaded.array, voxels)
    np.testing.assert_allclose(loaded.ijk_to_ras, ijk_to_ras)


def test_save_with_apply_transforms_hardens_the_world_transform(
    scene: Scene, tmp_path: Path, voxels, ijk_to_ras
) -> None:
    pytest.importorskip("bridge.scene.io.nrrd_io")
    scene.set_volume("CT", voxels, ijk_to_ras)
    scene.set_transform("Shift", translation(0, 0, 100))
    scene.set_parent_transform("CT", "Shift")
    scene.save_node("CT", tmp_path / "local.nrrd")
    scene.save_node("CT", tmp_path / "world.nrrd", apply_transforms=True)
    local = scene.volume(scene.load_file(tmp_path / "local.nrrd")[0])
    world = scene.volume(scene.load_file(tmp_path / "world.nrrd")[0])
    np.testing.assert_allclose(local.ijk_to_ras, ijk_to_ras)
    np.testing.assert_allclose(world.ijk_to_ras, translation(0, 0, 100) @ ijk_to_ras)


def test_markups_save_load_round_trip(scene: Scene, tmp_path: Path) -> None:
    pytest.importorskip("bridge.scene.io.markups_io")
    points = np.array([[1.0, 2.0, 3.0], [-4.0, 5.5, 6.0]])
    scene.set_markups_points("F", points, labels=["a", "b"])
    assert scene.save_node("F", tmp_path / "F.mrk.json")
    (loaded,) = scene.load_file(tmp_path / "F.mrk.json", properties={"name": "G"})
    data = scene.markups(loaded)
    assert (data.name, [p.label for p in data.points]) == ("G", ["a", "b"])
    np.testing.assert_allclose([p.position for p in data.points], points)


def test_transform_save_load_round_trip(scene: Scene, tmp_path: Path) -> None:
    pytest.importorskip("bridge.scene.io.transform_io")
    matrix = translation(1, 2, 3)
    matrix[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    scene.set_transform("T", matrix)
    assert scene.save_node("T", tmp_path / "T.tfm")
    (loaded,) = scene.load_file(tmp_path / "T.tfm")
    info = scene.find(loaded)
    assert (info.name, info.class_name) == ("T", "vtkMRMLLinearTransformNode")
    np.testing.assert_allclose(scene.transform_matrix(loaded), matrix, atol=1e-12)


def test_reload_rereads_loaded_nodes_and_skips_others(
    scene: Scene, tmp_path: Path, voxels, ijk_to_ras, events
) -> None:
    pytest.importorskip("bridge.scene.io.nrrd_io")
    scene.set_volume("Source", voxels, ijk_to_ras)
    path = tmp_path / "v.nrrd"
    scene.save_node("Source", path)
    (loaded,) = scene.load_file(path)
    scene.set_volume("Source", voxels + 100, ijk_to_ras)
    scene.save_node("Source", path)  # the file changes on disk
    events.clear()
    assert scene.reload() == [loaded]
    np.testing.assert_array_equal(scene.volume(loaded).array, voxels + 100)
    assert event_summary(events) == [("modified", loaded, "volume")]
    assert scene.reload(["Source"]) == []


def test_node_source_names_what_a_node_was_loaded_from(
    scene: Scene, tmp_path: Path, voxels, ijk_to_ras
) -> None:
    pytest.importorskip("bridge.scene.io.nrrd_io")
    from test_dicom_io import write_series

    scene.set_volume("Made", voxels, ijk_to_ras)
    assert scene.node_source("Made") is None
    path = tmp_path / "v.nrrd"
    scene.save_node("Made", path)
    (from_file,) = scene.load_file(path)
    assert scene.node_source(from_file) == NodeSource(path, "VolumeFile")
    folder = tmp_path / "series"
    write_series(folder, count=2)
    (from_dicom,) = scene.load_file(folder)
    assert scene.node_source(from_dicom) == NodeSource(folder, "DICOM")
    with pytest.raises(NodeNotFound):
        scene.node_source("vtkMRMLScalarVolumeNode999")


def test_displacement_field_loads_as_a_grid_transform_and_saves_back(
    scene: Scene, tmp_path: Path
) -> None:
    path = write_displacement_field(tmp_path / "Warp.nrrd")
    (node_id,) = scene.load_file(path, "TransformFile")
    info = scene.find(node_id)
    assert (info.name, info.class_name) == ("Warp", "vtkMRMLGridTransformNode")
    np.testing.assert_array_equal(scene.grid_transform(node_id).displacements, displacements_ras())
    assert scene.save_node(node_id, tmp_path / "again.nrrd") is True
    (again,) = scene.load_file(tmp_path / "again.nrrd", "TransformFile")
    data = scene.grid_transform(again)
    np.testing.assert_array_equal(data.displacements, displacements_ras())
    np.testing.assert_allclose(data.ijk_to_ras, IJK_TO_RAS, atol=1e-12)
    with pytest.raises(SceneError):
        scene.save_node(node_id, tmp_path / "warp.tfm")  # a field is not an ITK linear file
    scene.set_grid_transform(node_id, grid_data(scale=3.0))
    assert scene.reload([node_id]) == [node_id]
    np.testing.assert_array_equal(scene.grid_transform(node_id).displacements, displacements_ras())


def test_a_grid_transform_is_not_saved_with_a_parent_hardened_into_it(
    scene: Scene, tmp_path: Path
) -> None:
    scene.set_grid_transform("Warp", grid_data())
    scene.set_transform("Shift", translation(0, 0, 1))
    scene.set_parent_transform("Warp", "Shift")
    with pytest.raises(SceneError):
        scene.save_node("Warp", tmp_path / "w.nrrd", apply_transforms=True)
