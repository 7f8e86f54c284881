"""The DICOM store protocol: what the DICOMweb adapter (and the CLI) may ask of a store.

Two implementations are meant to satisfy it: `SqliteStore` here (a folder of DICOM files
indexed in SQLite) and, inside Slicer, a store over Slicer's DICOM database. Every method is
synchronous and fast enough to run on the event loop (index lookups, cached JSON); reading
headers of new files (`bridge.dicom.header.read_header`) is the slow part and is done by the
caller, off the loop, before `add`.

Identifiers are UIDs as strings. Retrieval methods raise `NotFound` for unknown UIDs or an
instance asked for under the wrong study or series; searches never raise `NotFound` (an empty
result is an answer) but raise `QueryError` for values that do not parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from bridge.dicom.types import (
    ImportReport,
    InstanceFile,
    InstanceRecord,
    QidoQuery,
    QidoResult,
    StoreOutcome,
)


@runtime_checkable
class DicomStore(Protocol):
    # -- search and retrieve --------------------------------------------------------------------
    def search(self, query: QidoQuery) -> QidoResult:
        """QIDO-RS: matching rows at the query's level, paged by `limit`/`offset`."""

    def metadata(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[bytes]:
        """The cached DICOM JSON of every instance in scope (one JSON object each), ordered
        by series then instance number. BulkDataURIs are relative to the DICOMweb root."""

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[InstanceFile]:
        """Where each instance in scope is stored, in the same order as `metadata`."""

    def representative(self, study_uid: str, series_uid: str | None = None) -> InstanceFile:
        """The instance that stands for a study or series (its middle image), for thumbnails."""

    def generation(self) -> int:
        """A number that changes whenever the store's content does (for ETags)."""

    # -- add and remove -------------------------------------------------------------------------
    def add(
        self, records: Iterable[InstanceRecord], *, owned: bool = False, copy: bool = False
    ) -> ImportReport:
        """Index instances whose files are already in place (`copy`: copy them into the
        store first); an instance already indexed is a duplicate and left as it is.
        `owned`: the store may delete the files on removal."""

    def store(self, record: InstanceRecord, expected_study: str | None = None) -> StoreOutcome:
        """STOW-RS: take over the file at `record.path` (moved into the store) and index it,
        replacing an instance with the same SOP Instance UID; refuse it when its study is not
        `expected_study`."""

    def remove(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> int:
        """Remove a study, series or instance from the index (and the files the store owns);
        the number of instances removed. Raises NotFound when nothing matches."""

    def close(self) -> None: ...
