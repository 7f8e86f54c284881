"""What every DICOMweb handler shares: the store of the running bridge, this server's
DICOMweb base URL, DICOM JSON responses, and the mapping of store errors to HTTP statuses.

The store: the bridge's own `dicom_store` when the composition root provides one (inside
Slicer, the Slicer database store); otherwise a `SqliteStore` under
`<settings.data_dir>/dicom`, created on first use and kept per application (a weak map, so
the app object is not modified after it started and every test bridge has its own store).

Absolute URLs (RetrieveURL, BulkDataURI) are built from the `public_url` setting when it is
set; else from the request's Host header when it names a port, else from the address and
port the request actually arrived on. dicomweb-client sends `Host` without the port
(dicomweb.md §3.3), so a Host-only URL would point at port 80.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.http.context import BRIDGE, bridge_of
from adapters.http.dicomweb_accept import DICOM_JSON
from adapters.http.responses import HttpError
from bridge.dicom import store_path
from bridge.dicom.pixels import FrameOutOfRange
from bridge.dicom.protocol import DicomStore
from bridge.dicom.scene_import import SceneImport
from bridge.dicom.types import NotDicom, NotFound, QueryError, Unsupported

log = logging.getLogger("slicer_bridge.dicomweb")

MOUNT = "/dicom"
_STORES: weakref.WeakKeyDictionary[web.Application, DicomStore] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Target:
    """The resource a DICOMweb path names: UIDs from the path, frame list, bulk data path."""

    study: str | None = None
    series: str | None = None
    instance: str | None = None
    frames: str | None = None
    bulk: str | None = None


DicomHandler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]


def store_of(request: web.Request) -> DicomStore:
    """The DICOM store of the bridge serving `request` (created on first use)."""
    return store_for(request.app)


def close_store(app: web.Application) -> None:
    """Close the store this app opened (not one the bridge owns): on cleanup, so a stopped
    server leaves no SQLite files open (tests start hundreds of servers in one process)."""
    store = _STORES.pop(app, None)
    if store is not None and store is not getattr(app[BRIDGE], "dicom_store", None):
        store.close()


def store_for(app: web.Application) -> DicomStore:
    """The DICOM store of `app`'s bridge (created on first use)."""
    store = _STORES.get(app)
    if store is None:
        bridge = app[BRIDGE]
        store = getattr(bridge, "dicom_store", None)
        if store is None:
            from bridge.dicom.sqlite_store import SqliteStore

            store = SqliteStore(store_path(bridge.settings.data_dir))
            weakref.finalize(app, store.close)
            log.info("dicom: store %s", store_path(bridge.settings.data_dir))
        _STORES[app] = store
    return store


#: The application's `SceneImport` (set at startup when `/dicom` is mounted).
SCENE_IMPORT: web.AppKey[SceneImport] = web.AppKey("dicom_scene_import", SceneImport)


async def scene_imports_settled(app: web.Application) -> None:
    """Return once the DICOM files of volumes the scene loaded are indexed (at once when
    `/dicom` is not mounted)."""
    importer = app.get(SCENE_IMPORT)
    if importer is not None:
        await importer.settle()


def base_url(request: web.Request) -> str:
    """The absolute URL of this server's DICOMweb root, e.g. `http://127.0.0.1:2016/dicom`."""
    settings = bridge_of(request).settings
    public = settings.public_url
    if public:
        return str(public).rstrip("/") + MOUNT
    host = request.headers.get("Host", "")
    if not _has_port(host):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else None
        name = host or (sockname[0] if sockname else "127.0.0.1")
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        default = 443 if request.secure else 80
        host = name if port in (None, default) else f"{name}:{port}"
    return f"{request.scheme}://{host}{MOUNT}"


def _has_port(host: str) -> bool:
    if host.startswith("["):
        return "]:" in host
    return host.count(":") == 1


_BULK_KEY = b'"BulkDataURI":"'
_RETRIEVE_URL_KEY = b'"00081190":{"vr":"UR","Value":["'


def absolute_bulk_uris(body: bytes, base: str) -> bytes:
    """Stored JSON carries BulkDataURIs relative to the DICOMweb root: make them absolute."""
    return body.replace(_BULK_KEY, _BULK_KEY + base.encode() + b"/")


def absolute_urls(body: bytes, base: str) -> bytes:
    """Relative RetrieveURLs and BulkDataURIs of QIDO rows → absolute."""
    prefix = base.encode() + b"/"
    body = body.replace(_RETRIEVE_URL_KEY, _RETRIEVE_URL_KEY + prefix)
    return body.replace(_BULK_KEY, _BULK_KEY + prefix)


def json_array(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def dicom_json_response(
    body: bytes, *, status: int = 200, media_type: str = DICOM_JSON, headers: Any = None
) -> web.Response:
    """A DICOM JSON reply; Content-Type exactly `application/dicom+json` (no charset):
    dicomweb-client parses a STOW response only then."""
    response = web.Response(body=body, status=status, headers=headers)
    response.content_type = media_type
    return response


def warning_header(request: web.Request, text: str) -> str:
    """PS3.18 §8.3.4 style: `299 <service>: <text>` (latin-1 safe)."""
    safe = text.encode("latin-1", "replace").decode("latin-1").replace("\n", " ")
    return f"299 {base_url(request)}: {safe}"


#: Store errors → HTTP status.
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (FrameOutOfRange, 400),
    (QueryError, 400),
    (Unsupported, 406),
    (NotDicom, 400),
)


def dicom_errors(handler: DicomHandler) -> DicomHandler:
    """Turn the store's exceptions into HttpErrors with the matching status."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request, target: Target) -> web.StreamResponse:
        try:
            return await handler(request, target)
        except HttpError:
            raise
        except tuple(kind for kind, _ in ERROR_STATUS) as error:
            for kind, status in ERROR_STATUS:
                if isinstance(error, kind):
                    raise HttpError(status, str(error)) from None
            raise

    return wrapped
