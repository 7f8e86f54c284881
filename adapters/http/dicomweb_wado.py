"""WADO-RS: retrieve studies, series and instances; metadata; frames; bulk data; rendered
and thumbnail images.

* Instances go out as `multipart/related; type="application/dicom"`, streamed file by file
  from disk (a series is never held in memory); as stored, or in Explicit VR Little Endian
  when the client asks (transcoded by pydicom, decompressing when a decoder exists), else 406.
  A single instance asked for as plain `application/dicom` gets the Part 10 file alone, as
  Slicer's original `/dicom` answered.
* Metadata is the concatenation of the JSON cached at import, with absolute BulkDataURIs and
  an ETag that changes whenever the store does.
* Frames (`frames/1,3,5`) are byte ranges recorded at import, one `pread` each; sent as
  stored (compressed frames with their image media type) or decoded, per the Accept header.
* `bulk/{path}`: pixel data as frames; any other large binary value read from the file.
* `rendered`, `thumbnail`: JPEG (or PNG/GIF) through Pillow with the instance's window.
"""

from __future__ import annotations

import asyncio
import os
import re
import warnings

import pydicom
from aiohttp import web

from adapters.http.dicomweb_accept import (
    DICOM,
    EXPLICIT_VR_LITTLE_ENDIAN,
    DicomRepresentation,
    negotiate_bulk,
    negotiate_dicom,
    negotiate_frames,
    negotiate_image,
    negotiate_json,
    parse_accept,
)
from adapters.http.dicomweb_common import (
    Target,
    absolute_bulk_uris,
    base_url,
    dicom_errors,
    dicom_json_response,
    json_array,
    store_of,
)
from adapters.http.dicomweb_multipart import (
    FileRange,
    Piece,
    closing,
    multipart_body,
    multipart_pieces,
    multipart_type,
    new_boundary,
    part_head,
    send_pieces,
    stream_file,
)
from adapters.http.responses import HttpError
from bridge.dicom import pixels
from bridge.dicom.header import PIXEL_TAGS
from bridge.dicom.types import InstanceFile, NotFound

_FRAME_LIST = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_BULK_PATH = re.compile(r"^[0-9A-Fa-f]{8}(/\d+/[0-9A-Fa-f]{8})*$")


def _accept(request: web.Request):
    return parse_accept(request.headers.get("Accept"))


# -- retrieve instances -----------------------------------------------------------------------


@dicom_errors
async def retrieve(request: web.Request, target: Target) -> web.StreamResponse:
    """GET /studies/{S}[/series/{R}[/instances/{I}]]."""
    assert target.study is not None
    instances = store_of(request).instances(target.study, target.series, target.instance)
    representation = negotiate_dicom(
        _accept(request),
        {instance.transfer_syntax for instance in instances},
        single=target.instance is not None,
        instance_level=target.instance is not None,
    )
    if representation.pixel_data:
        return await _pixel_data(request, instances[0])
    if not representation.multipart:
        return await _single_instance(request, instances[0], representation)
    return await _multipart_instances(request, instances, representation)


async def _instance_bytes(instance: InstanceFile, syntax: str | None) -> bytes | None:
    """The transcoded instance, or None when the stored file goes out as it is."""
    if syntax is None or syntax == instance.transfer_syntax:
        return None
    return await asyncio.get_running_loop().run_in_executor(
        None, pixels.explicit_little_endian, instance
    )


def _part_type(instance: InstanceFile, syntax: str | None) -> str:
    return f"{DICOM}; transfer-syntax={syntax or instance.transfer_syntax}"


def whole_file(instance: InstanceFile) -> FileRange:
    """The instance's file as it is now (its size read again: files indexed in place may
    have been replaced since)."""
    try:
        size = os.stat(instance.path).st_size  # noqa: PTH116 - hot path
    except OSError as error:
        raise NotFound(f"the file of instance {instance.sop_uid} is gone: {error}") from None
    return FileRange(instance.path, 0, size)


async def _single_instance(
    request: web.Request, instance: InstanceFile, representation: DicomRepresentation
) -> web.StreamResponse:
    data = await _instance_bytes(instance, representation.transfer_syntax)
    if data is not None:
        return web.Response(body=data, headers={"Content-Type": DICOM})
    return await send_pieces(request, {"Content-Type": DICOM}, [whole_file(instance)])


