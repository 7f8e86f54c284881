"""POINT (`point.md`): N × 136-byte elements {NAME char[64], GROUP char[32], RGBA uint8[4],
XYZ float32[3], DIAMETER float32, OWNER char[20]}.

Written here with a numpy record type rather than with pyigtl's `PointMessage`: pyigtl reads
names with strict UTF-8 (one bad byte kills the message) and its packer tests numpy arrays
with `if not x`, which raises for arrays of colours or diameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters.igtl.wire import MessageError, decode_name, encode_name

POINT_ELEMENT = np.dtype(
    [
        ("name", "S64"),
        ("group", "S32"),
        ("rgba", "u1", (4,)),
        ("xyz", ">f4", (3,)),
        ("diameter", ">f4"),
        ("owner", "S20"),
    ]
)
assert POINT_ELEMENT.itemsize == 136


@dataclass(frozen=True, slots=True, eq=False)
class PointList:
    positions: np.ndarray  # N×3 float64
    names: tuple[str, ...]
    groups: tuple[str, ...] = ()
    rgba: np.ndarray | None = None  # N×4 uint8
    diameters: np.ndarray | None = None
    owners: tuple[str, ...] = ()


def decode_points(content: bytes | memoryview) -> PointList:
    if len(content) % POINT_ELEMENT.itemsize:
        raise MessageError(f"POINT content of {len(content)} bytes is not a multiple of 136")
    records = np.frombuffer(content, dtype=POINT_ELEMENT)
    return PointList(
        positions=records["xyz"].astype(np.float64),
        names=tuple(decode_name(raw) for raw in records["name"]),
        groups=tuple(decode_name(raw) for raw in records["group"]),
        rgba=records["rgba"].copy(),
        diameters=records["diameter"].astype(np.float64),
        owners=tuple(decode_name(raw) for raw in records["owner"]),
    )


def encode_points(
    positions: np.ndarray,
    names: list[str] | tuple[str, ...],
    *,
    group: str = "",
    rgba: tuple[int, int, int, int] = (255, 255, 0, 255),
    diameter: float = 0.0,
    owner: str = "",
) -> bytes:
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    records = np.zeros(len(positions), dtype=POINT_ELEMENT)
    records["name"] = [encode_name(name, 64) for name in names]
    records["group"] = encode_name(group, 32)
    records["rgba"] = rgba
    records["xyz"] = positions
    records["diameter"] = diameter
    records["owner"] = encode_name(owner, 20)
    return records.tobytes()
