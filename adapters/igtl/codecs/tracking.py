"""Poses: TRANSFORM, POSITION/QTRANS, TDATA and QTDATA, and the STT_ body of tracking streams.

* TRANSFORM (`transform.md`): 12 float32, the upper 3×4 of the matrix column by column
  (R11 R21 R31 R12 … TX TY TZ). Decoded with pyigtl's `TransformMessage` (correct); encoded
  here so every outgoing message goes through one packer (`wire.pack_message`).
* POSITION = QTRANS (`position.md`, `qtransform.md`): X Y Z OX OY OZ W, 28 bytes; the
  reference library also accepts 12 bytes (position only) and 24 bytes (quaternion without
  W, which is then √(1 − x² − y² − z²)). pyigtl's non-standard 152-byte element (name,
  group, rgba, xyz, quaternion, diameter, owner) is accepted too, so pyigtl peers work.
* TDATA (`trackingdata.md`): N × {NAME char[20], TYPE uint8, reserved, MATRIX float32[12]}.
* QTDATA (`qtrackingdata.md`): N × {NAME char[20], TYPE uint8, reserved, POSITION float32[3],
  QUATERNION float32[4] (x, y, z, w)}.
* STT_TDATA / STT_QTDATA: {RESOL uint32 ms, COORD_NAME char[32]} (36 bytes, as the library's
  `igtl_stt_tdata`); an empty body means "as fast as possible".

A pose that cannot become a finite rigid matrix (NaN, zero quaternion) is refused when the
command is built, by `bridge.geometry`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pyigtl

from adapters.igtl.wire import Frame, MessageError, decode_name, encode_name
from bridge import geometry

TRANSFORM = struct.Struct(">12f")
POSITION = struct.Struct(">7f")
_POSITION_ONLY = struct.Struct(">3f")
_POSITION_QUATERNION3 = struct.Struct(">6f")
_PYIGTL_POSITION = struct.Struct(">64s32s4B7f f20s")  # 152 bytes, pyigtl 0.3's layout
TDATA_ELEMENT = struct.Struct(">20sBx12f")  # 70 bytes
QTDATA_ELEMENT = struct.Struct(">20sBx7f")  # 50 bytes
STT_TRACKING = struct.Struct(">I32s")  # 36 bytes

#: TDATA/QTDATA instrument types.
TRACKER, INSTRUMENT_6D, INSTRUMENT_3D, INSTRUMENT_5D = 1, 2, 3, 4


def _columns_to_matrix(values: tuple[float, ...] | np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :] = np.asarray(values, dtype=np.float64).reshape(4, 3).T
    return matrix


def _matrix_to_columns(matrix: np.ndarray) -> tuple[float, ...]:
    return tuple(np.asarray(matrix, dtype=np.float64)[:3, :4].T.reshape(12))


# -- TRANSFORM -----------------------------------------------------------------------------------


def decode_transform(frame: Frame) -> np.ndarray:
    """The 4×4 matrix of a TRANSFORM message, by pyigtl's decoder."""
    content = frame.content
    if len(content) != TRANSFORM.size:
        raise MessageError(f"TRANSFORM content is {len(content)} bytes, expected 48")
    message = pyigtl.TransformMessage()
    message.unpack(frame.header_fields(), bytes(content))
    return np.asarray(message.matrix, dtype=np.float64)


def encode_transform(matrix: np.ndarray) -> bytes:
    return TRANSFORM.pack(*_matrix_to_columns(matrix))


# -- POSITION / QTRANS ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pose:
    """A named position + quaternion (x, y, z, w) as POSITION and QTDATA carry them."""

    name: str
    position: tuple[float, float, float]
    quaternion: tuple[float, float, float, float]

    def matrix(self) -> np.ndarray:
        x, y, z, w = self.quaternion
        return geometry.pose_matrix(geometry.quaternion_to_rotation(w, x, y, z), self.position)


