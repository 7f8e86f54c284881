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
* `gridTransform(s)`: listed from the scene's `vtkMRMLGridTransformNode`s; downloading needs a
  scene offering `grid_transform(ref)`; uploading is not implemented (501), as in the original.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from adapters.http.responses import HttpError, json_response
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import apply, command, find_node, scene_of, submit, text_response
from bridge import commands as c
from bridge.scene.io.grid_transform_nrrd import GridTransformData, encode_grid_transform_nrrd
from bridge.scene.io.nrrd_io import decode_nrrd, encode_webserver_nrrd
from bridge.scene.types import SceneError, VolumeData

SCALAR_VOLUME = "vtkMRMLScalarVolumeNode"
VOLUME = "vtkMRMLVolumeNode"
GRID_TRANSFORM = "vtkMRMLGridTransformNode"
DEFAULT_VOLUME_REF = "vtkMRMLScalarVolumeNode*"
DEFAULT_GRID_REF = "vtkMRMLGridTransformNode*"
NEW_VOLUME_NAME = "Volume"
#: Bodies above this are decoded in a worker thread, so the loop keeps serving meanwhile.
_DECODE_OFF_LOOP_BYTES = 1 << 20
_POST_REPLY = b"{'status': 'success'}"


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
        if len(body) > _DECODE_OFF_LOOP_BYTES:
            return await asyncio.get_running_loop().run_in_executor(None, decode_nrrd, body)
        return decode_nrrd(body)
    except SceneError as error:
        raise HttpError(400, f"POST /slicer/volume: {error}") from None


# -- grid transforms ----------------------------------------------------------------------------
async def grid_transform(request: web.Request) -> web.Response:
    if await request.read():
        raise HttpError(501, "POST gridTransform is not implemented")
    scene = scene_of(request)
    node = find_node(scene, QueryParams(request).text("id") or DEFAULT_GRID_REF, GRID_TRANSFORM)
    reader = getattr(scene, "grid_transform", None)
    if reader is None:
        raise HttpError(501, "this scene cannot export grid transforms (no grid_transform())")
    grid: GridTransformData = reader(node.id)
    try:
        body = encode_grid_transform_nrrd(grid)
    except SceneError as error:
        raise HttpError(500, str(error)) from None
    response = web.Response(body=body, headers={"Cache-Control": "no-cache"})
    response.content_type = "application/octet-stream"
    return response
