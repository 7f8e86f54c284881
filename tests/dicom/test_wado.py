"""WADO-RS and WADO-URI against a running bridge: dicomweb-client calls, OHIF's exact
requests, and every Accept variant the clients send, checked byte for byte against the files."""

from __future__ import annotations

import io

import aiohttp
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

EXPLICIT = str(ExplicitVRLittleEndian)
OHIF_FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


async def get_parts(session, url: str, accept: str | None = None):
    """(response, [(headers, body)]) for a multipart response, read with aiohttp's own reader."""
    headers = {} if accept is None else {"Accept": accept}
    async with session.get(url, headers=headers) as response:
        if response.status != 200:
            return response, await response.read()
        reader = aiohttp.MultipartReader.from_response(response)
        parts = []
        while (part := await reader.next()) is not None:
            parts.append((dict(part.headers), await part.read()))
        return response, parts


def instance_url(instance) -> str:
    return f"/studies/{instance.study}/series/{instance.series}/instances/{instance.sop}"


def ct_slices(data):
    study = data.study("ct")
    return next(series for series in study.series.values() if series[0].modality == "CT")


def jpeg_instance(data):
    return next(i for i in data.instances if i.transfer_syntax == str(JPEGBaseline8Bit))


def multiframe_instance(data):
    return next(i for i in data.instances if len(i.frames) == 4)


def knee_instances(data):
    return data.study("knee").instances


def decoded_jpeg(frame: bytes) -> bytes:
    return np.asarray(Image.open(io.BytesIO(frame))).tobytes()


# -- retrieve instances -----------------------------------------------------------------------


async def test_retrieve_study_gives_every_instance_in_explicit_little_endian(dicom_server):
    data = dicom_server.data
    study = data.study("ct")
    datasets = await dicom_server.call(dicom_server.client.retrieve_study, study.uid)
    assert {ds.SOPInstanceUID for ds in datasets} == {i.sop for i in study.instances}
    assert {ds.file_meta.TransferSyntaxUID for ds in datasets} == {EXPLICIT}
    jpeg = jpeg_instance(data)
    decompressed = next(ds for ds in datasets if ds.SOPInstanceUID == jpeg.sop)
    frames = decompressed.pixel_array
    assert frames.shape == (2, 64, 64)
    assert frames[1].tobytes() == decoded_jpeg(jpeg.frames[1])


async def test_retrieve_series_transcodes_implicit_vr(dicom_server):
    knee = knee_instances(dicom_server.data)
    datasets = await dicom_server.call(
        dicom_server.client.retrieve_series, knee[0].study, knee[0].series
    )
    assert [ds.InstanceNumber for ds in datasets] == [1, 2]
    assert all(ds.file_meta.TransferSyntaxUID == EXPLICIT for ds in datasets)
    assert [ds.PixelData for ds in datasets] == [i.frames[0] for i in knee]


async def test_retrieve_instance_as_stored_is_the_file_byte_for_byte(dicom_server, http_session):
    for instance in (jpeg_instance(dicom_server.data), knee_instances(dicom_server.data)[0]):
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        response, parts = await get_parts(
            http_session, dicom_server.url(instance_url(instance)), accept
        )
        assert response.status == 200
        ((headers, body),) = parts
        assert headers["Content-Type"] == (
            f"application/dicom; transfer-syntax={instance.transfer_syntax}"
        )
        assert body == instance.path.read_bytes()


async def test_dicomweb_client_retrieve_instance(dicom_server):
    instance = jpeg_instance(dicom_server.data)
    client = dicom_server.client
    ds = await dicom_server.call(
        client.retrieve_instance, instance.study, instance.series, instance.sop
    )
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    ds = await dicom_server.call(
        client.retrieve_instance,
        instance.study,
        instance.series,
        instance.sop,
        media_types=(("application/dicom", EXPLICIT),),
    )
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT
    assert ds.pixel_array.shape == (2, 64, 64)


