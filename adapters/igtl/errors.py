"""Which STATUS code answers which failure (`status.md` codes), in one table.

Used for messages refused before the bus (bad CRC, malformed content) and for commands the
bus failed (a NaN matrix, a missing node): the peer always learns why, in its own protocol.
"""

from __future__ import annotations

from adapters.igtl.codecs import status
from adapters.igtl.wire import MessageError
from bridge.apply import UnsupportedCommand
from bridge.bus import BusOverloaded, BusStopped
from bridge.commands import CommandError
from bridge.geometry import GeometryError
from bridge.scene.types import NodeNotFound, SceneError

#: Exception type → STATUS code of the error reply; the first match wins.
STATUS_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NodeNotFound, status.NOT_FOUND),
    (BusOverloaded, status.BUSY),
    (BusStopped, status.SHUTTING_DOWN),
    (UnsupportedCommand, status.UNKNOWN_INSTRUCTION),
)

#: Exceptions that mean bad input from a peer (anything else is a bug, and is logged).
INPUT_ERRORS = (MessageError, CommandError, GeometryError, SceneError, ValueError)


def status_code_for(error: BaseException | None) -> int:
    if isinstance(error, MessageError):
        return error.code
    for kind, code in STATUS_CODES:
        if isinstance(error, kind):
            return code
    return status.UNKNOWN_ERROR