async def _multipart_instances(
    request: web.Request, instances: list[InstanceFile], representation: DicomRepresentation
) -> web.StreamResponse:
    syntax = representation.transfer_syntax
    boundary = new_boundary()
    headers = {"Content-Type": multipart_type(DICOM, boundary)}
    if all(syntax in (None, instance.transfer_syntax) for instance in instances):
        parts = [
            (_part_type(instance, instance.transfer_syntax), [whole_file(instance)])
            for instance in instances
        ]
        return await send_pieces(request, headers, multipart_pieces(parts, boundary))
    # Transcoding: the length is not known in advance, the body is chunked. A decoding
    # failure must become a 406 before the status line is sent, so the first instance that
    # needs it is transcoded up front (negotiation already checked the rest can be).
    response = web.StreamResponse(headers=headers)
    first = await _instance_bytes(instances[0], syntax)
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    for index, instance in enumerate(instances):
        data = first if index == 0 else await _instance_bytes(instance, syntax)
        if data is None:
            stored = whole_file(instance)
            await response.write(part_head(boundary, _part_type(instance, None), stored.count))
            await stream_file(response, instance.path)
        else:
            content_type = _part_type(instance, EXPLICIT_VR_LITTLE_ENDIAN)
            await response.write(part_head(boundary, content_type, len(data)))
            await response.write(data)
        await response.write(b"\r\n")
    await response.write(closing(boundary))
    await response.write_eof()
    return response


# -- metadata ---------------------------------------------------------------------------------


@dicom_errors
async def metadata(request: web.Request, target: Target) -> web.Response:
    """GET …/metadata at study, series or instance level: the cached DICOM JSON."""
    assert target.study is not None
    media_type = negotiate_json(_accept(request))
    store = store_of(request)
    etag = f'W/"{store.generation()}"'
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    blobs = store.metadata(target.study, target.series, target.instance)
    body = absolute_bulk_uris(json_array(blobs), base_url(request))
    return dicom_json_response(
        body, media_type=media_type, headers={"ETag": etag, "Cache-Control": "no-cache"}
    )


# -- frames and pixel data --------------------------------------------------------------------


def parse_frame_list(text: str) -> list[int]:
    if not _FRAME_LIST.match(text):
        raise HttpError(400, f"frame list must be numbers separated by commas, got {text!r}")
    return [int(part) for part in text.split(",")]


@dicom_errors
async def frames(request: web.Request, target: Target) -> web.StreamResponse:
    """GET …/instances/{I}/frames/{list}."""
    assert target.study and target.series and target.instance and target.frames is not None
    numbers = parse_frame_list(target.frames)
    instance = store_of(request).instances(target.study, target.series, target.instance)[0]
    pixels.check_frames(instance, numbers)
    return await _frames_response(request, instance, numbers)


async def _frames_response(
    request: web.Request, instance: InstanceFile, numbers: list[int]
) -> web.StreamResponse:
    stored = instance.transfer_syntax
    representation = negotiate_frames(_accept(request), stored, len(numbers))
    ranges = None if representation.decode else pixels.frame_ranges(instance, numbers)
    if representation.decode:
        data: list[list[Piece]] = [
            [frame]
            for frame in await asyncio.get_running_loop().run_in_executor(
                None, pixels.decoded_frames, instance, numbers
            )
        ]
    elif ranges is not None:
        data = [[FileRange(instance.path, f.offset, f.length) for f in frame] for frame in ranges]
    else:
        data = [[frame] for frame in pixels.stored_frames(instance, numbers)]
    if representation.decode or pixels.is_native(stored):
        content_type = f"{pixels.OCTET_STREAM}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
    else:
        content_type = f"{pixels.frame_media_type(stored)}; transfer-syntax={stored}"
    if not representation.multipart:
        return await send_pieces(request, {"Content-Type": content_type}, data[0])
    boundary = new_boundary()
    related = content_type.split(";", 1)[0]
    pieces = multipart_pieces([(content_type, frame) for frame in data], boundary)
    headers = {"Content-Type": multipart_type(related, boundary)}
    return await send_pieces(request, headers, pieces)


async def _pixel_data(request: web.Request, instance: InstanceFile) -> web.StreamResponse:
    """All frames of an instance (its pixel data bulk data)."""
    if instance.pixels is None:
        raise NotFound(f"instance {instance.sop_uid} has no pixel data")
    numbers = list(range(1, instance.pixels.number_of_frames + 1))
    return await _frames_response(request, instance, numbers)


