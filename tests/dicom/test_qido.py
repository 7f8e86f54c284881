"""QIDO-RS against a running bridge, with dicomweb-client and with OHIF's literal URLs."""

from __future__ import annotations

import pytest

PATIENT_NAME, PATIENT_ID = "00100010", "00100020"
STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
MODALITIES, STUDY_DATE, DESCRIPTION = "00080061", "00080020", "00081030"
RETRIEVE_URL = "00081190"
OHIF_INCLUDE = "includefield=00081030%2C00080060%2C00080090%2C00100030"


def values(row: dict, key: str) -> list:
    return row.get(key, {}).get("Value", [])


def first(row: dict, key: str):
    found = values(row, key)
    return found[0] if found else None


def names(rows: list[dict]) -> set[str]:
    return {first(row, PATIENT_NAME)["Alphabetic"] for row in rows}


def study_uids(rows: list[dict]) -> set[str]:
    return {first(row, STUDY_UID) for row in rows}


async def search_studies(server, **kwargs) -> list[dict]:
    return await server.call(server.client.search_for_studies, **kwargs)


# -- study level ------------------------------------------------------------------------------


async def test_every_study_is_listed_with_the_required_attributes(dicom_server):
    data = dicom_server.data
    rows = await search_studies(dicom_server)
    assert study_uids(rows) == {study.uid for study in data.studies.values()}
    ct = next(row for row in rows if first(row, STUDY_UID) == data.study("ct").uid)
    assert first(ct, PATIENT_NAME) == {"Alphabetic": "Müller^Hans"}
    assert first(ct, PATIENT_ID) == "PAT-MU"
    assert first(ct, STUDY_DATE) == "20240115"
    assert first(ct, "00080050") == "ACC-CT-1"
    assert first(ct, DESCRIPTION) == "CT CHEST ABDOMEN"
    assert values(ct, MODALITIES) == ["CT", "OT"]
    assert first(ct, "00201206") == 2  # NumberOfStudyRelatedSeries
    assert first(ct, "00201208") == 6  # NumberOfStudyRelatedInstances
    assert first(ct, "00080056") == "ONLINE"
    assert first(ct, RETRIEVE_URL) == f"{dicom_server.base}/studies/{data.study('ct').uid}"
    head = next(row for row in rows if first(row, STUDY_UID) == data.study("head").uid)
    assert first(head, PATIENT_NAME) == {"Alphabetic": "Tanaka^Yuki", "Ideographic": "田中^雪"}


async def test_studies_are_ordered_newest_first(dicom_server):
    rows = await search_studies(dicom_server)
    dates = [first(row, STUDY_DATE) for row in rows]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"PatientName": "Müller^Hans"}, {"ct", "knee"}),
        ({"PatientName": "müller^hans"}, {"ct", "knee"}),  # PN: case-insensitive
        ({"PatientName": "Mü*"}, {"ct", "knee"}),  # non-ASCII under a wildcard
        ({"PatientName": "mu*"}, {"ct", "knee"}),  # accent-insensitive
        ({"PatientName": "*smith*"}, {"brain"}),  # OHIF's form
        ({"PatientName": "Sm?th^John"}, {"brain"}),
        ({"PatientName": "*田中*"}, {"head"}),  # the ideographic group matches too
        ({"00100020": "PAT-SM"}, {"brain"}),  # tag form
        ({"PatientID": "PAT-*"}, {"ct", "knee", "brain", "head"}),
        ({"PatientID": "PAT-MU\\PAT-TA"}, {"ct", "knee", "head"}),  # list
        ({"StudyDate": "20200101-20231231"}, {"knee", "brain"}),
        ({"StudyDate": "20230101-"}, {"ct", "brain"}),
        ({"StudyDate": "-20200101"}, {"knee", "head"}),
        ({"StudyDate": "20100601"}, {"head"}),
        ({"StudyTime": "1015-1016"}, {"ct", "knee", "brain", "head"}),
        ({"StudyTime": "0900-1000"}, set()),
        ({"ModalitiesInStudy": "CT"}, {"ct", "head"}),
        ({"ModalitiesInStudy": "SR,OT"}, {"ct", "brain"}),  # OHIF sends a comma list
        ({"ModalitiesInStudy": "SR\\OT"}, {"ct", "brain"}),  # the standard's backslash
        ({"StudyDescription": "*chest*"}, {"ct"}),
        ({"AccessionNumber": "ACC-MR-*"}, {"knee", "brain"}),
        ({"ReferringPhysicianName": "ref^doc"}, {"ct", "knee", "brain", "head"}),
        ({"PatientName": "Nobody*"}, set()),
        ({"PatientName": ""}, {"ct", "knee", "brain", "head"}),  # universal match
        ({"PatientName": "*"}, {"ct", "knee", "brain", "head"}),
    ],
)
async def test_study_filters(dicom_server, filters, expected):
    data = dicom_server.data
    rows = await search_studies(dicom_server, search_filters=filters)
    assert study_uids(rows) == {data.study(name).uid for name in expected}


