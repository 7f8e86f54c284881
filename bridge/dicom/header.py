"""One DICOM file's header → an `InstanceRecord`: read once, at import, never per request.

The header is read with `pydicom.dcmread(stop_before_pixels=True)` on a file object this
module owns, so after the read the file is positioned at the pixel data element: its offset,
and for encapsulated data the offset and length of every fragment, are recorded without
reading the pixels (a frame is later one `pread`). The instance's DICOM JSON (pydicom's
`to_json_dict`) is cached with every binary value over 1 KiB replaced by a BulkDataURI
relative to the DICOMweb root, `studies/{S}/series/{R}/instances/{I}/bulk/{path}`, where
`path` is the tag (`7FE00010`) or, inside sequences, `{sequence tag}/{item index}/{tag}`.

Nothing here writes anything or knows about SQL or HTTP; `read_header` is a pure function of
the file, so it runs in worker processes.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from bridge.dicom.attributes import INDEXED, Level
from bridge.dicom.types import Fragment, InstanceRecord, NotDicom, PixelLayout

DICOM_MAGIC = b"DICM"
DICOM_MAGIC_OFFSET = 128
#: Binary values longer than this (bytes, base64-encoded) become BulkDataURIs in metadata.
BULK_DATA_THRESHOLD = 1024
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_ITEM = 0xFFFEE000
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR"})
#: End-of-image / end-of-codestream marker that closes a JPEG, JPEG-LS or JPEG 2000 frame.
_END_MARKER = b"\xff\xd9"


def has_dicom_prefix(path: Path | str) -> bool:
    """Whether the file has the Part 10 preamble and `DICM` prefix (cheap: 132 bytes)."""
    try:
        with open(path, "rb") as stream:  # noqa: PTH123 - hot path, plain open is faster
            head = stream.read(DICOM_MAGIC_OFFSET + len(DICOM_MAGIC))
    except OSError:
        return False
    return head[DICOM_MAGIC_OFFSET:] == DICOM_MAGIC


def bulk_prefix(study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/bulk/"


def read_header(path: Path | str) -> InstanceRecord:
    """Index one file. Raises NotDicom with the reason when it cannot be indexed."""
    path = os.fspath(path)
    if not has_dicom_prefix(path):
        raise NotDicom("not a DICOM Part 10 file (no DICM prefix)")
    try:
        with open(path, "rb") as stream, warnings.catch_warnings():  # noqa: PTH123
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(stream, stop_before_pixels=True)
            transfer_syntax = _transfer_syntax(dataset)
            pixels = _pixel_layout(stream, dataset, transfer_syntax)
            file_size = os.fstat(stream.fileno()).st_size
            _check_within(pixels, file_size)
            return _record(path, dataset, transfer_syntax, file_size, pixels)
    except NotDicom:
        raise
    except OSError as error:
        raise NotDicom(f"unreadable: {error.strerror or error}") from None
    except Exception as error:  # pydicom raises many kinds on corrupt input
        raise NotDicom(f"broken DICOM: {type(error).__name__}: {error}") from None


def _check_within(pixels: PixelLayout | None, file_size: int) -> None:
    """A file cut short (a common fault of copies) is refused at import, not when served."""
    if pixels is None:
        return
    ends = [pixels.offset + pixels.length]
    for frame in pixels.frames or ():
        ends.extend(fragment.offset + fragment.length for fragment in frame)
    if max(ends) > file_size:
        raise NotDicom(f"truncated: the pixel data ends at byte {max(ends)} of {file_size}")


def _transfer_syntax(dataset: Dataset) -> UID:
    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if not uid:
        raise NotDicom("no TransferSyntaxUID in the file meta information")
    return UID(str(uid))


def _required_uid(dataset: Dataset, keyword: str) -> str:
    value = str(dataset.get(keyword, "") or "").strip().rstrip("\x00")
    if not value:
        raise NotDicom(f"missing {keyword}")
    return value


def _record(
    path: str,
    dataset: Dataset,
    transfer_syntax: UID,
    file_size: int,
    pixels: PixelLayout | None,
) -> InstanceRecord:
    study = _required_uid(dataset, "StudyInstanceUID")
    series = _required_uid(dataset, "SeriesInstanceUID")
    sop = _required_uid(dataset, "SOPInstanceUID")
    sop_class = str(dataset.get("SOPClassUID", "") or "").strip()
    if not sop_class:
        sop_class = str(dataset.file_meta.get("MediaStorageSOPClassUID", "") or "").strip()
    if not sop_class:
        raise NotDicom("missing SOPClassUID")
    prefix = bulk_prefix(study, series, sop)
    metadata = dataset.to_json_dict(
        bulk_data_threshold=BULK_DATA_THRESHOLD,
        bulk_data_element_handler=_BulkPaths(dataset, prefix),
        suppress_invalid_tags=True,
    )
    if pixels is not None:
        metadata[f"{pixels.tag:08X}"] = {
            "vr": pixels.vr,
            "BulkDataURI": f"{prefix}{pixels.tag:08X}",
        }
    attributes: dict[Level, dict[str, Any]] = {level: {} for level in Level}
    for item in INDEXED:
        value = metadata.get(item.key)
        if value is not None:
            attributes[item.level][item.key] = value
    return InstanceRecord(
        path=path,
        study_uid=study,
        series_uid=series,
        sop_uid=sop,
        sop_class_uid=sop_class,
        transfer_syntax=str(transfer_syntax),
        file_size=file_size,
        attributes=attributes,
        metadata=orjson.dumps(dict(sorted(metadata.items()))),
        pixels=pixels,
    )


class _BulkPaths:
    """pydicom's bulk data handler: the element → its URI. The element's path inside the
    dataset is found on first use (large binary values outside pixel data are rare)."""

    def __init__(self, dataset: Dataset, prefix: str) -> None:
        self._dataset = dataset
        self._prefix = prefix
        self._paths: dict[int, str] | None = None

    def __call__(self, element: DataElement) -> str:
        if self._paths is None:
            self._paths = {}
            _collect_paths(self._dataset, "", self._paths)
        return self._prefix + self._paths.get(id(element), f"{element.tag:08X}")


def _collect_paths(dataset: Dataset, prefix: str, paths: dict[int, str]) -> None:
    for element in dataset:
        key = f"{prefix}{element.tag:08X}"
        paths[id(element)] = key
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                _collect_paths(item, f"{key}/{index}/", paths)


# -- pixel data layout ----------------------------------------------------------------------


def _pixel_layout(stream: BinaryIO, dataset: Dataset, syntax: UID) -> PixelLayout | None:
    """Offsets of the pixel data the read stopped at; None when the file has none."""
    if syntax == DeflatedExplicitVRLittleEndian:
        # The dataset was inflated in memory: file offsets mean nothing. Frames of deflated
        # files are decoded through pydicom on request.
        return _deflated_layout(stream, dataset) if _has_pixel_module(dataset) else None
    endian = "<" if syntax.is_little_endian else ">"
    start = stream.tell()
    head = stream.read(12)
    if len(head) < 8:
        return None
    group, element = struct.unpack(f"{endian}HH", head[:4])
    tag = group << 16 | element
    if tag not in PIXEL_TAGS:
        return None
    if syntax.is_implicit_VR:
        vr = "OW" if tag == 0x7FE00010 else ("OF" if tag == 0x7FE00008 else "OD")
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        value_offset = start + 8
    else:
        raw_vr = head[4:6]
        vr = raw_vr.decode("ascii", "replace")
        if raw_vr in _LONG_VRS:
            (length,) = struct.unpack(f"{endian}L", head[8:12])
            value_offset = start + 12
        else:
            (length,) = struct.unpack(f"{endian}H", head[6:8])
            value_offset = start + 8
    frames = _number_of_frames(dataset)
    if length != 0xFFFFFFFF:
        return PixelLayout(
            tag=tag,
            vr=vr,
            encapsulated=False,
            number_of_frames=frames,
            offset=value_offset,
            length=length,
            frame_size=_native_frame_size(dataset, frames, length),
        )
    stream.seek(value_offset)
    fragments = _fragments(stream, endian)
    return PixelLayout(
        tag=tag,
        vr="OB",
        encapsulated=True,
        number_of_frames=frames,
        offset=value_offset,
        length=0,
        frames=_frames_of(stream, fragments, frames),
    )


def _has_pixel_module(dataset: Dataset) -> bool:
    return "Rows" in dataset and "Columns" in dataset


def _deflated_layout(stream: BinaryIO, dataset: Dataset) -> PixelLayout | None:
    stream.seek(0)
    whole = pydicom.dcmread(stream)  # rare: the only way to know what the deflated part holds
    tag = next((tag for tag in PIXEL_TAGS if tag in whole), None)
    if tag is None:
        return None
    return PixelLayout(
        tag=tag,
        vr="OW",
        encapsulated=False,
        number_of_frames=_number_of_frames(dataset),
    )


def _number_of_frames(dataset: Dataset) -> int:
    try:
        return max(1, int(dataset.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _native_frame_size(dataset: Dataset, frames: int, length: int) -> int | None:
    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        samples = int(dataset.get("SamplesPerPixel") or 1)
        bits = int(dataset.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    if bits % 8:
        return None  # packed bits: frames need not start on a byte
    size = rows * columns * samples * bits // 8
    if str(dataset.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        size = size // samples * 2  # two samples per pixel: Y Y Cb Cr per pixel pair
    if size * frames > length:
        return None
    return size


def _fragments(stream: BinaryIO, endian: str) -> tuple[list[int], list[Fragment]]:
    """The Basic Offset Table and every fragment's value range, up to the delimiter."""
    offsets = parse_basic_offsets(stream, endianness=endian)
    first_item = stream.tell()
    fragments: list[Fragment] = []
    while True:
        head = stream.read(8)
        if len(head) < 8:
            break  # missing delimiter: tolerated, the fragments read so far stand
        group, element, length = struct.unpack(f"{endian}HHL", head)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            break
        if tag != _ITEM or length == 0xFFFFFFFF:
            raise NotDicom(f"broken encapsulated pixel data at byte {stream.tell() - 8}")
        fragments.append(Fragment(stream.tell(), length))
        stream.seek(length, os.SEEK_CUR)  # past the end of a cut file: see _check_within
    return [first_item + offset for offset in offsets], fragments