async def test_single_part_application_dicom_as_slicer_served_it(dicom_server, http_session):
    instance = ct_slices(dicom_server.data)[0]
    url = dicom_server.url(instance_url(instance))
    async with http_session.get(url, headers={"Accept": "application/dicom"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/dicom"
        assert await response.read() == instance.path.read_bytes()


async def test_retrieve_without_accept_is_multipart_as_stored(dicom_server, http_session):
    instance = jpeg_instance(dicom_server.data)
    response, parts = await get_parts(http_session, dicom_server.url(instance_url(instance)))
    assert response.headers["Content-Type"].startswith(
        'multipart/related; type="application/dicom"'
    )
    assert parts[0][1] == instance.path.read_bytes()


async def test_head_answers_the_headers_only(dicom_server, http_session):
    instance = ct_slices(dicom_server.data)[0]
    url = dicom_server.url(instance_url(instance))
    async with http_session.head(url, headers={"Accept": "application/dicom"}) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == instance.path.stat().st_size
        assert await response.read() == b""


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80',
        "image/png",
        'multipart/related; type="application/dicom+xml"',
    ],
)
async def test_retrieve_with_an_accept_it_cannot_satisfy_is_406(dicom_server, http_session, accept):
    instance = jpeg_instance(dicom_server.data)
    url = dicom_server.url(instance_url(instance))
    async with http_session.get(url, headers={"Accept": accept}) as response:
        assert response.status == 406
        assert "message" in await response.json()


async def test_the_first_acceptable_alternative_wins(dicom_server, http_session):
    instance = jpeg_instance(dicom_server.data)
    accept = (
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80, '
        'multipart/related; type="application/dicom"; transfer-syntax=*;q=0.5'
    )
    response, parts = await get_parts(
        http_session, dicom_server.url(instance_url(instance)), accept
    )
    assert response.status == 200
    assert parts[0][1] == instance.path.read_bytes()


# -- metadata and bulk data -------------------------------------------------------------------


async def test_series_metadata_has_bulk_data_uris_instead_of_pixels(dicom_server):
    data = dicom_server.data
    slices = ct_slices(data)
    client = dicom_server.client
    metadata = await dicom_server.call(
        client.retrieve_series_metadata, slices[0].study, slices[0].series
    )
    assert [item["00200013"]["Value"][0] for item in metadata] == [1, 2, 3, 4, 5]
    for item, instance in zip(metadata, slices, strict=True):
        pixel = item["7FE00010"]
        assert "InlineBinary" not in pixel and "Value" not in pixel
        uri = pixel["BulkDataURI"]
        assert uri.startswith(f"{dicom_server.base}{instance_url(instance)}/bulk/")
        assert item["00100010"]["Value"] == [{"Alphabetic": "Müller^Hans"}]
        assert item["00280010"]["Value"] == [64]
    (pixels,) = await dicom_server.call(
        client.retrieve_bulkdata, metadata[2]["7FE00010"]["BulkDataURI"]
    )
    assert pixels == slices[2].frames[0]
    document = metadata[0]["00420011"]["BulkDataURI"]
    (value,) = await dicom_server.call(client.retrieve_bulkdata, document)
    assert value == bytes(range(256)) * 16


async def test_nested_bulk_data_is_retrievable(dicom_server):
    instance = multiframe_instance(dicom_server.data)
    client = dicom_server.client
    item = await dicom_server.call(
        client.retrieve_instance_metadata, instance.study, instance.series, instance.sop
    )
    icon_uri = item["00880200"]["Value"][0]["7FE00010"]["BulkDataURI"]
    assert icon_uri.endswith("/bulk/00880200/0/7FE00010")
    (icon,) = await dicom_server.call(client.retrieve_bulkdata, icon_uri)
    assert icon == bytes(range(256)) * 16
    frames = await dicom_server.call(client.retrieve_bulkdata, item["7FE00010"]["BulkDataURI"])
    assert frames == instance.frames


async def test_study_metadata_and_etag(dicom_server, http_session):
    study = dicom_server.data.study("brain")
    url = dicom_server.url(f"/studies/{study.uid}/metadata")
    async with http_session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/dicom+json"
        items = await response.json(content_type=None)
        etag = response.headers["ETag"]
    assert {item["00080018"]["Value"][0] for item in items} == {i.sop for i in study.instances}
    report = next(item for item in items if item["00080060"]["Value"] == ["SR"])
    assert "7FE00010" not in report
    assert report["0040A730"]["Value"][0]["0040A160"]["Value"] == ["No acute findings."]
    async with http_session.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304


async def test_unknown_bulk_data_path_is_404(dicom_server, http_session):
    instance = ct_slices(dicom_server.data)[1]  # no 00420011 in this one
    for path, status in (("/bulk/00420011", 404), ("/bulk/xyz", 400), ("/bulk/7FE00008", 404)):
        async with http_session.get(dicom_server.url(instance_url(instance) + path)) as response:
            assert response.status == status, path


# -- frames -----------------------------------------------------------------------------------

NATIVE_ACCEPTS = [
    'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    'multipart/related; type="application/octet-stream"; transfer-syntax="*"',
    "multipart/related; type=application/octet-stream; transfer-syntax=*",
    'multipart/related; type="application/octet-stream"',
    f'multipart/related; type="application/octet-stream"; transfer-syntax={EXPLICIT}',
    'multipart/related; type="*/*"',
    "multipart/related; type=*/*",
    "*/*",
    None,
]


