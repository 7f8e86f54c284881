"""Content codecs: round trips, the layouts of the protocol documents, and pyigtl as the
independent implementation where it is right (TRANSFORM, IMAGE, POINT, STRING)."""

from __future__ import annotations

import struct

import numpy as np
import pyigtl
import pytest
from igtl_peers import CUBE_POINTS, IJK_TO_RAS, POSE, rigid, volume

from adapters.igtl.codecs import command, image, points, polydata, queries, status, text, tracking
from adapters.igtl.wire import Frame, MessageError, crc64, pack_message
from bridge import geometry


def frame(type_name: str, content: bytes, device: str = "dev") -> Frame:
    return Frame(1, type_name, device, 0.0, content, crc64(content), 0.0)


def pyigtl_decode(message: pyigtl.MessageBase, packed: bytes) -> pyigtl.MessageBase:
    message.unpack(pyigtl.MessageBase.parse_header(packed[:58]), packed[58:])
    return message


# -- TRANSFORM, POSITION, TDATA, QTDATA -----------------------------------------------------------


def test_transform_round_trips_and_pyigtl_reads_it():
    content = tracking.encode_transform(POSE)
    assert len(content) == 48
    assert np.allclose(tracking.decode_transform(frame("TRANSFORM", content)), POSE, atol=1e-5)
    packed = pack_message("TRANSFORM", "Tool", content).to_bytes()
    assert np.allclose(pyigtl_decode(pyigtl.TransformMessage(), packed).matrix, POSE, atol=1e-5)


def test_transform_content_is_the_upper_3x4_column_by_column():
    values = struct.unpack(">12f", tracking.encode_transform(POSE))
    assert np.allclose(values[9:12], POSE[:3, 3])  # TX TY TZ last
    assert np.allclose(values[0:3], POSE[:3, 0], atol=1e-6)  # R11 R21 R31 first


def test_position_is_28_bytes_x_y_z_then_quaternion_x_y_z_w():
    position, quaternion = tracking.pose_of_matrix(POSE)
    content = tracking.encode_position(position, quaternion)
    assert len(content) == 28
    assert np.allclose(struct.unpack(">7f", content)[3:], quaternion, atol=1e-6)
    [pose] = tracking.decode_position(content)
    assert np.allclose(pose.matrix(), POSE, atol=1e-5)


def test_the_short_position_layouts_of_the_reference_library_are_read():
    [position_only] = tracking.decode_position(struct.pack(">3f", 1, 2, 3))
    assert np.allclose(position_only.matrix(), geometry.pose_matrix(None, (1, 2, 3)))
    _, (x, y, z, _w) = tracking.pose_of_matrix(POSE)
    [three] = tracking.decode_position(struct.pack(">6f", 1, 2, 3, x, y, z))
    assert np.allclose(three.matrix()[:3, :3], POSE[:3, :3], atol=1e-5)


def test_pyigtl_position_elements_are_read_despite_their_152_byte_layout():
    _, (x, y, z, w) = tracking.pose_of_matrix(POSE)
    message = pyigtl.PositionMessage(
        positions=[[1, 2, 3], [4, 5, 6]], quaternions=[[x, y, z, w], [0, 0, 0, 1]],
        names=["A", "B"], device_name="P",
    )  # fmt: skip
    poses = tracking.decode_position(message.pack()[58:])
    assert [p.name for p in poses] == ["A", "B"]
    assert np.allclose(poses[0].matrix()[:3, :3], POSE[:3, :3], atol=1e-5)
    assert np.allclose(poses[1].matrix()[:3, 3], (4, 5, 6))


@pytest.mark.parametrize("size", [0, 13, 100])
def test_a_position_of_any_other_size_is_refused(size):
    with pytest.raises(MessageError):
        tracking.decode_position(bytes(size))


def test_tdata_names_come_without_decoding_matrices_and_elements_round_trip():
    other = rigid(-1.2, (0, 0, 1), (0, 5, 0))
    content = tracking.encode_tdata([("Stylus", POSE), ("Reference", other)])
    assert len(content) == 140
    assert tracking.tdata_names(content) == ["Stylus", "Reference"]
    assert np.allclose(tracking.decode_tdata_matrix(content, 1), other, atol=1e-5)


