"""`/slicer` routes about views: layout (`gui`), slice and 3D images, the window, glTF.

Each handler first applies the view changes its parameters ask for, as commands through the
bus (orientation, offset, the whole slice geometry for `copySliceGeometryFrom`, camera,
layout), then reads the picture from the scene's renderer: `render_slice(view, size)`,
`render_threed(view, size, look_from_axis)`, `screenshot(size)` (PNG bytes) and
`gltf(view, box_visible)` (a glTF 2.0 dict). A scene without a renderer answers 501 after
applying the changes.

Differences from Slicer's WebServer (improvements, never a different meaning): `size` is
honoured (`size=256` or `size=320x200`); `scrollTo=0` and `offset=0` are honoured (the original
tested them for truthiness); an unknown view, orientation or axis is a 400, not silently red /
ignored; `threeDGraphics?format=glTF` works in any case. `lookFromAxis` moves the camera with
`SetCamera`, so the new view direction stays, as in Slicer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from aiohttp import web

from adapters.http.responses import HttpError, json_response
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import apply, png_response, refuse_head, scene_of
from bridge import commands as c
from bridge.scene import views
from bridge.scene.camera_axes import axis_letter, look_from_axis
from bridge.scene.protocol import Scene
from bridge.scene.types import (
    SLICE_ORIENTATIONS,
    SLICE_VIEWS,
    THREED_VIEWS,
    SceneError,
    canonical_view,
)

MAX_IMAGE_SIDE = 4096
_VIEWER_CONTENTS = ("viewers", "full")


# -- gui ----------------------------------------------------------------------------------------
async def gui(request: web.Request) -> web.Response:
    """`contents=viewers|full` (the headless bridge has no panels to hide: accepted and
    checked), `viewersLayout=<layout name>` (any case) → `SetLayout`."""
    params = QueryParams(request)
    contents = params.text("contents")
    if contents and contents.lower() not in _VIEWER_CONTENTS:
        raise HttpError(400, "contents must be 'viewers' or 'full'")
    layout = params.text("viewersLayout")
    if layout is not None:
        await apply(request, c.SetLayout, layout=layout)
    return json_response({"success": True})


# -- images -------------------------------------------------------------------------------------
async def screenshot(request: web.Request) -> web.Response:
    size = image_size(QueryParams(request))
    return png_response(render(scene_of(request), "screenshot", "the application window", size))


async def slice_image(request: web.Request) -> web.Response:
    """Apply `scrollTo`, `offset`, `copySliceGeometryFrom`, `orientation` (Slicer's order),
    then render the view at `size`."""
    params = QueryParams(request)
    scene = scene_of(request)
    view = view_name(params.text("view") or "red", SLICE_VIEWS, "slice")
    orientation = params.choice("orientation", SLICE_ORIENTATIONS)
    scroll_to = params.number("scrollTo")
    offset = params.number("offset")
    copy_from = params.text("copySliceGeometryFrom")
    size = image_size(params)
    if any(value is not None for value in (orientation, scroll_to, offset, copy_from)):
        refuse_head(request, "orientation, offset, scrollTo and copySliceGeometryFrom move views")
    if scroll_to is not None:
        await apply(
            request, c.SetSliceOffset, view=view, offset=scroll_offset(scene, view, scroll_to)
        )
    if offset is not None:
        await apply(request, c.SetSliceOffset, view=view, offset=offset)
    if copy_from:
        await copy_slice_geometry(request, view, view_name(copy_from, SLICE_VIEWS, "slice"))
    if orientation is not None and orientation != scene.slice_view(view).orientation:
        await apply(request, c.SetSliceOrientation, view=view, orientation=orientation)
    return png_response(render(scene, "render_slice", "slice views", view, size))


async def threed_image(request: web.Request) -> web.Response:
    """`lookFromAxis` (first letter of r, l, a, p, s, i) turns the camera, then render."""
    params = QueryParams(request)
    scene = scene_of(request)
    view = view_name(params.text("view") or "3d", THREED_VIEWS, "3D")
    size = image_size(params)
    axis = params.text("lookFromAxis")
    if axis:
        refuse_head(request, "lookFromAxis moves the camera")
        try:
            camera = look_from_axis(scene.camera(view), axis_letter(axis))
        except SceneError as error:
            raise HttpError(400, f"parameter 'lookFromAxis': {error}") from None
        await apply(
            request,
            c.SetCamera,
            view=view,
            position=camera.position,
            focal_point=camera.focal_point,
            view_up=camera.view_up,
        )
    return png_response(render(scene, "render_threed", "3D views", view, size))


async def threed_graphics(request: web.Request) -> web.Response:
    """The 3D view's models and markups as glTF 2.0 JSON (inline buffers)."""
    params = QueryParams(request)
    widget = params.integer("widgetIndex", 0)
    if widget != 0:
        raise HttpError(404, f"there is no 3D view with widgetIndex {widget}; only 0")
    box = params.text("boxVisible")
    box_visible = box is not None and box.lower() != "false"
    file_format = params.text("format") or "glTF"
    if file_format.lower() != "gltf":
        raise HttpError(400, f"format {file_format} not supported; supported: glTF")
    gltf = render(scene_of(request), "gltf", "glTF export", "3d", box_visible=box_visible)
    return json_response(gltf)


# -- parameters and state -----------------------------------------------------------------------
def view_name(text: str, allowed: tuple[str, ...], kind: str) -> str:
    try:
        view = canonical_view(text)
    except SceneError as error:
        raise HttpError(400, str(error)) from None
    if view not in allowed:
        raise HttpError(400, f"{text!r} is not a {kind} view; {kind} views: {', '.join(allowed)}")
    return view


def image_size(params: QueryParams) -> int | tuple[int, int] | None:
    """`size=256` (the longer side) or `size=320x200` (width × height)."""
    text = params.text("size")
    if not text:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise HttpError(400, f"parameter 'size' must be N or WxH pixels, got {text!r}") from None
    if len(numbers) not in (1, 2) or not all(1 <= n <= MAX_IMAGE_SIDE for n in numbers):
        raise HttpError(
            400, f"parameter 'size' must be N or WxH with 1..{MAX_IMAGE_SIDE} pixels, got {text!r}"
        )
    return numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])


