"""IMAGE (`image.md`): a 72-byte image header, then the voxels.

Header: V uint16, T uint8 (components), S uint8 (scalar type), E uint8 (voxel byte order:
1 big, 2 little), O uint8 (1 RAS, 2 LPS), RI RJ RK uint16, the I, J, K axis vectors
(float32[3] each, their lengths are the spacings), P the position of the image *centre*
(float32[3]), sub-volume start and size (uint16[3] each).

Decoding uses pyigtl's `ImageMessage` (its geometry is right: centre ↔ origin by
(size − 1)/2, both coordinate systems) and then makes the result scene-ready: RAS geometry,
native byte order, a scalar 3-D (k, j, i) array. Encoding is done here, always in LPS with
little-endian voxels, so that the voxel bytes are the array's own buffer (no copy for a
C-contiguous little-endian volume) and the CRC can be computed off the event loop — pyigtl's
`pack()` would compute it on the loop, holding the GIL for ≈ 90 ms per 32 MiB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pyigtl

from adapters.igtl.wire import Frame, MessageError
from bridge import geometry

IMAGE_HEADER = struct.Struct(">HBBBBHHH12fHHHHHH")  # 72 bytes
COORDINATES_RAS, COORDINATES_LPS = 1, 2
BIG_ENDIAN, LITTLE_ENDIAN = 1, 2

#: IGTL scalar type code ↔ numpy dtype (`image.md`).
SCALAR_TYPES: dict[int, np.dtype] = {
    2: np.dtype(np.int8),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int16),
    5: np.dtype(np.uint16),
    6: np.dtype(np.int32),
    7: np.dtype(np.uint32),
    10: np.dtype(np.float32),
    11: np.dtype(np.float64),
}
_SCALAR_CODES = {dtype: code for code, dtype in SCALAR_TYPES.items()}


@dataclass(frozen=True, slots=True, eq=False)
class Image:
    """A received or outgoing scalar volume: voxels (k, j, i) and IJK→RAS."""

    array: np.ndarray
    ijk_to_ras: np.ndarray


def decode_image(frame: Frame) -> Image:
    """IMAGE content → scalar volume in RAS; vector images and sub-volumes are refused."""
    content = frame.content
    if len(content) < IMAGE_HEADER.size:
        raise MessageError(f"IMAGE content of {len(content)} bytes is shorter than its header")
    fields = IMAGE_HEADER.unpack_from(content)
    components, scalar_type = fields[1], fields[2]
    size_i, size_j, size_k = fields[5:8]
    if scalar_type not in SCALAR_TYPES:
        raise MessageError(f"IMAGE scalar type {scalar_type} is not defined by the protocol")
    if components != 1:
        raise MessageError(
            f"IMAGE has {components} components per voxel; only scalar volumes map to a "
            "volume node",
            code=12,
        )
    expected = size_i * size_j * size_k * SCALAR_TYPES[scalar_type].itemsize
    if len(content) - IMAGE_HEADER.size != expected:
        raise MessageError(
            f"IMAGE of {size_i}×{size_j}×{size_k} needs {expected} voxel bytes, "
            f"got {len(content) - IMAGE_HEADER.size}"
        )
    if expected == 0:
        raise MessageError("IMAGE has no voxels")
    if fields[20:23] != (0, 0, 0) or fields[23:26] != (size_i, size_j, size_k):
        raise MessageError("IMAGE sub-volume updates are not supported", code=12)
    message = pyigtl.ImageMessage()
    message.unpack(frame.header_fields(), content)
    array = np.asarray(message.image)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    ijk_to_world = np.asarray(message.ijk_to_world_matrix, dtype=np.float64)
    if message.world_coordinate_system == "lps":
        ijk_to_world = geometry.LPS_TO_RAS @ ijk_to_world
    return Image(array.reshape(size_k, size_j, size_i), ijk_to_world)


def encode_image_header(array: np.ndarray, ijk_to_ras: np.ndarray) -> bytes:
    """The 72-byte IMAGE header for a (k, j, i) scalar array, geometry sent in LPS."""
    if array.ndim != 3:
        raise MessageError(f"IMAGE needs a 3-D (k, j, i) array, got shape {array.shape}")
    code = _SCALAR_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise MessageError(f"voxel type {array.dtype} has no IMAGE scalar type")
    size_k, size_j, size_i = array.shape
    if max(array.shape) > 0xFFFF:
        raise MessageError(f"IMAGE sizes are uint16; shape {array.shape} is too large")
    ijk_to_lps = geometry.LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=np.float64)
    centre = ijk_to_lps @ np.array([(size_i - 1) / 2, (size_j - 1) / 2, (size_k - 1) / 2, 1.0])
    return IMAGE_HEADER.pack(
        1,
        1,
        code,
        LITTLE_ENDIAN,
        COORDINATES_LPS,
        size_i,
        size_j,
        size_k,
        *ijk_to_lps[:3, 0],
        *ijk_to_lps[:3, 1],
        *ijk_to_lps[:3, 2],
        *centre[:3],
        0,
        0,
        0,
        size_i,
        size_j,
        size_k,
    )


def voxel_bytes(array: np.ndarray) -> memoryview:
    """The voxels little-endian in (k, j, i) order, without a copy when already so."""
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return memoryview(little).cast("B")


def encode_image(array: np.ndarray, ijk_to_ras: np.ndarray) -> bytes:
    """Whole IMAGE content (header + voxels) as one bytes object (tests, small images)."""
    return encode_image_header(array, ijk_to_ras) + bytes(voxel_bytes(array))
