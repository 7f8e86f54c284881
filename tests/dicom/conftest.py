"""Fixtures for the DICOM store and DICOMweb tests.

* `test_data` — the files of `dicom_testdata.write_test_data`, written once per session.
* `store` — a `SqliteStore` in the test's tmp folder holding the test data.
* `dicom_server` — a real bridge serving HTTP on a free loopback port (the HTTP tests'
  `start_http_bridge`), its store holding the test data; `.url(path)` is under `/dicom`,
  `.client` a dicomweb-client `DICOMwebClient` on it (retries off), `.call(f, …)` runs a
  blocking client call in a thread so the server on this loop keeps answering.
* `http_session` — an aiohttp client session for requests dicomweb-client will not send.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dicom_testdata import TestData, write_test_data

from bridge.dicom import store_path
from bridge.dicom.importer import import_paths
from bridge.dicom.sqlite_store import SqliteStore
from tests.http.conftest import (  # noqa: F401 - fixtures shared with the HTTP tests
    bridge_settings,
    http_session,
    start_http_bridge,
)


@pytest.fixture(scope="session")
def test_data(tmp_path_factory: pytest.TempPathFactory) -> TestData:
    return write_test_data(tmp_path_factory.mktemp("dicom-data"))


@pytest.fixture
def store(tmp_path: Path, test_data: TestData):
    store = SqliteStore(tmp_path / "store")
    report = import_paths(store, [test_data.root], workers=1)
    assert report.added == len(test_data.instances)
    yield store
    store.close()


@dataclass
class DicomServer:
    running: Any
    data: TestData

    @property
    def base(self) -> str:
        return self.running.url("/dicom")

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def client(self):
        from dicomweb_client.api import DICOMwebClient

        client = DICOMwebClient(url=self.base)
        client.set_http_retry_params(retry=False)
        return client

    async def call(self, function, *args, **kwargs):
        return await asyncio.to_thread(function, *args, **kwargs)


@pytest.fixture
async def dicom_server(start_http_bridge, test_data: TestData) -> DicomServer:  # noqa: F811
    running = await start_http_bridge()
    store = SqliteStore(store_path(running.settings.data_dir))
    try:
        import_paths(store, [test_data.root], workers=1)
    finally:
        store.close()
    return DicomServer(running, test_data)
