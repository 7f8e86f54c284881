"""Real DICOM files for the store and DICOMweb tests, written with pydicom.

Three patients — `Müller^Hans` (ISO_IR 100), `Smith^John`, `Tanaka^Yuki=田中^雪` (UTF-8) —
four studies, CT and MR series, an Implicit VR series, a 4-frame MR instance (with an icon
image inside a sequence, so nested bulk data exists), a structured report without pixels,
a 2-frame JPEG baseline instance (frames encoded with Pillow, encapsulated by pydicom), and
a CT slice with a large non-pixel binary value. `TestData` keeps every file's UIDs and pixel
bytes so tests compare what the server sends with what was written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
    generate_uid,
)

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class Instance:
    path: Path
    patient_id: str
    study: str
    series: str
    sop: str
    sop_class: str
    modality: str
    transfer_syntax: str
    frames: list[bytes] = field(default_factory=list)  # as stored
    number: int = 1


@dataclass
class Study:
    uid: str
    patient_name: str
    patient_id: str
    date: str
    description: str
    accession: str
    charset: str | None = None
    series: dict[str, list[Instance]] = field(default_factory=dict)

    @property
    def instances(self) -> list[Instance]:
        return [i for series in self.series.values() for i in series]


@dataclass
class TestData:
    root: Path
    studies: dict[str, Study] = field(default_factory=dict)  # by a short name

    @property
    def instances(self) -> list[Instance]:
        return [i for study in self.studies.values() for i in study.instances]

    def study(self, name: str) -> Study:
        return self.studies[name]

    def by_sop(self, sop: str) -> Instance:
        return next(i for i in self.instances if i.sop == sop)


def _base(study: Study, series: str, number: int, modality: str, sop_class: str) -> Dataset:
    """An instance of `study` in series `series` (Explicit VR Little Endian unless changed)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if study.charset:
        ds.SpecificCharacterSet = study.charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study.uid
    ds.StudyDate = study.date
    ds.StudyTime = "101500"
    ds.StudyDescription = study.description
    ds.AccessionNumber = study.accession
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.StudyID = "1"
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = number
    ds.Modality = modality
    ds.InstanceNumber = 1
    return ds


def _image(ds: Dataset, pixels: np.ndarray, *, frames: int = 1) -> None:
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsAllocated - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    implicit = ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=True)


def _phantom(rows: int, columns: int, index: int, dtype: type) -> np.ndarray:
    yy, xx = np.mgrid[0:rows, 0:columns]
    radius = np.hypot(yy - rows / 2, xx - columns / 2)
    image = np.where(radius < rows * 0.4, 1000 + 40 * index, 10 * index)
    image = image + (xx * 3 + yy) % 17
    return image.astype(dtype)