def decode_position(content: bytes | memoryview) -> list[Pose]:
    """POSITION/QTRANS content → poses (one for the standard layouts; pyigtl may send N)."""
    size = len(content)
    if size == POSITION.size:
        values = POSITION.unpack(content)
        return [Pose("", values[:3], values[3:7])]
    if size == _POSITION_ONLY.size:
        return [Pose("", _POSITION_ONLY.unpack(content), (0.0, 0.0, 0.0, 1.0))]
    if size == _POSITION_QUATERNION3.size:
        values = _POSITION_QUATERNION3.unpack(content)
        x, y, z = values[3:6]
        w = math.sqrt(max(0.0, 1.0 - x * x - y * y - z * z))
        return [Pose("", values[:3], (x, y, z, w))]
    if size and size % _PYIGTL_POSITION.size == 0:
        poses = []
        for offset in range(0, size, _PYIGTL_POSITION.size):
            fields = _PYIGTL_POSITION.unpack_from(content, offset)
            poses.append(Pose(decode_name(fields[0]), fields[6:9], fields[9:13]))
        return poses
    raise MessageError(f"POSITION content is {size} bytes; expected 12, 24, 28 or 152·N")


def encode_position(position: np.ndarray, quaternion: tuple[float, float, float, float]) -> bytes:
    """28-byte POSITION content; `quaternion` is (x, y, z, w)."""
    return POSITION.pack(*(float(v) for v in position), *quaternion)


def pose_of_matrix(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Position and (x, y, z, w) quaternion of a rigid 4×4 matrix."""
    w, x, y, z = geometry.rotation_to_quaternion(np.asarray(matrix)[:3, :3])
    return np.asarray(matrix)[:3, 3], (x, y, z, w)


# -- TDATA / QTDATA ------------------------------------------------------------------------------


def _element_names(content: bytes | memoryview, element: struct.Struct, kind: str) -> list[str]:
    size = len(content)
    if size % element.size:
        raise MessageError(f"{kind} content of {size} bytes is not a whole number of elements")
    return [decode_name(content[offset : offset + 20]) for offset in range(0, size, element.size)]


def tdata_names(content: bytes | memoryview) -> list[str]:
    """Instrument names of a TDATA message, without decoding any matrix."""
    return _element_names(content, TDATA_ELEMENT, "TDATA")


def decode_tdata_matrix(content: bytes | memoryview, index: int) -> np.ndarray:
    values = TDATA_ELEMENT.unpack_from(content, index * TDATA_ELEMENT.size)
    return _columns_to_matrix(values[2:14])


def encode_tdata(elements: list[tuple[str, np.ndarray]], kind: int = INSTRUMENT_6D) -> bytes:
    return b"".join(
        TDATA_ELEMENT.pack(encode_name(name, 20), kind, *_matrix_to_columns(matrix))
        for name, matrix in elements
    )


def qtdata_names(content: bytes | memoryview) -> list[str]:
    return _element_names(content, QTDATA_ELEMENT, "QTDATA")


def decode_qtdata_pose(content: bytes | memoryview, index: int) -> Pose:
    values = QTDATA_ELEMENT.unpack_from(content, index * QTDATA_ELEMENT.size)
    return Pose(decode_name(values[0]), values[2:5], values[5:9])


def encode_qtdata(elements: list[tuple[str, np.ndarray]], kind: int = INSTRUMENT_6D) -> bytes:
    parts = []
    for name, matrix in elements:
        position, quaternion = pose_of_matrix(matrix)
        parts.append(QTDATA_ELEMENT.pack(encode_name(name, 20), kind, *position, *quaternion))
    return b"".join(parts)


# -- STT_TDATA / STT_QTDATA ----------------------------------------------------------------------


def decode_stream_request(content: bytes | memoryview) -> tuple[float, str]:
    """(minimum interval in seconds, coordinate system name) of an STT_ request.

    Peers send the 36-byte form, an empty body, or (following `qtrackingdata.md`) a STATUS
    byte first: 37 bytes. Anything else is read as "as fast as possible".
    """
    if len(content) == STT_TRACKING.size + 1:
        content = bytes(content)[1:]
    if len(content) != STT_TRACKING.size:
        return 0.0, ""
    resolution_ms, coordinate = STT_TRACKING.unpack(content)
    return resolution_ms / 1000.0, decode_name(coordinate)


def encode_stream_request(interval_s: float = 0.0, coordinate: str = "") -> bytes:
    return STT_TRACKING.pack(round(interval_s * 1000), encode_name(coordinate, 32))
