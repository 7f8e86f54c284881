"""`/slicer` volume routes: list, select, download and upload NRRD; grid transforms.

* `GET /volume?id=` answers the attached-header NRRD laid out as Slicer's WebServer writes it
  (`nrrd_io.encode_webserver_nrrd`), but with the voxel type kept instead of cast to `short`.
  The voxels are sent from the volume's own buffer (no copy, no encoding).
* A request to `/volume` **with a body** uploads: any valid NRRD pynrrd reads (raw, gzip, bzip2;
  any scalar type; LPS, RAS or LAS space; the original's int16 LPS raw form among them)
  becomes a `PutVolume` into the matched volume, or a new one, which is then made the active
  volume (shown in the slice views). The reply body is the original's literal
  `{'status': 'success'}` (not strict JSON — kept because it is what the original sends).
* `volumeSelection?cmd=next|previous` cycles the active volume (`SelectVolume`); the original
  always failed.
* `gridTransforms` lists the scene's `vtkMRMLGridTransformNode`s (`[{"name", "id"}]`).
  `gridTransform?id=` without a body answers the displacement field as a 4-D NRRD in the
  original's layout (`grid_transform_nrrd.encode_grid_transform_nrrd`, with the original's
  bugs fixed); **with a body** (a 4-D vector NRRD, any encoding pynrrd reads, LPS vectors as
  Slicer's displacement-field files) it uploads: a `SetGridTransform` into the matched grid
  transform, or a new one named after `id` (`GridTransform` when none is given). The original
  never implemented uploads (500); the reply is `{"success": true, "id": <node id>}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from adapters.http.responses import HttpError, json_response
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import apply, command, find_node, scene_of, submit, text_response
from bridge import commands as c
from bridge.scene.io.grid_transform_nrrd import (
    decode_grid_transform_nrrd,
    encode_grid_transform_nrrd,
)
from bridge.scene.io.nrrd_io import decode_nrrd, encode_webserver_nrrd
from bridge.scene.types import GridTransformData, SceneError, VolumeData

SCALAR_VOLUME = "vtkMRMLScalarVolumeNode"
VOLUME = "vtkMRMLVolumeNode"
GRID_TRANSFORM = "vtkMRMLGridTransformNode"
DEFAULT_VOLUME_REF = "vtkMRMLScalarVolumeNode*"
DEFAULT_GRID_REF = "vtkMRMLGridTransformNode*"
NEW_VOLUME_NAME = "Volume"
NEW_GRID_NAME = "GridTransform"
#: Bodies above this are decoded in a worker thread, so the loop keeps serving meanwhile.
_DECODE_OFF_LOOP_BYTES = 1 << 20
_POST_REPLY = b"{'status': 'success'}"

T = TypeVar("T")


# -- lists and selection ------------------------------------------------------------------------
async def volumes(request: web.Request) -> web.Response:
    """Every scalar volume and labelmap, `[{"name", "id"}]`, in creation order (the original
    keyed them by name, so equally named volumes collapsed into one entry)."""
    nodes = scene_of(request).nodes(class_name=SCALAR_VOLUME)
    return json_response([{"name": node.name, "id": node.id} for node in nodes])


async def volume_selection(request: web.Request) -> web.Response:
    cmd = QueryParams(request).choice("cmd", ("next", "previous"), "next")
    await apply(request, c.SelectVolume, step=cmd)
    return text_response("Volume selected")


async def grid_transforms(request: web.Request) -> web.Response:
    nodes = scene_of(request).nodes(class_name=GRID_TRANSFORM)
    return json_response([{"name": node.name, "id": node.id} for node in nodes])


# -- one volume ---------------------------------------------------------------------------------
async def volume(request: web.Request) -> web.StreamResponse:
    """Upload when the request has a body (whatever the method), else download."""
    body = await request.read()
    if body:
        return await _put_volume(request, body)
    return await _send_volume(request)


async def _send_volume(request: web.Request) -> web.StreamResponse:
    scene = scene_of(request)
    ref = QueryParams(request).text("id") or DEFAULT_VOLUME_REF
    node = find_node(scene, ref, VOLUME)
    data = scene.volume(node.id)
    try:
        header, voxels = encode_webserver_nrrd(data)
    except SceneError as error:
        raise HttpError(500, str(error)) from None
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "application/octet-stream"
    response.content_length = len(header) + voxels.nbytes
    await response.prepare(request)
    if request.method != "HEAD":
        await response.write(header)
        await response.write(voxels)
    await response.write_eof()
    return response


async def _put_volume(request: web.Request, body: bytes) -> web.Response:
    scene = scene_of(request)
    data = await _decode(body)
    ref = QueryParams(request).text("id")
    try:
        target = scene.find(ref or DEFAULT_VOLUME_REF, VOLUME).id
    except SceneError:
        target = ref or NEW_VOLUME_NAME  # a new volume named as the id asked for
        if ref and scene.nodes(id=ref):
            raise HttpError(
                400, f"{ref} is not a volume; POST /slicer/volume writes volumes"
            ) from None
    result = await submit(
        request,
        command(request, c.PutVolume, node=target, array=data.array, ijk_to_ras=data.ijk_to_ras),
    )
    node_id = result.get("node") if isinstance(result, dict) else None  # None: superseded
    active = scene.active_volume()
    if node_id is not None and (active is None or active.id != node_id):
        await apply(request, c.SelectVolume, node=node_id)
    response = web.Response(body=_POST_REPLY, headers={"Cache-Control": "no-cache"})
    response.content_type = "application/json"
    return response


async def _decode(body: bytes) -> VolumeData:
    try:
        return await _off_loop_if_large(decode_nrrd, body)
    except SceneError as error:
        raise HttpError(400, f"POST /slicer/volume: {error}") from None


async def _off_loop_if_large(decode: Callable[[bytes], T], body: bytes) -> T:
    """Small bodies are decoded on the loop; large ones in a worker thread."""
    if len(body) > _DECODE_OFF_LOOP_BYTES:
        return await asyncio.get_running_loop().run_in_executor(None, decode, body)
    return decode(body)


# -- grid transforms ----------------------------------------------------------------------------
async def grid_transform(request: web.Request) -> web.Response:
    """Upload when the request has a body (whatever the method), else download."""
    body = await request.read()
    if body:
        return await _put_grid_transform(request, body)
    scene = scene_of(request)
    node = find_node(scene, QueryParams(request).text("id") or DEFAULT_GRID_REF, GRID_TRANSFORM)
    try:
        payload = encode_grid_transform_nrrd(scene.grid_transform(node.id))
    except SceneError as error:
        raise HttpError(500, str(error)) from None
    response = web.Response(body=payload, headers={"Cache-Control": "no-cache"})
    response.content_type = "application/octet-stream"
    return response


async def _put_grid_transform(request: web.Request, body: bytes) -> web.Response:
    scene = scene_of(request)
    try:
        grid: GridTransformData = await _off_loop_if_large(decode_grid_transform_nrrd, body)
    except SceneError as error:
        raise HttpError(400, f"POST /slicer/gridTransform: {error}") from None
    ref = QueryParams(request).text("id")
    try:
        target = scene.find(ref or DEFAULT_GRID_REF, GRID_TRANSFORM).id
    except SceneError:
        target = ref or NEW_GRID_NAME  # a new grid transform named as the id asked for
        if ref and scene.nodes(id=ref):
            raise HttpError(
                400, f"{ref} is not a grid transform; POST /slicer/gridTransform writes those"
            ) from None
    result = await submit(
        request,
        command(
            request,
            c.SetGridTransform,
            node=target,
            displacements=grid.displacements,
            ijk_to_ras=grid.ijk_to_ras,
        ),
    )
    answer: dict[str, object] = {"success": True}
    if isinstance(result, dict) and "node" in result:  # None: superseded by a newer upload
        answer["id"] = result["node"]
    return json_response(answer)
