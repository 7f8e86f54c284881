"""The DICOM store without HTTP: header indexing, folder import (both cores, duplicates,
skipped files with reasons), pydicom's own test files, removal and the CLI."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import orjson
import pydicom.data
import pytest

from bridge.dicom import pixels, store_path
from bridge.dicom.attributes import Level, parse_attribute_id
from bridge.dicom.cli import add_dicom_commands
from bridge.dicom.header import read_header
from bridge.dicom.importer import import_paths
from bridge.dicom.sqlite_store import SqliteStore
from bridge.dicom.types import MatchKey, NotDicom, NotFound, QidoQuery, QueryError

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"


def study_query(**filters: str) -> QidoQuery:
    keys = tuple(MatchKey(parse_attribute_id(k), v) for k, v in filters.items())
    return QidoQuery(Level.STUDY, filters=keys)


def rows(result) -> list[dict]:
    return [orjson.loads(row) for row in result.rows]


# -- header indexing --------------------------------------------------------------------------


def test_frames_are_read_from_the_offsets_recorded_at_import(store, test_data):
    for instance in test_data.instances:
        (located,) = store.instances(instance.study, instance.series, instance.sop)
        if not instance.frames:
            assert located.pixels is None
            continue
        numbers = list(range(1, len(instance.frames) + 1))
        assert pixels.stored_frames(located, numbers) == instance.frames


def test_metadata_is_cached_without_pixels_and_with_relative_bulk_uris(store, test_data):
    instance = test_data.study("ct").instances[0]
    (blob,) = store.metadata(instance.study, instance.series, instance.sop)
    item = orjson.loads(blob)
    prefix = f"studies/{instance.study}/series/{instance.series}/instances/{instance.sop}/bulk/"
    assert item["7FE00010"] == {"vr": "OW", "BulkDataURI": prefix + "7FE00010"}
    assert item["00420011"]["BulkDataURI"] == prefix + "00420011"
    assert list(item) == sorted(item)
    assert not any(key.startswith("0002") for key in item)


def test_broken_files_are_refused_with_a_reason(tmp_path, test_data):
    source = test_data.study("ct").instances[0].path.read_bytes()
    cases = {
        "notes.txt": (b"just text", "not a DICOM Part 10 file"),
        "cut.dcm": (source[: len(source) - 100], "truncated"),
        "header_only.dcm": (source[:140], "no TransferSyntaxUID"),
        "cut_in_header.dcm": (source[:700], "broken DICOM|missing"),
        "jpeg_cut.dcm": (
            test_data.by_sop(
                next(i.sop for i in test_data.instances if len(i.frames) == 2)
            ).path.read_bytes()[:-600],
            "truncated",
        ),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(NotDicom, match=reason):
            read_header(path)


# -- import -----------------------------------------------------------------------------------


def test_import_skips_what_is_not_dicom_and_counts_duplicates(tmp_path, test_data):
    folder = tmp_path / "in"
    shutil.copytree(test_data.root, folder)
    shutil.copy(test_data.study("head").instances[0].path, folder / "copy_of_head1.dcm")
    store = SqliteStore(tmp_path / "store")
    report = import_paths(store, [folder, tmp_path / "missing"], workers=1)
    assert report.added == len(test_data.instances)
    assert report.duplicates == 1
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["notes.txt"].startswith("not a DICOM Part 10 file")
    assert reasons["missing"] == "no such file or folder"
    again = import_paths(store, [folder], workers=1)
    assert (again.added, again.duplicates) == (0, len(test_data.instances) + 1)
    assert store.counts() == {
        "patients": 3,
        "studies": 4,
        "series": 7,
        "instances": len(test_data.instances),
    }
    store.close()


def test_import_of_pydicoms_test_files_on_both_cores(tmp_path):
    store = SqliteStore(tmp_path / "store")
    report = import_paths(store, [PYDICOM_FILES], workers=2)
    assert report.added > 100
    assert report.skipped  # README files, DICOMDIRs, files without meta: each with a reason
    assert all(skipped.reason for skipped in report.skipped)
    found = rows(store.search(study_query(PatientID="12345678\\77654033\\98890234")))
    assert {row["00100020"]["Value"][0] for row in found} == {"12345678", "77654033", "98890234"}
    # Every indexed instance answers its metadata; every image its first frame.
    everything = store.search(QidoQuery(Level.INSTANCE))
    assert len(everything.rows) == report.added
    for row in rows(everything):
        study, series, sop = (row[k]["Value"][0] for k in ("0020000D", "0020000E", "00080018"))
        (instance,) = store.instances(study, series, sop)
        assert store.metadata(study, series, sop)
        if instance.pixels is not None and pixels.is_native(instance.transfer_syntax):
            assert pixels.stored_frames(instance, [1])
    store.close()


def test_import_with_copy_owns_the_files(tmp_path, test_data):
    store = SqliteStore(tmp_path / "store")
    report = import_paths(store, [test_data.study("knee").instances[0].path], copy=True)
    assert report.added == 1
    (copied,) = list((tmp_path / "store" / "files").rglob("*.dcm"))
    knee = test_data.study("knee").instances[0]
    assert copied.read_bytes() == knee.path.read_bytes()
    store.remove(knee.study)
    assert not copied.exists() and knee.path.exists()
    store.close()


# -- removal and aggregates -------------------------------------------------------------------


def test_removal_updates_counts_and_drops_empty_levels(store, test_data):
    brain = test_data.study("brain")
    (row,) = rows(store.search(study_query(StudyInstanceUID=brain.uid)))
    assert row["00201206"]["Value"] == [3] and row["00080061"]["Value"] == ["MR", "SR"]
    report_series = next(uid for uid, s in brain.series.items() if s[0].modality == "SR")
    assert store.remove(brain.uid, report_series) == 1
    (row,) = rows(store.search(study_query(StudyInstanceUID=brain.uid)))
    assert row["00201206"]["Value"] == [2] and row["00080061"]["Value"] == ["MR"]
    assert row["00201208"]["Value"] == [4]
    assert store.remove(brain.uid) == 4
    assert rows(store.search(study_query(PatientID="PAT-SM"))) == []
    assert store.counts()["patients"] == 2
    with pytest.raises(NotFound):
        store.remove(brain.uid)
    with pytest.raises(NotFound):
        store.metadata(brain.uid)


def test_the_generation_changes_with_every_write(store, test_data):
    before = store.generation()
    store.remove(test_data.study("head").uid)
    assert store.generation() > before


def test_matching_rejects_values_that_do_not_parse(store):
    for filters in ({"StudyDate": "2024-01"}, {"StudyInstanceUID": "1.2.x"}):
        with pytest.raises(QueryError):
            store.search(study_query(**filters))


# -- the command line -------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="slicer-bridge")
    add_dicom_commands(parser.add_subparsers(dest="subcommand", required=True))
    arguments = parser.parse_args(list(argv))
    return arguments.run(arguments)


def test_cli_import_info_and_remove(tmp_path, test_data, capsys):
    data_dir = tmp_path / "data"
    assert run_cli("dicom", "import", "--data-dir", str(data_dir), str(test_data.root)) == 0
    out, err = capsys.readouterr()
    assert f"imported {len(test_data.instances)} instance(s) of 4 study(ies)" in out
    assert "notes.txt: not a DICOM Part 10 file" in out
    assert "importing" in err and "100%" in err  # the progress bar
    assert run_cli("dicom", "info", "--data-dir", str(data_dir)) == 0
    assert f"instances: {len(test_data.instances)}" in capsys.readouterr().out
    head = test_data.study("head")
    assert run_cli("dicom", "remove", "--data-dir", str(data_dir), head.uid) == 0
    assert "removed 2 instance(s)" in capsys.readouterr().out
    assert run_cli("dicom", "remove", "--data-dir", str(data_dir), head.uid) == 1
    assert (store_path(data_dir) / "index.sqlite").exists()


def test_cli_import_of_a_missing_folder_fails(tmp_path, capsys):
    code = run_cli("dicom", "import", "--quiet", "--data-dir", str(tmp_path), str(tmp_path / "x"))
    assert code == 1
    assert "no such file or folder" in capsys.readouterr().out
