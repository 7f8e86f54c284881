"""`SqliteStore`: a folder of DICOM files indexed in SQLite (stdlib `sqlite3`, WAL mode).

Layout under the store's root folder:

* `index.sqlite` — four tables, `patients` → `studies` → `series` → `instances`, with a column
  per indexed attribute (`bridge.dicom.attributes.INDEXED`; text attributes also folded for
  case- and accent-insensitive matching, person names also as words for fuzzy matching), the
  DICOM JSON of each level's attributes (`attrs`), the pre-serialised QIDO row (`row_json`,
  with the computed `ModalitiesInStudy` and `NumberOf…Related…` counts) and, per instance,
  its whole metadata and where its pixel data lies in its file;
* `files/{study}/{series}/{sop}.dcm` — the files the store owns (received by STOW-RS, or
  copied at import); imported files can also stay where they are (indexed in place).

Patient, study and series attributes come from their instances, the latest indexed instance
winning where they disagree (an empty value never replaces a value). A search is one SQL
query whose rows are already serialised; metadata is a concatenation of cached blobs. Rows
carry RetrieveURLs and BulkDataURIs relative to the DICOMweb root, which the HTTP layer
makes absolute. Writers (import, STOW, removal) update the index in one
transaction per batch, then recompute the aggregates of what they touched. Several processes
may share the index (a CLI import while the server runs): WAL lets readers go on meanwhile.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from bridge.dicom.attributes import (
    INSTANCE_AVAILABILITY,
    INTEGER_VRS,
    MODALITIES_IN_STUDY,
    RETRIEVE_URL,
    SERIES_RELATED_INSTANCES,
    SPECIFIC_CHARACTER_SET,
    STUDY_RELATED_INSTANCES,
    STUDY_RELATED_SERIES,
    TEXT_VRS,
    UID_OF_LEVEL,
    Attribute,
    IndexedAttribute,
    Level,
    fold,
    indexed_at,
    level_of,
    name_words,
    normalise_person_name,
)
from bridge.dicom.matching import ALIAS, Condition, condition_for, value_condition
from bridge.dicom.types import (
    DicomJson,
    ImportReport,
    InstanceFile,
    InstanceRecord,
    NotFound,
    PixelLayout,
    QidoQuery,
    QidoResult,
    StoreOutcome,
)

SCHEMA_VERSION = 1
#: The most rows one search returns; more matches are reported as `truncated`.
MAX_RESULTS = 10_000
#: Failure reasons of the Store Instances Response (PS3.18 Annex I, PS3.4 Table B.2-1).
FAILURE_PROCESSING = 0x0110
FAILURE_STUDY_MISMATCH = 0xA900
FAILURE_NOT_DICOM = 0xC000
_SAFE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
#: In every QIDO row: DICOM JSON is UTF-8, and every indexed instance is online.
_ROW_CONSTANTS = {
    SPECIFIC_CHARACTER_SET.key: {"vr": "CS", "Value": ["ISO_IR 192"]},
    INSTANCE_AVAILABILITY.key: {"vr": "CS", "Value": ["ONLINE"]},
}

_TABLE = {
    Level.PATIENT: "patients",
    Level.STUDY: "studies",
    Level.SERIES: "series",
    Level.INSTANCE: "instances",
}
_FROM = {
    Level.STUDY: "studies st JOIN patients p ON p.pk = st.patient_pk",
    Level.SERIES: "series se JOIN studies st ON st.pk = se.study_pk "
    "JOIN patients p ON p.pk = st.patient_pk",
    Level.INSTANCE: "instances i JOIN series se ON se.pk = i.series_pk "
    "JOIN studies st ON st.pk = se.study_pk JOIN patients p ON p.pk = st.patient_pk",
}
_ORDER = {
    Level.STUDY: "st.study_date DESC, st.study_time DESC, st.pk DESC",
    Level.SERIES: "se.study_pk, se.series_number, se.pk",
    Level.INSTANCE: "i.series_pk, i.instance_number, i.pk",
}
#: An instance of each row that stands for it when a non-indexed attribute is asked for.
_REPRESENTATIVE_METADATA = {
    Level.STUDY: "(SELECT i2.metadata FROM series s2 JOIN instances i2 ON i2.series_pk = s2.pk "
    "WHERE s2.study_pk = st.pk LIMIT 1)",
    Level.SERIES: "(SELECT i2.metadata FROM instances i2 WHERE i2.series_pk = se.pk LIMIT 1)",
    Level.INSTANCE: "i.metadata",
}


def _column_definitions(level: Level) -> list[str]:
    columns = []
    for item in indexed_at(level):
        columns.append(f"{item.column} {'INTEGER' if item.vr in INTEGER_VRS else 'TEXT'}")
        if item.vr in TEXT_VRS:
            columns.append(f"{item.column}_fold TEXT")
        if item.vr == "PN":
            columns.append(f"{item.column}_words TEXT")
    return columns


def _schema() -> str:
    patient = ", ".join(_column_definitions(Level.PATIENT))
    study = ", ".join(_column_definitions(Level.STUDY))
    series = ", ".join(_column_definitions(Level.SERIES))
    instance = ", ".join(_column_definitions(Level.INSTANCE))
    return f"""
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS patients (
        pk INTEGER PRIMARY KEY, patient_key TEXT NOT NULL UNIQUE, attrs BLOB NOT NULL,
        {patient});
    CREATE TABLE IF NOT EXISTS studies (
        pk INTEGER PRIMARY KEY, patient_pk INTEGER NOT NULL REFERENCES patients(pk),
        attrs BLOB NOT NULL, row_json BLOB, series_count INTEGER NOT NULL DEFAULT 0,
        instance_count INTEGER NOT NULL DEFAULT 0, {study},
        UNIQUE (study_instance_uid));
    CREATE TABLE IF NOT EXISTS series (
        pk INTEGER PRIMARY KEY, study_pk INTEGER NOT NULL REFERENCES studies(pk),
        attrs BLOB NOT NULL, row_json BLOB, instance_count INTEGER NOT NULL DEFAULT 0,
        {series}, UNIQUE (series_instance_uid));
    CREATE TABLE IF NOT EXISTS instances (
        pk INTEGER PRIMARY KEY, series_pk INTEGER NOT NULL REFERENCES series(pk),
        attrs BLOB NOT NULL, row_json BLOB NOT NULL, metadata BLOB NOT NULL,
        path TEXT NOT NULL, owned INTEGER NOT NULL, transfer_syntax TEXT NOT NULL,
        file_size INTEGER NOT NULL, pixels TEXT, {instance},
        UNIQUE (sop_instance_uid));
    CREATE INDEX IF NOT EXISTS studies_by_date
        ON studies (study_date DESC, study_time DESC, pk DESC);
    CREATE INDEX IF NOT EXISTS studies_by_patient ON studies (patient_pk);
    CREATE INDEX IF NOT EXISTS studies_by_accession ON studies (accession_number);
    CREATE INDEX IF NOT EXISTS patients_by_id ON patients (patient_id);
    CREATE INDEX IF NOT EXISTS series_by_study ON series (study_pk, series_number);
    CREATE INDEX IF NOT EXISTS series_by_modality ON series (study_pk, modality);
    CREATE INDEX IF NOT EXISTS instances_by_series ON instances (series_pk, instance_number);
    """


# -- attribute JSON → columns and rows --------------------------------------------------------


def _text_of(item: IndexedAttribute, entry: DicomJson | None) -> str | None:
    values = (entry or {}).get("Value")
    if not values:
        return None
    if item.vr == "PN":
        texts = []
        for value in values:
            if isinstance(value, dict):
                groups = [value.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
                texts.append(normalise_person_name("=".join(groups)))
            else:
                texts.append(normalise_person_name(str(value)))
        return "\\".join(texts)
    text = "\\".join("" if value is None else str(value) for value in values)
    if item.vr == "TM":
        return text.replace(":", "")  # ACR-NEMA style 10:15:00
    if item.vr == "DA":
        return text.replace(".", "")  # ACR-NEMA style 2010.01.31
    return text


def _column_values(level: Level, attrs: DicomJson) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for item in indexed_at(level):
        text = _text_of(item, attrs.get(item.key))
        if item.vr in INTEGER_VRS:
            try:
                columns[item.column] = None if text is None else int(float(text.split("\\")[0]))
            except ValueError:
                columns[item.column] = None
            continue
        columns[item.column] = text
        if item.vr in TEXT_VRS:
            columns[f"{item.column}_fold"] = None if text is None else fold(text)
        if item.vr == "PN":
            columns[f"{item.column}_words"] = None if text is None else name_words(text)
    return columns


def _merge_attrs(existing: DicomJson, new: DicomJson) -> bool:
    """Update `existing` with `new`'s values (the latest instance wins), never replacing a
    value by an empty one; whether anything changed."""
    changed = False
    for key, value in new.items():
        old = existing.get(key)
        if old != value and (old is None or "Value" in value):
            existing[key] = value
            changed = True
    return changed


def _uid_entry(uid: str) -> DicomJson:
    return {"vr": "UI", "Value": [uid]}


def _url_entry(path: str) -> DicomJson:
    return {"vr": "UR", "Value": [path]}


def _dump(row: DicomJson) -> bytes:
    return orjson.dumps(dict(sorted(row.items())))


def _instance_row(record: InstanceRecord) -> bytes:
    row = dict(record.attributes[Level.INSTANCE])
    row.update(_ROW_CONSTANTS)
    row[UID_OF_LEVEL[Level.STUDY].key] = _uid_entry(record.study_uid)
    row[UID_OF_LEVEL[Level.SERIES].key] = _uid_entry(record.series_uid)
    row[RETRIEVE_URL.key] = _url_entry(
        f"studies/{record.study_uid}/series/{record.series_uid}/instances/{record.sop_uid}"
    )
    return _dump(row)


def _safe_name(uid: str) -> str:
    if _SAFE_NAME.match(uid) and uid not in (".", ".."):
        return uid
    import hashlib

    return "x" + hashlib.sha256(uid.encode()).hexdigest()[:40]


@dataclass(slots=True)
class _Entity:
    pk: int
    attrs: DicomJson
    dirty: bool = False


@dataclass(slots=True)
class _Batch:
    """What one write transaction touched, to recompute aggregates once at its end."""

    patients: dict[str, _Entity] = field(default_factory=dict)
    studies: dict[str, _Entity] = field(default_factory=dict)
    series: dict[str, _Entity] = field(default_factory=dict)
    touched_series: set[int] = field(default_factory=set)
    touched_studies: set[int] = field(default_factory=set)
    touched_patients: set[int] = field(default_factory=set)
    files_to_delete: list[str] = field(default_factory=list)


class SqliteStore:
    """The SQLite-indexed folder store (see the module docstring). One instance per thread."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.files_dir = self.root / "files"
        self.incoming_dir = self.root / "incoming"
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "index.sqlite"
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA cache_size=-32000")
        self._db.executescript(_schema())
        version = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if version is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', 0)")
        elif version[0] != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has index schema {version[0]}, this version needs "
                f"{SCHEMA_VERSION}: move it aside and import the files again"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            batch = _Batch()
            try:
                yield batch
                self._finish(batch)
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        for path in batch.files_to_delete:
            with contextlib.suppress(OSError):
                Path(path).unlink()

    def add(
        self, records: Iterable[InstanceRecord], *, owned: bool = False, copy: bool = False
    ) -> ImportReport:
        """Index `records`; with `copy`, each file is first copied into the store (owned).
        Instances already indexed (same SOP Instance UID) are counted as duplicates."""
        report = ImportReport()
        with self._transaction() as batch:
            for record in records:
                if self._exists(record.sop_uid):
                    report.duplicates += 1
                    continue
                if copy:
                    record = self._copy_in(record)
                self._insert(record, owned=owned or copy, batch=batch)
                report.added += 1
                report.studies.add(record.study_uid)
        return report

    def store(self, record: InstanceRecord, expected_study: str | None = None) -> StoreOutcome:
        def outcome(stored: bool, reason: int | None = None, message: str = "") -> StoreOutcome:
            return StoreOutcome(
                record.sop_class_uid,
                record.sop_uid,
                record.study_uid,
                record.series_uid,
                stored,
                reason,
                message,
            )

        if expected_study is not None and record.study_uid != expected_study:
            return outcome(
                False,
                FAILURE_STUDY_MISMATCH,
                f"StudyInstanceUID {record.study_uid} is not the study {expected_study}",
            )
        target = self._owned_path(record)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            Path(record.path).replace(target)
        except OSError as error:
            return outcome(False, FAILURE_PROCESSING, f"cannot store the file: {error}")
        record = replace(record, path=str(target))
        with self._transaction() as batch:
            self._delete_existing(record.sop_uid, batch, keep_path=record.path)
            self._insert(record, owned=True, batch=batch)
        return outcome(True)

    def remove(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> int:
        where, params = self._scope(study_uid, series_uid, sop_uid)
        with self._transaction() as batch:
            rows = self._db.execute(
                f"SELECT i.pk, i.series_pk, i.path, i.owned FROM {_FROM[Level.INSTANCE]} "
                f"WHERE {where}",
                params,
            ).fetchall()
            if not rows:
                raise NotFound(self._describe(study_uid, series_uid, sop_uid))
            for pk, series_pk, path, owned in rows:
                self._db.execute("DELETE FROM instances WHERE pk = ?", (pk,))
                batch.touched_series.add(series_pk)
                if owned:
                    batch.files_to_delete.append(path)
        return len(rows)

    def _exists(self, sop_uid: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM instances WHERE sop_instance_uid = ?", (sop_uid,)
        ).fetchone()
        return found is not None

    def _owned_path(self, record: InstanceRecord) -> Path:
        return (
            self.files_dir
            / _safe_name(record.study_uid)
            / _safe_name(record.series_uid)
            / f"{_safe_name(record.sop_uid)}.dcm"
        )

    def _copy_in(self, record: InstanceRecord) -> InstanceRecord:
        target = self._owned_path(record)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record.path, target)
        return replace(record, path=str(target))

    def _delete_existing(self, sop_uid: str, batch: _Batch, keep_path: str) -> None:
        row = self._db.execute(
            "SELECT pk, series_pk, path, owned FROM instances WHERE sop_instance_uid = ?",
            (sop_uid,),
        ).fetchone()
        if row is None:
            return
        pk, series_pk, path, owned = row
        self._db.execute("DELETE FROM instances WHERE pk = ?", (pk,))
        batch.touched_series.add(series_pk)
        if owned and path != keep_path:
            batch.files_to_delete.append(path)

    def _insert(self, record: InstanceRecord, *, owned: bool, batch: _Batch) -> None:
        patient = self._entity(Level.PATIENT, _patient_key(record), record, batch, None)
        study = self._entity(Level.STUDY, record.study_uid, record, batch, patient.pk)
        series = self._entity(Level.SERIES, record.series_uid, record, batch, study.pk)
        attrs = record.attributes[Level.INSTANCE]
        columns = _column_values(Level.INSTANCE, attrs)
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        self._db.execute(
            "INSERT INTO instances (series_pk, attrs, row_json, metadata, path, owned, "
            f"transfer_syntax, file_size, pixels, {names}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {marks})",
            (
                series.pk,
                orjson.dumps(attrs),
                _instance_row(record),
                record.metadata,
                record.path,
                int(owned),
                record.transfer_syntax,
                record.file_size,
                None if record.pixels is None else orjson.dumps(record.pixels.to_json()),
                *columns.values(),
            ),
        )
        batch.touched_series.add(series.pk)

    def _entity(
        self, level: Level, key: str, record: InstanceRecord, batch: _Batch, parent: int | None
    ) -> _Entity:
        """The patient/study/series row for `key`, created, or updated from `record`."""
        cache = {Level.PATIENT: batch.patients, Level.STUDY: batch.studies}.get(level, batch.series)
        attrs = record.attributes[level]
        entity = cache.get(key)
        table = _TABLE[level]
        key_column = "patient_key" if level == Level.PATIENT else _uid_column(level)
        if entity is None:
            row = self._db.execute(
                f"SELECT pk, attrs FROM {table} WHERE {key_column} = ?", (key,)
            ).fetchone()
            if row is not None:
                entity = _Entity(row[0], orjson.loads(row[1]))
            else:
                attrs = dict(attrs)
                if level != Level.PATIENT:
                    attrs[UID_OF_LEVEL[level].key] = _uid_entry(key)
                columns = _column_values(level, attrs)
                if level == Level.PATIENT:
                    columns["patient_key"] = key
                else:
                    columns[_uid_column(level)] = key
                    columns[_parent_column(level)] = parent
                names = ", ".join(columns)
                marks = ", ".join("?" * len(columns))
                cursor = self._db.execute(
                    f"INSERT INTO {table} (attrs, {names}) VALUES (?, {marks})",
                    (orjson.dumps(attrs), *columns.values()),
                )
                entity = _Entity(int(cursor.lastrowid or 0), attrs)
            cache[key] = entity
        if _merge_attrs(entity.attrs, attrs):
            columns = _column_values(level, entity.attrs)
            assignments = ", ".join(f"{name} = ?" for name in columns)
            self._db.execute(
                f"UPDATE {table} SET attrs = ?, {assignments} WHERE pk = ?",
                (orjson.dumps(entity.attrs), *columns.values(), entity.pk),
            )
            entity.dirty = True
        if level == Level.PATIENT:
            if entity.dirty:
                batch.touched_patients.add(entity.pk)
        elif level == Level.STUDY:
            batch.touched_studies.add(entity.pk)
        return entity

    def _finish(self, batch: _Batch) -> None:
        """Recompute counts, modalities and QIDO rows of what the batch touched; drop series,
        studies and patients left empty."""
        db = self._db
        for series_pk in batch.touched_series:
            row = db.execute(
                "SELECT se.study_pk, se.attrs, st.study_instance_uid, se.series_instance_uid, "
                "(SELECT COUNT(*) FROM instances WHERE series_pk = se.pk) "
                "FROM series se JOIN studies st ON st.pk = se.study_pk WHERE se.pk = ?",
                (series_pk,),
            ).fetchone()
            if row is None:
                continue
            study_pk, attrs, study_uid, series_uid, count = row
            batch.touched_studies.add(study_pk)
            if count == 0:
                db.execute("DELETE FROM series WHERE pk = ?", (series_pk,))
                continue
            series_row = orjson.loads(attrs)
            series_row.update(_ROW_CONSTANTS)
            series_row[UID_OF_LEVEL[Level.STUDY].key] = _uid_entry(study_uid)
            series_row[SERIES_RELATED_INSTANCES.key] = {"vr": "IS", "Value": [count]}
            series_row[RETRIEVE_URL.key] = _url_entry(f"studies/{study_uid}/series/{series_uid}")
            db.execute(
                "UPDATE series SET instance_count = ?, row_json = ? WHERE pk = ?",
                (count, _dump(series_row), series_pk),
            )
        for patient_pk in batch.touched_patients:
            for (study_pk,) in db.execute(
                "SELECT pk FROM studies WHERE patient_pk = ?", (patient_pk,)
            ).fetchall():
                batch.touched_studies.add(study_pk)
        for study_pk in batch.touched_studies:
            self._refresh_study(study_pk, batch)
        for patient_pk in batch.touched_patients:
            empty = db.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM studies WHERE patient_pk = ?)", (patient_pk,)
            ).fetchone()[0]
            if empty:
                db.execute("DELETE FROM patients WHERE pk = ?", (patient_pk,))

    def _refresh_study(self, study_pk: int, batch: _Batch) -> None:
        db = self._db
        row = db.execute(
            "SELECT st.attrs, p.attrs, st.study_instance_uid, st.patient_pk, "
            "(SELECT COUNT(*) FROM series WHERE study_pk = st.pk), "
            "(SELECT COALESCE(SUM(instance_count), 0) FROM series WHERE study_pk = st.pk) "
            "FROM studies st JOIN patients p ON p.pk = st.patient_pk WHERE st.pk = ?",
            (study_pk,),
        ).fetchone()
        if row is None:
            return
        study_attrs, patient_attrs, study_uid, patient_pk, series_count, instance_count = row
        if series_count == 0:
            db.execute("DELETE FROM studies WHERE pk = ?", (study_pk,))
            batch.touched_patients.add(patient_pk)
            return
        modalities = [
            modality
            for (modality,) in db.execute(
                "SELECT DISTINCT modality FROM series WHERE study_pk = ? AND modality IS NOT NULL "
                "ORDER BY modality",
                (study_pk,),
            )
        ]
        study_row = orjson.loads(patient_attrs)
        study_row.update(orjson.loads(study_attrs))
        study_row.update(_ROW_CONSTANTS)
        if modalities:
            study_row[MODALITIES_IN_STUDY.key] = {"vr": "CS", "Value": modalities}
        else:
            study_row[MODALITIES_IN_STUDY.key] = {"vr": "CS"}
        study_row[STUDY_RELATED_SERIES.key] = {"vr": "IS", "Value": [series_count]}
        study_row[STUDY_RELATED_INSTANCES.key] = {"vr": "IS", "Value": [instance_count]}
        study_row[RETRIEVE_URL.key] = _url_entry(f"studies/{study_uid}")
        db.execute(
            "UPDATE studies SET series_count = ?, instance_count = ?, row_json = ? WHERE pk = ?",
            (series_count, instance_count, _dump(study_row), study_pk),
        )

    # -- searching ------------------------------------------------------------------------------
    def search(self, query: QidoQuery) -> QidoResult:
        level = query.level
        where: list[str] = []
        params: list[Any] = []
        if query.study_uid is not None:
            where.append("st.study_instance_uid = ?")
            params.append(query.study_uid)
        if query.series_uid is not None:
            where.append("se.series_instance_uid = ?")
            params.append(query.series_uid)
        warnings: list[str] = []
        upper: dict[Level, set[str]] = {Level.STUDY: set(), Level.SERIES: set()}
        extras: set[str] = set()
        for key in query.filters:
            condition = self._filter(level, key.attribute, key.value, query.fuzzy)
            if condition is False:
                warnings.append(
                    f"{_name(key.attribute)} is not supported for matching at the "
                    f"{level.name.lower()} level; ignored"
                )
                continue
            if condition is not None:
                where.append(condition.sql)
                params.extend(condition.params)
            self._note_returned(level, key.attribute, upper, extras)
        for attribute in query.include:
            self._note_returned(level, attribute, upper, extras)
        merge_full = _full_merges(query)
        select = [f"{ALIAS[level]}.row_json"]
        parents = [p for p in (Level.STUDY, Level.SERIES) if p < level]
        for parent in parents:
            select.append(f"{ALIAS[parent]}.row_json")
        if extras:
            select.append(_REPRESENTATIVE_METADATA[level])
        limit = MAX_RESULTS if query.limit is None else min(query.limit, MAX_RESULTS)
        sql = (
            f"SELECT {', '.join(select)} FROM {_FROM[level]}"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY {_ORDER[level]} LIMIT ? OFFSET ?"
        )
        with self._lock:
            fetched = self._db.execute(sql, [*params, limit + 1, query.offset]).fetchall()
        truncated = len(fetched) > limit and (query.limit is None or query.limit > MAX_RESULTS)
        fetched = fetched[:limit]
        needs_merge = bool(extras) or any(merge_full.get(p) or upper[p] for p in parents)
        if not needs_merge:
            return QidoResult([row[0] for row in fetched], warnings, truncated)
        rows = []
        for fetched_row in fetched:
            row = orjson.loads(fetched_row[0])
            for index, parent in enumerate(parents, start=1):
                parent_row = orjson.loads(fetched_row[index])
                keys = parent_row.keys() if merge_full.get(parent) else upper[parent]
                for key in keys:
                    if key in parent_row:
                        row.setdefault(key, parent_row[key])
            if extras and fetched_row[-1] is not None:
                metadata = orjson.loads(fetched_row[-1])
                for key in extras:
                    if key in metadata:
                        row.setdefault(key, metadata[key])
            rows.append(_dump(row))
        return QidoResult(rows, warnings, truncated)

    def _filter(
        self, level: Level, attribute: Attribute, value: str, fuzzy: bool
    ) -> Condition | bool | None:
        """The SQL condition for one match key; None: universal; False: not supported."""
        from bridge.dicom.attributes import BY_TAG

        item = BY_TAG.get(attribute.tag)
        if item is not None and item.level <= level:
            return condition_for(item, value, fuzzy)
        if attribute.tag == MODALITIES_IN_STUDY.tag:
            inner = value_condition("CS", "ms.modality", value, name="ModalitiesInStudy")
            if inner is None:
                return None
            return Condition(
                f"EXISTS (SELECT 1 FROM series ms WHERE ms.study_pk = st.pk AND {inner.sql})",
                inner.params,
            )
        return False

    @staticmethod
    def _note_returned(
        level: Level, attribute: Attribute, upper: dict[Level, set[str]], extras: set[str]
    ) -> None:
        """Where the value of a matched or included attribute comes from in each row."""
        owner = level_of(attribute.tag)
        if owner is None:
            if attribute.tag != RETRIEVE_URL.tag:
                extras.add(attribute.key)
            return
        owner = Level.STUDY if owner == Level.PATIENT else owner
        if owner < level:
            upper[owner].add(attribute.key)
        # The row's own level already carries it; a lower level's is never returned.

    # -- retrieving -----------------------------------------------------------------------------
    def _scope(
        self, study_uid: str, series_uid: str | None, sop_uid: str | None
    ) -> tuple[str, list[str]]:
        where = ["st.study_instance_uid = ?"]
        params = [study_uid]
        if series_uid is not None:
            where.append("se.series_instance_uid = ?")
            params.append(series_uid)
        if sop_uid is not None:
            where.append("i.sop_instance_uid = ?")
            params.append(sop_uid)
        return " AND ".join(where), params

    @staticmethod
    def _describe(study_uid: str, series_uid: str | None, sop_uid: str | None) -> str:
        if sop_uid is not None:
            return f"no instance {sop_uid} in series {series_uid} of study {study_uid}"
        if series_uid is not None:
            return f"no series {series_uid} in study {study_uid}"
        return f"no study {study_uid}"

    def metadata(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[bytes]:
        where, params = self._scope(study_uid, series_uid, sop_uid)
        with self._lock:
            rows = self._db.execute(
                f"SELECT i.metadata FROM {_FROM[Level.INSTANCE]} WHERE {where} "
                "ORDER BY se.series_number, se.pk, i.instance_number, i.pk",
                params,
            ).fetchall()
        if not rows:
            raise NotFound(self._describe(study_uid, series_uid, sop_uid))
        return [row[0] for row in rows]

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[InstanceFile]:
        where, params = self._scope(study_uid, series_uid, sop_uid)
        with self._lock:
            rows = self._db.execute(
                "SELECT st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, "
                "i.sop_class_uid, i.path, i.transfer_syntax, i.file_size, i.pixels "
                f"FROM {_FROM[Level.INSTANCE]} WHERE {where} "
                "ORDER BY se.series_number, se.pk, i.instance_number, i.pk",
                params,
            ).fetchall()
        if not rows:
            raise NotFound(self._describe(study_uid, series_uid, sop_uid))
        return [_instance_file(row) for row in rows]

    def instance(self, study_uid: str, series_uid: str, sop_uid: str) -> InstanceFile:
        return self.instances(study_uid, series_uid, sop_uid)[0]

    def representative(self, study_uid: str, series_uid: str | None = None) -> InstanceFile:
        """The middle instance (by InstanceNumber) of the series, or of the study's first
        series with pixel data."""
        candidates = self.instances(study_uid, series_uid)
        with_pixels = [c for c in candidates if c.pixels is not None]
        if not with_pixels:
            return candidates[len(candidates) // 2]
        first_series = with_pixels[0].series_uid
        in_series = [c for c in with_pixels if c.series_uid == first_series]
        return in_series[len(in_series) // 2]

    def find_instance(self, sop_uid: str) -> InstanceFile:
        """An instance by its SOP Instance UID alone (WADO-URI's `objectUID`)."""
        with self._lock:
            row = self._db.execute(
                "SELECT st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, "
                "i.sop_class_uid, i.path, i.transfer_syntax, i.file_size, i.pixels "
                f"FROM {_FROM[Level.INSTANCE]} WHERE i.sop_instance_uid = ?",
                (sop_uid,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no instance {sop_uid}")
        return _instance_file(row)

    def generation(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("patients", "studies", "series", "instances")
            }


def _instance_file(row: tuple) -> InstanceFile:
    study, series, sop, sop_class, path, syntax, size, pixels = row
    return InstanceFile(
        study_uid=study,
        series_uid=series,
        sop_uid=sop,
        sop_class_uid=sop_class or "",
        path=path,
        transfer_syntax=syntax,
        file_size=size,
        pixels=None if pixels is None else PixelLayout.from_json(orjson.loads(pixels)),
    )


def _uid_column(level: Level) -> str:
    from bridge.dicom.attributes import BY_TAG

    return BY_TAG[UID_OF_LEVEL[level].tag].column


def _parent_column(level: Level) -> str:
    return {Level.STUDY: "patient_pk", Level.SERIES: "study_pk"}[level]


def _patient_key(record: InstanceRecord) -> str:
    """Patients are told apart by PatientID and its issuer; without an ID, by name and birth
    date (anonymous instances then group by name)."""
    attrs = record.attributes[Level.PATIENT]

    def text(keyword: str) -> str:
        values = attrs.get(_key_of(keyword), {}).get("Value") or []
        if not values:
            return ""
        value = values[0]
        return value.get("Alphabetic", "") if isinstance(value, dict) else str(value)

    patient_id = text("PatientID").strip()
    if patient_id:
        return f"id:{patient_id}\x00{text('IssuerOfPatientID').strip()}"
    return f"name:{text('PatientName')}\x00{text('PatientBirthDate')}"


def _key_of(keyword: str) -> str:
    from bridge.dicom.attributes import attribute

    return attribute(keyword).key


def _full_merges(query: QidoQuery) -> dict[Level, bool]:
    """Which parent levels' attributes every row carries in full: all of them for the
    top-level searches (`/series`, `/instances`) and `includefield=all`; the series' for
    `/studies/{S}/instances`."""
    level = query.level
    if query.include_all:
        return {Level.STUDY: True, Level.SERIES: True}
    merges = {Level.STUDY: False, Level.SERIES: False}
    if level >= Level.SERIES and query.study_uid is None:
        merges[Level.STUDY] = True
    if level == Level.INSTANCE and query.series_uid is None:
        merges[Level.SERIES] = True
    return merges


def _name(attribute: Attribute) -> str:
    return attribute.keyword or attribute.key