@pytest.mark.parametrize("accept", NATIVE_ACCEPTS)
async def test_native_frames_with_every_accept_variant(dicom_server, http_session, accept):
    instance = ct_slices(dicom_server.data)[3]
    url = dicom_server.url(instance_url(instance) + "/frames/1")
    response, parts = await get_parts(http_session, url, accept)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("multipart/related")
    ((headers, body),) = parts
    assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
    assert body == instance.frames[0]


@pytest.mark.parametrize(
    ("accept", "as_stored"),
    [
        (OHIF_FRAME_ACCEPT, True),
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", True),
        ('multipart/related; type="*/*"', True),
        (None, True),
        ('multipart/related; type="image/jpeg"', True),
        (f'multipart/related; type="image/jpeg"; transfer-syntax={JPEGBaseline8Bit}', True),
        ('multipart/related; type="application/octet-stream"', False),
        (f'multipart/related; type="application/octet-stream"; transfer-syntax={EXPLICIT}', False),
    ],
)
async def test_jpeg_frames_as_stored_or_decoded(dicom_server, http_session, accept, as_stored):
    instance = jpeg_instance(dicom_server.data)
    url = dicom_server.url(instance_url(instance) + "/frames/2")
    response, parts = await get_parts(http_session, url, accept)
    assert response.status == 200
    ((headers, body),) = parts
    if as_stored:
        assert headers["Content-Type"] == f"image/jpeg; transfer-syntax={JPEGBaseline8Bit}"
        assert body == instance.frames[1]
    else:
        assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
        assert body == decoded_jpeg(instance.frames[1])


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="image/jp2"',
        'multipart/related; type="application/octet-stream"; '
        "transfer-syntax=1.2.840.10008.1.2.4.80",
        "text/html",
    ],
)
async def test_frames_it_cannot_produce_are_406(dicom_server, http_session, accept):
    instance = jpeg_instance(dicom_server.data)
    url = dicom_server.url(instance_url(instance) + "/frames/1")
    async with http_session.get(url, headers={"Accept": accept}) as response:
        assert response.status == 406


async def test_frames_start_the_way_cornerstone_parses_them(dicom_server, http_session):
    instance = multiframe_instance(dicom_server.data)
    url = dicom_server.url(instance_url(instance) + "/frames/1")
    async with http_session.get(url, headers={"Accept": OHIF_FRAME_ACCEPT}) as response:
        body = await response.read()
    head, _, rest = body.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"--")
    assert any(line.startswith(b"Content-Type: application/octet-stream") for line in lines)
    assert len(head) < 1000
    assert rest[: len(instance.frames[0])] == instance.frames[0]
    assert body.endswith(lines[0] + b"--\r\n")


async def test_dicomweb_client_retrieves_several_frames(dicom_server):
    instance = multiframe_instance(dicom_server.data)
    client = dicom_server.client
    frames = await dicom_server.call(
        client.retrieve_instance_frames, instance.study, instance.series, instance.sop, [1, 3, 4]
    )
    assert frames == [instance.frames[0], instance.frames[2], instance.frames[3]]
    frames = await dicom_server.call(
        client.retrieve_instance_frames,
        instance.study,
        instance.series,
        instance.sop,
        [2],
        media_types=(("application/octet-stream", EXPLICIT),),
    )
    assert frames == [instance.frames[1]]
    jpeg = jpeg_instance(dicom_server.data)
    frames = await dicom_server.call(
        client.retrieve_instance_frames,
        jpeg.study,
        jpeg.series,
        jpeg.sop,
        [1, 2],
        media_types=(("image/jpeg", str(JPEGBaseline8Bit)),),
    )
    assert frames == jpeg.frames


