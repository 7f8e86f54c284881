"""Real files for the `/slicer` tests, made on the spot: NRRD volumes (pynrrd), Slicer markups
JSON, a Slicer `.seg.nrrd` (pynrrd, laid out as Slicer writes it), and CT series written with
pydicom. Plain functions, no fixtures: each test module wraps
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


#: The `.seg.nrrd` grid: numpy (k, j, i), 1 × 2 × 4 mm voxels along L, P, S (LPS axes).
SEG_SHAPE = (5, 6, 7)
SEG_SPACING = (1.0, 2.0, 4.0)
SEG_ORIGIN_LPS = (10.0, -20.0, 30.0)


def seg_boxes() -> dict[str, tuple[slice, slice, slice]]:
    """Segment id → the (k, j, i) box of its voxels: two apart (layer 0), one across both."""
    return {
        "Segment_1": (slice(1, 3), slice(1, 4), slice(1, 5)),
        "Segment_2": (slice(3, 5), slice(4, 6), slice(5, 7)),
        "Segment_3": (slice(0, 5), slice(2, 3), slice(0, 7)),
    }


def write_seg_nrrd_file(path: Path) -> Path:
    """`Liver` (label 1) and `Tumor` (label 2) sharing layer 0, `Vessel` in layer 1: a 4-D
    `.seg.nrrd` with Slicer's `SegmentN_*` and `Segmentation_*` fields."""
    layers = np.zeros((2, *SEG_SHAPE), dtype=np.uint8)
    described = (
        ("Segment_1", "Liver", "0.866667 0.509804 0.396078", 0, 1),
        ("Segment_2", "Tumor", "0.564706 0.933333 0.564706", 0, 2),
        ("Segment_3", "Vessel", "0.847059 0.396078 0.309804", 1, 1),
    )
    fields: dict[str, str] = {}
    for index, (segment_id, name, color, layer, label) in enumerate(described):
        box = seg_boxes()[segment_id]
        layers[layer][box] = label
        k, j, i = box
        prefix = f"Segment{index}_"
        fields[prefix + "Color"] = color
        fields[prefix + "ColorAutoGenerated"] = "1"
        bounds = (i.start, i.stop - 1, j.start, j.stop - 1, k.start, k.stop - 1)
        fields[prefix + "Extent"] = " ".join(str(n) for n in bounds)
        fields[prefix + "ID"] = segment_id
        fields[prefix + "LabelValue"] = str(label)
        fields[prefix + "Layer"] = str(layer)
        fields[prefix + "Name"] = name
        fields[prefix + "NameAutoGenerated"] = "0"
        fields[prefix + "Tags"] = "Segmentation.Status:inprogress|"
    fields["Segmentation_ContainedRepresentationNames"] = "Binary labelmap|"
    fields["Segmentation_ConversionParameters"] = ""
    fields["Segmentation_MasterRepresentation"] = "Binary labelmap"
    fields["Segmentation_ReferenceImageExtentOffset"] = "0 0 0"
    header = {
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "space directions": np.vstack([np.full(3, np.nan), np.diag(SEG_SPACING)]),
        "space origin": np.array(SEG_ORIGIN_LPS),
        "encoding": "gzip",
        **dict(sorted(fields.items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        array = np.ascontiguousarray(np.moveaxis(layers, 0, -1))  # the layer axis first in NRRD
        nrrd.write(str(path), array, header, index_order="C")
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
