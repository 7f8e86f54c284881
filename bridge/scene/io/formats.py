"""Which reader a file needs: Slicer filetype names from a path's suffix (or, where the suffix
is ambiguous or missing, from the file's first bytes).

The names are Slicer's own (`VolumeFile`, `MarkupsFile`, `TransformFile`, `SegmentationFile`)
plus `DICOM` for DICOM files and folders, so a `LoadFile` command or `/slicer/...` request that
names a Slicer filetype means the same thing here. Only formats this package can actually read
are claimed; every other known medical-imaging suffix is refused with the reason, so callers get
a clear answer instead of a parse error from the wrong reader. This module reads at most a
file's first bytes and never imports a reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bridge.scene.types import SceneError

VOLUME_FILE = "VolumeFile"
MARKUPS_FILE = "MarkupsFile"
TRANSFORM_FILE = "TransformFile"
SEGMENTATION_FILE = "SegmentationFile"
DICOM = "DICOM"

#: Every filetype this package reads, as `detect_filetype` names them.
FILETYPES: tuple[str, ...] = (VOLUME_FILE, MARKUPS_FILE, TRANSFORM_FILE, SEGMENTATION_FILE, DICOM)

#: Suffixes of image files a `TransformFile` load reads as a displacement field (grid
#: transform), as Slicer's transform storage node tells them from ITK transform files.
TRANSFORM_IMAGE_SUFFIXES: tuple[str, ...] = (".nrrd", ".nhdr")

#: Bytes 128–131 of a DICOM Part 10 file (after the 128-byte preamble).
DICOM_MAGIC = b"DICM"
DICOM_MAGIC_OFFSET = 128
ITK_TRANSFORM_MAGIC = "#Insight Transform File"
NRRD_MAGIC = b"NRRD000"

#: Suffix (lower case, longest first where they overlap) → filetype, or a callable that looks
#: at the file's content when the suffix alone does not say (`.json`, `.txt`).
_SUFFIXES: tuple[tuple[str, str | Callable[[Path], str]], ...] = (
    (".mrk.json", MARKUPS_FILE),
    (".seg.nrrd", SEGMENTATION_FILE),
    (".seg.nhdr", SEGMENTATION_FILE),
    (".nrrd", VOLUME_FILE),
    (".nhdr", VOLUME_FILE),
    (".tfm", TRANSFORM_FILE),
    (".dcm", DICOM),
    (".dicom", DICOM),
    (".json", lambda path: _sniff_markups_json(path)),
    (".txt", lambda path: _sniff_itk_text(path)),
)

#: Known suffixes of formats Slicer reads but SlicerBridge does not, with the reason. Checked
#: before `_SUFFIXES`, so `.seq.nrrd` is refused rather than read as a plain volume.
UNSUPPORTED_SUFFIXES: dict[str, str] = {
    ".seq.nrrd": "sequence files (4-D volumes over time) are not supported",
    ".nii": "NIfTI is not supported; convert the volume to NRRD",
    ".nii.gz": "NIfTI is not supported; convert the volume to NRRD",
    ".hdr": "Analyze/NIfTI header files are not supported; convert the volume to NRRD",
    ".img": "Analyze/NIfTI image files are not supported; convert the volume to NRRD",
    ".mha": "MetaImage is not supported; convert the volume to NRRD",
    ".mhd": "MetaImage is not supported; convert the volume to NRRD",
    ".gipl": "GIPL is not supported; convert the volume to NRRD",
    ".gipl.gz": "GIPL is not supported; convert the volume to NRRD",
    ".mgz": "FreeSurfer volumes are not supported; convert the volume to NRRD",
    ".vtk": "VTK legacy files are not supported",
    ".h5": (
        "HDF5 transform files are not supported (reading them needs h5py, which SlicerBridge "
        "does not depend on); save the transform as ITK text (.tfm)"
    ),
    ".hdf5": "HDF5 files are not supported; save transforms as ITK text (.tfm)",
    ".mat": (
        "MATLAB transform files are not supported (binary ITK MatlabTransformIO format); save "
        "the transform as ITK text (.tfm)"
    ),
    ".fcsv": "legacy fiducial CSV (.fcsv) is not supported; save markups as .mrk.json",
    ".mrml": "MRML scene files are not supported; load the scene's data files one by one",
    ".mrb": "MRML scene bundles are not supported; load the scene's data files one by one",
    ".stl": "models (surface meshes) are not supported",
    ".obj": "models (surface meshes) are not supported",
    ".vtp": "models (surface meshes) are not supported",
    ".ply": "models (surface meshes) are not supported",
}

SUPPORTED_DESCRIPTION = (
    "VolumeFile (.nrrd, .nhdr), MarkupsFile (.mrk.json, markups .json), "
    "TransformFile (.tfm, ITK text .txt; a displacement field .nrrd/.nhdr when "
    "filetype=TransformFile is given), SegmentationFile (.seg.nrrd, .seg.nhdr), "
    "DICOM (a folder, .dcm, or any file with the DICM preamble)"
)


def detect_filetype(path: Path) -> str:
    """The Slicer filetype name for `path`: `VolumeFile`, `MarkupsFile`, `TransformFile`,
    `SegmentationFile` or `DICOM`.

    A folder is DICOM (it is searched recursively when read). Files are classified by suffix
    (`.seg.nrrd` before `.nrrd`; a displacement-field `.nrrd` is a `VolumeFile` here, as in
    Slicer's Add Data dialog, and loads as a grid transform only when asked for as a
    `TransformFile`);
    a file with an unknown suffix is classified by content (DICOM preamble, NRRD magic, ITK
    transform header). Raises SceneError naming the path and the supported kinds otherwise.
    """
    path = Path(path)
    if path.is_dir():
        return DICOM
    name = path.name.lower()
    reason = unsupported_reason(path)
    if reason is not None:
        raise SceneError(f"cannot load {path}: {reason}")
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix):
            return kind if isinstance(kind, str) else kind(path)
    sniffed = _sniff_content(path)
    if sniffed is not None:
        return sniffed
    raise SceneError(f"cannot tell what kind of file {path} is; supported: {SUPPORTED_DESCRIPTION}")


def is_transform_image(path: Path) -> bool:
    """True if a `TransformFile` at `path` is a displacement-field image, not an ITK
    transform file (Slicer's `vtkMRMLTransformStorageNode::IsImageFile`, for the image
    formats this package reads)."""
    return Path(path).name.lower().endswith(TRANSFORM_IMAGE_SUFFIXES)


def unsupported_reason(path: Path) -> str | None:
    """Why the format of `path` (by suffix) cannot be read, or None if it is not known to be
    unsupported."""
    name = Path(path).name.lower()
    for suffix in sorted(UNSUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return UNSUPPORTED_SUFFIXES[suffix]
    return None


def strip_known_suffix(path: Path) -> str:
    """The file name without its format suffix (`MR-head.nrrd` → `MR-head`, `F.mrk.json` → `F`),
    which is what Slicer names a node loaded from the file."""
    name = Path(path).name
    lower = name.lower()
    for suffix in (*(s for s, _ in _SUFFIXES), *UNSUPPORTED_SUFFIXES):
        if lower.endswith(suffix):
            return name[: -len(suffix)] or name
    return Path(name).stem or name


def _head(path: Path, size: int) -> bytes:
    try:
        with Path(path).open("rb") as stream:
            return stream.read(size)
    except OSError as error:
        raise SceneError(f"cannot read {path}: {error.strerror or error}") from None


def _sniff_content(path: Path) -> str | None:
    """Filetype from the first bytes, for files whose suffix says nothing."""
    if not Path(path).is_file():
        raise SceneError(f"cannot load {path}: no such file or folder")
    head = _head(path, DICOM_MAGIC_OFFSET + len(DICOM_MAGIC))
    if head[DICOM_MAGIC_OFFSET:] == DICOM_MAGIC:
        return DICOM
    if head.startswith(NRRD_MAGIC):
        return VOLUME_FILE
    if head.startswith(ITK_TRANSFORM_MAGIC.encode("ascii")):
        return TRANSFORM_FILE
    return None


def _sniff_itk_text(path: Path) -> str:
    """`.txt` is a transform only if it starts like an ITK transform file."""
    if _head(path, len(ITK_TRANSFORM_MAGIC)).decode("ascii", "replace") == ITK_TRANSFORM_MAGIC:
        return TRANSFORM_FILE
    raise SceneError(
        f"cannot load {path}: a .txt file is read only as an ITK transform, and it does not "
        f"start with {ITK_TRANSFORM_MAGIC!r}; supported: {SUPPORTED_DESCRIPTION}"
    )


def _sniff_markups_json(path: Path) -> str:
    """`.json` is markups only if its `@schema` names a markups schema (as Slicer checks)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SceneError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SceneError(f"cannot load {path}: not valid JSON ({error})") from None
    schema = document.get("@schema") if isinstance(document, dict) else None
    if isinstance(schema, str) and "markups-schema-v1." in schema.lower():
        return MARKUPS_FILE
    raise SceneError(
        f"cannot load {path}: a .json file is read only as Slicer markups, and its @schema "
        f"is not a markups schema (got {schema!r}); supported: {SUPPORTED_DESCRIPTION}"
    )
