"""`/slicer/mrml`: query, load, save, reload and remove scene nodes (Slicer WebServer's API).

| request | does |
|---|---|
| `GET /mrml`, `/mrml/names`, `/mrml/ids` | names / ids of the selected nodes |
| `GET /mrml/properties` | `{id: properties}` (404 when nothing matches) |
| `GET /mrml/file?localfile=…` | save the one selected node (`SaveNode`) → `{"success": bool}` |
| `POST /mrml…?localfile=…` or `url=…` | load a file (`LoadFile`) → `{"success", "loadedNodeIDs"}` |
| `PUT /mrml…` | reload nodes from their files (`ReloadNodes`) |
| `DELETE /mrml…` | remove the selected nodes; no selection clears the scene (`DeleteNodes`) |
| `POST /open?url=…` | what slicerio sends for `slicer://` URLs; any URL works |

Selection (`id`, else `class` + `name`) is Slicer's. Load and save properties are every other
query value, as strings, as Slicer passes them. Differences from the original, all caller-
visible improvements: `filetype` may be left out (detected from the file); a `slicer://viewer`
URL loads its DICOMweb study instead of being handed to a GUI; caller mistakes are 4xx, not 500.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from adapters.http import slicer_files
from adapters.http.responses import HttpError, json_response
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import (
    apply,
    first_values,
    has_selection,
    scene_of,
    selected_nodes,
)
from bridge import commands as c
from bridge.scene.io.formats import DICOM, VOLUME_FILE, detect_filetype
from bridge.scene.types import SceneError

MRML_PATHS = ("/mrml", "/mrml/names", "/mrml/ids", "/mrml/properties", "/mrml/file")
NO_MATCH = "No nodes matched the filter criteria"
#: Query keys that are not load/save properties: where the file is, and the server's `?token=`.
_NOT_PROPERTIES = ("url", "localfile", "token")


# -- reads --------------------------------------------------------------------------------------
async def names(request: web.Request) -> web.Response:
    nodes = selected_nodes(scene_of(request), QueryParams(request))
    return json_response([node.name for node in nodes])


async def ids(request: web.Request) -> web.Response:
    nodes = selected_nodes(scene_of(request), QueryParams(request))
    return json_response([node.id for node in nodes])


async def properties(request: web.Request) -> web.Response:
    scene = scene_of(request)
    nodes = selected_nodes(scene, QueryParams(request))
    if not nodes:
        raise HttpError(404, NO_MATCH)
    return json_response({node.id: scene.node_properties(node.id) for node in nodes})


async def invalid_path(request: web.Request) -> web.Response:
    if request.method != "GET":
        raise HttpError(405, f"method {request.method} is not allowed for {request.path}")
    raise HttpError(404, f"Invalid path: {request.path}; valid: {', '.join(MRML_PATHS)}")


# -- save ---------------------------------------------------------------------------------------
async def save_file(request: web.Request) -> web.Response:
    """Export the one selected node; every other query value is an export property."""
    params = QueryParams(request)
    nodes = selected_nodes(scene_of(request), params)
    if not nodes:
        raise HttpError(404, NO_MATCH)
    if len(nodes) > 1:
        raise HttpError(400, f"/mrml/file can only be used for a single node; {len(nodes)} match")
    if "url" in params:
        url = params.text("url") or ""
        if not (url.lower().startswith("file:") or slicer_files.is_local_path(url)):
            raise HttpError(400, f"/mrml/file saves to local files only; got url {url!r}")
        path = _path_of_url(request, url)
    elif "localfile" in params:
        path = slicer_files.local_path(request, params.text("localfile") or "")
    else:
        raise _missing_location()
    export_properties = first_values(request, exclude=(*_NOT_PROPERTIES, "applytransforms"))
    result = await apply(
        request,
        c.SaveNode,
        node=nodes[0].id,
        path=str(path),
        properties=export_properties,
        apply_transforms=params.flag("applytransforms"),
    )
    return json_response({"success": bool(result and result.get("success"))})


# -- load ---------------------------------------------------------------------------------------
async def load(request: web.Request) -> web.Response:
    """Load `url` (http/https downloaded, `file:` local, `slicer:` DICOMweb study) or
    `localfile`; every other query value is a load property, `filetype` included."""
    params = QueryParams(request)
    load_properties = first_values(request, exclude=_NOT_PROPERTIES)
    if "url" in params:
        url = params.text("url") or ""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "slicer":
            return await open_slicer_url(request, url)
        if scheme in ("http", "https"):
            path = await slicer_files.download(request, url)
        elif scheme == "file" or slicer_files.is_local_path(url):
            path = _path_of_url(request, url)
        else:
            raise HttpError(400, f"cannot load from a {scheme}: URL; use http, https, file")
    elif "localfile" in params:
        path = slicer_files.local_path(request, params.text("localfile") or "")
    else:
        raise _missing_location()
    filetype = _filetype(load_properties.get("filetype") or None, path)
    result = await apply(
        request, c.LoadFile, path=str(path), filetype=filetype, properties=load_properties
    )
    return json_response({"success": True, "loadedNodeIDs": _loaded_ids(result)})


async def open_url(request: web.Request) -> web.Response:
    """`POST /slicer/open?url=…` (slicerio's `file_load` of a `slicer://` URL)."""
    if "url" not in request.query:
        raise HttpError(400, "parameter 'url' is required")
    return await load(request)


async def open_slicer_url(request: web.Request, url: str) -> web.Response:
    """`slicer://viewer/?studyUID=…&dicomweb_endpoint=…`: what Slicer does with such a link
    (load that study from that DICOMweb server); other `slicer://` URLs are refused."""
    from adapters.http import slicer_dicomweb

    parts = urlsplit(url)
    query = {key: values[0].strip() for key, values in parse_qs(parts.query).items()}
    if parts.netloc.lower() != "viewer" or "studyUID" not in query:
        raise HttpError(
            400,
            f"unsupported slicer:// URL {url!r}; supported: "
            "slicer://viewer/?studyUID=<uid>&dicomweb_endpoint=<url>",
        )
    endpoint = query.get("dicomweb_endpoint")
    if not endpoint:
        raise HttpError(400, "slicer://viewer URL needs a dicomweb_endpoint")
    loaded = await slicer_dicomweb.load_study(
        request, endpoint, query["studyUID"], query.get("access_token") or None
    )
    return json_response({"success": True, "status": "success", "loadedNodeIDs": loaded})


def _filetype(requested: str | None, path: Path) -> str | None:
    """The filetype to load with. Slicer reads a DICOM file as a `VolumeFile` (slicerio's
    default); here DICOM has its own reader, so a `VolumeFile` that is DICOM is read as such."""
    if requested is None or requested == VOLUME_FILE:
        try:
            detected = detect_filetype(path)
        except SceneError:
            return requested  # the load will report what is wrong with the file
        if requested is None or detected == DICOM:
            return detected
    return requested


def _path_of_url(request: web.Request, url: str) -> Path:
    if url.lower().startswith("file:"):
        return slicer_files.file_url_path(request, url)
    return slicer_files.local_path(request, url)


def _missing_location() -> HttpError:
    return HttpError(400, "Required `url` or `localfile` query parameter is missing")


def _loaded_ids(result: object) -> list[str]:
    if isinstance(result, dict):
        return list(result.get("loadedNodeIDs", []))
    return []


# -- reload and remove --------------------------------------------------------------------------
async def reload(request: web.Request) -> web.Response:
    """Re-read nodes from their files: the selection, or every node when none is given."""
    params = QueryParams(request)
    refs: list[str] = []
    if has_selection(params):
        refs = [node.id for node in selected_nodes(scene_of(request), params)]
        if not refs:
            raise HttpError(404, NO_MATCH)
    result = await apply(request, c.ReloadNodes, nodes=refs)
    reloaded = list((result or {}).get("reloadedNodeIDs", []))
    return json_response({"success": bool(reloaded), "reloadedNodeIDs": reloaded})


async def remove(request: web.Request) -> web.Response:
    """Remove the selected nodes; with no `id`, `class` or `name`, clear the whole scene."""
    params = QueryParams(request)
    if not has_selection(params):
        await apply(request, c.DeleteNodes, all=True)
        return json_response({"success": True})
    refs = [node.id for node in selected_nodes(scene_of(request), params)]
    if not refs:
        raise HttpError(404, NO_MATCH)
    result = await apply(request, c.DeleteNodes, nodes=refs)
    return json_response({"success": True, "removedNodeIDs": (result or {}).get("removedNodeIDs")})
