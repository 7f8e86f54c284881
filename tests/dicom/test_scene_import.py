"""Volumes the scene loads from DICOM end up in the DICOM store (`bridge.dicom.scene_import`):
directly on a headless scene, through `POST /slicer/mrml?localfile=` and through
`/slicer/accessDICOMwebStudy` from another bridge, each found afterwards by QIDO-RS."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from bridge.dicom.attributes import Level
from bridge.dicom.scene_import import SceneImport
from bridge.dicom.sqlite_store import SqliteStore
from bridge.dicom.types import QidoQuery
from bridge.scene.headless import HeadlessScene

if TYPE_CHECKING:  # imported by name, pytest would try to collect the class
    from dicom_testdata import TestData

STUDY_UID = "0020000D"
STUDY_INSTANCES = "00201208"


def studies_in(store: SqliteStore) -> set[str]:
    rows = store.search(QidoQuery(Level.STUDY)).rows
    return {orjson.loads(row)[STUDY_UID]["Value"][0] for row in rows}


async def test_a_dicom_folder_the_scene_loads_is_indexed_once_per_load(
    tmp_path: Path, test_data: TestData
) -> None:
    scene = HeadlessScene()
    store = SqliteStore(tmp_path / "store")
    importer = SceneImport(scene, store)
    importer.start()
    try:
        scene.set_volume("made", np.zeros((2, 2, 2), np.int16), np.eye(4))  # not from a file
        (knee,) = scene.load_file(test_data.root / "knee")
        await importer.settle()
        assert studies_in(store) == {test_data.study("knee").uid}
        assert importer.imported.added == 2
        scene.load_file(test_data.root / "knee")  # again: nothing new to index
        scene.load_file(test_data.root / "head" / "head1.dcm")  # a single file
        await importer.settle()
        assert studies_in(store) == {test_data.study("knee").uid, test_data.study("head").uid}
        assert (importer.imported.added, importer.imported.duplicates) == (3, 2)
        assert scene.node_source(knee).path == test_data.root / "knee"
    finally:
        await importer.stop()
        store.close()
    scene.load_file(test_data.root / "head")  # stopped: not indexed any more
    assert importer.imported.added == 3


async def test_a_failing_import_is_logged_and_leaves_the_load_alone(
    tmp_path: Path, test_data: TestData, caplog
) -> None:
    scene = HeadlessScene()
    store = SqliteStore(tmp_path / "store")
    store.close()  # every add now fails
    importer = SceneImport(scene, store)
    importer.start()
    try:
        assert scene.load_file(test_data.root / "knee")
        await importer.settle()
    finally:
        await importer.stop()
    assert "indexing" in caplog.text and "failed" in caplog.text
    assert importer.imported.added == 0


async def qido_study(session, server_url: str, study_uid: str) -> list[dict]:
    url = f"{server_url}/dicom/studies?StudyInstanceUID={study_uid}"
    async with session.get(url, headers={"Accept": "application/dicom+json"}) as response:
        assert response.status in (200, 204)
        return await response.json(content_type=None) if response.status == 200 else []


async def test_loading_a_dicom_folder_over_slicer_api_makes_it_findable_by_qido(
    start_http_bridge, http_session, test_data: TestData
) -> None:
    running = await start_http_bridge()
    study = test_data.study("head")
    assert await qido_study(http_session, running.base_url, study.uid) == []
    folder = test_data.root / "head"
    async with http_session.post(running.url(f"/slicer/mrml?localfile={folder}")) as response:
        assert response.status == 200, await response.text()
        assert len((await response.json())["loadedNodeIDs"]) == 1
    deadline = time.monotonic() + 10
    while not (rows := await qido_study(http_session, running.base_url, study.uid)):
        assert time.monotonic() < deadline, "the loaded study never appeared in /dicom"
        await asyncio.sleep(0.05)
    assert rows[0][STUDY_INSTANCES]["Value"] == [2]
    sop = study.instances[0].sop
    url = running.url(f"/dicom/studies/{study.uid}/series/{study.instances[0].series}/metadata")
    async with http_session.get(url) as response:
        assert response.status == 200
        assert sop in {item["00080018"]["Value"][0] for item in await response.json()}


async def test_access_dicomweb_study_answers_once_the_study_is_in_the_store(
    dicom_server, start_http_bridge, http_session, test_data: TestData, tmp_path: Path
) -> None:
    second = await start_http_bridge(data_dir=tmp_path / "second")
    study = test_data.study("knee")
    body = {"dicomWEBPrefix": dicom_server.running.base_url, "dicomWEBStore": "dicom",
            "studyUID": study.uid}  # fmt: skip
    url = second.url("/slicer/accessDICOMwebStudy")
    async with http_session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["instances"] == 2
    rows = await qido_study(http_session, second.base_url, study.uid)  # no waiting
    assert rows[0][STUDY_INSTANCES]["Value"] == [2]
