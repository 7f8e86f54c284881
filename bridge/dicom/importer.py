"""Importing folders of DICOM files into a store: walk, read headers on every core, index.

* Folders are searched recursively; every regular file is a candidate. Files that are not
  DICOM Part 10, or are broken, are skipped with a reason each (`ImportReport.skipped`).
* Headers are read by `bridge.dicom.header.read_header` in a pool of worker processes (one
  per core; in-process for small imports, where starting workers costs more than it saves);
  the store is written by this process only, in batches of one transaction each.
* Instances are deduplicated by SOP Instance UID: the first file wins, both within one
  import and against what the store already holds.
* `progress(done, total)` is called as files are read; `ProgressBar` draws it on a terminal.

This module knows nothing of HTTP.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TextIO

from bridge.dicom.header import read_header
from bridge.dicom.sqlite_store import SqliteStore
from bridge.dicom.types import ImportReport, InstanceRecord, NotDicom, SkippedFile

Progress = Callable[[int, int], None]
#: Fewer files than this are read in this process.
POOL_THRESHOLD = 64
#: Instances indexed per transaction.
BATCH_SIZE = 500
_CHUNK = 16


def find_files(paths: Iterable[Path | str]) -> tuple[list[str], list[SkippedFile]]:
    """Every regular file under `paths` (sorted per folder), and the paths that do not exist."""
    found: list[str] = []
    missing: list[SkippedFile] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(str(path))
        elif path.is_dir():
            for folder, _dirs, names in os.walk(path):
                _dirs.sort()
                found.extend(os.path.join(folder, name) for name in sorted(names))  # noqa: PTH118
        else:
            missing.append(SkippedFile(str(path), "no such file or folder"))
    return found, missing


def _read_one(path: str) -> InstanceRecord | SkippedFile:
    try:
        return read_header(path)
    except NotDicom as error:
        return SkippedFile(path, str(error))


def read_headers(
    files: Sequence[str], *, workers: int | None = None, progress: Progress | None = None
) -> Iterator[InstanceRecord | SkippedFile]:
    """Each file's record or reason for skipping, in input order."""
    total = len(files)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or total < POOL_THRESHOLD:
        results: Iterable[InstanceRecord | SkippedFile] = map(_read_one, files)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_read_one, files, chunksize=_CHUNK)
    try:
        for done, result in enumerate(results, start=1):
            if progress is not None:
                progress(done, total)
            yield result
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def import_paths(
    store: SqliteStore,
    paths: Iterable[Path | str],
    *,
    copy: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every DICOM file under `paths` into `store` (see the module docstring)."""
    started = time.perf_counter()
    files, missing = find_files(paths)
    report = ImportReport(files=len(files))
    report.skipped.extend(missing)
    seen: dict[str, str] = {}
    batch: list[InstanceRecord] = []

    def flush() -> None:
        if batch:
            report.merge(store.add(batch, copy=copy))
            batch.clear()

    for result in read_headers(files, workers=workers, progress=progress):
        if isinstance(result, SkippedFile):
            report.skipped.append(result)
            continue
        first = seen.get(result.sop_uid)
        if first is not None:
            report.duplicates += 1
            continue
        seen[result.sop_uid] = result.path
        batch.append(result)
        if len(batch) >= BATCH_SIZE:
            flush()
    flush()
    report.seconds = time.perf_counter() - started
    return report


def read_records(
    paths: Iterable[Path | str], *, workers: int | None = 1
) -> tuple[list[InstanceRecord], ImportReport]:
    """The header records of every DICOM file under `paths`, deduplicated by SOP Instance UID
    (first file wins), and a report of the files found, skipped and duplicated — for a
    caller that indexes them itself (`store.add`), e.g. on its event loop after reading them
    in a thread. In this process unless `workers` says otherwise."""
    started = time.perf_counter()
    files, missing = find_files(paths)
    report = ImportReport(files=len(files))
    report.skipped.extend(missing)
    records: dict[str, InstanceRecord] = {}
    for result in read_headers(files, workers=workers):
        if isinstance(result, SkippedFile):
            report.skipped.append(result)
        elif result.sop_uid in records:
            report.duplicates += 1
        else:
            records[result.sop_uid] = result
    report.seconds = time.perf_counter() - started
    return list(records.values()), report


class ProgressBar:
    """`importing ███████░░░ 70% 700/1000 files 812 files/s` on a terminal (redrawn at most
    ten times a second); on anything else, one line every 10%."""

    def __init__(self, stream: TextIO | None = None, label: str = "importing") -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self._tty:
            if done != total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            self.stream.write("\r" + self.line(done, total, now))
            if done == total:
                self.stream.write("\n")
            self.stream.flush()
            return
        decile = done * 10 // max(total, 1)
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self.line(done, total, now) + "\n")
            self.stream.flush()

    def line(self, done: int, total: int, now: float) -> str:
        fraction = done / total if total else 1.0
        filled = int(fraction * 20)
        rate = done / max(now - self.started, 1e-9)
        bar = "█" * filled + "░" * (20 - filled)
        return f"{self.label} {bar} {fraction:4.0%} {done}/{total} files {rate:.0f} files/s"
