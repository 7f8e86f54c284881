"""Volumes the scene loads from DICOM go into the DICOM store, so DICOMweb serves them too.

`SceneImport` listens to the scene's change events. When a node is added that the scene
says was read as `DICOM` (`Scene.node_source`) — a `LoadFile` of a DICOM file or folder,
which is also how `/slicer/accessDICOMwebStudy` and `slicer://viewer` URLs load a study —
that file or folder is imported: headers are read in a worker thread, then the records are
indexed with `store.add` on the loop, in place (as `slicer-bridge dicom import` does without
`--copy`: the store neither copies nor ever deletes these files). Everything in the folder
that is DICOM is indexed, structured reports and other non-image instances included.

One import per path at a time: the several volumes a folder yields make one import, and a
load of the same path while its import runs makes one more import after it. Instances the
store already holds are counted as duplicates and left alone. A failing import is logged;
it never fails the load that caused it. `settle()` waits until nothing is under way, for a
caller that answers only once the study can be found. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from bridge.dicom.importer import read_records
from bridge.dicom.protocol import DicomStore
from bridge.dicom.types import ImportReport
from bridge.scene.io.formats import DICOM
from bridge.scene.protocol import Scene
from bridge.scene.types import SceneEvent

log = logging.getLogger("slicer_bridge.dicom")


class SceneImport:
    """Indexes into `store` the DICOM files of every volume `scene` loads (module docstring)."""

    def __init__(self, scene: Scene, store: DicomStore) -> None:
        self.scene = scene
        self.store = store
        self.imported = ImportReport()  # totals since start, for status and tests
        self._pending: dict[Path, asyncio.Task[None]] = {}
        self._again: set[Path] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Listen to the scene (call on the loop the scene's changes happen on)."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.scene.subscribe(self._on_event)

    async def stop(self) -> None:
        """Stop listening; imports under way are cancelled (what they indexed stays)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def settle(self) -> None:
        """Return once no import is under way (including those started meanwhile)."""
        while self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    def _on_event(self, event: SceneEvent) -> None:
        if event.kind != "added" or event.node is None or self._loop is None:
            return
        source = self.scene.node_source(event.node.id)
        if source is None or source.filetype != DICOM:
            return
        path = source.path
        if path in self._pending:
            self._again.add(path)
            return
        self._pending[path] = self._loop.create_task(
            self._import(path), name=f"dicom scene import {path}"
        )

    async def _import(self, path: Path) -> None:
        try:
            while True:
                self._again.discard(path)
                await self._import_once(path)
                if path not in self._again:
                    return
        finally:
            self._pending.pop(path, None)
            self._again.discard(path)

    async def _import_once(self, path: Path) -> None:
        try:
            records, report = await asyncio.to_thread(read_records, [path])
            report.merge(self.store.add(records))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dicom: indexing %s, which the scene loaded, failed", path)
            return
        self.imported.merge(report)
        log.info(
            "dicom: indexed %d instance(s) of %d study(ies) the scene loaded from %s "
            "(%d already in the store, %d file(s) skipped)",
            report.added,
            len(report.studies),
            path,
            report.duplicates,
            len(report.skipped),
        )


__all__ = ["SceneImport"]
