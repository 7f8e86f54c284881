"""DICOM image series → `VolumeData`, one volume per series (pydicom does the parsing).

What this module decides, and why:

* Files count as DICOM only with the Part 10 preamble (`DICM` at byte 128); anything else in a
  folder (thumbnails, notes) is skipped, and so is a DICM file whose header or pixel data is
  corrupt (truncated copies are common on network shares). Skipped files are logged, not raised.
  Pixel data pydicom has no decoder for (compressed transfer syntaxes without pylibjpeg/GDCM)
  is an error, not a skip, so the message can say what is missing.
* Instances are grouped by SeriesInstanceUID; instances without pixel data (structured reports,
  presentation states) are ignored.
* Slices are ordered by their position along the slice normal (ImageOrientationPatient row ×
  column), not by InstanceNumber, which scanners number in acquisition order and which need not
  follow anatomy. Two slices at the same position (e.g. several echoes in one series) make the
  series ambiguous and are refused.
* Voxels are stored × RescaleSlope + RescaleIntercept (per slice). The result is int16 when every
  value is an integer in int16 range (CT in Hounsfield units), else float32.
* Geometry, in LPS as DICOM defines it, then flipped to RAS: the i axis (along a row, column index
  increasing) is the first IOP triplet × PixelSpacing[1] (column spacing), the j axis is the
  second triplet × PixelSpacing[0] (row spacing) and the k axis is the mean step between the first
  and last slice positions (exact for evenly spaced slices, and it keeps a gantry tilt's shear).
  A single slice gets SliceThickness (or 1 mm) along the normal.
* Instances without ImagePositionPatient/ImageOrientationPatient (secondary captures) are stacked
  in InstanceNumber order with identity orientation and 1 mm spacing, as a last resort.
* Multi-frame (enhanced) instances are refused: their per-frame geometry lives in functional
  group sequences this reader does not interpret yet.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from bridge.geometry import LPS_TO_RAS
from bridge.scene.io.formats import DICOM_MAGIC, DICOM_MAGIC_OFFSET
from bridge.scene.types import SceneError, VolumeData

log = logging.getLogger(__name__)

_INT16 = np.iinfo(np.int16)
#: Relative difference between slice gaps above which a series is logged as irregular.
_GAP_TOLERANCE = 0.01
_DEFAULT_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True, slots=True)
class _Slice:
    """One image instance with the header values the volume needs."""

    path: Path
    dataset: Dataset
    pixels: np.ndarray  # stored values, (rows, columns)
    position: np.ndarray | None  # LPS, mm
    orientation: tuple[float, ...] | None  # six direction cosines
    instance_number: int


def is_dicom_file(path: Path) -> bool:
    """Whether `path` is a DICOM Part 10 file (has `DICM` after the 128-byte preamble)."""
    try:
        with Path(path).open("rb") as stream:
            stream.seek(DICOM_MAGIC_OFFSET)
            return stream.read(len(DICOM_MAGIC)) == DICOM_MAGIC
    except OSError:
        return False


def read_dicom_series(paths: list[Path]) -> list[VolumeData]:
    """One volume per image series found in `paths` (files, or folders searched recursively),
    ordered by SeriesNumber. Raises SceneError when no image series is found or a series is
    inconsistent (different image sizes or orientations, duplicate positions)."""
    series: dict[str, list[_Slice]] = {}
    for file in _dicom_files(paths):
        image = _read_slice(file)
        if image is not None:
            uid = str(image.dataset.get("SeriesInstanceUID", "")) or f"(no series UID) {file}"
            series.setdefault(uid, []).append(image)
    if not series:
        raise SceneError(f"no DICOM image series found in {', '.join(map(str, paths))}")
    ordered = sorted(series.items(), key=lambda item: (_series_number(item[1]), item[0]))
    return [_volume(uid, slices) for uid, slices in ordered]


# -- collecting files -------------------------------------------------------------------------


def _dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            candidates: Iterable[Path] = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise SceneError(f"cannot read {path}: no such file or folder")
        for candidate in candidates:
            if is_dicom_file(candidate):
                yield candidate
            else:
                log.debug("skipping %s: not a DICOM file", candidate)


def _read_slice(path: Path) -> _Slice | None:
    """The instance at `path`, or None if it is unreadable or carries no image."""
    try:
        with warnings.catch_warnings(record=True) as caught:  # pydicom's complaints → our log
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as error:
        log.warning("skipping %s: unreadable DICOM (%s)", path, error)
        return None
    for warning in caught:
        log.info("%s: %s", path, warning.message)
    if "PixelData" not in dataset:
        log.debug("ignoring %s: no pixel data", path)
        return None
    pixels = _decode_pixels(path, dataset)
    if pixels is None:
        return None
    position = _numbers(path, dataset, "ImagePositionPatient", 3)
    orientation = _numbers(path, dataset, "ImageOrientationPatient", 6)
    number = dataset.get("InstanceNumber")
    return _Slice(
        path=path,
        dataset=dataset,
        pixels=pixels,
        position=None if position is None else np.array(position),
        orientation=orientation,
        instance_number=int(number) if number not in (None, "") else 0,
    )


def _numbers(path: Path, dataset: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """A multi-valued decimal attribute, or None when absent or malformed (then logged)."""
    value = dataset.get(keyword)
    if value is None or value == "":
        return None
    try:
        numbers = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != count or not np.all(np.isfinite(numbers)):
        log.warning("%s: ignoring malformed %s %r", path, keyword, value)
        return None
    return numbers


def _decode_pixels(path: Path, dataset: Dataset) -> np.ndarray | None:
    """Stored pixel values; None (skip) for corrupt pixel data, SceneError for a missing decoder."""
    try:
        return dataset.pixel_array
    except ValueError as error:  # pydicom's word for truncated or inconsistent pixel data
        log.warning("skipping %s: corrupt pixel data (%s)", path, error)
        return None
    except Exception as error:  # missing decoder plugins raise RuntimeError/NotImplementedError
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise SceneError(
            f"cannot decode pixel data of {path} (transfer syntax {syntax}): {error}"
        ) from None


def _series_number(slices: Sequence[_Slice]) -> int:
    number = slices[0].dataset.get("SeriesNumber")
    return int(number) if number not in (None, "") else 1 << 31


# -- building a volume ----------------------------------------------------------------------


def _volume(uid: str, slices: list[_Slice]) -> VolumeData:
    first = slices[0].dataset
    _check_consistent(uid, slices)
    ordered, step = _sorted_slices(uid, slices)
    voxels = _voxels(uid, ordered)
    return VolumeData(array=voxels, ijk_to_ras=_ijk_to_ras(ordered, step), name=_name(first, uid))


def _check_consistent(uid: str, slices: list[_Slice]) -> None:
    first = slices[0]
    for image in slices:
        frames = int(image.dataset.get("NumberOfFrames", 1) or 1)
        if frames != 1:
            raise SceneError(
                f"series {uid}: multi-frame instances ({frames} frames in {image.path.name}) "
                "are not supported"
            )
        size = (image.dataset.get("Rows"), image.dataset.get("Columns"))
        if size != (first.dataset.get("Rows"), first.dataset.get("Columns")):
            raise SceneError(
                f"series {uid}: inconsistent image sizes ({image.path.name} is "
                f"{size[0]}×{size[1]}, {first.path.name} is "
                f"{first.dataset.get('Rows')}×{first.dataset.get('Columns')})"
            )
        if (
            image.orientation is not None
            and first.orientation is not None
            and not np.allclose(image.orientation, first.orientation, atol=1e-4)
        ):
            raise SceneError(f"series {uid}: slices differ in orientation ({image.path.name})")
        if (image.position is None) != (first.position is None):
            raise SceneError(f"series {uid}: some slices have no ImagePositionPatient")


def _sorted_slices(uid: str, slices: list[_Slice]) -> tuple[list[_Slice], np.ndarray]:
    """Slices in order along the normal, and the LPS step from one slice to the next."""
    first = slices[0]
    normal = _normal(first.orientation or _DEFAULT_ORIENTATION)
    if first.position is None:  # no positions: acquisition order, 1 mm apart along the normal
        return sorted(slices, key=lambda s: (s.instance_number, str(s.path))), normal
    ordered = sorted(slices, key=lambda s: float(s.position @ normal))
    distances = np.array([float(s.position @ normal) for s in ordered])
    if len(ordered) == 1:
        thickness = first.dataset.get("SliceThickness")
        spacing = float(thickness) if thickness not in (None, "") and float(thickness) > 0 else 1.0
        return ordered, normal * spacing
    gaps = np.diff(distances)
    if np.any(gaps < 1e-4):
        raise SceneError(
            f"series {uid}: several slices share one position along the slice normal "
            "(multiple echoes, phases or duplicates in one series are not supported)"
        )
    if gaps.max() - gaps.min() > _GAP_TOLERANCE * gaps.mean():
        log.warning(
            "series %s: irregular slice spacing (%.4g to %.4g mm); using the mean",
            uid,
            gaps.min(),
            gaps.max(),
        )
    step = (ordered[-1].position - ordered[0].position) / (len(ordered) - 1)
    return ordered, step


def _normal(orientation: Sequence[float]) -> np.ndarray:
    row, column = np.array(orientation[:3]), np.array(orientation[3:6])
    normal = np.cross(row, column)
    length = float(np.linalg.norm(normal))
    if length < 1e-6:
        raise SceneError("ImageOrientationPatient rows are parallel; no slice normal")
    return normal / length


def _voxels(uid: str, ordered: list[_Slice]) -> np.ndarray:
    """Stored values × slope + intercept, stacked to (k, j, i); int16 when lossless."""
    stored = [image.pixels for image in ordered]
    if stored[0].ndim != 2:
        raise SceneError(
            f"series {uid}: only single-sample (grayscale) images are supported, got pixel "
            f"array shape {stored[0].shape}"
        )
    rescaled = np.stack(
        [
            pixels.astype(np.float64) * _rescale(image, "RescaleSlope", 1.0)
            + _rescale(image, "RescaleIntercept", 0.0)
            for image, pixels in zip(ordered, stored, strict=True)
        ]
    )
    fits_int16 = (
        np.all(rescaled == np.round(rescaled))
        and rescaled.min() >= _INT16.min
        and rescaled.max() <= _INT16.max
    )
    return rescaled.astype(np.int16 if fits_int16 else np.float32)


def _rescale(image: _Slice, keyword: str, default: float) -> float:
    value = image.dataset.get(keyword)
    return float(value) if value not in (None, "") else default


def _ijk_to_ras(ordered: list[_Slice], step: np.ndarray) -> np.ndarray:
    first = ordered[0]
    orientation = first.orientation or _DEFAULT_ORIENTATION
    row_spacing, column_spacing = _pixel_spacing(first.dataset)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = np.array(orientation[:3]) * column_spacing
    ijk_to_lps[:3, 1] = np.array(orientation[3:6]) * row_spacing
    ijk_to_lps[:3, 2] = step
    ijk_to_lps[:3, 3] = first.position if first.position is not None else np.zeros(3)
    return LPS_TO_RAS @ ijk_to_lps


def _pixel_spacing(dataset: Dataset) -> tuple[float, float]:
    """(row spacing, column spacing): PixelSpacing, else ImagerPixelSpacing, else 1 mm."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = dataset.get(keyword)
        if value is not None and len(value) == 2:
            return float(value[0]), float(value[1])
    return 1.0, 1.0


def _name(dataset: Dataset, uid: str) -> str:
    description = str(dataset.get("SeriesDescription", "")).strip()
    if description:
        return description
    number = dataset.get("SeriesNumber")
    if number not in (None, ""):
        return f"Series {number}"
    return uid