async def test_study_uid_list_matching(dicom_server):
    data = dicom_server.data
    uids = [data.study("ct").uid, data.study("head").uid]
    rows = await search_studies(dicom_server, search_filters={"StudyInstanceUID": "\\".join(uids)})
    assert study_uids(rows) == set(uids)
    rows = await search_studies(dicom_server, search_filters={"StudyInstanceUID": ",".join(uids)})
    assert study_uids(rows) == set(uids)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("joh", {"brain"}),
        ("smi jo", {"brain"}),
        ("hans", {"ct", "knee"}),
        ("MUELLER", set()),
        ("mull", {"ct", "knee"}),
        ("yuki", {"head"}),
        ("ohn", set()),  # a word's start, not any part of it
    ],
)
async def test_fuzzy_matching_finds_the_start_of_any_name_word(dicom_server, query, expected):
    data = dicom_server.data
    rows = await search_studies(
        dicom_server, fuzzymatching=True, search_filters={"PatientName": query}
    )
    assert study_uids(rows) == {data.study(name).uid for name in expected}


async def test_without_fuzzy_matching_a_partial_name_matches_nothing(dicom_server):
    rows = await search_studies(
        dicom_server, fuzzymatching=False, search_filters={"PatientName": "joh"}
    )
    assert rows == []


async def test_limit_and_offset_page_through_every_study(dicom_server):
    pages = []
    for offset in range(0, 6, 2):
        pages.append(await search_studies(dicom_server, limit=2, offset=offset))
    assert [len(page) for page in pages] == [2, 2, 0]
    seen = [first(row, STUDY_UID) for page in pages for row in page]
    assert len(set(seen)) == 4
    everything = await search_studies(dicom_server, limit=1, get_remaining=True)
    assert [first(row, STUDY_UID) for row in everything] == seen


async def test_includefield_adds_attributes_from_the_instances(dicom_server):
    rows = await search_studies(
        dicom_server,
        fields=["PatientSex", "00080020", "SeriesDescription", "Rows", "InstitutionName"],
        search_filters={"PatientID": "PAT-SM"},
    )
    (row,) = rows
    assert first(row, "00100040") == "O"
    assert "0008103E" not in row  # a series attribute is not returned at study level
    assert "00280010" not in row


async def test_includefield_of_attributes_not_indexed_reads_the_cached_metadata(dicom_server):
    data = dicom_server.data
    ct = data.study("ct")
    series_uid = next(iter(ct.series))
    client = dicom_server.client
    rows = await dicom_server.call(
        client.search_for_instances,
        ct.uid,
        series_uid,
        fields=["ImagePositionPatient", "00281050"],
    )
    assert [values(row, "00200032") for row in rows] == [[0.0, 0.0, -5.0 * k] for k in range(5)]
    assert all(first(row, "00281050") == 40 for row in rows)
    rows = await dicom_server.call(
        client.search_for_series,
        ct.uid,
        fields=["PixelSpacing"],
        search_filters={"SeriesNumber": "1"},
    )
    assert values(rows[0], "00280030") == [1.0, 1.0]


