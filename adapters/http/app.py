"""The aiohttp application: middlewares, and every surface mounted from its route table.

`build_app(bridge)` is all a server (or a test) needs. Surfaces, in the order requests are
matched:

* `/slicer` — Slicer WebServer's REST API, `adapters.http.slicer_api.SLICER_ROUTES`;
* `/dicom`  — DICOMweb, `adapters.http.dicomweb.DICOM_ROUTES`;
* `/browse` — the OHIF viewer on `/dicom`, `adapters.http.ohif.OHIF_ROUTES` (on with it);
* `/bridge` — this bridge's own status and metrics (`adapters.http.bridge_api`);
* `/`       — the static docroot, last, for everything the others did not claim.

A surface is mounted by one catch-all route that hands the request to its `RouteTable`, so
the table, not aiohttp's router, decides (prefix-first-match, as Slicer did). A surface
module that does not exist yet is logged and skipped; a surface switched off by a setting is
not mounted at all (its paths are then 404). A surface may name a `setup(app)` function of
its module, called when it is mounted, for what it needs besides routes (startup and cleanup
hooks).

Middlewares, outermost first: CORS and OPTIONS (answered before anything else, as the
original did); reply shaping (HttpError and faults → `{"success": false, "message"}`,
`Cache-Control: no-cache`, request counters); the request guard (Host, Origin, token, body
size).
This module holds no route handler itself.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from adapters.http import security
from adapters.http.context import BRIDGE, SETTINGS
from adapters.http.metrics import HTTP_COUNTERS, HttpCounters
from adapters.http.responses import HttpError, error_response
from adapters.http.routing import RouteTable
from adapters.http.security import max_body_size
from bridge.app import Bridge

log = logging.getLogger("slicer_bridge")


@dataclass(frozen=True, slots=True)
class Surface:
    """One mountable API surface: where, from which module's table, behind which switch."""

    name: str
    mount: str
    module: str
    table: str
    switch: str | None  # a boolean setting that turns the surface off; None: always on
    setup: str | None = None  # a function of the module called with the app when mounted


SURFACES: tuple[Surface, ...] = (
    Surface("slicer", "/slicer", "adapters.http.slicer_api", "SLICER_ROUTES", "slicer_api"),
    Surface("dicom", "/dicom", "adapters.http.dicomweb", "DICOM_ROUTES", "dicom",
            setup="on_mount"),
    Surface("ohif", "/browse", "adapters.http.ohif", "OHIF_ROUTES", "dicom"),
    Surface("bridge", "/bridge", "adapters.http.bridge_api", "BRIDGE_ROUTES", None,
            setup="on_mount"),
    # slicerio's stop_server sends DELETE /system (without /slicer): an alias of the original's
    Surface("system-alias", "/system", "adapters.http.slicer_api", "SYSTEM_ALIAS_ROUTES",
            "slicer_api"),
)  # fmt: skip

#: Names of the surfaces this application serves, in matching order (for status()).
MOUNTED: web.AppKey[list[str]] = web.AppKey("mounted_surfaces", list)


def build_app(bridge: Bridge) -> web.Application:
    settings = bridge.settings
    app = web.Application(
        middlewares=[
            security.cors_middleware,
            reply_middleware,
            security.guard_middleware,
        ],
        client_max_size=max_body_size(settings),
    )
    app[BRIDGE] = bridge
    app[SETTINGS] = settings
    security.install(app, settings)
    app[HTTP_COUNTERS] = HttpCounters()
    app[MOUNTED] = []
    for surface in SURFACES:
        mount_surface(app, surface)
    if settings.static:
        from adapters.http.static import static_handler

        add_catch_all(app, "/{path:.*}", static_handler)
        app[MOUNTED].append("static")
    else:
        log.info("http: static pages disabled")
    return app


def load_table(surface: Surface) -> RouteTable | None:
    try:
        module = importlib.import_module(surface.module)
    except ModuleNotFoundError as error:
        if error.name != surface.module:
            raise  # the module exists but one of its imports is missing: that is a fault
        log.info(
            "http: %s not available in this version; %s not mounted", surface.module, surface.mount
        )
        return None
    table = getattr(module, surface.table, None)
    if not isinstance(table, RouteTable):
        log.warning(
            "http: %s.%s is not a RouteTable; %s not mounted",
            surface.module,
            surface.table,
            surface.mount,
        )
        return None
    return table


def mount_surface(app: web.Application, surface: Surface) -> None:
    settings = app[SETTINGS]
    if surface.switch is not None and not getattr(settings, surface.switch):
        log.info("http: %s disabled", surface.mount)
        return
    table = load_table(surface)
    if table is None:
        return
    # `/slicer` and `/slicer/...`; not `/slicerX` (that is a static path, as in the original).
    add_catch_all(app, surface.mount + r"{tail:(/.*)?}", table_handler(table))
    if surface.setup is not None:
        getattr(importlib.import_module(surface.module), surface.setup)(app)
    app[MOUNTED].append(surface.name)


def add_catch_all(app: web.Application, path: str, handler: Callable) -> None:
    app.router.add_route("*", path, handler, expect_handler=security.expect_handler)


def table_handler(table: RouteTable) -> Callable:
    """The one aiohttp handler of a surface: resolve in the table, call the route's handler.

    HEAD is resolved as GET (aiohttp sends the headers of the GET reply without its body).
    """

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.path[len(table.mount) :]
        method = "GET" if request.method == "HEAD" else request.method
        route = table.resolve(method, path)
        return await route.handler(request)

    dispatch.__name__ = f"dispatch_{table.mount.strip('/') or 'root'}"
    return dispatch


@web.middleware
async def reply_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    """The shape of every reply, and its count.

    Errors leave as `{"success": false, "message": ...}` with the right status: HttpError
    carries the caller's mistake (4xx) or a known failure; aiohttp's own HTTP errors (404 from
    the router, 413 from a too-large body, 405) keep their status; anything else is a fault,
    logged with its traceback and answered 500 "Server error: ...". Every reply that does not
    set its own gets `Cache-Control: no-cache`, as Slicer's did (for static files that means
    "revalidate", which the ETag makes a cheap 304).
    """
    counters = request.app[HTTP_COUNTERS]
    counters.in_flight += 1
    status = 500
    try:
        try:
            response = await handler(request)
        except HttpError as error:
            response = error_response(error.status, error.message)
        except web.HTTPException as error:
            if error.status < 400:
                status = error.status
                raise  # redirects, 304: not errors
            response = error_response(error.status, http_error_message(request, error))
            for name in ("Allow", "WWW-Authenticate"):
                if name in error.headers:
                    response.headers[name] = error.headers[name]
        except ConnectionResetError:
            raise
        except Exception as error:
            log.exception("http: %s %s failed", request.method, request.path)
            response = error_response(500, f"Server error: {error}")
        status = response.status
        if not response.prepared and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-cache"
        return response
    finally:
        counters.in_flight -= 1
        counters.record(request.path, status)


def http_error_message(request: web.Request, error: web.HTTPException) -> str:
    if isinstance(error, web.HTTPNotFound):
        return f"not found: {request.path}"
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        limit = request.app[security.POLICY].max_body_size
        return f"request body too large: the limit is {limit} bytes"
    text = error.text or error.reason
    return text if not text.startswith(f"{error.status}:") else error.reason
