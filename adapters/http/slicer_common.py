"""What every `/slicer` handler shares: building and submitting commands, node selection,
and the non-JSON reply types (PNG, plain text) of Slicer's WebServer.

Writes go through the bus: a handler builds a typed command (a bad field is the caller's 400
here, before the bus sees it), submits it and answers only once it was applied, so a client
reads its own writes. Reads query the scene directly. Nothing here knows a route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from aiohttp import web

from adapters.http.context import bridge_of
from adapters.http.responses import API_HEADERS, HttpError, raise_for_result
from adapters.http.routing import QueryParams
from bridge import commands as c
from bridge.scene.protocol import Scene
from bridge.scene.types import NodeInfo, SceneError

C = TypeVar("C", bound=c.Command)

#: The query keys that select nodes in `/mrml` requests (Slicer's getNodesFilteredByQuery).
SELECTION_KEYS: tuple[str, ...] = ("id", "class", "name")


def scene_of(request: web.Request) -> Scene:
    return bridge_of(request).scene


def source_of(request: web.Request) -> str:
    """The command source the bus counts per peer: `http:<address>`."""
    return f"http:{request.remote or 'unknown'}"


def command(request: web.Request, kind: type[C], **fields: Any) -> C:
    """Build a command from request values; a field the command refuses is a 400."""
    try:
        return kind(source=source_of(request), **fields)
    except c.CommandError as error:
        raise HttpError(400, str(error)) from None


async def submit(request: web.Request, cmd: c.Command) -> Any:
    """Submit `cmd`, wait until it was applied, and return its value (errors mapped)."""
    result = await bridge_of(request).bus.submit(cmd)
    return raise_for_result(result)


async def apply(request: web.Request, kind: type[c.Command], **fields: Any) -> Any:
    """`submit(command(...))`: the common case of a handler that makes one change."""
    return await submit(request, command(request, kind, **fields))


def selected_nodes(scene: Scene, params: QueryParams) -> list[NodeInfo]:
    """Nodes chosen by `id` (exact; then `class` and `name` are ignored), else by `class`
    (MRML inheritance, default every node) and exact `name`, as Slicer selects them."""
    if "id" in params:
        return scene.nodes(id=params.text("id"))
    return scene.nodes(
        class_name=params.text("class") or "vtkMRMLNode",
        name=params.text("name") if "name" in params else None,
    )


def has_selection(params: QueryParams) -> bool:
    return any(key in params for key in SELECTION_KEYS)


def find_node(scene: Scene, ref: str, class_name: str) -> NodeInfo:
    """One node by id, name or pattern among `class_name` nodes (NodeNotFound → 404)."""
    try:
        return scene.find(ref, class_name)
    except SceneError as error:
        status = 404 if isinstance(error, LookupError) else 400
        raise HttpError(status, str(error)) from None


def text_response(text: str) -> web.Response:
    """Slicer's `text/plain` acknowledgements (`Set matrix`, `Sample data X loaded`)."""
    return web.Response(text=text, content_type="text/plain", headers=API_HEADERS)


def png_response(png: bytes) -> web.Response:
    response = web.Response(body=png, headers=API_HEADERS)
    response.content_type = "image/png"
    return response


def first_values(request: web.Request, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Every query key with its first value, stripped (Slicer's load/save properties)."""
    values: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in exclude and key not in values:
            values[key] = value.strip()
    return values


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refuse_head(request: web.Request, what: str = "this request changes the scene") -> None:
    """HEAD must not change anything (the server answers HEAD with the GET handler)."""
    if request.method == "HEAD":
        raise HttpError(405, f"HEAD is not allowed: {what}; use GET or POST")


def changes_scene(handler: Handler) -> Handler:
    """Mark a route whose every call is a write: HEAD is refused instead of acting."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        refuse_head(request)
        return await handler(request)

    return guarded
