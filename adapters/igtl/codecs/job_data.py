"""Compute-job data as OpenIGTLink messages: a volume as IMAGE, a transform as TRANSFORM, a
point list as POINT — each a header-v2 message whose metadata names the job and the input or
output it is (`bridge.compute.protocol`).

The contents are the ordinary codecs' (`image`, `tracking`, `points`); this module only
picks the message type, adds the tags and packs. Two packers: `pack` computes the CRC where
it is called (a node's worker thread), `pack_off_loop` computes a big body's CRC off the
event loop (the bridge). Used by both ends — the bridge's `compute_link` and the node SDK's
transport — so it imports nothing but the wire layer, the codecs and the SDK's value types.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from adapters.igtl.codecs import image, points, tracking
from adapters.igtl.wire import (
    Frame,
    MessageError,
    Outgoing,
    body_parts,
    crc64,
    pack_header,
    pack_message_off_loop,
)
from bridge.compute.protocol import META_LABELMAP
from bridge.compute.values import Points, Transform, Volume, kind_of

#: Data kind → message type, and back.
MESSAGE_TYPES: dict[str, str] = {"volume": "IMAGE", "transform": "TRANSFORM", "points": "POINT"}
KINDS_BY_TYPE: dict[str, str] = {type_: kind for kind, type_ in MESSAGE_TYPES.items()}


def message_content(value: Any) -> tuple[str, tuple[bytes | memoryview, ...], dict[str, str]]:
    """(message type, content parts, extra metadata) of a data value."""
    if isinstance(value, Volume):
        header = image.encode_image_header(value.array, value.ijk_to_ras)
        extra = {META_LABELMAP: "1"} if value.labelmap else {}
        return "IMAGE", (header, image.voxel_bytes(value.array)), extra
    if isinstance(value, Transform):
        return "TRANSFORM", (tracking.encode_transform(value.matrix),), {}
    if isinstance(value, Points):
        return "POINT", (points.encode_points(value.positions, value.labels),), {}
    raise MessageError(f"a {kind_of(value)} does not travel as its own message")


def pack(value: Any, device: str, metadata: Mapping[str, str], *, crc: bool = True) -> Outgoing:
    """The tagged message, CRC computed here (call it off any event loop for big volumes);
    `crc=False` leaves the CRC field 0 (a connection that negotiated it away)."""
    type_name, content, extra = message_content(value)
    parts = body_parts(content, version=2, metadata={**metadata, **extra})
    checksum = 0
    for part in parts if crc else ():
        checksum = crc64(part, checksum)
    size = sum(len(part) for part in parts)
    header = pack_header(type_name, device, size, checksum, version=2, timestamp=time.time())
    return Outgoing(type_name, device, header, parts)


async def pack_off_loop(
    value: Any, device: str, metadata: Mapping[str, str], *, crc: bool = True
) -> Outgoing:
    """As `pack`, with a big body's CRC computed in an executor thread."""
    if not crc:
        return pack(value, device, metadata, crc=False)
    type_name, content, extra = message_content(value)
    return await pack_message_off_loop(
        type_name, device, content, version=2, metadata={**metadata, **extra}
    )


def decode(frame: Frame, metadata: Mapping[str, str]) -> Any:
    """The value a tagged data message carries (content located); MessageError if it is
    malformed or not a data type."""
    if frame.type == "IMAGE":
        volume = image.decode_image(frame)
        return Volume(volume.array, volume.ijk_to_ras, labelmap=metadata.get(META_LABELMAP) == "1")
    if frame.type == "TRANSFORM":
        return Transform(tracking.decode_transform(frame))
    if frame.type == "POINT":
        point_list = points.decode_points(frame.content)
        return Points(point_list.positions, point_list.names)
    raise MessageError(f"{frame.type} does not carry job data", code=12)
