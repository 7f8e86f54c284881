"""Response helpers shared by every HTTP surface: JSON bodies, errors, command results.

Wire details existing clients depend on (slicerio compares the header string):
`Content-Type: application/json` exactly, no charset; error bodies
`{"success": false, "message": ...}`; `Cache-Control: no-cache` on API replies.

Status codes: a caller's mistake is a 4xx naming what was wrong (unknown node 404, bad
parameter 400, disabled endpoint 403, overloaded 503); only faults are 500, with the
original's `"Server error: ..."` message.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from bridge.apply import UnsupportedCommand
from bridge.bus import BusOverloaded, BusStopped, CommandResult, Outcome
from bridge.commands import CommandError
from bridge.exec_namespace import ExecDisabled
from bridge.scene.types import NodeNotFound, SceneError

JSON_TYPE = "application/json"
API_HEADERS = {"Cache-Control": "no-cache"}


class HttpError(Exception):
    """Raised by handlers; turned into a JSON error response by the error middleware."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def dumps(value: Any) -> bytes:
    """JSON bytes; numpy arrays and scalars serialise natively (orjson)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def json_response(value: Any, status: int = 200) -> web.Response:
    response = web.Response(body=dumps(value), status=status, headers=API_HEADERS)
    response.content_type = JSON_TYPE  # no charset parameter: slicerio compares the string
    return response


def error_response(status: int, message: str) -> web.Response:
    if status >= 500 and not message.startswith("Server error"):
        message = f"Server error: {message}"
    return json_response({"success": False, "message": message}, status=status)


#: Exception type of a failed command → HTTP status; the first matching entry wins.
FAILURE_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (NodeNotFound, 404),
    (CommandError, 400),
    (SceneError, 400),
    (ExecDisabled, 403),
    (UnsupportedCommand, 501),
    (BusOverloaded, 503),
    (BusStopped, 503),
    (FileNotFoundError, 404),
    (PermissionError, 403),
)


def status_for(exception: BaseException | None) -> int:
    for kind, status in FAILURE_STATUS:
        if isinstance(exception, kind):
            return status
    return 500


def raise_for_result(result: CommandResult) -> Any:
    """The applied value of a command result, or an HttpError with the mapped status.

    A superseded write is not an error for the caller: a newer write to the same target
    replaced it, and the scene holds that newer value.
    """
    if result.outcome is Outcome.FAILED:
        raise HttpError(status_for(result.exception), result.error or "command failed")
    return result.value
