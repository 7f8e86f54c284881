"""STOW-RS and removal against a running bridge: dicomweb-client's `store_instances` and
`delete_*`, the PS3.18 response module, and bodies that are broken in every usual way."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from requests import HTTPError

from bridge.dicom import store_path

STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=XyZ'
FAILURE_REASON, FAILED, REFERENCED, RETRIEVE_URL = "00081197", "00081198", "00081199", "00081190"


def fresh_copy(path, study_uid: str | None = None, series_uid: str | None = None) -> Dataset:
    """An instance read from `path` under new UIDs (so it is not in the store yet)."""
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart(*parts: bytes, boundary: str = "XyZ", close: bool = True) -> bytes:
    body = b"".join(
        b"\r\n--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + part
        for part in parts
    )
    return body + (b"\r\n--" + boundary.encode() + b"--" if close else b"")


async def post(session, url: str, body: bytes, content_type: str = STOW_TYPE):
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
        text = await response.read()
        return response.status, response.headers.get("Content-Type"), text


async def study_count(server, session) -> int:
    async with session.get(server.url("/studies")) as response:
        return len(await response.json(content_type=None))


async def test_dicomweb_client_stores_instances_and_gets_the_response_module(dicom_server):
    data = dicom_server.data
    study_uid, series_uid = generate_uid(), generate_uid()
    sources = [i.path for i in data.study("ct").instances[:2]]
    datasets = [fresh_copy(path, study_uid, series_uid) for path in sources]
    client = dicom_server.client
    response = await dicom_server.call(client.store_instances, datasets)
    assert response.RetrieveURL == f"{dicom_server.base}/studies/{study_uid}"
    assert [item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence] == [
        ds.SOPInstanceUID for ds in datasets
    ]
    assert "FailedSOPSequence" not in response
    item = response.ReferencedSOPSequence[0]
    assert item.RetrieveURL.endswith(f"/series/{series_uid}/instances/{datasets[0].SOPInstanceUID}")
    rows = await dicom_server.call(
        client.search_for_studies, search_filters={"StudyInstanceUID": study_uid}
    )
    assert rows[0]["00201208"]["Value"] == [2]
    stored = await dicom_server.call(
        client.retrieve_instance, study_uid, series_uid, datasets[1].SOPInstanceUID
    )
    assert stored.PixelData == datasets[1].PixelData
    assert stored.PatientName == "Müller^Hans"


async def test_a_large_chunked_upload_is_stored(dicom_server):
    """dicomweb-client sends bodies over 1 MB with Transfer-Encoding: chunked."""
    ds = fresh_copy(dicom_server.data.study("ct").instances[0].path)
    ds.Rows, ds.Columns = 768, 1024
    pixels = (np.arange(768 * 1024) % 4096).astype(np.int16).reshape(768, 1024)
    ds.PixelData = pixels.tobytes()
    response = await dicom_server.call(
        dicom_server.client.store_instances,
        [ds, fresh_copy(dicom_server.data.study("ct").instances[1].path, ds.StudyInstanceUID)],
    )
    assert len(response.ReferencedSOPSequence) == 2
    frames = await dicom_server.call(
        dicom_server.client.retrieve_instance_frames,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        [1],
    )
    assert frames == [pixels.tobytes()]


async def test_storing_the_same_instance_again_replaces_it(dicom_server, http_session):
    ds = fresh_copy(dicom_server.data.study("ct").instances[0].path)
    for description in ("FIRST", "SECOND"):
        ds.StudyDescription = description
        status, _, _ = await post(http_session, dicom_server.url("/studies"), multipart(part10(ds)))
        assert status == 200
    rows = await dicom_server.call(dicom_server.client.search_for_instances, ds.StudyInstanceUID)
    assert len(rows) == 1
    studies = await dicom_server.call(
        dicom_server.client.search_for_studies,
        search_filters={"StudyInstanceUID": ds.StudyInstanceUID},
    )
    assert studies[0]["00081030"]["Value"] == ["SECOND"]


async def test_store_into_a_study_refuses_other_studies(dicom_server, http_session):
    path = dicom_server.data.study("ct").instances[0].path
    target = generate_uid()
    good, stray = fresh_copy(path, target), fresh_copy(path)
    url = dicom_server.url(f"/studies/{target}")
    status, content_type, body = await post(
        http_session, url, multipart(part10(good), part10(stray))
    )
    assert status == 202
    assert content_type == "application/dicom+json"
    answer = pydicom.dataset.Dataset.from_json(body.decode())
    assert [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence] == [
        good.SOPInstanceUID
    ]
    (failed,) = answer.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == stray.SOPInstanceUID
    assert failed.FailureReason == 0xA900
    assert answer.RetrieveURL == f"{dicom_server.base}/studies/{target}"
    with pytest.raises(HTTPError) as refused:
        await dicom_server.call(dicom_server.client.store_instances, [fresh_copy(path)], target)
    assert refused.value.response.status_code == 409


async def test_a_part_that_is_not_dicom_fails_alone(dicom_server, http_session):
    good = fresh_copy(dicom_server.data.study("ct").instances[0].path)
    url = dicom_server.url("/studies")
    status, _, body = await post(http_session, url, multipart(b"hello, not DICOM", part10(good)))
    assert status == 202
    answer = Dataset.from_json(body.decode())
    assert answer.FailedSOPSequence[0].FailureReason == 0xC000
    assert len(answer.ReferencedSOPSequence) == 1
    status, _, body = await post(http_session, url, multipart(b"\x00" * 300))
    assert status == 409
    assert Dataset.from_json(body.decode()).FailedSOPSequence[0].FailureReason == 0xC000


async def test_a_truncated_body_stores_nothing(dicom_server, http_session):
    before = await study_count(dicom_server, http_session)
    good = part10(fresh_copy(dicom_server.data.study("ct").instances[0].path))
    body = multipart(good, good[:1000], close=False)
    status, _, answer = await post(http_session, dicom_server.url("/studies"), body)
    assert status == 400
    assert b"truncated" in answer
    assert await study_count(dicom_server, http_session) == before
    incoming = store_path(dicom_server.running.settings.data_dir) / "incoming"
    assert list(incoming.iterdir()) == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ('multipart/related; type="application/dicom+json"; boundary=XyZ', 415),
        ('multipart/related; type="application/dicom"', 400),  # no boundary
    ],
)
async def test_bodies_of_the_wrong_kind(dicom_server, http_session, content_type, status):
    got, _, _ = await post(http_session, dicom_server.url("/studies"), b"hello", content_type)
    assert got == status


async def test_an_empty_multipart_body_is_400(dicom_server, http_session):
    status, _, _ = await post(http_session, dicom_server.url("/studies"), b"--XyZ--\r\n")
    assert status == 400


async def test_a_single_application_dicom_body_is_one_instance(dicom_server, http_session):
    ds = fresh_copy(dicom_server.data.study("brain").instances[0].path)
    status, _, body = await post(
        http_session, dicom_server.url("/studies"), part10(ds), "application/dicom"
    )
    assert status == 200
    assert Dataset.from_json(body.decode()).ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        ds.SOPInstanceUID
    )


# -- removal ----------------------------------------------------------------------------------


async def test_delete_instance_series_and_study(dicom_server, http_session):
    data = dicom_server.data
    client = dicom_server.client
    brain = data.study("brain")
    series_uid, instances = next(iter(brain.series.items()))
    await dicom_server.call(client.delete_instance, brain.uid, series_uid, instances[0].sop)
    rows = await dicom_server.call(client.search_for_instances, brain.uid, series_uid)
    assert len(rows) == len(instances) - 1
    await dicom_server.call(client.delete_series, brain.uid, series_uid)
    series = await dicom_server.call(client.search_for_series, brain.uid)
    assert len(series) == len(brain.series) - 1
    await dicom_server.call(client.delete_study, brain.uid)
    assert (
        await dicom_server.call(client.search_for_studies, search_filters={"PatientID": "PAT-SM"})
        == []
    )
    async with http_session.delete(dicom_server.url(f"/studies/{brain.uid}")) as response:
        assert response.status == 404
    assert all(i.path.exists() for i in brain.instances)  # indexed in place: files stay


async def test_deleting_a_stored_instance_deletes_its_file(dicom_server):
    ds = fresh_copy(dicom_server.data.study("ct").instances[0].path)
    await dicom_server.call(dicom_server.client.store_instances, [ds])
    files = store_path(dicom_server.running.settings.data_dir) / "files"
    stored = list(files.rglob("*.dcm"))
    assert len(stored) == 1
    await dicom_server.call(dicom_server.client.delete_study, ds.StudyInstanceUID)
    assert not stored[0].exists()
