"""NRRD volumes ↔ `VolumeData`: files (`.nrrd`, `.nhdr`) and in-memory bytes (for HTTP bodies).

Parsing and encoding are pynrrd's; this module only maps NRRD geometry to and from the
scene's IJK→RAS matrix and decides what counts as a scalar volume. It must not grow a NRRD
parser of its own. The other NRRD kinds (displacement fields, segmentations) read and write
files and map geometry through the public helpers here (`read_nrrd_file`, `write_nrrd_file`,
`decode_nrrd_bytes`, `spatial_axes`, `header_ijk_to_ras`), so there is one NRRD convention.

Conventions (as Slicer, whose NRRD reader is ITK's):

* Arrays are numpy (k, j, i): the first NRRD axis (fastest in the file) is the last numpy axis.
* `space directions` holds one column vector per axis, in the NRRD `space`; `space origin` is
  the centre of the first voxel. IJK→space is [directions | origin]; IJK→RAS is that matrix
  pre-multiplied by the space→RAS flip: LPS flips x and y, LAS flips x, RAS is as is.
* A file without `space` has no anatomical frame. ITK gives such an image identity directions,
  origin 0 and the per-axis `spacings` (1 where absent) *in its own LPS frame*, so Slicer shows
  it with IJK→RAS = diag(−sx, −sy, sz); this reader does the same. `axis mins` is ignored.
* Writing always uses `space: left-posterior-superior`, LPS `space directions` and
  `space origin`, and `kinds: domain domain domain`, as Slicer writes scalar volumes.

Accepted shapes: 3-D scalar volumes; a 2-D image becomes one slice (k spacing 1, k axis along
the cross product of the in-plane axes); an extra non-spatial axis (kind `vector`, `list`,
…, or a `none` space direction) is squeezed away only when its size is 1. Anything else —
multi-component (RGB, vector, DWI/DTI) or 4-D volumes — is refused with a SceneError.
The voxel type is kept both ways; big-endian files are returned in native byte order (same
values). Encodings: raw, gzip and bzip2 are written; ASCII is read but not written, because
pynrrd prints ASCII voxels as `%.17g` floats, which is not exact for 64-bit integers.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import nrrd
import numpy as np

from bridge.geometry import LPS_TO_RAS, GeometryError, as_matrix4
from bridge.scene.io.formats import strip_known_suffix
from bridge.scene.types import SceneError, VolumeData

#: NRRD `space` values (full names and the spec's abbreviations, lower case) → the matrix that
#: takes that space's coordinates to RAS.
_SPACE_TO_RAS: dict[str, np.ndarray] = {
    **dict.fromkeys(("left-posterior-superior", "lps"), LPS_TO_RAS),
    **dict.fromkeys(("right-anterior-superior", "ras"), np.eye(4)),
    **dict.fromkeys(("left-anterior-superior", "las"), np.diag([-1.0, 1.0, 1.0, 1.0])),
}

#: Axis kinds that are positions in space (NRRD spec); every other kind is a component axis.
_SPATIAL_KINDS = frozenset({"domain", "space"})
#: Kinds that say nothing about the axis; such an axis is spatial unless its direction is none.
_UNKNOWN_KINDS = frozenset({"???", "none"})

#: Voxel types NRRD (and so this module) can store, by numpy kind and item size.
_NRRD_DTYPES = frozenset(
    np.dtype(name).newbyteorder("=")
    for name in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8")
)

#: What pynrrd raises on a malformed header or data (it does not wrap parse errors).
_PARSE_ERRORS = (nrrd.NRRDError, OSError, ValueError, KeyError, IndexError, EOFError, zlib.error)

#: Encodings `encode_nrrd`/`write_nrrd` produce; ASCII is left out (not exact, see above).
WRITE_ENCODINGS: tuple[str, ...] = ("raw", "gzip", "bzip2")


# -- public API ---------------------------------------------------------------------------------


def read_nrrd(path: Path) -> VolumeData:
    """Read a `.nrrd` (attached) or `.nhdr` (detached data) file; `name` is the file's base name."""
    path = Path(path)
    array, header = read_nrrd_file(path)
    return _volume_from_nrrd(array, header, name=strip_known_suffix(path), origin=str(path))


def decode_nrrd(data: bytes) -> VolumeData:
    """Decode a NRRD with attached data (as an HTTP body carries it)."""
    array, header = decode_nrrd_bytes(data)
    return _volume_from_nrrd(array, header, name=None, origin="NRRD bytes")


def encode_nrrd(volume: VolumeData, *, encoding: str = "raw") -> bytes:
    """The volume as a NRRD with attached header and data (LPS geometry, as Slicer writes)."""
    array, header = _nrrd_from_volume(volume, encoding)
    stream = io.BytesIO()
    _pynrrd_write(stream, array, header)
    return stream.getvalue()


