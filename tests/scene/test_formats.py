"""Filetype detection: suffix table, content sniffing, and clear refusals."""

from __future__ import annotations

import json

import pytest

from bridge.scene.io.formats import detect_filetype, strip_known_suffix
from bridge.scene.io.markups_io import MARKUPS_SCHEMA
from bridge.scene.types import SceneError


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("MR-head.nrrd", "VolumeFile"),
        ("Detached.NHDR", "VolumeFile"),
        ("F.mrk.json", "MarkupsFile"),
        ("Transform.tfm", "TransformFile"),
        ("Segmentation.seg.nrrd", "SegmentationFile"),
        ("Detached.Seg.NHDR", "SegmentationFile"),
        ("IM0001.dcm", "DICOM"),
    ],
)
def test_suffixes_map_to_slicer_filetypes(tmp_path, name, kind):
    assert detect_filetype(tmp_path / name) == kind


def test_folder_is_dicom(tmp_path):
    assert detect_filetype(tmp_path) == "DICOM"


def test_json_and_txt_are_classified_by_content(tmp_path):
    markups = tmp_path / "points.json"
    markups.write_text(json.dumps({"@schema": MARKUPS_SCHEMA, "markups": []}), encoding="utf-8")
    transform = tmp_path / "registration.txt"
    transform.write_text("#Insight Transform File V1.0\n", encoding="ascii")
    assert detect_filetype(markups) == "MarkupsFile"
    assert detect_filetype(transform) == "TransformFile"

    other = tmp_path / "config.json"
    other.write_text('{"answer": 42}', encoding="utf-8")
    with pytest.raises(SceneError, match="not a markups schema"):
        detect_filetype(other)
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list", encoding="ascii")
    with pytest.raises(SceneError, match="read only as an ITK transform"):
        detect_filetype(notes)


def test_files_without_a_known_suffix_are_sniffed(tmp_path):
    dicom = tmp_path / "IM0001"
    dicom.write_bytes(bytes(128) + b"DICM" + bytes(16))
    volume = tmp_path / "volume.raw-header"
    volume.write_bytes(b"NRRD0004\ntype: short\n")
    assert detect_filetype(dicom) == "DICOM"
    assert detect_filetype(volume) == "VolumeFile"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("brain.nii.gz", "NIfTI is not supported"),
        ("Sequence.seq.nrrd", "sequence files"),
        ("transform.h5", "h5py"),
        ("transform.mat", "MATLAB"),
        ("scene.mrb", "scene bundles"),
    ],
)
def test_known_unsupported_formats_are_refused_with_the_reason(tmp_path, name, reason):
    with pytest.raises(SceneError, match=reason) as caught:
        detect_filetype(tmp_path / name)
    assert name in str(caught.value)


def test_unknown_file_names_the_path_and_the_supported_kinds(tmp_path):
    mystery = tmp_path / "mystery.bin"
    mystery.write_bytes(b"\x00\x01\x02")
    with pytest.raises(SceneError, match=r"mystery\.bin.*VolumeFile.*MarkupsFile.*DICOM"):
        detect_filetype(mystery)
    with pytest.raises(SceneError, match="no such file"):
        detect_filetype(tmp_path / "absent.bin")


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("MR-head.nrrd", "MR-head"),
        ("F.mrk.json", "F"),
        ("a.b.tfm", "a.b"),
        ("IM0001", "IM0001"),
        ("Liver.seg.nrrd", "Liver"),
    ],
)
def test_node_name_is_the_file_name_without_its_format_suffix(tmp_path, name, stem):
    assert strip_known_suffix(tmp_path / name) == stem
