"""`/slicer` routes about the application rather than the scene: code execution, version,
shutdown, the time image, sample data.

* `exec` runs Python (the body, else `source`) through the bus's `Exec` command, in the
  bridge's persistent namespace; the reply is `__execResult` as JSON. When exec is off the
  command is refused: 403 with the reason. `repl` is the older name, answering `__replResult`.
* `system/version` has the keys of Slicer's, describing this application (inside Slicer the
  `mainApplication*` keys describe Slicer). `DELETE system` stops the bridge after replying.
"""

from __future__ import annotations

import platform
from typing import Any

from aiohttp import web

from adapters.http.context import bridge_of
from adapters.http.responses import HttpError, json_response, status_for
from adapters.http.routing import QueryParams
from adapters.http.slicer_common import apply, command, png_response, text_response
from adapters.http.timeimage import DEFAULT_COLOR, render_time_image
from bridge import __version__
from bridge import commands as c
from bridge.bus import Outcome

APPLICATION_NAME = "SlicerBridge"
#: No public repository address is published for this project yet; Slicer sends a string.
REPOSITORY_URL = ""


# -- exec ---------------------------------------------------------------------------------------
async def exec_code(request: web.Request) -> web.Response:
    code = await _source_code(request)
    return _result_response(await _run(request, code), "__execResult")


async def repl(request: web.Request) -> web.Response:
    """SlicerWeb's `/slicer/repl`: as exec, but the result variable is `__replResult`."""
    code = await _source_code(request)
    wrapped = f"__replResult = {{}}\n{code}\n__execResult = __replResult\n"
    return _result_response(await _run(request, wrapped), "__replResult")


async def _source_code(request: web.Request) -> str:
    """The body if there is one (any content type), else the `source` parameter."""
    body = await request.read()
    if body:
        try:
            code = body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, "exec: the Python source must be UTF-8 text") from None
    else:
        code = QueryParams(request).text("source") or ""
    if not code.strip():
        raise HttpError(
            400, "exec needs Python source: in the request body or the 'source' parameter"
        )
    return code


async def _run(request: web.Request, code: str) -> Any:
    """Apply `Exec`; the code's own exception is a 500 with its text, as in Slicer."""
    result = await bridge_of(request).bus.submit(command(request, c.Exec, code=code))
    if result.outcome is Outcome.FAILED:
        status = status_for(result.exception)
        if status not in (403, 503):
            status = 500
        error = result.exception
        message = result.error or "exec failed"
        if status == 500 and error is not None:
            message = f"{type(error).__name__}: {message}"
        raise HttpError(status, message)
    return result.value


def _result_response(value: Any, variable: str) -> web.Response:
    try:
        return json_response(value)
    except TypeError as error:  # orjson's JSONEncodeError
        raise HttpError(500, f"{variable} is not JSON serialisable: {error}") from None


# -- system -------------------------------------------------------------------------------------
def version_info(host: dict[str, Any] | None = None) -> dict[str, Any]:
    """Slicer's `/system/version` keys, describing this application; inside Slicer the
    `mainApplication*` keys describe the Slicer hosting the bridge (`host`, from the scene)."""
    major, minor, patch = [*_version_numbers(__version__), 0, 0, 0][:3]
    experimental = "+" in __version__ or "dev" in __version__
    info: dict[str, Any] = {
        "applicationName": APPLICATION_NAME,
        "applicationDisplayName": APPLICATION_NAME,
        "applicationVersion": __version__,
        "releaseType": "Experimental" if experimental else "Stable",
        "repositoryUrl": REPOSITORY_URL,
        "repositoryBranch": "main",
        "revision": __version__,
        "majorVersion": major,
        "minorVersion": minor,
        "arch": platform.machine() or "unknown",
        "os": _os_name(),
        "isCustomMainApplication": False,
        "mainApplicationName": APPLICATION_NAME,
        "mainApplicationRepositoryUrl": REPOSITORY_URL,
        "mainApplicationRepositoryRevision": __version__,
        "mainApplicationRevision": __version__,
        "mainApplicationMajorVersion": major,
        "mainApplicationMinorVersion": minor,
        "mainApplicationPatchVersion": patch,
    }
    info.update(host or {})
    return info


def _version_numbers(version: str) -> list[int]:
    numbers = []
    for part in version.split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        numbers.append(int(digits))
    return numbers


def _os_name() -> str:
    """Slicer's spelling: `linux`, `win`, `macosx`."""
    system = platform.system().lower()
    return {"windows": "win", "darwin": "macosx"}.get(system, system or "unknown")


async def version(request: web.Request) -> web.Response:
    return json_response(version_info(bridge_of(request).scene.host_application()))


async def shutdown(request: web.Request) -> web.Response:
    """Stop the bridge shortly after this reply (Slicer: exit the application)."""
    result = await apply(request, c.Shutdown)
    return json_response(result if isinstance(result, dict) else {"success": True})


async def system_unknown(request: web.Request) -> web.Response:
    raise HttpError(
        404,
        f"unknown system request {request.method} {request.path}; "
        "use GET /slicer/system/version or DELETE /slicer/system",
    )


# -- time image and sample data -----------------------------------------------------------------
async def timeimage(request: web.Request) -> web.Response:
    color = QueryParams(request).text("color") or DEFAULT_COLOR
    try:
        return png_response(render_time_image(color))
    except ValueError as error:
        raise HttpError(400, f"parameter 'color': {error}") from None


async def sampledata(request: web.Request) -> web.Response:
    name = QueryParams(request).text("name")
    if not name:
        raise HttpError(400, "sampledata name was not specified (parameter 'name')")
    await apply(request, c.LoadSampleData, name=name)
    return text_response(f"Sample data {name} loaded")
