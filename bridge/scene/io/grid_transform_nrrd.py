"""Grid (displacement field) transforms ↔ NRRD, as `GET /slicer/gridTransform` serves them.

A grid transform is a displacement vector per grid point: `displacements` is numpy
(k, j, i, 3), vectors in RAS millimetres, and `ijk_to_ras` places the grid. The NRRD is 4-D:
the vector axis first (`kinds: vector domain domain domain`, `space directions: none ...`),
in LPS like every NRRD Slicer writes, so vectors and geometry are flipped in x and y.

Slicer's WebServer wrote this with hand-made text that named 4 axes but gave 3 directions,
ignored the grid's direction matrix (it assumed an axial grid) and could say `float` over
float64 data. Here pynrrd writes a valid NRRD whose type is the data's own and whose
directions are the grid's full IJK→LPS columns. Nothing here knows a scene: the scene (when it
holds grid transforms) hands a `GridTransformData` in.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import nrrd
import numpy as np

from bridge.geometry import LPS_TO_RAS, GeometryError, as_matrix4
from bridge.scene.types import SceneError

#: RAS vector → LPS vector (and back): flip x and y.
_RAS_TO_LPS_VECTOR = np.array([-1.0, -1.0, 1.0])


@dataclass(frozen=True, slots=True, eq=False)
class GridTransformData:
    """A displacement field: (k, j, i, 3) RAS vectors on a grid placed by `ijk_to_ras`."""

    displacements: np.ndarray
    ijk_to_ras: np.ndarray
    name: str | None = None


def encode_grid_transform_nrrd(grid: GridTransformData) -> bytes:
    """The grid as an attached-header, raw, little-endian 4-D NRRD in LPS."""
    field = np.asarray(grid.displacements)
    if field.ndim != 4 or field.shape[3] != 3 or 0 in field.shape:
        raise SceneError(
            f"a grid transform needs (k, j, i, 3) displacements, got shape {field.shape}"
        )
    if field.dtype.kind != "f":
        field = field.astype(np.float64)
    try:
        ijk_to_lps = LPS_TO_RAS @ as_matrix4(grid.ijk_to_ras, what="grid IJK→RAS matrix")
    except GeometryError as error:
        raise SceneError(str(error)) from None
    vectors_lps = (field * _RAS_TO_LPS_VECTOR).astype(field.dtype.newbyteorder("<"))
    directions = np.vstack([np.full(3, np.nan), ijk_to_lps[:3, :3].T])
    header = {
        "space": "left-posterior-superior",
        "space directions": directions,
        "kinds": ["vector", "domain", "domain", "domain"],
        "endian": "little",
        "encoding": "raw",
        "space origin": ijk_to_lps[:3, 3].copy(),
    }
    stream = io.BytesIO()
    with warnings.catch_warnings():  # pynrrd's header timestamp uses a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(stream, np.ascontiguousarray(vectors_lps), header, index_order="C")
    return stream.getvalue()


def decode_grid_transform_nrrd(data: bytes) -> GridTransformData:
    """Read back what `encode_grid_transform_nrrd` writes (any 4-D vector-first NRRD in LPS)."""
    stream = io.BytesIO(bytes(data))
    try:
        header = nrrd.read_header(stream)
        array = nrrd.read_data(header, stream, index_order="C")
    except (nrrd.NRRDError, OSError, ValueError, KeyError, EOFError) as error:
        raise SceneError(f"cannot decode grid transform NRRD: {error}") from None
    if array.ndim != 4 or array.shape[3] != 3:
        raise SceneError(f"a grid transform NRRD has sizes 3 X Y Z, got shape {array.shape}")
    if str(header.get("space", "")).lower() not in ("left-posterior-superior", "lps"):
        raise SceneError("grid transform NRRDs must be in left-posterior-superior space")
    directions = np.asarray(header["space directions"], dtype=np.float64)[1:]
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = directions.T
    ijk_to_lps[:3, 3] = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    native = array.astype(array.dtype.newbyteorder("="))
    return GridTransformData(
        displacements=native * _RAS_TO_LPS_VECTOR.astype(native.dtype),
        ijk_to_ras=LPS_TO_RAS @ ijk_to_lps,
    )


__all__ = ["GridTransformData", "decode_grid_transform_nrrd", "encode_grid_transform_nrrd"]