def write_test_data(root: Path) -> TestData:
    data = TestData(root)
    muller, smith = ("Müller^Hans", "PAT-MU"), ("Smith^John", "PAT-SM")
    tanaka = ("Tanaka^Yuki=田中^雪", "PAT-TA")
    studies = {
        "ct": Study(
            generate_uid(), *muller, "20240115", "CT CHEST ABDOMEN", "ACC-CT-1", "ISO_IR 100"
        ),
        "knee": Study(generate_uid(), *muller, "20200101", "MR KNEE", "ACC-MR-2", "ISO_IR 100"),
        "brain": Study(generate_uid(), *smith, "20230310", "MR BRAIN", "ACC-MR-3"),
        "head": Study(generate_uid(), *tanaka, "20100601", "CT HEAD", "ACC-CT-4", "ISO_IR 192"),
    }
    data.studies = studies

    def add(name: str, ds: Dataset, frames: list[bytes], path: Path) -> None:
        _save(ds, path)
        study = studies[name]
        instance = Instance(
            path=path,
            patient_id=study.patient_id,
            study=study.uid,
            series=ds.SeriesInstanceUID,
            sop=ds.SOPInstanceUID,
            sop_class=ds.SOPClassUID,
            modality=ds.Modality,
            transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
            frames=frames,
            number=int(ds.InstanceNumber),
        )
        study.series.setdefault(instance.series, []).append(instance)

    # Study "ct": a 5-slice CT series, and a 2-frame JPEG baseline series.
    ct_series = generate_uid()
    for index in range(5):
        ds = _base(studies["ct"], ct_series, 1, "CT", CTImageStorage)
        ds.InstanceNumber = index + 1
        ds.SeriesDescription = "AXIAL 5mm"
        ds.ImagePositionPatient = [0.0, 0.0, -5.0 * index]
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        pixels = _phantom(64, 64, index, np.int16)
        _image(ds, pixels)
        if index == 0:  # a large binary value outside pixel data → a BulkDataURI
            ds.add_new(0x00420011, "OB", bytes(range(256)) * 16)
        add("ct", ds, [pixels.tobytes()], root / "ct" / f"ct{index + 1}.dcm")

    jpeg_series = generate_uid()
    ds = _base(studies["ct"], jpeg_series, 2, "OT", SECONDARY_CAPTURE)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SeriesDescription = "SCOUT JPEG"
    frames = []
    for index in range(2):
        grey = (_phantom(64, 64, index, np.int16) % 256).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, "JPEG", quality=95)
        frame = buffer.getvalue()
        frames.append(frame + b"\x00" * (len(frame) % 2))  # fragments have even lengths
    ds.Rows, ds.Columns = 64, 64
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 2
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    add("ct", ds, frames, root / "ct" / "scout_jpeg.dcm")

    # Study "knee": two MR slices in Implicit VR Little Endian.
    knee_series = generate_uid()
    for index in range(2):
        ds = _base(studies["knee"], knee_series, 1, "MR", MRImageStorage)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.InstanceNumber = index + 1
        ds.SeriesDescription = "SAG PD"
        pixels = _phantom(32, 32, index, np.uint16)
        _image(ds, pixels)
        add("knee", ds, [pixels.tobytes()], root / "knee" / f"knee{index + 1}.dcm")

    # Study "brain": 3 MR slices, a 4-frame MR instance, a structured report.
    t1_series = generate_uid()
    for index in range(3):
        ds = _base(studies["brain"], t1_series, 1, "MR", MRImageStorage)
        ds.InstanceNumber = 3 - index  # written out of order on purpose
        ds.SeriesDescription = "T1 AXIAL"
        pixels = _phantom(32, 32, index, np.uint16)
        _image(ds, pixels)
        add("brain", ds, [pixels.tobytes()], root / "brain" / f"t1_{index}.dcm")

    multiframe_series = generate_uid()
    ds = _base(studies["brain"], multiframe_series, 2, "MR", MRImageStorage)
    ds.SeriesDescription = "MULTIFRAME"
    stack = np.stack([_phantom(32, 32, k, np.uint16) for k in range(4)])
    _image(ds, stack, frames=4)
    icon = Dataset()
    icon.Rows, icon.Columns = 64, 64
    icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = bytes(range(256)) * 16
    icon["PixelData"].VR = "OB"
    ds.IconImageSequence = Sequence([icon])
    add("brain", ds, [frame.tobytes() for frame in stack], root / "brain" / "multiframe.dcm")

    sr_series = generate_uid()
    ds = _base(studies["brain"], sr_series, 3, "SR", BASIC_TEXT_SR)
    ds.SeriesDescription = "REPORT"
    ds.ValueType = "CONTAINER"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = "No acute findings."
    ds.ContentSequence = Sequence([item])
    add("brain", ds, [], root / "brain" / "report.dcm")

    # Study "head": a patient whose name has an ideographic group (UTF-8).
    head_series = generate_uid()
    for index in range(2):
        ds = _base(studies["head"], head_series, 1, "CT", CTImageStorage)
        ds.InstanceNumber = index + 1
        ds.SeriesDescription = "HEAD AXIAL"
        pixels = _phantom(64, 64, index, np.int16)
        _image(ds, pixels)
        add("head", ds, [pixels.tobytes()], root / "head" / f"head{index + 1}.dcm")

    (root / "notes.txt").write_text("not DICOM\n")
    return data
