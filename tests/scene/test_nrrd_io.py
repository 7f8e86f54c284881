"""NRRD reading and writing: geometry in every supported space, voxel types, shapes, errors."""

from __future__ import annotations

import io
from pathlib import Path

import nrrd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.geometry import quaternion_to_rotation
from bridge.scene.io.nrrd_io import decode_nrrd, encode_nrrd, read_nrrd, write_nrrd
from bridge.scene.types import SceneError, VolumeData

#: A non-trivial geometry: axes permuted and flipped, anisotropic spacing, off-centre origin.
DIRECTIONS = np.array([[0.0, 0.9, 0.0], [0.0, 0.0, -0.8], [1.5, 0.0, 0.0]])  # one row per axis
ORIGIN = np.array([12.5, -30.0, 7.25])


def write_with_pynrrd(path: Path, array_kji: np.ndarray, header: dict) -> Path:
    """A real NRRD file written by pynrrd directly (not by the code under test)."""
    nrrd.write(str(path), array_kji, header, index_order="C")
    return path


def expected_ijk_to_ras(directions_rows: np.ndarray, origin: np.ndarray, flip) -> np.ndarray:
    """Hand-built IJK→RAS: columns are the axis vectors, flipped per axis into RAS."""
    matrix = np.eye(4)
    matrix[:3, :3] = (np.asarray(directions_rows).T) * np.asarray(flip)[:, None]
    matrix[:3, 3] = np.asarray(origin) * np.asarray(flip)
    return matrix


@pytest.fixture
def voxels() -> np.ndarray:
    return np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 7


@pytest.mark.parametrize(
    ("space", "flip"),
    [
        ("left-posterior-superior", (-1, -1, 1)),
        ("LPS", (-1, -1, 1)),
        ("right-anterior-superior", (1, 1, 1)),
        ("left-anterior-superior", (-1, 1, 1)),
    ],
)
def test_space_is_converted_to_ras(tmp_path, voxels, space, flip):
    header = {"space": space, "space directions": DIRECTIONS, "space origin": ORIGIN}
    path = write_with_pynrrd(tmp_path / "volume.nrrd", voxels, header)

    volume = read_nrrd(path)

    np.testing.assert_array_equal(volume.ijk_to_ras, expected_ijk_to_ras(DIRECTIONS, ORIGIN, flip))
    np.testing.assert_array_equal(volume.array, voxels)
    assert volume.array.dtype == np.int16
    assert volume.name == "volume"


def test_lps_voxel_lands_where_hand_computed(tmp_path):
    """Voxel (i=3, j=2, k=1) of an LPS file: origin + 3·dir_i + 2·dir_j + dir_k, x and y flipped."""
    array = np.zeros((2, 3, 4), dtype=np.uint8)
    header = {"space": "left-posterior-superior", "space directions": DIRECTIONS}
    header["space origin"] = ORIGIN
    volume = read_nrrd(write_with_pynrrd(tmp_path / "v.nrrd", array, header))

    lps = ORIGIN + 3 * DIRECTIONS[0] + 2 * DIRECTIONS[1] + 1 * DIRECTIONS[2]
    ras = volume.ijk_to_ras @ np.array([3, 2, 1, 1.0])
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]])


def test_gzip_and_bzip2_files_are_read(tmp_path, voxels):
    for encoding in ("gzip", "bzip2", "raw"):
        header = {"space": "RAS", "space directions": np.eye(3), "encoding": encoding}
        path = write_with_pynrrd(tmp_path / f"{encoding}.nrrd", voxels, header)
        np.testing.assert_array_equal(read_nrrd(path).array, voxels)


def test_detached_header_is_read(tmp_path, voxels):
    header = {"space": "LPS", "space directions": np.eye(3), "encoding": "gzip"}
    path = write_with_pynrrd(tmp_path / "detached.nhdr", voxels, header)
    assert (tmp_path / "detached.raw.gz").is_file()

    volume = read_nrrd(path)

    np.testing.assert_array_equal(volume.array, voxels)
    assert volume.name == "detached"


def test_file_without_space_is_read_like_itk_does(tmp_path, voxels):
    """No space: ITK's identity directions and `spacings` in its LPS frame → diag(−sx, −sy, sz)."""
    header = {"spacings": [0.5, 2.0, 3.0]}
    volume = read_nrrd(write_with_pynrrd(tmp_path / "plain.nrrd", voxels, header))

    np.testing.assert_array_equal(volume.ijk_to_ras, np.diag([-0.5, -2.0, 3.0, 1.0]))


