"""`/slicer` routes for markups, segmentations and the tracking cursor.

* `fiducials`: every point list, `{id: {"name", "color", "scale", "markups": [{"label",
  "position"}]}}`, positions in the list's own coordinates, as the original.
* `fiducial?id=&index=&r=&a=&s=`: move one control point (`SetControlPoint`); `index` works
  (the original passed it on as text); an index equal to the point count appends a point.
* `segmentations`: every `vtkMRMLSegmentationNode`, `{id: {"name", "segmentIDs"}}`, read from
  the node properties' `Segmentation → Segments` (as Slicer's PrintSelf shape).
* `segmentation?segmentationID=&segmentID=&format=glTF`: the segment's closed surface, made
  from its binary labelmap (`bridge.scene.surfaces`), as a glTF 2.0 document in world RAS mm
  (JSON, inline buffer, like `threeDGraphics`). The original read `segmentID` from the
  `segmentationID` key and answered `{"result": "not implemented yet"}`; here `segmentID` is
  its own parameter, and leaving it out exports every segment (one glTF node each).
* `tracking?m=&p=&q=`: `m` is the row-major 3×3 rotation (9 numbers), `p` the position,
  `q` a w,x,y,z quaternion that overrides `m` (`SetTrackingPose`, coalesced per part);
  the first call creates the `tracker` transform and the `trackingDevice` cube.
"""

from __future__ import annotations

import asyncio
import functools

import numpy as np
from aiohttp import web

from adapters.http.responses import HttpError, json_response
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import apply, find_node, scene_of, text_response
from bridge import commands as c
from bridge.geometry import GeometryError, quaternion_to_rotation
from bridge.scene.surfaces import segments_gltf
from bridge.scene.types import SceneError

FIDUCIAL_LIST = "vtkMRMLMarkupsFiducialNode"
SEGMENTATION = "vtkMRMLSegmentationNode"
TRACKER = "tracker"


async def fiducials(request: web.Request) -> web.Response:
    scene = scene_of(request)
    lists = {}
    for node in scene.nodes(class_name=FIDUCIAL_LIST):
        data = scene.markups(node.id)
        lists[node.id] = {
            "name": node.name,
            "color": [float(value) for value in data.selected_color],
            "scale": float(data.glyph_scale),
            "markups": [
                {"label": point.label, "position": np.asarray(point.position).tolist()}
                for point in data.points
            ],
        }
    return json_response(lists)


async def fiducial(request: web.Request) -> web.Response:
    params = QueryParams(request)
    node = find_node(scene_of(request), params.text("id") or f"{FIDUCIAL_LIST}*", FIDUCIAL_LIST)
    index = params.integer("index", 0)
    position = [params.number(axis, 0.0) for axis in ("r", "a", "s")]
    await apply(request, c.SetControlPoint, node=node.id, index=index, position=position)
    return json_response({"success": True})


async def segmentations(request: web.Request) -> web.Response:
    scene = scene_of(request)
    answer = {}
    for node in scene.nodes(class_name=SEGMENTATION):
        segments = scene.node_properties(node.id).get("Segmentation", {}).get("Segments", {})
        answer[node.id] = {"name": node.name, "segmentIDs": list(segments)}
    return json_response(answer)


async def segmentation(request: web.Request) -> web.Response:
    params = QueryParams(request)
    scene = scene_of(request)
    node = find_node(scene, params.text("segmentationID") or f"{SEGMENTATION}*", SEGMENTATION)
    file_format = params.text("format") or "glTF"
    if file_format.lower() != "gltf":
        raise HttpError(400, f"format {file_format} not supported; supported: glTF")
    segment_id = params.text("segmentID")
    try:
        data, world = scene.segmentation(node.id), scene.world_matrix(node.id)
        chosen = None if not segment_id else [data.segment(segment_id).id]
    except SceneError as error:
        raise HttpError(404 if isinstance(error, LookupError) else 400, str(error)) from None
    # The surface is computed in a worker thread from read-only arrays the scene handed out,
    # so a large segment does not stall the loop (and the scene is not touched there).
    document = await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(segments_gltf, data, chosen, world, node_id=node.id)
    )
    return json_response(document)


async def tracking(request: web.Request) -> web.Response:
    params = QueryParams(request)
    rotation = _rotation(params)
    position = params.numbers("p", 3)
    if rotation is None and position is None:
        # Slicer's first call with no values still creates the tracker: keep its position.
        position = _current_position(request)
    await apply(request, c.SetTrackingPose, rotation=rotation, position=position)
    return text_response("Set matrix")


def _rotation(params: QueryParams) -> np.ndarray | None:
    quaternion = params.numbers("q", 4)
    if quaternion is not None:
        try:
            return quaternion_to_rotation(*quaternion)
        except GeometryError as error:
            raise HttpError(400, f"parameter 'q': {error}") from None
    values = params.numbers("m", 9)
    if values is None:
        return None
    matrix = np.array(values).reshape(3, 3)  # m[3*row + col]
    if abs(float(np.linalg.det(matrix))) < 1e-9:
        raise HttpError(400, "parameter 'm': the 3×3 matrix is singular (row-major, 9 numbers)")
    return matrix


def _current_position(request: web.Request) -> list[float]:
    scene = scene_of(request)
    try:
        return scene.transform_matrix(TRACKER)[:3, 3].tolist()
    except SceneError:
        return [0.0, 0.0, 0.0]
