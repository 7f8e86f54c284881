"""STOW-RS (`POST /studies`, `POST /studies/{S}`) and removal (`DELETE` a study, series or
instance — not part of PS3.18, but what dicomweb-client's `delete_*` send).

A STOW request is read completely first, each part into its own file: a body that is cut
short or malformed is a 400 and stores nothing. Then every part's header is read (off the
event loop) and the instance is moved into the store. The answer is PS3.18's Store Instances
Response Module in DICOM JSON (Content-Type exactly `application/dicom+json`): RetrieveURL,
ReferencedSOPSequence for what was stored, FailedSOPSequence (left out when empty) with a
FailureReason for what was not. 200: all stored; 202: some failed; 409: none stored.
A body that is not multipart/related is a 415, except a single `application/dicom` body,
taken as one instance.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from adapters.http.dicomweb_accept import DICOM, MULTIPART, parse_accept
from adapters.http.dicomweb_common import (
    Target,
    base_url,
    dicom_errors,
    dicom_json_response,
    log,
    store_of,
)
from adapters.http.dicomweb_multipart import (
    BodyTooLarge,
    ReceivedPart,
    TruncatedBody,
    received_body,
    received_parts,
)
from adapters.http.responses import HttpError
from adapters.http.security import max_body_size
from bridge.dicom.header import read_header
from bridge.dicom.sqlite_store import FAILURE_NOT_DICOM
from bridge.dicom.types import NotDicom, StoreOutcome

REFERENCED_SOP_CLASS = "00081150"
REFERENCED_SOP_INSTANCE = "00081155"
RETRIEVE_URL = "00081190"
FAILURE_REASON = "00081197"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _url(value: str) -> dict[str, Any]:
    return {"vr": "UR", "Value": [value]}


def store_response(outcomes: list[StoreOutcome], base: str, study: str | None) -> bytes:
    referenced, failed = [], []
    for outcome in outcomes:
        item = {
            REFERENCED_SOP_CLASS: _uid(outcome.sop_class_uid),
            REFERENCED_SOP_INSTANCE: _uid(outcome.sop_uid),
        }
        if outcome.stored:
            item[RETRIEVE_URL] = _url(
                f"{base}/studies/{outcome.study_uid}/series/{outcome.series_uid}"
                f"/instances/{outcome.sop_uid}"
            )
            referenced.append(dict(sorted(item.items())))
        else:
            item[FAILURE_REASON] = {"vr": "US", "Value": [outcome.failure_reason or 0]}
            failed.append(dict(sorted(item.items())))
    studies = {o.study_uid for o in outcomes if o.stored}
    body: dict[str, Any] = {}
    if study is not None or len(studies) == 1:
        body[RETRIEVE_URL] = _url(f"{base}/studies/{study or next(iter(studies))}")
    if failed:
        body[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    if referenced:
        body[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    return orjson.dumps(body)


def _check_content_type(request: web.Request) -> bool:
    """Whether the body is multipart (True) or one bare DICOM instance (False); else 415."""
    ranges = parse_accept(request.headers.get("Content-Type", ""))
    if not ranges:
        raise HttpError(415, f'STOW-RS needs a {MULTIPART}; type="{DICOM}" body')
    content = ranges[0]
    if content.media_type == DICOM:
        return False
    if content.media_type != MULTIPART:
        raise HttpError(415, f'STOW-RS needs {MULTIPART}; type="{DICOM}", got {content.media_type}')
    if content.related_type not in (None, DICOM):
        raise HttpError(
            415,
            f'only type="{DICOM}" parts are accepted (not {content.related_type}): send '
            "Part 10 instances",
        )
    if "boundary" not in content.params:
        raise HttpError(400, "the multipart Content-Type has no boundary")
    return True


async def _outcome(request: web.Request, part: ReceivedPart, study: str | None) -> StoreOutcome:
    part_type = part.content_type.split(";", 1)[0].strip().lower()
    if part_type not in ("", DICOM, "application/octet-stream"):
        return StoreOutcome("", "", "", "", False, FAILURE_NOT_DICOM, f"part is {part_type}")
    try:
        record = await asyncio.get_running_loop().run_in_executor(None, read_header, part.path)
    except NotDicom as error:
        log.info("stow: refused a part of %d bytes: %s", part.size, error)
        return StoreOutcome("", "", "", "", False, FAILURE_NOT_DICOM, str(error))
    outcome = store_of(request).store(record, expected_study=study)
    if not outcome.stored:
        log.info("stow: refused %s: %s", record.sop_uid, outcome.message)
    return outcome


@dicom_errors
async def store_instances(request: web.Request, target: Target) -> web.Response:
    """POST /studies[/{S}]."""
    multipart = _check_content_type(request)
    store = store_of(request)
    incoming = getattr(store, "incoming_dir", None)
    if incoming is None:
        raise HttpError(501, "this DICOM store does not accept instances over STOW-RS")
    limit = max_body_size(bridge_settings(request))
    receive = received_parts if multipart else received_body
    try:
        async with receive(request, incoming, limit) as parts:
            if not parts:
                raise HttpError(400, "the request holds no instances")
            outcomes = [await _outcome(request, part, target.study) for part in parts]
    except TruncatedBody as error:
        raise HttpError(400, str(error)) from None
    except BodyTooLarge as error:
        raise HttpError(413, str(error)) from None
    stored = sum(outcome.stored for outcome in outcomes)
    status = 200 if stored == len(outcomes) else (202 if stored else 409)
    body = store_response(outcomes, base_url(request), target.study)
    return dicom_json_response(body, status=status)


def bridge_settings(request: web.Request) -> Any:
    from adapters.http.context import bridge_of

    return bridge_of(request).settings


@dicom_errors
async def remove(request: web.Request, target: Target) -> web.Response:
    """DELETE /studies/{S}[/series/{R}[/instances/{I}]]: 204 when removed, 404 if unknown."""
    assert target.study is not None
    removed = store_of(request).remove(target.study, target.series, target.instance)
    log.info("dicom: removed %d instance(s) of study %s", removed, target.study)
    return web.Response(status=204)