#: numpy voxel type → the NRRD `type` spelling ITK (and so Slicer) writes.
SLICER_NRRD_TYPES: dict[str, str] = {
    "int8": "signed char",
    "uint8": "unsigned char",
    "int16": "short",
    "uint16": "unsigned short",
    "int32": "int",
    "uint32": "unsigned int",
    "int64": "long long",
    "uint64": "unsigned long long",
    "float32": "float",
    "float64": "double",
}


def encode_webserver_nrrd(volume: VolumeData) -> tuple[bytes, memoryview]:
    """The volume as Slicer WebServer's `GET /slicer/volume` lays it out: header and voxels.

    Header, line for line as the original writes it: `NRRD0004`, the two specification
    comment lines, `type`, `dimension: 3`, `space: left-posterior-superior`, `sizes`,
    `space directions` (the IJK→LPS columns), `kinds: domain domain domain`,
    `endian: little`, `encoding: raw`, `space origin`, a blank line. Unlike the original,
    the voxel type is kept (spelled as ITK writes it) instead of being cast to `short`, and
    numbers are written with `repr`, so geometry reads back bit-identical.
    The voxels follow the header as raw little-endian bytes in numpy (k, j, i) order; they
    are returned as a buffer over the volume's own array when it already has that layout,
    so large volumes are not copied.
    """
    array = np.asarray(volume.array)
    if array.ndim != 3:
        raise SceneError(f"only 3-D scalar volumes can be written as NRRD; shape is {array.shape}")
    little = array.dtype.newbyteorder("<")
    type_name = SLICER_NRRD_TYPES.get(little.newbyteorder("=").name)
    if type_name is None:
        raise SceneError(f"voxel type {array.dtype} cannot be stored in NRRD")
    try:
        ijk_to_lps = LPS_TO_RAS @ as_matrix4(volume.ijk_to_ras, what="IJK→RAS matrix")
    except GeometryError as error:
        raise SceneError(str(error)) from None
    directions = " ".join(nrrd_vector(ijk_to_lps[:3, axis]) for axis in range(3))
    sizes = " ".join(str(size) for size in reversed(array.shape))
    header = (
        "NRRD0004\n"
        "# Complete NRRD file format specification at:\n"
        "# http://teem.sourceforge.net/nrrd/format.html\n"
        f"type: {type_name}\n"
        "dimension: 3\n"
        "space: left-posterior-superior\n"
        f"sizes: {sizes}\n"
        f"space directions: {directions}\n"
        "kinds: domain domain domain\n"
        "endian: little\n"
        "encoding: raw\n"
        f"space origin: {nrrd_vector(ijk_to_lps[:3, 3])}\n"
        "\n"
    )
    voxels = np.ascontiguousarray(array, dtype=little)
    return header.encode("ascii"), memoryview(voxels).cast("B")


def nrrd_vector(values: np.ndarray) -> str:
    """`(a,b,c)` with each number's shortest exact text (and no negative zero)."""
    return "(" + ",".join(repr(float(value) + 0.0) for value in values) + ")"


def write_nrrd(path: Path, data: VolumeData, *, compress: bool = True) -> None:
    """Write `data` to `path`: `.nrrd` atomically (temp file, then rename), `.nhdr` as a detached
    header beside a `.raw`/`.raw.gz` data file. `compress` selects gzip (Slicer's default)."""
    array, header = _nrrd_from_volume(data, "gzip" if compress else "raw")
    write_nrrd_file(Path(path), array, header)


