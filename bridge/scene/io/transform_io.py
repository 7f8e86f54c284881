"""ITK text transform files (`.tfm`, `.txt`) ↔ a linear transform's RAS matrix-to-parent.

Convention, verified against Slicer's source (`Libs/MRML/Core/vtkITKTransformConverter.h` and
`vtkMRMLTransformStorageNode.cxx`):

* An ITK linear transform file holds matrix A (9 `Parameters`, row-major), translation t (the
  last 3 `Parameters`) and centre c (`FixedParameters`); ITK maps x ↦ A·x + offset with
  offset = t + c − A·c. Its coordinates are LPS.
* Slicer converts it to RAS as T_ras = lps2ras · T_lps · ras2lps (lps2ras = diag(−1, −1, 1, 1),
  its own inverse), and sets the result as the node's transform **from parent**, because ITK
  files store resampling transforms. So matrix-to-parent = inv(LPS · M_itk · LPS).
* Writing does the inverse: M_itk = LPS · inv(to_parent) · LPS, stored as
  `AffineTransform_double_3_3` with centre 0 (so t = offset), as Slicer's converter writes.
* A `CompositeTransform` is T_0 ∘ T_1 ∘ … (ITK applies its queue in reverse order), so its
  linear components multiply in file order. A file with several top-level transforms is
  refused, as Slicer refuses it.

HDF5 (`.h5`) and MATLAB (`.mat`) transform files are binary formats this module cannot read;
they are refused with the reason. Non-linear transforms inside an ITK transform file
(B-spline, displacement field) are refused too; a displacement field stored as an image
(`.nrrd`, `.nhdr`) is `grid_transform_nrrd`'s, as in Slicer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.geometry import LPS_TO_RAS, GeometryError, as_matrix4
from bridge.scene.io.formats import ITK_TRANSFORM_MAGIC, unsupported_reason
from bridge.scene.types import SceneError

_HEADER = f"{ITK_TRANSFORM_MAGIC} V1.0"
_COMPOSITE_PREFIX = "CompositeTransform_"


@dataclass(frozen=True, slots=True)
class _ItkTransform:
    """One `Transform:` entry of the file, as written."""

    kind: str
    parameters: tuple[float, ...]
    fixed: tuple[float, ...]


def _matrix_offset(entry: _ItkTransform) -> np.ndarray:
    """Affine / MatrixOffsetTransformBase: 9 matrix + 3 translation, centre in FixedParameters."""
    _expect_count(entry, entry.parameters, 12, "Parameters")
    centre = np.zeros(3)
    if entry.fixed:
        _expect_count(entry, entry.fixed, 3, "FixedParameters")
        centre = np.array(entry.fixed)
    matrix_3 = np.array(entry.parameters[:9]).reshape(3, 3)
    translation = np.array(entry.parameters[9:])
    matrix = np.eye(4)
    matrix[:3, :3] = matrix_3
    matrix[:3, 3] = translation + centre - matrix_3 @ centre
    return matrix


def _translation(entry: _ItkTransform) -> np.ndarray:
    _expect_count(entry, entry.parameters, 3, "Parameters")
    matrix = np.eye(4)
    matrix[:3, 3] = entry.parameters
    return matrix


def _identity(entry: _ItkTransform) -> np.ndarray:
    return np.eye(4)


#: ITK class name (without `_double_3_3` / `_float_3_3`) → LPS 4×4 matrix of the entry.
_LINEAR_KINDS: dict[str, Callable[[_ItkTransform], np.ndarray]] = {
    "AffineTransform": _matrix_offset,
    "MatrixOffsetTransformBase": _matrix_offset,
    "TranslationTransform": _translation,
    "IdentityTransform": _identity,
}
_SCALAR_SUFFIXES = ("_double_3_3", "_float_3_3", "_double_3", "_float_3")


# -- public API ---------------------------------------------------------------------------------


def read_tfm(path: Path) -> np.ndarray:
    """The RAS matrix-to-parent Slicer gives a linear transform node loaded from `path`."""
    path = Path(path)
    reason = unsupported_reason(path)
    if reason is not None:
        raise SceneError(f"cannot load {path}: {reason}")
    try:
        text = path.read_text(encoding="ascii")
    except OSError as error:
        raise SceneError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SceneError(f"{path}: not an ITK text transform file (binary content)") from None
    return parse_tfm(text, origin=str(path))


def parse_tfm(text: str, *, origin: str = "ITK transform") -> np.ndarray:
    """`read_tfm` for file content already in memory."""
    entries = _parse_entries(text, origin)
    lps = _itk_matrix(entries, origin)
    from_parent_ras = LPS_TO_RAS @ lps @ LPS_TO_RAS
    if abs(np.linalg.det(from_parent_ras[:3, :3])) < 1e-12:
        raise SceneError(f"{origin}: the transform is singular and has no inverse")
    return np.linalg.inv(from_parent_ras)


def write_tfm(path: Path, matrix: np.ndarray) -> None:
    """Write a RAS matrix-to-parent as Slicer does (ITK `AffineTransform_double_3_3`, LPS,
    resampling sense). `.h5`/`.mat` are refused."""
    path = Path(path)
    reason = unsupported_reason(path)
    if reason is not None:
        raise SceneError(f"cannot write {path}: {reason}")
    try:
        path.write_text(tfm_text(matrix), encoding="ascii")
    except OSError as error:
        raise SceneError(f"cannot write {path}: {error.strerror or error}") from None


def tfm_text(matrix: np.ndarray) -> str:
    """The ITK text file content for a RAS matrix-to-parent (what `write_tfm` writes)."""
    try:
        to_parent = as_matrix4(matrix, what="transform matrix")
    except GeometryError as error:
        raise SceneError(str(error)) from None
    if abs(np.linalg.det(to_parent[:3, :3])) < 1e-12:
        raise SceneError("transform matrix is singular; ITK files store its inverse")
    itk = LPS_TO_RAS @ np.linalg.inv(to_parent) @ LPS_TO_RAS
    parameters = [*itk[:3, :3].ravel(), *itk[:3, 3]]
    return (
        f"{_HEADER}\n"
        "#Transform 0\n"
        "Transform: AffineTransform_double_3_3\n"
        f"Parameters: {_numbers(parameters)}\n"
        "FixedParameters: 0 0 0\n"
    )


# -- parsing ------------------------------------------------------------------------------------


def _parse_entries(text: str, origin: str) -> list[_ItkTransform]:
    lines = [line.strip() for line in text.splitlines()]
    if not lines or not lines[0].startswith(ITK_TRANSFORM_MAGIC):
        raise SceneError(f"{origin}: not an ITK transform file (must start with {_HEADER!r})")
    entries: list[dict[str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition(":")
        if not separator:
            raise SceneError(f"{origin}: line {number} is not 'Key: value': {line!r}")
        key = key.strip()
        if key == "Transform":
            entries.append({"Transform": value.strip()})
        elif not entries:
            raise SceneError(f"{origin}: line {number}: {key!r} before any 'Transform:' line")
        else:
            entries[-1][key] = value.strip()
    if not entries:
        raise SceneError(f"{origin}: no 'Transform:' entry found")
    return [_entry(fields, origin) for fields in entries]


def _entry(fields: dict[str, str], origin: str) -> _ItkTransform:
    kind = fields["Transform"]
    return _ItkTransform(
        kind=kind,
        parameters=_parse_numbers(fields.get("Parameters", ""), f"{origin}: {kind} Parameters"),
        fixed=_parse_numbers(fields.get("FixedParameters", ""), f"{origin}: {kind} Fixed"),
    )


def _parse_numbers(text: str, where: str) -> tuple[float, ...]:
    try:
        values = tuple(float(token) for token in text.split())
    except ValueError:
        raise SceneError(f"{where}: not a list of numbers: {text!r}") from None
    if not all(math.isfinite(value) for value in values):
        raise SceneError(f"{where}: contains NaN or infinite values")
    return values


def _itk_matrix(entries: list[_ItkTransform], origin: str) -> np.ndarray:
    """The LPS matrix of the file's one transform (a composite multiplies its components)."""
    first, rest = entries[0], entries[1:]
    if first.kind.startswith(_COMPOSITE_PREFIX):
        if not rest:
            raise SceneError(f"{origin}: the composite transform has no components")
        components = rest
    elif rest:
        raise SceneError(
            f"{origin}: {len(entries)} transforms in one file; only one is allowed (store a "
            "list as a single CompositeTransform), as in Slicer"
        )
    else:
        components = [first]
    matrix = np.eye(4)
    for entry in components:
        matrix = matrix @ _linear_matrix(entry, origin)
    return matrix


def _linear_matrix(entry: _ItkTransform, origin: str) -> np.ndarray:
    base = entry.kind
    for suffix in _SCALAR_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    else:
        raise SceneError(f"{origin}: {entry.kind!r} is not a 3-D double or float ITK transform")
    convert = _LINEAR_KINDS.get(base)
    if convert is None:
        supported = ", ".join(_LINEAR_KINDS)
        raise SceneError(
            f"{origin}: ITK transform {entry.kind!r} is not supported (linear only: {supported})"
        )
    return convert(entry)


def _expect_count(entry: _ItkTransform, values: Sequence[float], count: int, what: str) -> None:
    if len(values) != count:
        raise SceneError(f"{entry.kind}: expected {count} {what}, got {len(values)}")


def _numbers(values: Sequence[float]) -> str:
    """Shortest text that reads back as exactly the same doubles."""
    return " ".join(repr(float(value) + 0.0) for value in values)
