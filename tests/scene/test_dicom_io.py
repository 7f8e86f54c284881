"""DICOM series reading: real CT files written with pydicom, geometry, order, rescale, skips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from bridge.geometry import quaternion_to_rotation
from bridge.scene.io.dicom_io import is_dicom_file, read_dicom_series
from bridge.scene.types import SceneError

ROWS, COLUMNS = 6, 5
ROW_SPACING, COLUMN_SPACING = 0.7, 0.5  # PixelSpacing = [row spacing, column spacing]


def ds_values(values) -> list[str]:
    """Decimal strings as DICOM stores them (at most 16 characters)."""
    return [format_number_as_ds(float(v)) for v in values]


def stored_pixels(slice_index: int, rows: int = ROWS, columns: int = COLUMNS) -> np.ndarray:
    """Distinct stored values per voxel: 100·k + 10·j + i (k = anatomical slice index)."""
    j, i = np.mgrid[0:rows, 0:columns]
    return (100 * slice_index + 10 * j + i).astype(np.uint16)


def write_ct_slice(
    path: Path,
    *,
    series_uid: str,
    position,
    orientation,
    pixels: np.ndarray,
    instance_number: int,
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_number: int = 3,
    description: str | None = "CT Head",
    thickness: float = 2.0,
) -> Path:
    """One CT image as a real Part 10 file (preamble, file meta, explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName = "Phantom^Test"
    ds.PatientID = "PH-001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    if description is not None:
        ds.SeriesDescription = description
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = ds_values(position)
    ds.ImageOrientationPatient = ds_values(orientation)
    ds.PixelSpacing = ds_values([ROW_SPACING, COLUMN_SPACING])
    ds.SliceThickness = format_number_as_ds(thickness)
    ds.RescaleSlope = format_number_as_ds(slope)
    ds.RescaleIntercept = format_number_as_ds(intercept)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    *,
    count: int = 4,
    rotation: np.ndarray | None = None,
    origin=(-20.0, 15.0, 40.0),
    slice_spacing: float = 2.5,
    seed: int = 7,
    **slice_options,
) -> dict:
    """A CT series in shuffled file order, InstanceNumber running against the anatomy.

    Returns the LPS geometry the files encode so tests can compute the expected IJK→RAS.
    """
    rotation = np.eye(3) if rotation is None else rotation
    row, column, normal = rotation[:, 0], rotation[:, 1], rotation[:, 2]
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    order = list(range(count))
    random.Random(seed).shuffle(order)
    for file_index, k in enumerate(order):
        position = np.asarray(origin) + k * slice_spacing * normal
        write_ct_slice(
            folder / f"IM{file_index:04d}.dcm",
            series_uid=uid,
            position=position,
            orientation=[*row, *column],
            pixels=stored_pixels(k),
            instance_number=count - k,  # reversed: sorting by it would flip the volume
            **slice_options,
        )
    return {"uid": uid, "row": row, "column": column, "normal": normal, "origin": origin}


def expected_ijk_to_ras(geometry: dict, slice_spacing: float = 2.5) -> np.ndarray:
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = geometry["row"] * COLUMN_SPACING
    ijk_to_lps[:3, 1] = geometry["column"] * ROW_SPACING
    ijk_to_lps[:3, 2] = geometry["normal"] * slice_spacing
    ijk_to_lps[:3, 3] = geometry["origin"]
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijk_to_lps


def test_axial_series_is_sorted_by_position_and_rescaled(tmp_path):
    geometry = write_series(tmp_path / "ct")

    [volume] = read_dicom_series([tmp_path / "ct"])

    assert volume.name == "CT Head"
    assert volume.array.shape == (4, ROWS, COLUMNS)
    assert volume.array.dtype == np.int16
    expected = np.stack([stored_pixels(k).astype(np.int32) - 1024 for k in range(4)])
    np.testing.assert_array_equal(volume.array, expected)
    np.testing.assert_allclose(volume.ijk_to_ras, expected_ijk_to_ras(geometry), atol=1e-9)


def test_oblique_series_geometry(tmp_path):
    rotation = quaternion_to_rotation(0.9, 0.2, -0.3, 0.25)
    geometry = write_series(tmp_path / "oblique", rotation=rotation, count=5, seed=3)

    [volume] = read_dicom_series([tmp_path / "oblique"])

    np.testing.assert_allclose(volume.ijk_to_ras, expected_ijk_to_ras(geometry), atol=1e-6)
    assert [int(volume.array[k, 0, 0]) for k in range(5)] == [100 * k - 1024 for k in range(5)]
    # voxel (i=4, j=5, k=3) sits at origin + 4·col_sp·row + 5·row_sp·column + 3·dz·normal (LPS)
    lps = (
        np.asarray(geometry["origin"])
        + 4 * COLUMN_SPACING * geometry["row"]
        + 5 * ROW_SPACING * geometry["column"]
        + 3 * 2.5 * geometry["normal"]
    )
    ras = volume.ijk_to_ras @ np.array([4, 5, 3, 1.0])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-6)


def test_listing_files_in_any_order_gives_the_same_volume(tmp_path):
    write_series(tmp_path / "ct")
    files = sorted((tmp_path / "ct").iterdir(), reverse=True)
    [from_files] = read_dicom_series(files)
    [from_folder] = read_dicom_series([tmp_path / "ct"])
    np.testing.assert_array_equal(from_files.array, from_folder.array)