def test_file_without_space_or_spacings_has_unit_spacing(tmp_path, voxels):
    volume = read_nrrd(write_with_pynrrd(tmp_path / "bare.nrrd", voxels, {}))
    np.testing.assert_array_equal(volume.ijk_to_ras, np.diag([-1.0, -1.0, 1.0, 1.0]))


def test_big_endian_file_keeps_values_and_type(tmp_path):
    array = (np.arange(24).reshape(2, 3, 4) * 1000 - 5000).astype(">i4")
    path = write_with_pynrrd(tmp_path / "be.nrrd", array, {"encoding": "raw"})
    assert b"endian: big" in path.read_bytes()[:400]

    volume = read_nrrd(path)

    assert volume.array.dtype == np.dtype("int32")
    np.testing.assert_array_equal(volume.array, array)


def test_two_dimensional_image_becomes_one_slice(tmp_path):
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    header = {"space": "LPS", "space directions": np.array([[0.5, 0, 0], [0, 0.5, 0]])}
    volume = read_nrrd(write_with_pynrrd(tmp_path / "image.nrrd", image, header))

    assert volume.array.shape == (1, 3, 4)
    np.testing.assert_array_equal(volume.array[0], image)
    np.testing.assert_allclose(volume.ijk_to_ras[:3, :3], np.diag([-0.5, -0.5, 1.0]))


def test_component_axis_of_size_one_is_squeezed(tmp_path, voxels):
    array = voxels[..., np.newaxis]  # NRRD axis 0 (fastest) is the component axis
    directions = np.vstack([np.full(3, np.nan), np.eye(3)])
    header = {"space": "LPS", "space directions": directions, "kinds": ["vector", *["domain"] * 3]}
    volume = read_nrrd(write_with_pynrrd(tmp_path / "one.nrrd", array, header))

    np.testing.assert_array_equal(volume.array, voxels)
    np.testing.assert_array_equal(volume.ijk_to_ras, np.diag([-1.0, -1.0, 1.0, 1.0]))


def test_vector_volume_is_refused(tmp_path, voxels):
    array = np.stack([voxels] * 3, axis=-1)
    directions = np.vstack([np.full(3, np.nan), np.eye(3)])
    header = {"space": "LPS", "space directions": directions, "kinds": ["vector", *["domain"] * 3]}
    path = write_with_pynrrd(tmp_path / "rgb.nrrd", array, header)

    with pytest.raises(SceneError, match=r"only scalar volumes.*'vector' axis of size 3"):
        read_nrrd(path)


def test_four_dimensional_volume_is_refused(tmp_path):
    path = write_with_pynrrd(tmp_path / "4d.nrrd", np.zeros((2, 2, 2, 2), np.uint8), {})
    with pytest.raises(SceneError, match="4 spatial axes"):
        read_nrrd(path)


def test_unsupported_space_is_refused(tmp_path, voxels):
    header = {"space": "scanner-xyz", "space directions": np.eye(3)}
    path = write_with_pynrrd(tmp_path / "scanner.nrrd", voxels, header)
    with pytest.raises(SceneError, match="unsupported NRRD space 'scanner-xyz'"):
        read_nrrd(path)


def test_missing_and_corrupt_files_raise_scene_error(tmp_path):
    with pytest.raises(SceneError, match="cannot read"):
        read_nrrd(tmp_path / "absent.nrrd")
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\nxx")
    with pytest.raises(SceneError, match="broken.nrrd"):
        read_nrrd(broken)
    with pytest.raises(SceneError, match="cannot decode NRRD"):
        decode_nrrd(b"this is not a nrrd")


def test_written_file_uses_slicer_conventions(tmp_path, voxels):
    ijk_to_ras = expected_ijk_to_ras(DIRECTIONS, ORIGIN, (1, 1, 1))
    path = tmp_path / "out.nrrd"
    write_nrrd(path, VolumeData(array=voxels, ijk_to_ras=ijk_to_ras))

    array, header = nrrd.read(str(path), index_order="C")  # an independent reader
    assert header["space"] == "left-posterior-superior"
    assert header["kinds"] == ["domain", "domain", "domain"]
    assert header["encoding"] == "gzip"
    np.testing.assert_array_equal(header["space directions"], DIRECTIONS * [-1, -1, 1])
    np.testing.assert_array_equal(header["space origin"], ORIGIN * [-1, -1, 1])
    np.testing.assert_array_equal(array, voxels)
    assert [p.name for p in tmp_path.iterdir()] == ["out.nrrd"]  # no temp file left behind