async def test_single_part_frame(dicom_server, http_session):
    instance = multiframe_instance(dicom_server.data)
    base = dicom_server.url(instance_url(instance))
    headers = {"Accept": "application/octet-stream"}
    async with http_session.get(base + "/frames/2", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/octet-stream")
        assert await response.read() == instance.frames[1]
    async with http_session.get(base + "/frames/1,2", headers=headers) as response:
        assert response.status == 406


@pytest.mark.parametrize(("frames", "status"), [("0", 400), ("5", 400), ("1,x", 400), ("", 404)])
async def test_bad_frame_numbers(dicom_server, http_session, frames, status):
    instance = multiframe_instance(dicom_server.data)
    url = dicom_server.url(instance_url(instance) + f"/frames/{frames}")
    async with http_session.get(url) as response:
        assert response.status == status


async def test_ohif_single_frame_url_without_frames_gives_the_pixel_data(
    dicom_server, http_session
):
    instance = ct_slices(dicom_server.data)[0]
    response, parts = await get_parts(
        http_session,
        dicom_server.url(instance_url(instance)),
        'multipart/related; type="application/octet-stream"',
    )
    assert response.status == 200
    assert parts[0][1] == instance.frames[0]


async def test_frames_of_a_report_without_pixels_are_404(dicom_server, http_session):
    report = next(i for i in dicom_server.data.instances if i.modality == "SR")
    async with http_session.get(dicom_server.url(instance_url(report) + "/frames/1")) as response:
        assert response.status == 404


# -- unknown resources ------------------------------------------------------------------------


async def test_unknown_uids_are_404(dicom_server, http_session):
    instance = ct_slices(dicom_server.data)[0]
    other_series = knee_instances(dicom_server.data)[0].series
    paths = [
        "/studies/1.2.3",
        "/studies/1.2.3/metadata",
        f"/studies/{instance.study}/series/1.2.3",
        f"/studies/{instance.study}/series/1.2.3/metadata",
        f"/studies/{instance.study}/series/{instance.series}/instances/1.2.3",
        f"/studies/{instance.study}/series/{other_series}/instances/{instance.sop}",
        f"/studies/{instance.study}/series/{instance.series}/instances/1.2.3/frames/1",
        f"/studies/{instance.study}/series/{instance.series}/instances/1.2.3/rendered",
        "/studies/1.2.3/thumbnail",
        "/nothing/here",
    ]
    for path in paths:
        async with http_session.get(dicom_server.url(path)) as response:
            assert response.status == 404, path
            assert "message" in await response.json()


async def test_a_method_the_resource_does_not_have_is_405(dicom_server, http_session):
    async with http_session.put(dicom_server.url("/studies")) as response:
        assert response.status == 405


# -- rendered and thumbnails ------------------------------------------------------------------


def image_of(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


async def test_rendered_instance_uses_its_window(dicom_server):
    instance = ct_slices(dicom_server.data)[0]
    client = dicom_server.client
    body = await dicom_server.call(
        client.retrieve_instance_rendered, instance.study, instance.series, instance.sop
    )
    image = image_of(body)
    assert image.format == "JPEG" and image.size == (64, 64)
    png = image_of(
        await dicom_server.call(
            client.retrieve_instance_rendered,
            instance.study,
            instance.series,
            instance.sop,
            media_types=("image/png",),
        )
    )
    assert png.format == "PNG"
    pixels = np.asarray(png)
    ds = pydicom.dcmread(instance.path)
    hounsfield = ds.pixel_array.astype(float) - 1024
    expected = np.clip((hounsfield - (40 - 200)) / 400 * 255, 0, 255).astype(np.uint8)
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1


async def test_rendered_parameters(dicom_server, http_session):
    instance = ct_slices(dicom_server.data)[0]
    base = dicom_server.url(instance_url(instance) + "/rendered")
    async with http_session.get(base + "?viewport=32,32&window=0,2000&quality=50") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert image_of(await response.read()).size == (32, 32)
    for query in ("quality=0", "window=1", "viewport=a,b", "window=40,-1"):
        async with http_session.get(f"{base}?{query}") as response:
            assert response.status == 400, query
    async with http_session.get(base, headers={"Accept": "image/jp2"}) as response:
        assert response.status == 406


async def test_thumbnails_of_study_series_instance_and_frame(dicom_server, http_session):
    data = dicom_server.data
    jpeg = jpeg_instance(data)
    paths = [
        f"/studies/{jpeg.study}/thumbnail",
        f"/studies/{jpeg.study}/series/{jpeg.series}/thumbnail",
        f"/studies/{jpeg.study}/series/{jpeg.series}/rendered",
        instance_url(jpeg) + "/thumbnail",
        instance_url(jpeg) + "/frames/2/rendered",
        instance_url(multiframe_instance(data)) + "/frames/3/thumbnail",
    ]
    ohif_accept = {"Accept": 'multipart/related; type="application/octet-stream"'}
    for path in paths:
        async with http_session.get(dicom_server.url(path), headers=ohif_accept) as response:
            assert response.status == 200, path
            assert response.headers["Content-Type"] == "image/jpeg"
            image = image_of(await response.read())
            assert max(image.size) <= 128


async def test_rendered_report_is_404(dicom_server, http_session):
    report = next(i for i in dicom_server.data.instances if i.modality == "SR")
    async with http_session.get(dicom_server.url(instance_url(report) + "/rendered")) as response:
        assert response.status == 404


# -- WADO-URI ---------------------------------------------------------------------------------


async def test_wado_uri_as_ohif_sends_it(dicom_server, http_session):
    instance = jpeg_instance(dicom_server.data)
    url = dicom_server.url(
        f"?requestType=WADO&studyUID={instance.study}&seriesUID={instance.series}"
        f"&objectUID={instance.sop}&contentType=application%2Fdicom&transferSyntax=*"
    )
    async with http_session.get(url, headers={"Accept": OHIF_FRAME_ACCEPT}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/dicom"
        assert await response.read() == instance.path.read_bytes()


async def test_wado_uri_original_spellings(dicom_server, http_session):
    instance = knee_instances(dicom_server.data)[0]
    for query in (
        f"?objectUID={instance.sop}",
        f"?object={instance.sop}",
        f"/wado?requestType=WADO&objectUID={instance.sop}",
    ):
        async with http_session.get(dicom_server.url(query)) as response:
            assert response.status == 200, query
            assert await response.read() == instance.path.read_bytes()


async def test_wado_uri_transcodes_and_renders(dicom_server, http_session):
    instance = knee_instances(dicom_server.data)[1]
    base = dicom_server.url(f"?requestType=WADO&objectUID={instance.sop}")
    async with http_session.get(base + f"&transferSyntax={EXPLICIT}") as response:
        ds = pydicom.dcmread(io.BytesIO(await response.read()))
    assert instance.transfer_syntax == str(ImplicitVRLittleEndian)
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT
    assert ds.PixelData == instance.frames[0]
    async with http_session.get(base + "&contentType=image/jpeg&rows=16") as response:
        assert response.headers["Content-Type"] == "image/jpeg"
        assert image_of(await response.read()).size == (16, 16)
    async with http_session.get(
        base + "&contentType=image%2Fpng&windowCenter=500&windowWidth=1000"
    ) as response:
        assert image_of(await response.read()).format == "PNG"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?requestType=WADO", 400),
        ("?requestType=XYZ&objectUID=1.2.3", 400),
        ("?requestType=WADO&objectUID=1.2.3", 404),
        ("?requestType=WADO&objectUID={sop}&contentType=text/html", 406),
        ("?requestType=WADO&objectUID={sop}&transferSyntax=1.2.840.10008.1.2.4.80", 406),
        ("?requestType=WADO&studyUID={study}&seriesUID=1.2.3&objectUID={sop}", 404),
        ("?requestType=WADO&objectUID={sop}&contentType=image/jpeg&windowCenter=1", 400),
    ],
)
async def test_wado_uri_bad_requests(dicom_server, http_session, query, status):
    instance = knee_instances(dicom_server.data)[0]
    url = dicom_server.url(query.format(sop=instance.sop, study=instance.study))
    async with http_session.get(url) as response:
        assert response.status == status


# -- robustness over pydicom's own test files -------------------------------------------------


async def test_pydicoms_test_files_are_served_without_a_server_error(
    start_http_bridge, http_session
):
    """Odd syntaxes, non-image objects, big-endian, deflated, palette, RLE, JPEG 2000…: every
    answer is a success or a 4xx (406 where no decoder exists here), never a 5xx."""
    from pathlib import Path

    from bridge.dicom import store_path
    from bridge.dicom.importer import import_paths
    from bridge.dicom.sqlite_store import SqliteStore

    running = await start_http_bridge()
    store = SqliteStore(store_path(running.settings.data_dir))
    import_paths(store, [Path(pydicom.data.__file__).parent / "test_files"], workers=2)
    store.close()
    base = running.url("/dicom")
    async with http_session.get(base + "/instances?includefield=00280008") as response:
        instances = await response.json(content_type=None)
    assert len(instances) > 100
    statuses: dict[int, int] = {}
    for row in instances:
        study, series, sop = (row[k]["Value"][0] for k in ("0020000D", "0020000E", "00080018"))
        url = f"{base}/studies/{study}/series/{series}/instances/{sop}"
        for path, accept in (
            ("/metadata", None),
            ("/frames/1", OHIF_FRAME_ACCEPT),
            ("/frames/1", 'multipart/related; type="application/octet-stream"'),
            ("/rendered", None),
            ("", 'multipart/related; type="application/dicom"'),
        ):
            headers = {"Accept": accept} if accept else {}
            async with http_session.get(url + path, headers=headers) as response:
                await response.read()
                assert response.status < 500, (response.status, url + path)
                statuses[response.status] = statuses.get(response.status, 0) + 1
    assert statuses[200] > 400
