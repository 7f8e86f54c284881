"""`/slicer/accessDICOMwebStudy`: fetch a study from a DICOMweb server, keep it, load it.

The request body is Slicer's JSON `{"dicomWEBPrefix", "dicomWEBStore", "studyUID",
"accessToken"}`; the server is `<prefix>/<store>` and the token, if any, is sent as a bearer
token. The study is retrieved with `dicomweb-client` (WADO-RS, multipart), instance by
instance, in a worker thread so the loop keeps serving; the files are written under
`<data_dir>/dicomweb/<StudyInstanceUID>/` and the folder is loaded as DICOM (`LoadFile`),
one volume per image series. With `/dicom` on, the reply waits until the study is also
indexed in the DICOM store (`bridge.dicom.scene_import`), so `/dicom` serves it at once.
The original always failed (it indexed a tuple); this one works, and answers
`{"success": true, "loadedNodeIDs": [...], "instances": N}`.

A `slicer://viewer/?studyUID=…&dicomweb_endpoint=…` URL (`POST /mrml?url=`, `/open?url=`)
takes the same path. Failures of the remote server are 502 (404 when it has no such study).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from adapters.http.dicomweb_common import scene_imports_settled
from adapters.http.responses import HttpError, json_response
from adapters.http.slicer_common import apply
from adapters.http.slicer_files import data_dir
from bridge import commands as c

#: A DICOM UID: digits and dots, at most 64 characters (PS3.5 §9.1).
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
RETRIEVE_TIMEOUT_S = 60.0
#: dicomweb-client retries busy servers (429, 503, …) and failed connections; its default
#: (5 attempts, waits doubling from 2 s) keeps a caller waiting 30 s for a server that is down.
RETRY_ATTEMPTS = 3
RETRY_WAIT_MULTIPLIER_MS = 100


async def access_dicomweb_study(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        description = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as error:
        raise HttpError(400, f"accessDICOMwebStudy: the body is not JSON ({error})") from None
    if not isinstance(description, dict):
        raise HttpError(
            400,
            "accessDICOMwebStudy needs a JSON object body: "
            '{"dicomWEBPrefix", "dicomWEBStore", "studyUID", "accessToken"}',
        )
    prefix = _text_field(description, "dicomWEBPrefix", required=True)
    store = _text_field(description, "dicomWEBStore")
    study_uid = _text_field(description, "studyUID", required=True)
    token = _text_field(description, "accessToken") or None
    endpoint = prefix.rstrip("/") + ("/" + store.strip("/") if store else "")
    loaded, count = await _fetch_and_load(request, endpoint, study_uid, token)
    return json_response({"success": True, "loadedNodeIDs": loaded, "instances": count})


async def load_study(
    request: web.Request, endpoint: str, study_uid: str, token: str | None
) -> list[str]:
    """Fetch `study_uid` from the DICOMweb server at `endpoint`, store and load it."""
    loaded, _count = await _fetch_and_load(request, endpoint, study_uid, token)
    return loaded


async def _fetch_and_load(
    request: web.Request, endpoint: str, study_uid: str, token: str | None
) -> tuple[list[str], int]:
    if not endpoint.lower().startswith(("http://", "https://")):
        raise HttpError(400, f"the DICOMweb server must be an http(s) URL, got {endpoint!r}")
    if len(study_uid) > 64 or not _UID.match(study_uid):
        raise HttpError(400, f"studyUID {study_uid!r} is not a DICOM UID")
    folder = data_dir(request) / "dicomweb" / study_uid
    count = await asyncio.get_running_loop().run_in_executor(
        None, retrieve_study_files, endpoint, study_uid, token, folder
    )
    if count == 0:
        raise HttpError(404, f"study {study_uid} has no instances on {endpoint}")
    result = await apply(request, c.LoadFile, path=str(folder), filetype="DICOM")
    await scene_imports_settled(request.app)  # the study is in the store before the reply
    return list((result or {}).get("loadedNodeIDs", [])), count


def retrieve_study_files(endpoint: str, study_uid: str, token: str | None, folder: Path) -> int:
    """Blocking: retrieve every instance of the study and write it as a Part 10 file named by
    its SOP Instance UID (a second retrieval overwrites, never duplicates). Returns the count."""
    import pydicom
    import requests
    from dicomweb_client.api import DICOMwebClient

    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = DICOMwebClient(url=endpoint, headers=headers, timeout=RETRIEVE_TIMEOUT_S)
    client.set_http_retry_params(
        max_attempts=RETRY_ATTEMPTS, wait_exponential_multiplier=RETRY_WAIT_MULTIPLIER_MS
    )
    count = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for dataset in client.iter_study(study_uid):
            sop_uid = str(getattr(dataset, "SOPInstanceUID", "") or f"instance{count + 1}")
            name = sop_uid if _UID.match(sop_uid) else f"instance{count + 1}"
            pydicom.dcmwrite(folder / f"{name}.dcm", dataset, enforce_file_format=True)
            count += 1
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 404:
            raise HttpError(404, f"study {study_uid} was not found on {endpoint}") from None
        raise HttpError(502, f"DICOMweb server {endpoint} failed: {error}") from None
    except requests.RequestException as error:
        raise HttpError(502, f"cannot reach DICOMweb server {endpoint}: {error}") from None
    except (ValueError, OSError) as error:
        raise HttpError(502, f"bad reply from DICOMweb server {endpoint}: {error}") from None
    return count


def _text_field(description: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = description.get(key)
    if value is None or value == "":
        if required:
            raise HttpError(400, f"accessDICOMwebStudy: {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise HttpError(400, f"accessDICOMwebStudy: {key!r} must be a string")
    return value.strip()
