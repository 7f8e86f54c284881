"""POLYDATA (`polydata.md`): a surface as VTK legacy cells, all big-endian.

Layout: 10 × uint32 (NPOINTS, NVERTICES, SIZE_VERTICES, NLINES, SIZE_LINES, NPOLYGONS,
SIZE_POLYGONS, NTRIANGLE_STRIPS, SIZE_TRIANGLE_STRIPS, NATTRIBUTES); POINTS float32[3·N];
then four cell arrays, each a run of {NINDICES uint32, indices uint32[]} whose SIZE_* is in
bytes; then attributes (a 6-byte header each, NUL-terminated names padded to even length,
float32 data), which are checked for size and otherwise ignored.

pyigtl cannot receive POLYDATA and packs vertex cells little-endian (the reference parser
then reads a 1-vertex cell as 33,554,432 indices), so both directions are written here.
A model node needs triangles: polygons are fanned, strips are unrolled with alternating
winding; vertices and lines are kept for completeness but have no triangle form.

A cell array whose cells all have the same size (a triangle mesh: every polygon has three
points) is read, fanned and written as one `cells × size` array, without a Python loop per
cell: a 100,000-triangle surface decodes in milliseconds instead of a second of the apply
pass. Mixed sizes take the per-cell path.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

import numpy as np

from adapters.igtl.wire import MessageError

POLYDATA_HEADER = struct.Struct(">10I")  # 40 bytes
_ATTRIBUTE_HEADER = struct.Struct(">HI")
_CELL_ARRAYS = ("vertices", "lines", "polygons", "strips")


#: Cells of one cell array: a tuple of index arrays, or one `cells × size` array when every
#: cell has the same size.
Cells = tuple[np.ndarray, ...] | np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class PolyData:
    points: np.ndarray  # N×3 float64
    vertices: Cells = ()
    lines: Cells = ()
    polygons: Cells = ()
    strips: Cells = ()

    def triangles(self) -> np.ndarray:
        """M×3 point indices: polygons fanned from their first point, strips unrolled."""
        parts = []
        triangles: list[tuple[int, int, int]] = []
        if isinstance(self.polygons, np.ndarray):
            parts.append(_fan(self.polygons))
        else:
            for cell in self.polygons:
                if len(cell) >= 3:
                    first = int(cell[0])
                    pairs = itertools.pairwise(cell[1:])
                    triangles.extend((first, int(a), int(b)) for a, b in pairs)
        for cell in self.strips:
            for index in range(len(cell) - 2):
                a, b, c = (int(v) for v in cell[index : index + 3])
                triangles.append((a, b, c) if index % 2 == 0 else (b, a, c))
        parts.append(np.array(triangles, dtype=np.int64).reshape(-1, 3))
        return np.concatenate(parts)


def _fan(polygons: np.ndarray) -> np.ndarray:
    """Polygons of one size as triangles fanned from their first point, polygon by polygon."""
    count, size = polygons.shape
    if size < 3:
        return np.zeros((0, 3), dtype=np.int64)
    middle = np.arange(1, size - 1)
    first = np.broadcast_to(polygons[:, :1], (count, size - 2))
    fans = np.stack((first, polygons[:, middle], polygons[:, middle + 1]), axis=2)
    return fans.reshape(-1, 3).astype(np.int64)


def _uniform_cells(raw: np.ndarray, count: int) -> np.ndarray | None:
    """The cells as one `count × size` array if every cell has the same size, else None."""
    if count == 0 or len(raw) < count or len(raw) % count:
        return None
    table = raw.reshape(count, len(raw) // count)
    if not np.all(table[:, 0] == table.shape[1] - 1):
        return None
    return table[:, 1:].astype(np.int64)


def _cells(raw: np.ndarray, count: int, what: str, points: int) -> Cells:
    uniform = _uniform_cells(raw, count)
    if uniform is not None:
        if uniform.size and int(uniform.max()) >= points:
            raise MessageError(f"POLYDATA {what}: point index {int(uniform.max())} ≥ {points}")
        return uniform
    cells = []
    position = 0
    for _ in range(count):
        if position >= len(raw):
            raise MessageError(f"POLYDATA {what}: fewer cells than the {count} announced")
        size = int(raw[position])
        cell = raw[position + 1 : position + 1 + size]
        if len(cell) != size:
            raise MessageError(f"POLYDATA {what}: a cell runs past its array")
        if size and int(cell.max()) >= points:
            raise MessageError(f"POLYDATA {what}: point index {int(cell.max())} ≥ {points}")
        cells.append(cell.astype(np.int64))
        position += 1 + size
    if position != len(raw):
        raise MessageError(f"POLYDATA {what}: array size does not match its cells")
    return tuple(cells)


def decode_polydata(content: bytes | memoryview) -> PolyData:
    if len(content) < POLYDATA_HEADER.size:
        raise MessageError(f"POLYDATA content of {len(content)} bytes is shorter than 40")
    header = POLYDATA_HEADER.unpack_from(content)
    point_count, attribute_count = header[0], header[9]
    offset = POLYDATA_HEADER.size
    end = offset + 12 * point_count
    if end > len(content):
        raise MessageError(f"POLYDATA announces {point_count} points past the end")
    points = np.frombuffer(content, dtype=">f4", count=3 * point_count, offset=offset)
    offset = end
    arrays = {}
    for index, what in enumerate(_CELL_ARRAYS):
        count, size = header[1 + 2 * index], header[2 + 2 * index]
        if size % 4 or offset + size > len(content):
            raise MessageError(f"POLYDATA {what}: size {size} is impossible")
        raw = np.frombuffer(content, dtype=">u4", count=size // 4, offset=offset)
        arrays[what] = _cells(raw, count, what, point_count)
        offset += size
    _check_attributes(content, offset, attribute_count)
    return PolyData(points.reshape(-1, 3).astype(np.float64), **arrays)


def _check_attributes(content: bytes | memoryview, offset: int, count: int) -> None:
    if count == 0:
        return
    if offset + 6 * count > len(content):
        raise MessageError("POLYDATA attribute headers run past the end")
    headers = [_ATTRIBUTE_HEADER.unpack_from(content, offset + 6 * i) for i in range(count)]
    offset += 6 * count
    names_end = offset
    for _ in range(count):
        nul = bytes(content[names_end : names_end + 256]).find(b"\0")
        if nul < 0:
            raise MessageError("POLYDATA attribute name is not NUL-terminated")
        names_end += nul + 1
    names_end += (names_end - offset) % 2
    data = sum(4 * n * max(1, attribute_type >> 8) for attribute_type, n in headers)
    if names_end + data > len(content):
        raise MessageError("POLYDATA attribute data runs past the end")


def _pack_cells(cells: Cells | list[np.ndarray]) -> bytes:
    if isinstance(cells, np.ndarray):  # cells of one size, one per row
        sizes = np.full((len(cells), 1), cells.shape[1] if cells.ndim == 2 else 0)
        return np.hstack((sizes, cells.reshape(len(cells), -1))).astype(">u4").tobytes()
    parts = []
    for cell in cells:
        parts.append(np.concatenate([[len(cell)], np.asarray(cell)]).astype(">u4").tobytes())
    return b"".join(parts)


def encode_polydata(
    points: np.ndarray,
    *,
    vertices: Cells | list[np.ndarray] = (),
    lines: Cells | list[np.ndarray] = (),
    polygons: Cells | list[np.ndarray] = (),
    strips: Cells | list[np.ndarray] = (),
) -> bytes:
    """Spec-conformant POLYDATA content (big-endian everywhere, no attributes). Each cell
    array is a sequence of index arrays, or one `cells × size` array (a model's M×3
    triangles as `polygons`)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    packed = [_pack_cells(cells) for cells in (vertices, lines, polygons, strips)]
    counts = [len(cells) for cells in (vertices, lines, polygons, strips)]
    header = POLYDATA_HEADER.pack(
        len(points),
        counts[0],
        len(packed[0]),
        counts[1],
        len(packed[1]),
        counts[2],
        len(packed[2]),
        counts[3],
        len(packed[3]),
        0,
    )
    return header + points.astype(">f4").tobytes() + b"".join(packed)