@dicom_errors
async def bulkdata(request: web.Request, target: Target) -> web.StreamResponse:
    """GET …/instances/{I}/bulk/{tag}[/{index}/{tag}…]: a value the metadata left out."""
    assert target.study and target.series and target.instance and target.bulk is not None
    path = target.bulk.strip("/")
    if not _BULK_PATH.match(path):
        raise HttpError(400, f"bulk data path must be tags and item indexes, got {path!r}")
    instance = store_of(request).instances(target.study, target.series, target.instance)[0]
    if "/" not in path and int(path, 16) in PIXEL_TAGS:
        if instance.pixels is None or instance.pixels.tag != int(path, 16):
            raise NotFound(f"instance {instance.sop_uid} has no {path.upper()}")
        return await _pixel_data(request, instance)
    multipart = negotiate_bulk(_accept(request))
    value = await asyncio.get_running_loop().run_in_executor(None, _bulk_value, instance, path)
    content_type = pixels.OCTET_STREAM
    if not multipart:
        return web.Response(body=value, headers={"Content-Type": content_type})
    boundary = new_boundary()
    body = multipart_body([value], [content_type], boundary)
    return web.Response(body=body, headers={"Content-Type": multipart_type(content_type, boundary)})


def _bulk_value(instance: InstanceFile, path: str) -> bytes:
    steps = path.split("/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(instance.path, stop_before_pixels=int(steps[0], 16) < 0x7FE00000)
    current = dataset
    for position in range(0, len(steps) - 1, 2):
        tag, index = int(steps[position], 16), int(steps[position + 1])
        if tag not in current or current[tag].VR != "SQ" or index >= len(current[tag].value):
            raise NotFound(f"instance {instance.sop_uid} has no bulk data at {path}")
        current = current[tag].value[index]
    tag = int(steps[-1], 16)
    if tag not in current or not isinstance(current[tag].value, bytes | bytearray):
        raise NotFound(f"instance {instance.sop_uid} has no bulk data at {path}")
    return bytes(current[tag].value)


# -- rendered and thumbnails ------------------------------------------------------------------


def _numbers(request: web.Request, name: str, count: int) -> list[float] | None:
    text = request.query.get(name)
    if text is None or not text.strip():
        return None
    try:
        values = [float(part) for part in text.split(",")[:count]]
    except ValueError:
        raise HttpError(400, f"parameter '{name}' must be numbers separated by commas") from None
    if len(values) < count:
        raise HttpError(400, f"parameter '{name}' needs {count} numbers, got {text!r}")
    return values


def render_options(request: web.Request, media_type: str, thumbnail: bool):
    window = _numbers(request, "window", 2)
    viewport = _numbers(request, "viewport", 2)
    if window is not None and window[1] <= 0:
        raise HttpError(400, "parameter 'window': the width must be positive")
    if viewport is not None and (viewport[0] < 1 or viewport[1] < 1):
        raise HttpError(400, "parameter 'viewport' must be positive sizes")
    quality = request.query.get("quality")
    try:
        quality_value = 90 if quality is None else int(quality)
    except ValueError:
        raise HttpError(400, f"parameter 'quality' must be 1-100, got {quality!r}") from None
    if not 1 <= quality_value <= 100:
        raise HttpError(400, f"parameter 'quality' must be 1-100, got {quality_value}")
    if viewport is None and thumbnail:
        viewport = [pixels.THUMBNAIL_SIZE, pixels.THUMBNAIL_SIZE]
    return pixels.RenderOptions(
        media_type=media_type,
        window=None if window is None else (window[0], window[1]),
        viewport=None if viewport is None else (int(viewport[0]), int(viewport[1])),
        quality=quality_value,
    )


async def _render(request: web.Request, target: Target, thumbnail: bool) -> web.Response:
    assert target.study is not None
    media_type = negotiate_image(_accept(request))
    store = store_of(request)
    if target.instance is not None:
        instance = store.instances(target.study, target.series, target.instance)[0]
        frame = parse_frame_list(target.frames)[0] if target.frames else 1
    else:  # a study or series: its middle image
        instance = store.representative(target.study, target.series)
        frame = max(1, (instance.pixels.number_of_frames + 1) // 2) if instance.pixels else 1
    options = render_options(request, media_type, thumbnail)
    image = await asyncio.get_running_loop().run_in_executor(
        None, pixels.render, instance, frame, options
    )
    return web.Response(body=image, headers={"Content-Type": media_type})


@dicom_errors
async def rendered(request: web.Request, target: Target) -> web.Response:
    """GET …/rendered (study, series, instance, frames): one rendered image."""
    return await _render(request, target, thumbnail=False)


@dicom_errors
async def thumbnail(request: web.Request, target: Target) -> web.Response:
    """GET …/thumbnail (study, series, instance, frames): a small rendered image."""
    return await _render(request, target, thumbnail=True)