def test_qtdata_elements_are_50_bytes_and_round_trip():
    content = tracking.encode_qtdata([("Probe", POSE)])
    assert len(content) == 50
    assert tracking.qtdata_names(content) == ["Probe"]
    assert np.allclose(tracking.decode_qtdata_pose(content, 0).matrix(), POSE, atol=1e-5)


def test_tdata_of_a_partial_element_is_refused():
    with pytest.raises(MessageError, match="whole number"):
        tracking.tdata_names(bytes(71))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (tracking.encode_stream_request(0.05, "Patient"), (0.05, "Patient")),
        (b"\0" + tracking.encode_stream_request(0.1, ""), (0.1, "")),
        (b"", (0.0, "")),
    ],
)
def test_stt_tracking_requests_carry_a_resolution_in_ms(content, expected):
    assert tracking.decode_stream_request(content) == pytest.approx(expected)


# -- IMAGE ----------------------------------------------------------------------------------------


def test_an_image_round_trips_with_its_ras_geometry():
    content = image.encode_image(volume(), IJK_TO_RAS)
    decoded = image.decode_image(frame("IMAGE", content))
    assert np.array_equal(decoded.array, volume())
    assert np.allclose(decoded.ijk_to_ras, IJK_TO_RAS, atol=1e-5)


def test_pyigtl_reads_our_image_in_lps_with_the_same_voxels():
    packed = pack_message("IMAGE", "US", image.encode_image(volume(), IJK_TO_RAS)).to_bytes()
    message = pyigtl_decode(pyigtl.ImageMessage(), packed)
    assert message.world_coordinate_system == "lps"
    assert np.array_equal(message.image, volume())
    assert np.allclose(geometry.LPS_TO_RAS @ message.ijk_to_world_matrix, IJK_TO_RAS, atol=1e-4)


@pytest.mark.parametrize("system", ["ras", "lps"])
def test_pyigtl_images_are_read_in_either_coordinate_system(system):
    world = IJK_TO_RAS if system == "ras" else geometry.LPS_TO_RAS @ IJK_TO_RAS
    message = pyigtl.ImageMessage(
        volume(), ijk_to_world_matrix=world, world_coordinate_system=system, device_name="V"
    )
    decoded = image.decode_image(frame("IMAGE", message.pack()[58:]))
    assert np.allclose(decoded.ijk_to_ras, IJK_TO_RAS, atol=1e-4)


def test_big_endian_voxels_become_native_and_odd_types_are_refused():
    content = bytearray(image.encode_image(volume("<u2"), IJK_TO_RAS))
    content[4] = image.BIG_ENDIAN
    content[72:] = volume(">u2").tobytes()
    decoded = image.decode_image(frame("IMAGE", bytes(content)))
    assert decoded.array.dtype.isnative and np.array_equal(decoded.array, volume("<u2"))
    with pytest.raises(MessageError, match="voxel type"):
        image.encode_image_header(volume("<i8"), IJK_TO_RAS)


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        ({2: 3}, "components"),
        ({3: 9}, "scalar type"),
        ({66: 0, 67: 1}, "sub-volume"),
    ],
)
def test_images_that_are_no_scalar_volume_are_refused(patch, problem):
    content = bytearray(image.encode_image(volume(), IJK_TO_RAS))
    for offset, value in patch.items():
        content[offset] = value
    with pytest.raises(MessageError, match=problem):
        image.decode_image(frame("IMAGE", bytes(content)))


def test_an_image_whose_voxels_do_not_fill_its_size_is_refused():
    content = image.encode_image(volume(), IJK_TO_RAS)[:-2]
    with pytest.raises(MessageError, match="voxel bytes"):
        image.decode_image(frame("IMAGE", content))


# -- POINT, STRING, STATUS, COMMAND ---------------------------------------------------------------


def test_points_are_136_bytes_each_and_pyigtl_reads_them():
    positions = np.array([[1.0, 2.0, 3.0], [-4.0, 5.5, 6.0]])
    content = points.encode_points(positions, ["F-1", "Fé-2"], group="G", owner="List")
    assert len(content) == 272
    decoded = points.decode_points(content)
    assert decoded.names == ("F-1", "Fé-2")
    assert np.allclose(decoded.positions, positions)
    packed = pack_message("POINT", "List", content).to_bytes()
    message = pyigtl_decode(pyigtl.PointMessage(), packed)
    assert message.names == ["F-1", "Fé-2"]
    assert np.allclose(message.positions, positions)