def _frames_of(
    stream: BinaryIO, table: tuple[list[int], list[Fragment]], frames: int
) -> tuple[tuple[Fragment, ...], ...] | None:
    """Group fragments into frames: one frame; one fragment each; by the Basic Offset Table;
    else by the end-of-image marker closing each frame's last fragment. None if unsure."""
    starts, fragments = table
    if not fragments:
        return None
    if frames == 1:
        return (tuple(fragments),)
    if len(fragments) == frames:
        return tuple((fragment,) for fragment in fragments)
    if len(starts) == frames:
        item_starts = [fragment.offset - 8 for fragment in fragments]
        grouped: list[list[Fragment]] = []
        for fragment, item_start in zip(fragments, item_starts, strict=True):
            if item_start in starts or not grouped:
                grouped.append([])
            grouped[-1].append(fragment)
        if len(grouped) == frames:
            return tuple(tuple(group) for group in grouped)
    grouped = [[]]
    for fragment in fragments:
        grouped[-1].append(fragment)
        if _ends_frame(stream, fragment):
            grouped.append([])
    if not grouped[-1]:
        grouped.pop()
    if len(grouped) == frames:
        return tuple(tuple(group) for group in grouped)
    return None


def _ends_frame(stream: BinaryIO, fragment: Fragment) -> bool:
    if fragment.length < 2:
        return False
    tail_length = min(fragment.length, 4)
    stream.seek(fragment.offset + fragment.length - tail_length)
    tail = stream.read(tail_length).rstrip(b"\x00")
    return tail.endswith(_END_MARKER)