def write_nrrd_file(path: Path, array: np.ndarray, header: dict[str, Any]) -> None:
    """pynrrd's writer for any array and header (numpy C order): `.nhdr` as a detached header
    beside its data file, anything else atomically; file errors become SceneError. The one
    way this package writes NRRD files (volumes, displacement fields, segmentations)."""
    path = Path(path)
    try:
        if path.name.lower().endswith(".nhdr"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                nrrd.write(str(path), array, header, index_order="C")
            return
        with _atomic_file(path) as stream:
            _pynrrd_write(stream, array, header)
    except OSError as error:
        raise SceneError(f"cannot write {path}: {error.strerror or error}") from None


def read_nrrd_file(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """pynrrd's reader (numpy C order, attached or detached data); SceneError for a missing
    or malformed file. Shared by the volume, displacement-field and segmentation readers."""
    path = Path(path)
    try:
        array, header = nrrd.read(str(path), index_order="C")
    except FileNotFoundError as error:
        raise SceneError(f"cannot read {path}: {error.strerror or 'no such file'}") from None
    except _PARSE_ERRORS as error:
        raise SceneError(f"cannot read NRRD file {path}: {_describe(error)}") from None
    return array, dict(header)


def decode_nrrd_bytes(data: bytes, what: str = "NRRD") -> tuple[np.ndarray, dict[str, Any]]:
    """Header and array of a NRRD with attached data held in memory (an HTTP body)."""
    stream = io.BytesIO(bytes(data))
    try:
        header = nrrd.read_header(stream)
        if "data file" in header or "datafile" in header:
            raise SceneError(f"{what} bytes must carry their data (detached 'data file' given)")
        array = nrrd.read_data(header, stream, index_order="C")
    except SceneError:
        raise
    except (*_PARSE_ERRORS, StopIteration) as error:
        raise SceneError(f"cannot decode {what}: {_describe(error)}") from None
    return array, dict(header)


def spatial_axes(header: Mapping[str, Any], origin: str) -> list[int]:
    """Indices (NRRD order) of the axes of `header` that are positions in space; the others
    are component axes (`vector`, `list`, …, or a `none` space direction)."""
    return _spatial_axes(header, len(header["sizes"]), origin)


def header_ijk_to_ras(header: Mapping[str, Any], spatial: list[int], origin: str) -> np.ndarray:
    """IJK→RAS of the `spatial` axes of `header`, by this module's conventions (any of the
    LPS/RAS/LAS spaces, or no space as ITK reads it)."""
    return _ijk_to_ras(header, spatial, origin)


# -- NRRD → VolumeData -------------------------------------------------------------------------


def _volume_from_nrrd(
    array: np.ndarray, header: Mapping[str, Any], *, name: str | None, origin: str
) -> VolumeData:
    sizes = [int(n) for n in header["sizes"]]  # NRRD (fastest-first) order
    spatial = _spatial_axes(header, len(sizes), origin)
    _squeeze_check(sizes, spatial, header, origin)
    if not 2 <= len(spatial) <= 3:
        raise SceneError(
            f"{origin}: only 3-D scalar volumes (or 2-D images) can be loaded; "
            f"this NRRD has {len(spatial)} spatial axes (sizes {sizes})"
        )
    # numpy axes are reversed NRRD axes; keep only spatial ones (the others have size 1).
    numpy_keep = sorted(len(sizes) - 1 - axis for axis in spatial)
    squeeze = tuple(axis for axis in range(array.ndim) if axis not in numpy_keep)
    voxels = np.squeeze(array, axis=squeeze) if squeeze else array
    ijk_to_ras = _ijk_to_ras(header, spatial, origin)
    if voxels.ndim == 2:
        voxels = voxels[np.newaxis]
    voxels = np.ascontiguousarray(voxels, dtype=voxels.dtype.newbyteorder("="))
    return VolumeData(array=voxels, ijk_to_ras=ijk_to_ras, name=name)


def _spatial_axes(header: Mapping[str, Any], dimension: int, origin: str) -> list[int]:
    """Indices (NRRD order) of the axes that are positions in space.

    An axis is spatial unless its kind names a component or time axis (`vector`, `RGB-color`,
    `list`, `time`, …) or its space direction is `none`.
    """
    directions = _space_directions(header, dimension, origin)
    kinds = header.get("kinds")
    if kinds is not None and len(kinds) != dimension:
        raise SceneError(f"{origin}: 'kinds' has {len(kinds)} entries for {dimension} axes")
    spatial = []
    for axis in range(dimension):
        kind = str(kinds[axis]).lower() if kinds is not None else "domain"
        if kind not in _SPATIAL_KINDS | _UNKNOWN_KINDS:
            continue
        if directions is not None and not np.all(np.isfinite(directions[axis])):
            continue
        spatial.append(axis)
    return spatial


def _squeeze_check(
    sizes: list[int], spatial: list[int], header: Mapping[str, Any], origin: str
) -> None:
    """Refuse component axes (vector, RGB, DWI gradients, time) with more than one value."""
    for axis, size in enumerate(sizes):
        if axis not in spatial and size != 1:
            kinds = header.get("kinds")
            kind = kinds[axis] if kinds is not None else "non-spatial"
            hint = (
                "; a displacement field loads as a grid transform with filetype TransformFile"
                if size == 3 and len(sizes) == 4
                else ""
            )
            raise SceneError(
                f"{origin}: only scalar volumes are supported; axis {axis} is a {kind!r} axis "
                f"of size {size} (multi-component, vector or time series volume){hint}"
            )


def _space_directions(header: Mapping[str, Any], dimension: int, origin: str) -> np.ndarray | None:
    """`space directions` as a (dimension, space-dimension) float array, NaN rows for `none`."""
    value = header.get("space directions")
    if value is None:
        return None
    if isinstance(value, list):  # pynrrd's 'double vector list' mode: None for `none`
        width = max((len(row) for row in value if row is not None), default=3)
        value = [np.full(width, np.nan) if row is None else row for row in value]
    directions = np.asarray(value, dtype=np.float64)
    if directions.ndim != 2 or directions.shape[0] != dimension:
        raise SceneError(f"{origin}: 'space directions' does not give one vector per axis")
    return directions


def _ijk_to_ras(header: Mapping[str, Any], spatial: list[int], origin: str) -> np.ndarray:
    space = header.get("space")
    if space is None:
        return _ijk_to_ras_without_space(header, spatial, origin)
    space_to_ras = _SPACE_TO_RAS.get(str(space).strip().lower())
    if space_to_ras is None:
        known = "left-posterior-superior, right-anterior-superior, left-anterior-superior"
        raise SceneError(f"{origin}: unsupported NRRD space {space!r}; supported: {known}")
    directions = _space_directions(header, len(header["sizes"]), origin)
    if directions is None or directions.shape[1] != 3:
        raise SceneError(f"{origin}: a NRRD with a 3-D 'space' needs 3-D 'space directions'")
    columns = [directions[axis] for axis in spatial]
    return _checked(space_to_ras @ _ijk_matrix(columns, _space_origin(header, origin)), origin)


def _space_origin(header: Mapping[str, Any], origin: str) -> np.ndarray:
    space_origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    if space_origin.shape != (3,) or not np.all(np.isfinite(space_origin)):
        raise SceneError(f"{origin}: 'space origin' must be three finite numbers")
    return space_origin


def _ijk_to_ras_without_space(
    header: Mapping[str, Any], spatial: list[int], origin: str
) -> np.ndarray:
    """No anatomical frame: ITK reads the image in its own (LPS) physical frame, taking `space
    directions` (with only a `space dimension`) or else `spacings` (1 where absent) along
    identity directions, and the origin from `space origin` or 0."""
    directions = _space_directions(header, len(header["sizes"]), origin)
    if directions is not None and directions.shape[1] == 3:
        columns = [directions[axis] for axis in spatial]
    else:
        spacings = header.get("spacings")
        columns = []
        for position, axis in enumerate(spatial):
            spacing = 1.0
            if spacings is not None and np.isfinite(spacings[axis]) and spacings[axis] != 0:
                spacing = float(spacings[axis])
            column = np.zeros(3)
            column[position] = spacing
            columns.append(column)
    return _checked(LPS_TO_RAS @ _ijk_matrix(columns, _space_origin(header, origin)), origin)


def _ijk_matrix(columns: list[np.ndarray], space_origin: np.ndarray) -> np.ndarray:
    """[i j k | origin] from 2 or 3 axis columns; a missing k is the unit in-plane normal."""
    if len(columns) == 2:
        normal = np.cross(columns[0], columns[1])
        length = float(np.linalg.norm(normal))
        columns = [*columns, normal / length if length > 0 else np.array([0.0, 0.0, 1.0])]
    matrix = np.eye(4)
    matrix[:3, :3] = np.column_stack(columns)
    matrix[:3, 3] = space_origin
    return matrix


def _checked(matrix: np.ndarray, origin: str) -> np.ndarray:
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise SceneError(f"{origin}: the NRRD geometry is degenerate (axes are not independent)")
    return matrix


# -- VolumeData → NRRD -------------------------------------------------------------------------


def _nrrd_from_volume(volume: VolumeData, encoding: str) -> tuple[np.ndarray, dict[str, Any]]:
    if encoding not in WRITE_ENCODINGS:
        raise SceneError(
            f"unsupported NRRD encoding {encoding!r}; supported: {', '.join(WRITE_ENCODINGS)}"
        )
    array = np.asarray(volume.array)
    if array.ndim != 3:
        raise SceneError(f"only 3-D scalar volumes can be written as NRRD; shape is {array.shape}")
    if array.dtype.newbyteorder("=") not in _NRRD_DTYPES:
        raise SceneError(
            f"voxel type {array.dtype} cannot be stored in NRRD; use (u)int8/16/32/64, "
            "float32 or float64"
        )
    try:
        ijk_to_ras = as_matrix4(volume.ijk_to_ras, what="IJK→RAS matrix")
    except GeometryError as error:
        raise SceneError(str(error)) from None
    ijk_to_lps = LPS_TO_RAS @ ijk_to_ras  # the flip is its own inverse
    header: dict[str, Any] = {
        "space": "left-posterior-superior",
        "space directions": np.ascontiguousarray(ijk_to_lps[:3, :3].T),  # one row per axis
        "kinds": ["domain", "domain", "domain"],
        "encoding": encoding,
        "space origin": ijk_to_lps[:3, 3].copy(),
    }
    return array, header


def _pynrrd_write(stream: IO[bytes], array: np.ndarray, header: dict[str, Any]) -> None:
    """pynrrd's writer on an open stream; its header timestamp uses a deprecated datetime call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(stream, array, header, index_order="C")


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A temp file beside `path` that replaces it only when the block succeeds."""
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
        Path(temp_name).replace(path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