async def test_includefield_as_one_comma_separated_value(dicom_server, http_session):
    url = dicom_server.url(f"/studies?{OHIF_INCLUDE}&00100020=PAT-SM&includefield=StudyID")
    async with http_session.get(url, headers={"Accept": "application/dicom+json"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/dicom+json"
        (row,) = await response.json(content_type=None)
    assert first(row, DESCRIPTION) == "MR BRAIN"
    assert first(row, "00100030") == "19600101"
    assert first(row, "00200010") == "1"


# -- series and instance levels ---------------------------------------------------------------


async def test_series_of_a_study(dicom_server):
    data = dicom_server.data
    brain = data.study("brain")
    rows = await dicom_server.call(
        dicom_server.client.search_for_series, brain.uid, fields=["SeriesDescription"]
    )
    assert {first(row, SERIES_UID) for row in rows} == set(brain.series)
    assert [first(row, "00200011") for row in rows] == [1, 2, 3]  # by SeriesNumber
    by_number = {first(row, "00200011"): row for row in rows}
    assert first(by_number[1], "00201209") == 3  # NumberOfSeriesRelatedInstances
    assert first(by_number[2], "0008103E") == "MULTIFRAME"
    assert first(by_number[3], "00080060") == "SR"
    assert first(by_number[1], STUDY_UID) == brain.uid
    assert PATIENT_NAME not in by_number[1]  # study attributes only in /series


async def test_all_series_carry_their_study_attributes(dicom_server):
    rows = await dicom_server.call(
        dicom_server.client.search_for_series, search_filters={"Modality": "MR"}
    )
    assert len(rows) == 3
    assert names(rows) == {"Müller^Hans", "Smith^John"}


async def test_series_filters(dicom_server):
    data = dicom_server.data
    client = dicom_server.client
    rows = await dicom_server.call(
        client.search_for_series, search_filters={"SeriesDescription": "*axial*"}
    )
    assert {first(row, "0008103E") for row in rows} == {"AXIAL 5mm", "T1 AXIAL", "HEAD AXIAL"}
    rows = await dicom_server.call(
        client.search_for_series, data.study("brain").uid, search_filters={"SeriesNumber": "2"}
    )
    assert [first(row, "0008103E") for row in rows] == ["MULTIFRAME"]
    rows = await dicom_server.call(
        client.search_for_series, search_filters={"PatientName": "smith*", "Modality": "SR"}
    )
    (row,) = rows
    assert first(row, PATIENT_NAME) == {"Alphabetic": "Smith^John"}


async def test_instances_of_a_series_in_instance_number_order(dicom_server):
    brain = dicom_server.data.study("brain")
    series_uid, instances = next(iter(brain.series.items()))
    rows = await dicom_server.call(dicom_server.client.search_for_instances, brain.uid, series_uid)
    assert [first(row, "00200013") for row in rows] == [1, 2, 3]
    assert {first(row, SOP_UID) for row in rows} == {i.sop for i in instances}
    row = rows[0]
    assert first(row, "00280010") == 32 and first(row, "00280011") == 32
    assert first(row, "00280100") == 16
    assert first(row, "00080016") == instances[0].sop_class
    assert first(row, RETRIEVE_URL).startswith(f"{dicom_server.base}/studies/{brain.uid}/series/")


async def test_instances_of_a_study_and_of_everything(dicom_server):
    data = dicom_server.data
    client = dicom_server.client
    brain = data.study("brain")
    rows = await dicom_server.call(client.search_for_instances, brain.uid)
    assert {first(row, SOP_UID) for row in rows} == {i.sop for i in brain.instances}
    assert {first(row, "0008103E") for row in rows} == {"T1 AXIAL", "MULTIFRAME", "REPORT"}
    rows = await dicom_server.call(client.search_for_instances)
    assert len(rows) == len(data.instances)
    rows = await dicom_server.call(
        client.search_for_instances, search_filters={"NumberOfFrames": "4"}
    )
    (row,) = rows
    assert first(row, PATIENT_NAME) == {"Alphabetic": "Smith^John"}


async def test_a_report_without_pixels_is_listed_without_image_attributes(dicom_server):
    rows = await dicom_server.call(
        dicom_server.client.search_for_instances, search_filters={"Modality": "SR"}
    )
    (row,) = rows
    assert first(row, "00080016") == "1.2.840.10008.5.1.4.1.1.88.11"
    assert "00280010" not in row


# -- OHIF's literal requests ------------------------------------------------------------------


async def test_ohif_study_list_and_series_requests(dicom_server, http_session):
    brain = dicom_server.data.study("brain").uid
    headers = {"Accept": "application/dicom+json"}
    urls = [
        f"/studies?limit=101&offset=0&fuzzymatching=false&{OHIF_INCLUDE}",
        f"/studies?PatientName=*smith*&limit=101&offset=0&fuzzymatching=true&{OHIF_INCLUDE}",
        f"/studies?00100020=*SM*&ModalitiesInStudy=CT%2CMR&limit=101&offset=0&"
        f"fuzzymatching=false&{OHIF_INCLUDE}&StudyDate=19700102-20991231",
        f"/studies?StudyInstanceUID={brain}&limit=101&offset=0&fuzzymatching=false&{OHIF_INCLUDE}",
        f"/studies/{brain}/series?includefield=0008103E%2C00080021",
        f"/studies/{brain}/series",
    ]
    counts = []
    for url in urls:
        async with http_session.get(dicom_server.url(url), headers=headers) as response:
            assert response.status == 200, url
            counts.append(len(await response.json(content_type=None)))
    assert counts == [4, 1, 1, 1, 3, 3]


# -- empty results, warnings and bad input ----------------------------------------------------


async def test_no_match_is_200_with_an_empty_list(dicom_server, http_session):
    for path in ("/studies?PatientID=nobody", "/studies/1.2.3/series", "/series?Modality=XA"):
        async with http_session.get(dicom_server.url(path)) as response:
            assert response.status == 200
            assert await response.read() == b"[]"


async def test_unknown_keys_are_ignored_with_a_warning(dicom_server, http_session):
    url = dicom_server.url("/studies?FooBar=1&SeriesDescription=x&00400275.00400009=1&_=123")
    async with http_session.get(url) as response:
        assert response.status == 200
        assert len(await response.json(content_type=None)) == 4
        warnings = response.headers.getall("Warning")
    assert len(warnings) == 3
    assert all(warning.startswith(f"299 {dicom_server.base}: ") for warning in warnings)


async def test_application_json_is_accepted_too(dicom_server, http_session):
    url = dicom_server.url("/studies?limit=1")
    async with http_session.get(url, headers={"Accept": "application/json"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "query",
    [
        "StudyDate=2010",
        "StudyDate=20100101-2011",
        "StudyDate=-",
        "StudyTime=25h",
        "StudyInstanceUID=1.2.abc",
        "StudyInstanceUID=1.2.*",
        "SeriesNumber=two",
        "limit=abc",
        "limit=-1",
        "offset=1.5",
        "fuzzymatching=maybe",
    ],
)
async def test_malformed_query_values_are_400(dicom_server, http_session, query):
    level = "series" if query.startswith("Series") else "studies"
    async with http_session.get(dicom_server.url(f"/{level}?{query}")) as response:
        assert response.status == 400
        assert "message" in await response.json()


async def test_an_accept_it_cannot_satisfy_is_406(dicom_server, http_session):
    headers = {"Accept": 'multipart/related; type="application/dicom+xml"'}
    async with http_session.get(dicom_server.url("/studies"), headers=headers) as response:
        assert response.status == 406


async def test_includefield_all_adds_the_study_attributes_to_series(dicom_server, http_session):
    brain = dicom_server.data.study("brain")
    url = dicom_server.url(f"/studies/{brain.uid}/series/?includefield=all")  # trailing slash
    async with http_session.get(url) as response:
        rows = await response.json(content_type=None)
    assert len(rows) == 3
    assert all(first(row, PATIENT_NAME) == {"Alphabetic": "Smith^John"} for row in rows)
    assert all(first(row, DESCRIPTION) == "MR BRAIN" for row in rows)


async def test_parameter_names_in_any_case_as_slicer_accepted(dicom_server, http_session):
    async with http_session.get(dicom_server.url("/studies?patientid=PAT-SM")) as response:
        rows = await response.json(content_type=None)
    assert names(rows) == {"Smith^John"}


async def test_results_beyond_the_servers_cap_are_flagged(dicom_server, http_session, monkeypatch):
    from bridge.dicom import sqlite_store

    monkeypatch.setattr(sqlite_store, "MAX_RESULTS", 2)
    async with http_session.get(dicom_server.url("/studies")) as response:
        assert len(await response.json(content_type=None)) == 2
        assert "exceeded the maximum" in response.headers["Warning"]
    async with http_session.get(dicom_server.url("/studies?limit=2")) as response:
        assert "Warning" not in response.headers  # the client asked for two