def scroll_offset(scene: Scene, view: str, fraction: float) -> float:
    """Slicer's `scrollTo`: the offset `fraction` of the way through the background volume
    along the view's normal (0 = first edge, 1 = last edge)."""
    if not 0.0 <= fraction <= 1.0:
        raise HttpError(400, f"parameter 'scrollTo' must be within 0..1, got {fraction}")
    state = scene.slice_view(view)
    if state.background_volume_id is None:
        raise HttpError(400, f"scrollTo needs a volume shown in the {view} view")
    volume = scene.volume(state.background_volume_id)
    ijk_to_world = scene.world_matrix(state.background_volume_id) @ volume.ijk_to_ras
    depths = views.volume_corners(ijk_to_world, volume.array.shape) @ views.slice_normal(
        state.slice_to_ras
    )
    low, high = float(np.min(depths)), float(np.max(depths))
    return low + fraction * (high - low)


async def copy_slice_geometry(request: web.Request, view: str, other: str) -> None:
    """Slicer's `copySliceGeometryFrom`: `view` takes `other`'s whole SliceToRAS (plane,
    orientation, in-plane centre) and its field-of-view width, keeping its own aspect ratio
    (`SetSliceGeometry`, one command, so nothing can land between the two changes)."""
    if other == view:
        return
    scene = scene_of(request)
    source, target = scene.slice_view(other), scene.slice_view(view)
    await apply(
        request,
        c.SetSliceGeometry,
        view=view,
        slice_to_ras=source.slice_to_ras,
        field_of_view=views.copied_field_of_view(source.field_of_view, target.field_of_view),
    )


def render(scene: Scene, method: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call the scene's renderer `method`; 501 when this scene has none."""
    renderer: Callable[..., Any] | None = getattr(scene, method, None)
    if renderer is None:
        raise HttpError(
            501, f"rendering of {what} is not available: this scene has no {method}() yet"
        )
    try:
        return renderer(*args, **kwargs)
    except SceneError as error:
        status = 404 if isinstance(error, LookupError) else 400
        raise HttpError(status, str(error)) from None
