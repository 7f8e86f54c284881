"""Real files for the `/slicer` tests, made on the spot: NRRD volumes (pynrrd), Slicer markups
JSON, and CT series written with pydicom. Plain functions, no fixtures: each test module wraps
what it needs. Nothing here talks to a server.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import nrrd
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

#: A volume with distinct voxels and an oblique LPS geometry, (k, j, i) = (5, 4, 3).
SHAPE_KJI = (5, 4, 3)


def sample_voxels(dtype: str = "int16") -> np.ndarray:
    values = np.arange(np.prod(SHAPE_KJI), dtype=np.float64).reshape(SHAPE_KJI)
    return (values * 7 - 20).astype(dtype)


def oblique_lps_header() -> dict[str, Any]:
    """Space directions with rotation and uneven spacing; an origin with fractions."""
    angle = np.deg2rad(30)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    spacing = np.array([0.5, 0.75, 2.5])
    directions = (rotation * spacing).T  # one row per axis (i, j, k)
    return {
        "space": "left-posterior-superior",
        "space directions": directions,
        "space origin": np.array([-12.25, 30.125, -7.0]),
        "kinds": ["domain", "domain", "domain"],
    }


def nrrd_bytes(array: np.ndarray, header: dict[str, Any] | None = None, **fields: Any) -> bytes:
    """An attached-header NRRD written by pynrrd (gzip unless `encoding` says otherwise)."""
    stream = io.BytesIO()
    full_header = {**(oblique_lps_header() if header is None else header), **fields}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nrrd.write(stream, array, full_header, index_order="C")
    return stream.getvalue()


def write_nrrd_file(path: Path, array: np.ndarray | None = None, **fields: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nrrd_bytes(sample_voxels() if array is None else array, **fields))
    return path


def original_int16_nrrd(array: np.ndarray, origin: tuple[float, float, float]) -> bytes:
    """The only form Slicer's `POST /slicer/volume` accepted, written by hand as its clients
    do: `type: short`, raw, little endian, LPS, axis-aligned spacing 1, 2, 3."""
    nk, nj, ni = array.shape
    header = (
        "NRRD0004\n"
        "type: short\n"
        "dimension: 3\n"
        "space: left-posterior-superior\n"
        f"sizes: {ni} {nj} {nk}\n"
        "space directions: (1,0,0) (0,2,0) (0,0,3)\n"
        "kinds: domain domain domain\n"
        "endian: little\n"
        "encoding: raw\n"
        f"space origin: ({origin[0]},{origin[1]},{origin[2]})\n"
        "\n"
    )
    return header.encode() + array.astype("<i2").tobytes()


def write_markups_file(path: Path, name: str, points: list[tuple[float, float, float]]) -> Path:
    """A Slicer `.mrk.json` point list in LPS, as Slicer writes it."""
    document = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
        "Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [
            {
                "type": "Fiducial",
                "name": name,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "controlPoints": [
                    {
                        "id": str(index + 1),
                        "label": f"{name}-{index + 1}",
                        "position": [-r, -a, s],
                        "positionStatus": "defined",
                    }
                    for index, (r, a, s) in enumerate(points)
                ],
                "display": {"selectedColor": [0.2, 0.4, 0.6], "glyphScale": 2.5},
            }
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def write_ct_series(
    folder: Path, *, slices: int = 4, rows: int = 8, columns: int = 6, study_uid: str | None = None
) -> dict[str, Any]:
    """A small axial CT series (int16 HU after rescale), one Part 10 file per slice."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = generate_uid()
    files = []
    for index in range(slices):
        sop_uid = generate_uid()
        dataset = Dataset()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
        dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.SOPClassUID = CTImageStorage
        dataset.SOPInstanceUID = sop_uid
        dataset.StudyInstanceUID = study_uid
        dataset.SeriesInstanceUID = series_uid
        dataset.FrameOfReferenceUID = frame_uid
        dataset.PatientName = "Test^Patient"
        dataset.PatientID = "SB0001"
        dataset.Modality = "CT"
        dataset.SeriesNumber = 1
        dataset.InstanceNumber = index + 1
        dataset.ImagePositionPatient = [-10.0, -20.0, 5.0 + 2.0 * index]
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.PixelSpacing = [0.5, 0.75]
        dataset.SliceThickness = 2.0
        dataset.Rows, dataset.Columns = rows, columns
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.BitsAllocated = dataset.BitsStored = 16
        dataset.HighBit = 15
        dataset.PixelRepresentation = 1
        dataset.RescaleIntercept = -1024
        dataset.RescaleSlope = 1
        pixels = np.arange(rows * columns, dtype=np.int16).reshape(rows, columns) + 100 * index
        dataset.PixelData = pixels.astype("<i2").tobytes()
        path = folder / f"slice{index:03d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        files.append(path)
    return {"study_uid": study_uid, "series_uid": series_uid, "files": files}
