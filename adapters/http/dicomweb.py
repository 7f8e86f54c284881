"""DICOMweb at `/dicom`: QIDO-RS, WADO-RS, WADO-URI and STOW-RS over the bridge's DICOM store.

`DICOM_ROUTES` is what `adapters.http.app` mounts. Inside it, one table (`RESOURCES`) maps
each DICOMweb resource — a method and a path pattern with `{study}`, `{series}`,
`{instance}`, `{frames}`, `{bulk}` — to its handler; the handlers live in one module per
service (`dicomweb_qido`, `dicomweb_wado`, `dicomweb_stow`, `dicomweb_uri`). A path that
names a resource with another method is a 405; `/dicom` itself, and any other path carrying
WADO-URI parameters, is WADO-URI (as Slicer's original handler answered); anything else 404.
HEAD is answered as GET. A trailing slash is ignored. `on_mount` (called by the app when
it mounts this surface) makes the store also index the DICOM files of volumes the scene
loads (`bridge.dicom.scene_import`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from adapters.http import dicomweb_qido as qido
from adapters.http import dicomweb_stow as stow
from adapters.http import dicomweb_uri as uri
from adapters.http import dicomweb_wado as wado
from adapters.http.context import BRIDGE
from adapters.http.dicomweb_common import (
    MOUNT,
    SCENE_IMPORT,
    DicomHandler,
    Target,
    close_store,
    store_for,
    store_of,
)
from adapters.http.responses import HttpError
from adapters.http.routing import Route, RouteTable
from bridge.dicom.scene_import import SceneImport

__all__ = ["DICOM_ROUTES", "RESOURCES", "on_mount", "store_of"]

_UID = r"(?P<{name}>[^/]+)"
_STUDY = "/studies/{study}"
_SERIES = _STUDY + "/series/{series}"
_INSTANCE = _SERIES + "/instances/{instance}"
_FRAMES = _INSTANCE + "/frames/{frames}"


@dataclass(frozen=True, slots=True)
class Resource:
    """One DICOMweb resource: method, path pattern (relative to `/dicom`), handler."""

    method: str
    pattern: str
    handler: DicomHandler

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)


_COMPILED: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        text = re.escape(pattern)
        text = re.sub(r"\\\{bulk\\\}", r"(?P<bulk>.+)", text)
        text = re.sub(r"\\\{(\w+)\\\}", lambda m: _UID.format(name=m.group(1)), text)
        compiled = _COMPILED[pattern] = re.compile(f"^{text}$")
    return compiled


RESOURCES: tuple[Resource, ...] = (
    # QIDO-RS
    Resource("GET", "/studies", qido.search_studies),
    Resource("GET", "/series", qido.search_series),
    Resource("GET", "/instances", qido.search_instances),
    Resource("GET", _STUDY + "/series", qido.search_series),
    Resource("GET", _STUDY + "/instances", qido.search_instances),
    Resource("GET", _SERIES + "/instances", qido.search_instances),
    # STOW-RS
    Resource("POST", "/studies", stow.store_instances),
    Resource("POST", _STUDY, stow.store_instances),
    # WADO-RS
    Resource("GET", _STUDY, wado.retrieve),
    Resource("GET", _SERIES, wado.retrieve),
    Resource("GET", _INSTANCE, wado.retrieve),
    Resource("GET", _STUDY + "/metadata", wado.metadata),
    Resource("GET", _SERIES + "/metadata", wado.metadata),
    Resource("GET", _INSTANCE + "/metadata", wado.metadata),
    Resource("GET", _FRAMES, wado.frames),
    Resource("GET", _INSTANCE + "/bulk/{bulk}", wado.bulkdata),
    Resource("GET", _INSTANCE + "/bulkdata/{bulk}", wado.bulkdata),
    Resource("GET", _STUDY + "/rendered", wado.rendered),
    Resource("GET", _SERIES + "/rendered", wado.rendered),
    Resource("GET", _INSTANCE + "/rendered", wado.rendered),
    Resource("GET", _FRAMES + "/rendered", wado.rendered),
    Resource("GET", _STUDY + "/thumbnail", wado.thumbnail),
    Resource("GET", _SERIES + "/thumbnail", wado.thumbnail),
    Resource("GET", _INSTANCE + "/thumbnail", wado.thumbnail),
    Resource("GET", _FRAMES + "/thumbnail", wado.thumbnail),
    # removal (dicomweb-client's delete_study/series/instance)
    Resource("DELETE", _STUDY, stow.remove),
    Resource("DELETE", _SERIES, stow.remove),
    Resource("DELETE", _INSTANCE, stow.remove),
    # WADO-URI
    Resource("GET", "", uri.wado_uri),
)


def resolve(method: str, path: str) -> tuple[Resource, Target]:
    """The resource for `method` and `path` (relative to `/dicom`), with its path values."""
    if path.endswith("/"):
        path = path.rstrip("/")
    method = "GET" if method == "HEAD" else method
    allowed: list[str] = []
    for resource in RESOURCES:
        match = resource.regex.match(path)
        if match is None:
            continue
        if resource.method == method:
            return resource, Target(**match.groupdict())
        allowed.append(resource.method)
    if allowed:
        raise HttpError(405, f"method {method} is not allowed for {MOUNT}{path}")
    raise HttpError(404, f'unknown DICOMweb resource "{MOUNT}{path}"')


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.path[len(MOUNT) :]
    try:
        resource, target = resolve(request.method, path)
    except HttpError as error:
        if error.status == 404 and request.method in ("GET", "HEAD") and uri.is_wado_uri(request):
            return await uri.wado_uri(request, Target())
        raise
    return await resource.handler(request, target)


DICOM_ROUTES = RouteTable(MOUNT, [Route("", dispatch)])


def on_mount(app: web.Application) -> None:
    """Besides its routes, `/dicom` indexes what the scene loads from DICOM into the store
    it serves (`bridge.dicom.scene_import`), from startup to cleanup."""
    app.on_startup.append(_start_scene_import)
    app.on_cleanup.append(_stop_scene_import)


async def _start_scene_import(app: web.Application) -> None:
    importer = SceneImport(app[BRIDGE].scene, store_for(app))
    importer.start()
    app[SCENE_IMPORT] = importer


async def _stop_scene_import(app: web.Application) -> None:
    importer = app.get(SCENE_IMPORT)
    if importer is not None:
        await importer.stop()
    close_store(app)