def test_a_point_name_with_invalid_utf8_is_decoded_with_replacement():
    content = bytearray(points.encode_points(np.zeros((1, 3)), ["x"]))
    content[0:3] = b"a\xffb"
    assert points.decode_points(bytes(content)).names == ("a\ufffdb",)


@pytest.mark.parametrize("value", ["plain ascii", "Grüße, 東京", ""])
def test_strings_round_trip_and_non_ascii_goes_as_utf8(value):
    content = text.encode_string(value)
    assert text.decode_string(content) == value
    encoding = struct.unpack(">H", content[:2])[0]
    assert encoding == (3 if value.isascii() else 106)


def test_pyigtl_strings_are_read_and_unknown_encodings_refused():
    message = pyigtl.StringMessage("from pyigtl", device_name="T")
    assert text.decode_string(message.pack()[58:]) == "from pyigtl"
    with pytest.raises(MessageError, match="MIBenum 9999"):
        text.decode_string(struct.pack(">HH", 9999, 1) + b"x")
    with pytest.raises(MessageError, match="announces"):
        text.decode_string(struct.pack(">HH", 3, 10) + b"short")


def test_status_round_trips():
    report = status.Status(9, -5, "ChecksumError", "CRC mismatch on TRANSFORM")
    content = status.encode_status(report)
    assert content[:2] == b"\0\x09"
    assert status.decode_status(content) == report
    assert "Checksum error" in report.describe()


def test_command_has_a_138_byte_fixed_part_and_round_trips():
    content = command.encode_command(7, "SetLayout", '{"layout": "FourUp"}')
    assert len(content) == 138 + 20
    assert command.decode_command(content) == command.CommandMessage(
        7, "SetLayout", '{"layout": "FourUp"}'
    )
    with pytest.raises(MessageError):
        command.decode_command(content[:100])


# -- POLYDATA, queries ----------------------------------------------------------------------------


def test_polydata_round_trips_and_polygons_and_strips_become_triangles():
    content = polydata.encode_polydata(
        CUBE_POINTS,
        vertices=[np.array([0])],
        polygons=[np.array([0, 1, 2, 3])],
        strips=[np.array([0, 1, 4, 5])],
    )
    surface = polydata.decode_polydata(content)
    assert np.allclose(surface.points, CUBE_POINTS)
    assert surface.triangles().tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4], [4, 1, 5]]


def test_polydata_vertex_cells_are_big_endian_unlike_pyigtl():
    content = polydata.encode_polydata(CUBE_POINTS, vertices=[np.array([2])])
    cells = content[40 + 12 * len(CUBE_POINTS) :]
    assert cells == struct.pack(">II", 1, 2)


def test_polydata_with_attributes_is_read_and_impossible_indices_refused():
    content = polydata.encode_polydata(CUBE_POINTS, polygons=[np.array([0, 1, 2])])
    header = bytearray(content[:40])
    header[36:40] = struct.pack(">I", 1)
    attributes = struct.pack(">HI", 0x0100, len(CUBE_POINTS)) + b"temp\0\0"
    attributes += np.arange(len(CUBE_POINTS), dtype=">f4").tobytes()
    surface = polydata.decode_polydata(bytes(header) + content[40:] + attributes)
    assert surface.triangles().tolist() == [[0, 1, 2]]
    broken = polydata.encode_polydata(CUBE_POINTS, polygons=[np.array([0, 1, 99])])
    with pytest.raises(MessageError, match="point index"):
        polydata.decode_polydata(broken)


@pytest.mark.parametrize(
    ("suffix", "target"),
    [("TRANSFORM", "TRANSFORM"), ("TRANSFOR", "TRANSFORM"), ("TRANS", "TRANSFORM"),
     ("TDATA", "TDATA"), ("IMAGE", "IMAGE"), ("XYZ", None), ("T", None)],
)  # fmt: skip
def test_query_suffixes_cut_to_12_characters_name_their_type(suffix, target):
    assert queries.query_target(suffix, ("TRANSFORM", "TDATA", "IMAGE", "POINT")) == target


def test_capability_and_rts_bodies():
    content = queries.encode_capability(["TRANSFORM", "IMAGE"])
    assert len(content) == 24
    assert queries.decode_capability(content) == ["TRANSFORM", "IMAGE"]
    assert queries.decode_rts(queries.encode_rts(True))
    assert not queries.decode_rts(queries.encode_rts(False))
