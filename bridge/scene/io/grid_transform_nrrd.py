"""Grid (displacement field) transforms ↔ 4-D vector NRRD: files and `/slicer/gridTransform`.

Conventions, verified against Slicer's source (`vtkMRMLTransformStorageNode::ReadFromImageFile`
and `vtkITKTransformConverter::SetVTKOrientedGridTransformFromITKImage` /
`SetITKImageFromVTKOrientedGridTransform`):

* Slicer reads a displacement field from an image file (`.nrrd`, `.nhdr`, … loaded as
  `TransformFile`) with ITK's image reader, as a 3-D image of 3-vectors in LPS. The grid's
  origin and direction go LPS→RAS (x and y flipped), the spacing is kept, and each vector is
  flipped in x and y: LPS vectors, RAS in the scene. Vector values are never rotated by a
  NRRD `measurement frame` (ITK leaves pixel values alone), so neither are they here.
* The field is the transform *from parent* (the ITK resampling sense) and is stored as is;
  saving writes it back the same way (LPS, vectors flipped), as
  `SetITKImageFromVTKOrientedGridTransform` does.
* The vector axis is whichever axis is not spatial (kind `vector`, `covariant-vector`, …, or a
  `none` space direction); ITK writes it first (`kinds: vector domain domain domain`). Grid
  geometry follows `nrrd_io` (LPS, RAS, LAS or no space).

`GET /slicer/gridTransform` answers `encode_grid_transform_nrrd`: the original WebServer's
header line for line, with its bugs fixed — it named 4 axes but gave 3 space directions
(here `none` for the vector axis), ignored the grid's direction matrix (it assumed an axial
grid; here the full IJK→LPS columns), and said `float` over float64 data (here the type the
field is stored in). Nothing here knows a scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bridge.geometry import LPS_TO_RAS, GeometryError, as_matrix4
from bridge.scene import checks
from bridge.scene.io.formats import strip_known_suffix
from bridge.scene.io.nrrd_io import (
    SLICER_NRRD_TYPES,
    decode_nrrd_bytes,
    header_ijk_to_ras,
    nrrd_vector,
    read_nrrd_file,
    spatial_axes,
    write_nrrd_file,
)
from bridge.scene.types import GridTransformData, SceneError

#: RAS vector → LPS vector (and back): flip x and y.
_RAS_TO_LPS_VECTOR = np.array([-1.0, -1.0, 1.0])


# -- reading ----------------------------------------------------------------------------------
def read_grid_transform_nrrd(path: Path) -> GridTransformData:
    """The displacement field Slicer gives a grid transform node loaded from `path`."""
    path = Path(path)
    array, header = read_nrrd_file(path)
    return _grid_from_nrrd(array, header, origin=str(path), name=strip_known_suffix(path))


def decode_grid_transform_nrrd(data: bytes) -> GridTransformData:
    """A displacement field from NRRD bytes with attached data (an HTTP body)."""
    array, header = decode_nrrd_bytes(data, "grid transform NRRD")
    return _grid_from_nrrd(array, header, origin="grid transform NRRD", name=None)


def _grid_from_nrrd(
    array: np.ndarray, header: dict[str, Any], *, origin: str, name: str | None
) -> GridTransformData:
    sizes = [int(size) for size in header["sizes"]]
    spatial = spatial_axes(header, origin)
    components = [axis for axis in range(len(sizes)) if axis not in spatial]
    if len(sizes) != 4 or len(spatial) != 3 or len(components) != 1:
        raise SceneError(
            f"{origin}: a displacement field is a 4-D NRRD with three spatial axes and one "
            f"vector axis; this one has sizes {sizes} ({len(spatial)} spatial axes)"
        )
    (vector_axis,) = components
    if sizes[vector_axis] != 3:
        raise SceneError(
            f"{origin}: displacement vectors need 3 components, the vector axis has "
            f"{sizes[vector_axis]}"
        )
    # numpy axes are the NRRD axes reversed: move the vector axis last, keep (k, j, i).
    vectors_lps = np.moveaxis(array, len(sizes) - 1 - vector_axis, -1)
    field = checks.displacement_field(vectors_lps)
    displacements = field * _RAS_TO_LPS_VECTOR.astype(field.dtype)
    displacements.setflags(write=False)
    return GridTransformData(
        displacements=displacements,
        ijk_to_ras=header_ijk_to_ras(header, spatial, origin),
        name=name,
    )


# -- writing ----------------------------------------------------------------------------------
def write_grid_transform_nrrd(
    path: Path, grid: GridTransformData, *, compress: bool = True
) -> None:
    """Write the field as Slicer saves a grid transform to an image file: LPS geometry, LPS
    vectors, the vector axis first; gzip when `compress` (Slicer's default)."""
    vectors_lps, ijk_to_lps = _lps(grid)
    header: dict[str, Any] = {
        "space": "left-posterior-superior",
        "space directions": np.vstack([np.full(3, np.nan), ijk_to_lps[:3, :3].T]),
        "kinds": ["vector", "domain", "domain", "domain"],
        "encoding": "gzip" if compress else "raw",
        "space origin": ijk_to_lps[:3, 3].copy(),
    }
    write_nrrd_file(Path(path), np.ascontiguousarray(vectors_lps), header)


def encode_grid_transform_nrrd(grid: GridTransformData) -> bytes:
    """The field as `GET /slicer/gridTransform` sends it: the original WebServer's
    attached-header NRRD, line for line (`NRRD0004`, its two comment lines, `type`,
    `dimension: 4`, `space`, `sizes: 3 X Y Z`, `space directions`, `kinds: vector domain
    domain domain`, `endian: little`, `encoding: raw`, `space origin`, a blank line), then
    the LPS vectors as raw little-endian values, fixed as the module docstring says."""
    vectors_lps, ijk_to_lps = _lps(grid)
    type_name = SLICER_NRRD_TYPES[vectors_lps.dtype.name]
    directions = " ".join(nrrd_vector(ijk_to_lps[:3, axis]) for axis in range(3))
    sizes = " ".join(str(size) for size in reversed(vectors_lps.shape))
    header = (
        "NRRD0004\n"
        "# Complete NRRD file format specification at:\n"
        "# http://teem.sourceforge.net/nrrd/format.html\n"
        f"type: {type_name}\n"
        "dimension: 4\n"
        "space: left-posterior-superior\n"
        f"sizes: {sizes}\n"
        f"space directions: none {directions}\n"
        "kinds: vector domain domain domain\n"
        "endian: little\n"
        "encoding: raw\n"
        f"space origin: {nrrd_vector(ijk_to_lps[:3, 3])}\n"
        "\n"
    )
    little = np.ascontiguousarray(vectors_lps, dtype=vectors_lps.dtype.newbyteorder("<"))
    return header.encode("ascii") + little.tobytes()


def _lps(grid: GridTransformData) -> tuple[np.ndarray, np.ndarray]:
    """The field's vectors and IJK→LPS matrix, checked: what every writer puts in a file."""
    field = checks.displacement_field(grid.displacements)
    try:
        ijk_to_lps = LPS_TO_RAS @ as_matrix4(grid.ijk_to_ras, what="grid IJK→RAS matrix")
    except GeometryError as error:
        raise SceneError(str(error)) from None
    return field * _RAS_TO_LPS_VECTOR.astype(field.dtype), ijk_to_lps


__all__ = [
    "decode_grid_transform_nrrd",
    "encode_grid_transform_nrrd",
    "read_grid_transform_nrrd",
    "write_grid_transform_nrrd",
]
