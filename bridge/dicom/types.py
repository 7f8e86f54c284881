"""Data types of the DICOM store: what an indexed instance is, what a query asks, what an
import reports, and the errors a store raises. Plain data; no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.dicom.attributes import Attribute, Level

#: A DICOM JSON object: `{"00100010": {"vr": "PN", "Value": [...]}, ...}`.
DicomJson = dict[str, Any]


class DicomStoreError(Exception):
    """Base of the store's errors."""


class NotFound(DicomStoreError):
    """No study, series, instance or frame with the given identifiers."""


class QueryError(DicomStoreError, ValueError):
    """A query value or parameter that does not parse (a caller's mistake)."""


class NotDicom(DicomStoreError):
    """A file or part that is not a readable DICOM Part 10 instance; the message says why."""


class Unsupported(DicomStoreError):
    """A representation the store cannot produce (e.g. decoding a syntax without a decoder)."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """A byte range of a file: where a frame (or a piece of one) lies."""

    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PixelLayout:
    """Where an instance's pixel data lies in its file, so frames are read without parsing.

    Native data: `offset`/`length` of the whole value and `frame_size` bytes per frame
    (None when frames are not byte-aligned, e.g. 1-bit data). Encapsulated data: the
    fragments of each frame (`frames`), or None when the frame boundaries could not be told
    (then frames are decoded through pydicom on request).
    """

    tag: int
    vr: str
    encapsulated: bool
    number_of_frames: int
    offset: int = 0
    length: int = 0
    frame_size: int | None = None
    frames: tuple[tuple[Fragment, ...], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "tag": self.tag,
            "vr": self.vr,
            "encapsulated": self.encapsulated,
            "number_of_frames": self.number_of_frames,
            "offset": self.offset,
            "length": self.length,
            "frame_size": self.frame_size,
        }
        if self.frames is not None:
            value["frames"] = [[[f.offset, f.length] for f in frame] for frame in self.frames]
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PixelLayout:
        frames = value.get("frames")
        return cls(
            tag=value["tag"],
            vr=value["vr"],
            encapsulated=value["encapsulated"],
            number_of_frames=value["number_of_frames"],
            offset=value["offset"],
            length=value["length"],
            frame_size=value["frame_size"],
            frames=None
            if frames is None
            else tuple(tuple(Fragment(o, n) for o, n in frame) for frame in frames),
        )


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """Everything the index keeps about one instance, read once from its header.

    `attributes[level]` holds the DICOM JSON of the indexed attributes of that level present
    in the instance; `metadata` is the instance's whole DICOM JSON (orjson bytes) with every
    large binary value as a BulkDataURI relative to the DICOMweb root (`studies/…/bulk/…`).
    """

    path: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    file_size: int
    attributes: Mapping[Level, DicomJson]
    metadata: bytes
    pixels: PixelLayout | None


@dataclass(frozen=True, slots=True)
class InstanceFile:
    """Where an indexed instance is and how its pixels lie: what retrieval needs."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    path: str
    transfer_syntax: str
    file_size: int
    pixels: PixelLayout | None


@dataclass(frozen=True, slots=True)
class MatchKey:
    """One `{attributeID}={value}` of a query."""

    attribute: Attribute
    value: str


@dataclass(frozen=True, slots=True)
class QidoQuery:
    """A QIDO-RS search: which level, within which study/series, matching what, returning what.

    `include` lists the extra attributes asked for (`includefield`); `include_all` stands
    for `includefield=all`. `limit` None: the store's own cap applies.
    """

    level: Level
    study_uid: str | None = None
    series_uid: str | None = None
    filters: tuple[MatchKey, ...] = ()
    include: tuple[Attribute, ...] = ()
    include_all: bool = False
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(slots=True)
class QidoResult:
    """Matching rows, each one serialised DICOM JSON object, in the store's order, and what
    the caller should be told: `warnings` (ignored keys) and `truncated` (more matches beyond
    the store's cap). RetrieveURL and BulkDataURI values in the rows are relative to the
    DICOMweb root (`studies/…`); the caller makes them absolute."""

    rows: list[bytes]
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    """What an import did: instances added, files skipped with a reason each."""

    added: int = 0
    replaced: int = 0
    duplicates: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0
    studies: set[str] = field(default_factory=set)

    def merge(self, other: ImportReport) -> None:
        self.added += other.added
        self.replaced += other.replaced
        self.duplicates += other.duplicates
        self.skipped.extend(other.skipped)
        self.files += other.files
        self.studies |= other.studies


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """The result of storing one instance (STOW-RS): stored, or failed with a reason code."""

    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    stored: bool
    failure_reason: int | None = None
    message: str = ""
