"""File I/O for the headless scene: NRRD volumes, markups JSON, ITK transforms, displacement-field
NRRD (grid transforms), Slicer `.seg.nrrd` segmentations and DICOM series.

Readers return the plain data types of `bridge.scene.types` (or a 4×4 matrix for linear
transforms) and know no scene; writers take the same types. Every failure a caller can cause —
a missing file, a malformed or unsupported one — is a `SceneError` whose message says what is
wrong. `formats.detect_filetype` picks the reader by Slicer filetype name.
"""

from bridge.scene.io.dicom_io import is_dicom_file, read_dicom_series
from bridge.scene.io.formats import FILETYPES, detect_filetype, strip_known_suffix
from bridge.scene.io.grid_transform_nrrd import (
    decode_grid_transform_nrrd,
    encode_grid_transform_nrrd,
    read_grid_transform_nrrd,
    write_grid_transform_nrrd,
)
from bridge.scene.io.markups_io import read_markups_json, write_markups_json
from bridge.scene.io.nrrd_io import decode_nrrd, encode_nrrd, read_nrrd, write_nrrd
from bridge.scene.io.segmentation_nrrd import read_segmentation_nrrd, write_segmentation_nrrd
from bridge.scene.io.transform_io import read_tfm, write_tfm

__all__ = [
    "FILETYPES",
    "decode_grid_transform_nrrd",
    "decode_nrrd",
    "detect_filetype",
    "encode_grid_transform_nrrd",
    "encode_nrrd",
    "is_dicom_file",
    "read_dicom_series",
    "read_grid_transform_nrrd",
    "read_markups_json",
    "read_nrrd",
    "read_segmentation_nrrd",
    "read_tfm",
    "strip_known_suffix",
    "write_grid_transform_nrrd",
    "write_markups_json",
    "write_nrrd",
    "write_segmentation_nrrd",
    "write_tfm",
]
