"""Displacement-field NRRD ↔ `GridTransformData`: ITK's layout read (LPS vectors and geometry,
vector axis anywhere), written back the same way, the `/slicer/gridTransform` wire layout,
and what is not a displacement field refused."""

from __future__ import annotations

import io
import warnings

import nrrd
import numpy as np
import pytest
from slicer_files import (
    GRID_SHAPE,
    IJK_TO_LPS,
    IJK_TO_RAS,
    displacements_ras,
    write_displacement_field,
)

from bridge.scene.io.grid_transform_nrrd import (
    decode_grid_transform_nrrd,
    encode_grid_transform_nrrd,
    read_grid_transform_nrrd,
    write_grid_transform_nrrd,
)
from bridge.scene.io.nrrd_io import read_nrrd
from bridge.scene.types import GridTransformData, SceneError


@pytest.mark.parametrize("vector_axis_first", [True, False])
def test_itk_displacement_field_reads_as_ras_vectors_on_the_ras_grid(tmp_path, vector_axis_first):
    path = write_displacement_field(tmp_path / "Warp.nrrd", vector_axis_first=vector_axis_first)
    grid = read_grid_transform_nrrd(path)
    assert grid.name == "Warp"
    assert grid.displacements.shape == (*GRID_SHAPE, 3)
    assert np.array_equal(grid.displacements, displacements_ras())
    assert np.allclose(grid.ijk_to_ras, IJK_TO_RAS, rtol=0, atol=1e-12)


def test_float32_fields_stay_float32(tmp_path):
    path = write_displacement_field(tmp_path / "f.nrrd", dtype="float32", encoding="raw")
    grid = read_grid_transform_nrrd(path)
    assert grid.displacements.dtype == np.float32
    assert np.array_equal(grid.displacements, displacements_ras("float32"))


def test_written_field_is_itk_layout_and_reads_back(tmp_path):
    source = GridTransformData(displacements_ras(), IJK_TO_RAS)
    target = tmp_path / "out.nrrd"
    write_grid_transform_nrrd(target, source)
    array, header = nrrd.read(str(target), index_order="C")
    assert header["kinds"] == ["vector", "domain", "domain", "domain"]
    assert header["space"] == "left-posterior-superior" and header["encoding"] == "gzip"
    assert np.allclose(header["space directions"][1:], IJK_TO_LPS[:3, :3].T, atol=1e-12)
    assert np.allclose(header["space origin"], IJK_TO_LPS[:3, 3])
    assert np.array_equal(array, displacements_ras() * [-1, -1, 1])  # LPS vectors
    back = read_grid_transform_nrrd(target)
    assert np.array_equal(back.displacements, source.displacements)
    assert np.allclose(back.ijk_to_ras, IJK_TO_RAS, rtol=0, atol=1e-12)


def test_detached_header_field_round_trips(tmp_path):
    write_grid_transform_nrrd(
        tmp_path / "d.nhdr", GridTransformData(displacements_ras(), IJK_TO_RAS), compress=False
    )
    assert np.array_equal(
        read_grid_transform_nrrd(tmp_path / "d.nhdr").displacements, displacements_ras()
    )


def test_webserver_layout_is_the_originals_line_for_line_with_its_bugs_fixed():
    field = displacements_ras("float32")
    data = encode_grid_transform_nrrd(GridTransformData(field, IJK_TO_RAS))
    header, _, voxels = data.partition(b"\n\n")
    lines = header.decode("ascii").splitlines()
    assert lines[:3] == [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
    ]
    assert [line.split(":")[0] for line in lines[3:]] == [
        "type", "dimension", "space", "sizes", "space directions", "kinds", "endian",
        "encoding", "space origin",
    ]  # fmt: skip
    assert lines[3] == "type: float"  # the type the field has (was always `float`)
    assert lines[6] == "sizes: 3 5 4 3"
    assert lines[7].startswith("space directions: none (")  # 4 entries for 4 axes (was 3)
    assert lines[8] == "kinds: vector domain domain domain"
    assert np.array_equal(np.frombuffer(voxels, "<f4"), (field * [-1, -1, 1]).ravel())
    parsed = nrrd.read_header(io.BytesIO(data))  # a valid NRRD for a real reader
    assert parsed["dimension"] == 4 and np.isnan(parsed["space directions"][0]).all()
    back = decode_grid_transform_nrrd(data)
    assert np.array_equal(back.displacements, field)
    assert np.allclose(back.ijk_to_ras, IJK_TO_RAS, rtol=0, atol=1e-12)  # oblique grid kept


def test_webserver_layout_of_a_float64_field_says_double():
    data = encode_grid_transform_nrrd(GridTransformData(displacements_ras(), IJK_TO_RAS))
    assert b"\ntype: double\n" in data


@pytest.mark.parametrize(
    ("array", "header", "fragment"),
    [
        (np.zeros((2, 2, 2), np.float32), {}, "4-D NRRD with three spatial axes"),
        (np.zeros((2, 2, 2, 2), np.float32), {"kinds": ["vector", "domain", "domain", "domain"]},
         "need 3 components"),
        (np.zeros((2, 2, 2, 3), np.float32), {"kinds": ["domain"] * 4},
         "4-D NRRD with three spatial axes"),
        (np.full((2, 2, 2, 3), np.nan, np.float32),
         {"kinds": ["vector", "domain", "domain", "domain"]}, "NaN"),
    ],
)  # fmt: skip
def test_what_is_not_a_displacement_field_is_refused(array, header, fragment):
    stream = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(stream, array, {"encoding": "raw", **header}, index_order="C")
    with pytest.raises(SceneError, match=fragment):
        decode_grid_transform_nrrd(stream.getvalue())


def test_a_field_loaded_as_a_volume_says_how_to_load_it(tmp_path):
    path = write_displacement_field(tmp_path / "warp.nrrd")
    with pytest.raises(SceneError, match="filetype TransformFile"):
        read_nrrd(path)
