"""The OHIF Viewer v3 at `/browse`, on this server's DICOMweb (`/dicom`).

The viewer is the prebuilt `dist/` of npm `@ohif/app`, installed by `scripts/install-ohif.sh`
into `settings.ohif_dir` (default `vendor/ohif`, never committed) and rewritten there to live
under `/browse/` (the build expects the site root). This module serves it:

* `/browse/app-config.js` — generated per request: one DICOMweb data source whose QIDO, WADO
  and WADO-URI roots are this server's `/dicom` (absolute, built like BulkDataURIs: from
  `public_url`, else the request's Host), with what the store supports switched on
  (`includefield`, fuzzy matching, wildcards, WADO-RS frames for images and thumbnails, lazy
  loading per series, STOW upload), and `routerBasename` `/browse`. The file the package
  ships (a demo server's) is never served.
* a path naming a file of the viewer — that file, exactly as the static docroot serves files
  (ETag and 304, ranges, small files from memory; nothing outside the folder, no hidden
  names: `adapters.http.static`).
* any other path under `/browse` — the viewer's `index.html`: OHIF routes on the client
  (`/browse/viewer?StudyInstanceUIDs=…`), as the package's own `_redirects` asks
  (`/* /index.html 200`).

When the viewer is not installed (or was installed for another path), every `/browse` path
answers 404 with a page saying how to install it. `/browse` is mounted with `/dicom` (the
`dicom` setting); with it off, `/browse` falls through to the static docroot as in Slicer.
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from stat import S_ISREG

import orjson
from aiohttp import web

from adapters.http.context import SETTINGS
from adapters.http.dicomweb_common import base_url
from adapters.http.routing import Route, RouteTable
from adapters.http.static import NotServed, file_response, locate

log = logging.getLogger("slicer_bridge")

MOUNT = "/browse"
#: What `scripts/install-ohif.sh` writes into the folder it installed (not served: hidden).
MARKER = ".slicer-bridge-ohif.json"
INSTALL_COMMAND = "scripts/install-ohif.sh"
CONFIG_PATH = "/app-config.js"
DATA_SOURCE = "dicomweb"


def app_config(dicom_root: str) -> dict:
    """OHIF's `window.config` for a viewer at `/browse` reading the DICOMweb at `dicom_root`
    (the shape of OHIF's `platform/app/public/config/local_orthanc.js`)."""
    return {
        "routerBasename": MOUNT,
        "extensions": [],
        "modes": [],
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showLoadingIndicator": True,
        "showWarningMessageForCrossOrigin": True,
        "showCPUFallbackMessage": True,
        "strictZSpacingForVolumeViewport": True,
        "defaultDataSourceName": DATA_SOURCE,
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": DATA_SOURCE,
                "configuration": {
                    "friendlyName": "SlicerBridge DICOM store",
                    "name": "slicer-bridge",
                    "qidoRoot": dicom_root,
                    "wadoRoot": dicom_root,
                    "wadoUriRoot": dicom_root,
                    "qidoSupportsIncludeField": True,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": True,
                    "supportsWildcard": True,
                    "dicomUploadEnabled": True,
                    "bulkDataURI": {"enabled": True},
                },
            }
        ],
    }


def installed_version(root: Path) -> str | None:
    """The OHIF version installed in `root` for `/browse/`, or None."""
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("base") != MOUNT + "/":
        return None
    if not (root / "index.html").is_file():
        return None
    return str(marker.get("version") or "unknown")


async def browse(request: web.Request) -> web.StreamResponse:
    root = request.app[SETTINGS].ohif_dir
    if installed_version(root) is None:
        return not_installed(root)
    tail = request.path[len(MOUNT) :]
    if tail == CONFIG_PATH:
        return config_response(request)
    if tail not in ("", "/"):
        try:
            target, stat = locate(root, tail)
        except NotServed:
            pass
        else:
            if S_ISREG(stat.st_mode):
                return file_response(request, target, stat)
    target, stat = locate(root, "/index.html")
    return file_response(request, target, stat)


def config_response(request: web.Request) -> web.Response:
    config = orjson.dumps(app_config(base_url(request)), option=orjson.OPT_INDENT_2)
    body = b"/** @type {AppTypes.Config} */\nwindow.config = " + config + b";\n"
    return web.Response(
        body=body,
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def not_installed(root: Path) -> web.Response:
    where = html.escape(os.fspath(root))
    body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>OHIF Viewer not installed</title></head>
<body>
<h1>The OHIF Viewer is not installed</h1>
<p><code>/browse</code> serves the OHIF Viewer on this server's DICOMweb
(<code>/dicom</code>, which works without it). Install the viewer with</p>
<pre>{INSTALL_COMMAND}</pre>
<p>in the SlicerBridge checkout (it needs <code>npm</code>; <code>make serve</code> and
<code>make test</code> run it), or point the <code>ohif_dir</code> setting
(<code>--ohif-dir</code>) at a folder it installed. Looked in <code>{where}</code>.</p>
</body></html>
"""
    return web.Response(status=404, text=body, content_type="text/html", charset="utf-8")


OHIF_ROUTES = RouteTable(MOUNT, [Route("", browse, ("GET",))])

__all__ = ["OHIF_ROUTES", "app_config", "installed_version"]
