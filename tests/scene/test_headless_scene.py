"""What only the headless scene promises beyond the Scene contract: a fresh scene's exact ids
and defaults, its PrintSelf-shaped details, view fitting, relative paths, DICOM folders.

The MRML scene inside Slicer is not held to these (its id counters and helper nodes depend on
the session), so they are kept out of `test_scene_contract.py`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bridge.scene import protocol
from bridge.scene.headless import HeadlessScene
from bridge.scene.types import SceneError


@pytest.fixture
def fresh(tmp_path: Path) -> HeadlessScene:
    return HeadlessScene(data_dir=tmp_path)


def test_headless_scene_implements_every_protocol_method_with_its_signature() -> None:
    scene = HeadlessScene()
    assert isinstance(scene, protocol.Scene)
    for name, member in vars(protocol.Scene).items():
        if name.startswith("_") or not callable(member):
            continue
        expected = inspect.signature(member)
        actual = inspect.signature(getattr(HeadlessScene, name))
        assert list(actual.parameters) == list(expected.parameters), name
        for parameter, spec in expected.parameters.items():
            assert actual.parameters[parameter].kind == spec.kind, (name, parameter)
            assert actual.parameters[parameter].default == spec.default, (name, parameter)


def test_fresh_scene_holds_exactly_the_singletons_in_startup_order(fresh: HeadlessScene) -> None:
    assert [node.id for node in fresh.nodes()] == [
        "vtkMRMLSliceNodeRed",
        "vtkMRMLSliceNodeYellow",
        "vtkMRMLSliceNodeGreen",
        "vtkMRMLViewNode1",
        "vtkMRMLCameraNode1",
        "vtkMRMLLayoutNodevtkMRMLLayoutNode",
    ]
    assert fresh.find("vtkMRMLCameraNode1").name == "Camera"


def test_fresh_scene_ids_count_from_one_per_class(fresh: HeadlessScene) -> None:
    volume = fresh.set_volume("V", np.zeros((2, 2, 2)), np.eye(4))
    labels = fresh.set_volume("L", np.zeros((2, 2, 2)), np.eye(4), labelmap=True)
    tracker = fresh.set_tracking_pose()
    other = fresh.set_transform("Other", np.eye(4))
    fiducials = fresh.set_markups_points("F", np.zeros((1, 3)))
    assert [volume.id, labels.id, tracker.id, other.id, fiducials.id] == [
        "vtkMRMLScalarVolumeNode1",
        "vtkMRMLLabelMapVolumeNode1",
        "vtkMRMLLinearTransformNode1",
        "vtkMRMLLinearTransformNode2",
        "vtkMRMLMarkupsFiducialNode1",
    ]
    assert fresh.find("trackingDevice").id == "vtkMRMLModelNode1"


def test_defaults_are_slicers_camera_and_conventional_layout(fresh: HeadlessScene) -> None:
    camera = fresh.camera()
    np.testing.assert_array_equal(camera.position, [0.0, 500.0, 0.0])
    np.testing.assert_array_equal(camera.focal_point, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(camera.view_up, [0.0, 0.0, 1.0])
    assert camera.view_angle == 30.0
    assert fresh.layout == "Conventional"
    assert fresh.slice_view("red").field_of_view == (250.0, 250.0)


def test_camera_resets_on_clear(fresh: HeadlessScene) -> None:
    fresh.set_camera("3d", np.array([0.0, 0.0, 300.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    fresh.clear()
    np.testing.assert_array_equal(fresh.camera().position, [0.0, 500.0, 0.0])


def test_tracking_cube_triangles_face_outward(fresh: HeadlessScene) -> None:
    fresh.set_tracking_pose()
    mesh = fresh.model("trackingDevice")
    for a, b, c in mesh.vertices[mesh.triangles]:
        normal = np.cross(b - a, c - a)
        assert np.dot(normal, (a + b + c) / 3.0) > 0


def test_scene_arrays_cannot_be_modified_through_returned_values(fresh: HeadlessScene) -> None:
    fresh.set_volume("V", np.zeros((2, 2, 2)), np.eye(4))
    with pytest.raises(ValueError, match="read-only"):
        fresh.volume("V").array[0, 0, 0] = 1
    fresh.set_tracking_pose()
    with pytest.raises(ValueError, match="read-only"):
        fresh.model("trackingDevice").vertices[0, 0] = 1.0


def test_first_volume_fits_every_slice_view_to_it(fresh: HeadlessScene) -> None:
    spacing = np.diag([2.0, 2.0, 2.0, 1.0])
    fresh.set_volume("V", np.zeros((10, 20, 30), dtype=np.uint8), spacing)
    # edges (mm): R -1..59, A -1..39, S -1..19 → centre (29, 19, 9)
    assert fresh.slice_view("red").offset == pytest.approx(9.0)
    assert fresh.slice_view("yellow").offset == pytest.approx(29.0)
    assert fresh.slice_view("green").offset == pytest.approx(19.0)
    assert fresh.slice_view("red").field_of_view == pytest.approx((60.0, 60.0))
    assert fresh.slice_view("green").field_of_view == pytest.approx((60.0, 60.0))


def test_fit_uses_the_volume_world_position(fresh: HeadlessScene) -> None:
    fresh.set_transform("Up", np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 50], [0, 0, 0, 1.0]]))
    volume = fresh.set_volume("V", np.zeros((1, 1, 1)), np.eye(4))
    fresh.set_parent_transform(volume.id, "Up")
    fresh.set_slice_orientation("red", "axial")
    assert fresh.slice_view("red").offset == pytest.approx(50.0)


def test_stepping_volumes_keeps_the_view_position(fresh: HeadlessScene) -> None:
    fresh.set_volume("A", np.zeros((2, 2, 2)), np.eye(4))
    far = np.eye(4)
    far[:3, 3] = 500.0
    fresh.set_volume("B", np.zeros((2, 2, 2)), far)
    fresh.set_slice_offset("red", 1.0)
    fresh.select_volume(step=1)
    assert fresh.slice_view("red").offset == 1.0
    fresh.select_volume("B")  # an explicit selection fits, as PropagateVolumeSelection does
    assert fresh.slice_view("red").offset == pytest.approx(500.5)


def test_properties_follow_printself_details(fresh: HeadlessScene) -> None:
    fresh.set_transform("T", np.eye(4))
    volume = fresh.set_volume("V", np.zeros((2, 3, 4), dtype=np.int16), np.diag([2, 2, 2, 1.0]))
    fresh.set_parent_transform(volume.id, "T")
    props = fresh.node_properties("V")
    assert "Description" not in props  # `(none)` is dropped by Slicer's parser
    assert props["HideFromEditors"] is False
    assert props["TransformNodeID"] == fresh.find("T").id
    image = props["ImageData"]
    assert (image["Spacing"], image["Origin"]) == ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert (image["ScalarType"], image["NumberOfScalarComponents"]) == ("short", 1)
    red = fresh.node_properties("Red")
    assert (red["SingletonTag"], red["LayoutName"]) == ("Red", "Red")
    assert red["BackgroundVolumeID"] == volume.id


def test_relative_paths_resolve_against_the_data_dir(fresh: HeadlessScene, tmp_path: Path):
    fresh.set_markups_points("F", np.ones((1, 3)))
    assert fresh.save_node("F", Path("F.mrk.json"))
    assert (tmp_path / "F.mrk.json").exists()
    (loaded,) = fresh.load_file(Path("F.mrk.json"))
    assert fresh.find(loaded).name == "F"


def test_save_to_a_missing_folder_answers_false(fresh: HeadlessScene, tmp_path: Path) -> None:
    fresh.set_transform("T", np.eye(4))
    assert fresh.save_node("T", tmp_path / "no" / "such" / "folder" / "T.tfm") is False


def test_file_format_property_chooses_the_writer(fresh: HeadlessScene, tmp_path: Path) -> None:
    fresh.set_transform("T", np.eye(4))
    assert fresh.save_node("T", tmp_path / "T.out", {"fileFormat": "Transform (.tfm)"})
    with pytest.raises(SceneError):
        fresh.save_node("T", tmp_path / "T.tfm", {"fileFormat": "NRRD (.nrrd)"})


def _write_dicom_series(folder: Path, slices: int) -> None:
    """A tiny axial CT series (4×3 pixels, 1 mm), one file per slice."""
    series, study = generate_uid(), generate_uid()
    for index in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "CT", "Tiny", index + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(index)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.Rows, ds.Columns = 3, 4
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.full((3, 4), index, dtype=np.int16).tobytes()
        ds.save_as(folder / f"slice{index}.dcm", enforce_file_format=True)


def test_dicom_folder_loads_as_a_volume(fresh: HeadlessScene, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    _write_dicom_series(folder, slices=3)
    (loaded,) = fresh.load_file(folder, "DICOM")
    data = fresh.volume(loaded)
    assert data.array.shape == (3, 3, 4)
    np.testing.assert_array_equal(data.array[:, 0, 0], [0, 1, 2])
    assert fresh.active_volume().id == loaded
    assert fresh.reload([loaded]) == [loaded]