def test_uncompressed_and_detached_writes_round_trip(tmp_path, voxels):
    volume = VolumeData(array=voxels, ijk_to_ras=np.diag([2.0, 3.0, 4.0, 1.0]))
    write_nrrd(tmp_path / "raw.nrrd", volume, compress=False)
    write_nrrd(tmp_path / "split.nhdr", volume)

    assert b"encoding: raw" in (tmp_path / "raw.nrrd").read_bytes()[:500]
    for name in ("raw.nrrd", "split.nhdr"):
        again = read_nrrd(tmp_path / name)
        np.testing.assert_array_equal(again.array, voxels)
        np.testing.assert_array_equal(again.ijk_to_ras, volume.ijk_to_ras)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 2), np.int16), "only 3-D scalar volumes"),
        (np.zeros((2, 2, 2, 3), np.int16), "only 3-D scalar volumes"),
        (np.zeros((2, 2, 2), bool), "voxel type bool cannot be stored"),
        (np.zeros((2, 2, 2), np.float16), "voxel type float16 cannot be stored"),
    ],
)
def test_unwritable_volumes_are_refused(array, message):
    with pytest.raises(SceneError, match=message):
        encode_nrrd(VolumeData(array=array, ijk_to_ras=np.eye(4)))


def test_ascii_encoding_and_bad_geometry_are_refused():
    volume = VolumeData(array=np.zeros((2, 2, 2), np.int64), ijk_to_ras=np.eye(4))
    with pytest.raises(SceneError, match="unsupported NRRD encoding 'ascii'"):
        encode_nrrd(volume, encoding="ascii")
    bad = VolumeData(array=volume.array, ijk_to_ras=np.full((4, 4), np.nan))
    with pytest.raises(SceneError, match="NaN"):
        encode_nrrd(bad)


def test_decode_refuses_detached_data():
    header = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 1 1 1\nencoding: raw\n"
    with pytest.raises(SceneError, match="detached"):
        decode_nrrd(header + b"data file: elsewhere.raw\n\n")


def test_encoded_bytes_are_readable_by_pynrrd():
    volume = VolumeData(array=np.arange(8, dtype=np.uint16).reshape(2, 2, 2), ijk_to_ras=np.eye(4))
    stream = io.BytesIO(encode_nrrd(volume, encoding="gzip"))
    header = nrrd.read_header(stream)
    np.testing.assert_array_equal(nrrd.read_data(header, stream, index_order="C"), volume.array)


# -- property: encode → decode is bit-identical, geometry exact --------------------------------

DTYPES = ["i1", "u1", "<i2", ">i2", "<u2", "<i4", ">u4", "<i8", "<u8", "<f4", ">f4", "<f8", ">f8"]


@st.composite
def volumes(draw) -> VolumeData:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=3, max_size=3)))
    count = int(np.prod(shape))
    raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)  # any bit pattern, NaNs included
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    quaternion = draw(st.lists(st.floats(-1, 1), min_size=4, max_size=4))
    if np.linalg.norm(quaternion) < 1e-3:
        quaternion = [1.0, 0.0, 0.0, 0.0]
    rotation = quaternion_to_rotation(*quaternion)
    spacing = np.array(draw(st.lists(st.floats(0.01, 10), min_size=3, max_size=3)))
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = rotation * spacing
    ijk_to_ras[:3, 3] = draw(st.lists(finite, min_size=3, max_size=3))
    return VolumeData(array=array, ijk_to_ras=ijk_to_ras)


@settings(max_examples=150, deadline=None)
@given(volume=volumes(), encoding=st.sampled_from(["raw", "gzip", "bzip2"]))
def test_encode_decode_round_trip_is_bit_identical(volume, encoding):
    decoded = decode_nrrd(encode_nrrd(volume, encoding=encoding))

    assert decoded.array.dtype == volume.array.dtype.newbyteorder("=")
    assert decoded.array.shape == volume.array.shape
    assert decoded.array.tobytes() == volume.array.astype(decoded.array.dtype).tobytes()
    np.testing.assert_array_equal(decoded.ijk_to_ras, volume.ijk_to_ras)  # exact, not close


def test_corrupt_compressed_data_raises_scene_error():
    volume = VolumeData(
        array=np.arange(1000, dtype=np.int16).reshape(10, 10, 10), ijk_to_ras=np.eye(4)
    )
    for encoding in ("gzip", "bzip2"):
        encoded = encode_nrrd(volume, encoding=encoding)
        header_end = encoded.index(b"\n\n") + 2
        with pytest.raises(SceneError, match="cannot decode NRRD"):
            decode_nrrd(encoded[:header_end] + b"\x1f\x8bBZh9 not compressed data" * 4)
