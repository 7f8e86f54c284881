"""WADO-URI (PS3.18 chapter 9): `/dicom?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…`.

Compatible with Slicer's original handler, which served the Part 10 file for `objectUID`
alone (and documented `object=`): without `contentType` the file goes out as stored.
`contentType=application/dicom` honours `transferSyntax` (`*` or absent: as stored; Explicit
VR Little Endian: transcoded when needed); `image/jpeg`, `image/png`, `image/gif` render
`frameNumber` with `windowCenter`/`windowWidth`, `rows`/`columns` and `imageQuality`. The
Accept header is ignored: OHIF sends its multipart frame Accept on every image request.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from adapters.http.dicomweb_accept import (
    DICOM,
    EXPLICIT_VR_LITTLE_ENDIAN,
    NotAcceptable,
    transfer_syntax_possible,
)
from adapters.http.dicomweb_common import Target, dicom_errors, store_of
from adapters.http.dicomweb_multipart import send_pieces
from adapters.http.dicomweb_wado import whole_file
from adapters.http.responses import HttpError
from bridge.dicom import pixels
from bridge.dicom.types import InstanceFile


def _text(request: web.Request, *names: str) -> str | None:
    for name in names:
        value = request.query.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _number(request: web.Request, name: str) -> float | None:
    text = _text(request, name)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise HttpError(400, f"parameter '{name}' must be a number, got {text!r}") from None


def is_wado_uri(request: web.Request) -> bool:
    """Whether a request to an unknown `/dicom…` path is a WADO-URI request (the original
    served WADO-URI on any path its other routes did not claim)."""
    return any(name in request.query for name in ("requestType", "objectUID", "object"))


@dicom_errors
async def wado_uri(request: web.Request, _target: Target) -> web.StreamResponse:
    request_type = _text(request, "requestType")
    if request_type is not None and request_type.upper() != "WADO":
        raise HttpError(400, f"requestType must be WADO, got {request_type!r}")
    sop_uid = _text(request, "objectUID", "object")
    if sop_uid is None:
        raise HttpError(400, "parameter 'objectUID' is required")
    study_uid, series_uid = _text(request, "studyUID"), _text(request, "seriesUID")
    store = store_of(request)
    if study_uid and series_uid:
        instance = store.instances(study_uid, series_uid, sop_uid)[0]
    else:
        instance = store.find_instance(sop_uid)
    content_types = [
        part.split(";", 1)[0].strip().lower()
        for part in (_text(request, "contentType") or DICOM).split(",")
    ]
    for content_type in content_types:
        if content_type in (DICOM, "*/*", "application/*"):
            return await _dicom_file(request, instance)
        if content_type in pixels.RENDER_FORMATS or content_type == "image/*":
            media_type = "image/jpeg" if content_type == "image/*" else content_type
            return await _rendered(request, instance, media_type)
    raise NotAcceptable(
        f"contentType {', '.join(content_types)} is not available: use {DICOM}, "
        + ", ".join(pixels.RENDER_FORMATS)
    )


async def _dicom_file(request: web.Request, instance: InstanceFile) -> web.StreamResponse:
    syntax = _text(request, "transferSyntax")
    target = None if syntax in (None, "*") else syntax
    if not transfer_syntax_possible(target, instance.transfer_syntax):
        raise NotAcceptable(
            f"instance is stored as {instance.transfer_syntax}; transferSyntax can be * or "
            f"{EXPLICIT_VR_LITTLE_ENDIAN}"
        )
    if target is not None and target != instance.transfer_syntax:
        data = await asyncio.get_running_loop().run_in_executor(
            None, pixels.explicit_little_endian, instance
        )
        return web.Response(body=data, headers={"Content-Type": DICOM})
    return await send_pieces(request, {"Content-Type": DICOM}, [whole_file(instance)])


async def _rendered(request: web.Request, instance: InstanceFile, media_type: str) -> web.Response:
    center, width = _number(request, "windowCenter"), _number(request, "windowWidth")
    if (center is None) != (width is None) or (width is not None and width <= 0):
        raise HttpError(400, "windowCenter and windowWidth go together; the width is positive")
    rows, columns = _number(request, "rows"), _number(request, "columns")
    quality = _number(request, "imageQuality")
    if quality is not None and not 1 <= quality <= 100:
        raise HttpError(400, "imageQuality must be 1-100")
    frame = _number(request, "frameNumber")
    viewport = None
    if rows or columns:
        viewport = (int(columns or rows or 0), int(rows or columns or 0))
    options = pixels.RenderOptions(
        media_type=media_type,
        window=None if center is None or width is None else (center, width),
        viewport=viewport,
        quality=int(quality or 90),
    )
    image = await asyncio.get_running_loop().run_in_executor(
        None, pixels.render, instance, int(frame or 1), options
    )
    return web.Response(body=image, headers={"Content-Type": media_type})