def test_fractional_rescale_gives_float32(tmp_path):
    write_series(tmp_path / "pet", slope=0.5, intercept=0.25)
    [volume] = read_dicom_series([tmp_path / "pet"])
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array[2], stored_pixels(2) * 0.5 + 0.25)


def test_values_beyond_int16_give_float32(tmp_path):
    uid = generate_uid()
    pixels = np.full((ROWS, COLUMNS), 40000, dtype=np.uint16)
    write_ct_slice(
        tmp_path / "a.dcm",
        series_uid=uid,
        position=[0, 0, 0],
        orientation=[1, 0, 0, 0, 1, 0],
        pixels=pixels,
        instance_number=1,
        intercept=0.0,
    )
    [volume] = read_dicom_series([tmp_path])
    assert volume.array.dtype == np.float32
    assert float(volume.array.max()) == 40000.0


def test_single_slice_uses_slice_thickness(tmp_path):
    write_ct_slice(
        tmp_path / "one.dcm",
        series_uid=generate_uid(),
        position=[1, 2, 3],
        orientation=[1, 0, 0, 0, 1, 0],
        pixels=stored_pixels(0),
        instance_number=1,
        thickness=3.5,
        description=None,
        series_number=42,
    )
    [volume] = read_dicom_series([tmp_path / "one.dcm"])
    assert volume.array.shape == (1, ROWS, COLUMNS)
    assert volume.name == "Series 42"
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 2], [0, 0, 3.5])
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 3], [-1, -2, 3])


def test_non_dicom_and_broken_files_are_skipped(tmp_path):
    folder = tmp_path / "mixed"
    write_series(folder / "nested" / "deeper")
    (folder / "README.txt").write_text("not an image", encoding="utf-8")
    (folder / "thumbnail.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (folder / "garbage.dcm").write_bytes(bytes(128) + b"DICM" + b"\xff" * 64)
    good = next((folder / "nested" / "deeper").iterdir()).read_bytes()
    (folder / "truncated.dcm").write_bytes(good[:-20])  # header fine, pixel data cut short

    [volume] = read_dicom_series([folder])

    assert volume.array.shape == (4, ROWS, COLUMNS)
    assert not is_dicom_file(folder / "README.txt")
    assert is_dicom_file(folder / "garbage.dcm")


def test_two_series_in_one_folder_give_two_volumes(tmp_path):
    write_series(tmp_path / "a", series_number=2, description="Scout")
    write_series(tmp_path / "b", series_number=1, description="Axial")
    volumes = read_dicom_series([tmp_path])
    assert [v.name for v in volumes] == ["Axial", "Scout"]  # by SeriesNumber


def test_inconsistent_image_sizes_are_refused(tmp_path):
    geometry = write_series(tmp_path, count=3)
    write_ct_slice(
        tmp_path / "odd.dcm",
        series_uid=geometry["uid"],
        position=[-20.0, 15.0, 60.0],
        orientation=[1, 0, 0, 0, 1, 0],
        pixels=np.zeros((ROWS + 1, COLUMNS), np.uint16),
        instance_number=9,
    )
    with pytest.raises(SceneError, match="inconsistent image sizes"):
        read_dicom_series([tmp_path])


def test_duplicate_positions_are_refused(tmp_path):
    uid = generate_uid()
    for index in range(2):
        write_ct_slice(
            tmp_path / f"{index}.dcm",
            series_uid=uid,
            position=[0, 0, 0],
            orientation=[1, 0, 0, 0, 1, 0],
            pixels=stored_pixels(index),
            instance_number=index,
        )
    with pytest.raises(SceneError, match="share one position"):
        read_dicom_series([tmp_path])


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    with pytest.raises(SceneError, match="no DICOM image series"):
        read_dicom_series([tmp_path])
    with pytest.raises(SceneError, match="no such file"):
        read_dicom_series([tmp_path / "absent"])


def test_is_dicom_file_checks_the_preamble(tmp_path):
    write_series(tmp_path / "s", count=1)
    assert is_dicom_file(next((tmp_path / "s").iterdir()))
    (tmp_path / "short").write_bytes(b"DICM")
    assert not is_dicom_file(tmp_path / "short")
    assert not is_dicom_file(tmp_path / "absent")


def test_images_without_position_are_stacked_in_instance_order(tmp_path):
    """Secondary captures: no ImagePositionPatient; InstanceNumber order, 1 mm along the normal."""
    uid = generate_uid()
    for number in (2, 0, 1):
        path = write_ct_slice(
            tmp_path / f"sc{number}.dcm",
            series_uid=uid,
            position=[0, 0, 0],
            orientation=[1, 0, 0, 0, 1, 0],
            pixels=stored_pixels(number),
            instance_number=number,
        )
        dataset = dcmread(path)
        del dataset.ImagePositionPatient
        dataset.save_as(path, enforce_file_format=True)

    [volume] = read_dicom_series([tmp_path])

    assert [int(volume.array[k, 0, 0]) for k in range(3)] == [-1024, -924, -824]
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 2], [0, 0, 1])
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 3], [0, 0, 0])
