"""Message type → what the bridge does with it: one table, one small function per type.

`ROUTES` maps each incoming type to a handler `(session, frame) -> None`; `QUERY_ROUTES` maps
the GET_/STT_/STP_/RTS_ prefixes. `route_for` resolves a type name once and caches it. A
handler decodes no more than it must: coalescible types submit a `LazyUpdate` keyed from
the header (the content is decoded when the bus applies it), ordered ones decode at once.

| type | becomes |
|---|---|
| TRANSFORM | `SetTransform` of the linear transform named after the device (coalesced) |
| POSITION, QTRANS | `SetTransform` from position + quaternion (coalesced) |
| TDATA, QTDATA | one `SetTransform` per element, named after the element (coalesced) |
| IMAGE | `PutVolume` named after the device (coalesced: newest frame wins) |
| POINT | `SetMarkupsPoints` named after the device (coalesced) |
| POLYDATA | `PutModel` named after the device (coalesced) |
| STRING | `SetText` named after the device (ordered: never coalesced away) |
| STATUS | recorded per peer and device, logged when it changes |
| COMMAND | the command it names (JSON or XML), answered by RTS_COMMAND |
| COMMAND `ComputeRegister` | the peer becomes a compute node (`compute_link`) |
| GET_<type> | the current state of the node named by the device, as <type> |
| STT_<type> / STP_<type> | start / stop pushing that node (or all of its kind) to the peer |
| RTS_<type> | counted (this bridge sends no queries of its own) |
| anything else | body skipped, counted under `unknown_types` |
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.igtl import compute_link, remote_command
from adapters.igtl.codecs import image, points, polydata, status, text, tracking
from adapters.igtl.codecs.command import decode_command, encode_command
from adapters.igtl.codecs.queries import QUERY_PREFIXES, encode_rts, query_target
from adapters.igtl.lazy import LazyUpdate
from adapters.igtl.publisher import GETTABLE_TYPES, STREAMABLE_TYPES, Subscription
from adapters.igtl.wire import Frame, MessageError, Outgoing
from bridge import commands as c
from bridge.bus import CommandResult

if TYPE_CHECKING:
    from adapters.igtl.session import Session

log = logging.getLogger(__name__)

Handler = Callable[["Session", Frame], None]

#: The node an empty device name addresses, as Slicer's OpenIGTLinkIF names it.
DEFAULT_DEVICE = "OpenIGTLink"
_PATTERN_CHARACTERS = frozenset("*?[")


def node_for(name: str) -> str:
    """The scene reference a device (or element) name addresses.

    Scene lookups fall back to fnmatch patterns, so a peer naming its device `Tool*` would
    write into whichever node matches; such names are refused.
    """
    if not name:
        return DEFAULT_DEVICE
    if not _PATTERN_CHARACTERS.isdisjoint(name):
        raise MessageError(f"device name {name!r} contains a pattern character (* ? [)")
    return name


#: Coalescing keys of transform nodes by device name, built once per name (hot path).
_TRANSFORM_KEYS: dict[str, tuple[str, str]] = {}


# -- coalescible updates: keyed from the header, decoded when applied -----------------------------


def _build_transform(update: LazyUpdate) -> c.Command:
    matrix = tracking.decode_transform(update.frame)
    return c.SetTransform(
        node=update.target, matrix=matrix, source=update.source, received=update.received
    )


def on_transform(session: Session, frame: Frame) -> None:
    key = _TRANSFORM_KEYS.get(frame.device)
    if key is None:
        key = c.SetTransform.key_for(node_for(frame.device))
        if len(_TRANSFORM_KEYS) < 4096:
            _TRANSFORM_KEYS[frame.device] = key
    session.outcomes.submit_update(frame, "SetTransform", key, _build_transform, key[1])


def _build_position(update: LazyUpdate) -> c.Command:
    pose = tracking.decode_position(update.frame.content)[update.index]
    return c.SetTransform(
        node=update.target, matrix=pose.matrix(), source=update.source, received=update.received
    )


def on_position(session: Session, frame: Frame) -> None:
    content = frame.content
    if len(content) in (12, 24, 28):
        names = [""]
    else:  # pyigtl's 152-byte elements carry names; decoding them is the cheap part
        names = [pose.name for pose in tracking.decode_position(content)]
    for index, name in enumerate(names):
        node = node_for(name or frame.device)
        session.outcomes.submit_update(
            frame, "SetTransform", c.SetTransform.key_for(node), _build_position, node, index
        )


def _build_tdata(update: LazyUpdate) -> c.Command:
    matrix = tracking.decode_tdata_matrix(update.frame.content, update.index)
    return c.SetTransform(
        node=update.target, matrix=matrix, source=update.source, received=update.received
    )


def on_tdata(session: Session, frame: Frame) -> None:
    for index, name in enumerate(tracking.tdata_names(frame.content)):
        node = node_for(name or frame.device)
        session.outcomes.submit_update(
            frame, "SetTransform", c.SetTransform.key_for(node), _build_tdata, node, index
        )


def _build_qtdata(update: LazyUpdate) -> c.Command:
    pose = tracking.decode_qtdata_pose(update.frame.content, update.index)
    return c.SetTransform(
        node=update.target, matrix=pose.matrix(), source=update.source, received=update.received
    )


def on_qtdata(session: Session, frame: Frame) -> None:
    for index, name in enumerate(tracking.qtdata_names(frame.content)):
        node = node_for(name or frame.device)
        session.outcomes.submit_update(
            frame, "SetTransform", c.SetTransform.key_for(node), _build_qtdata, node, index
        )


def _build_volume(update: LazyUpdate) -> c.Command:
    volume = image.decode_image(update.frame)
    return c.PutVolume(
        node=update.target,
        array=volume.array,
        ijk_to_ras=volume.ijk_to_ras,
        source=update.source,
        received=update.received,
    )


def on_image(session: Session, frame: Frame) -> None:
    node = node_for(frame.device)
    session.outcomes.submit_update(
        frame, "PutVolume", c.PutVolume.key_for(node), _build_volume, node
    )


def _build_points(update: LazyUpdate) -> c.Command:
    point_list = points.decode_points(update.frame.content)
    return c.SetMarkupsPoints(
        node=update.target,
        points=point_list.positions,
        labels=point_list.names,
        source=update.source,
        received=update.received,
    )


def on_point(session: Session, frame: Frame) -> None:
    node = node_for(frame.device)
    session.outcomes.submit_update(
        frame, "SetMarkupsPoints", c.SetMarkupsPoints.key_for(node), _build_points, node
    )


def _build_model(update: LazyUpdate) -> c.Command:
    surface = polydata.decode_polydata(update.frame.content)
    return c.PutModel(
        node=update.target,
        vertices=surface.points,
        triangles=surface.triangles(),
        source=update.source,
        received=update.received,
    )


def on_polydata(session: Session, frame: Frame) -> None:
    node = node_for(frame.device)
    session.outcomes.submit_update(frame, "PutModel", c.PutModel.key_for(node), _build_model, node)


# -- ordered messages: decoded at once -------------------------------------------------------------


def on_string(session: Session, frame: Frame) -> None:
    node = node_for(frame.device)
    command = c.SetText(node=node, text=text.decode_string(frame.content), source=session.source)
    session.note_feeding(node)
    session.outcomes.submit_command(command, frame)


def on_status(session: Session, frame: Frame) -> None:
    session.record_status(frame.device, status.decode_status(frame.content))


def on_command(session: Session, frame: Frame) -> None:
    message = decode_command(frame.content)
    if message.name in compute_link.NODE_COMMANDS:  # a compute node registering
        compute_link.on_node_command(session, frame, message)
        return
    form = remote_command.command_form(message.text)

    def rts(error: str, reply: str) -> list[Outgoing]:
        content = encode_command(message.command_id, error[:128], reply)
        return [session.writer.pack("RTS_COMMAND", frame.device, content, reply_to=frame)]

    try:
        command = remote_command.parse_command(message.name, message.text, source=session.source)
    except c.CommandError as error:
        session.count_rejected(frame, "bad command")
        reason = str(error)

        async def refuse() -> list[Outgoing]:
            return rts(reason, remote_command.format_error(reason, form))

        session.writer.reply_in_order(refuse)
        return
    future = session.outcomes.submit_command(command, frame, report_failure=False)

    async def answer() -> list[Outgoing]:
        result: CommandResult = await future
        return rts(result.error or "", remote_command.format_reply(result, form))

    session.writer.reply_in_order(answer)


# -- queries ------------------------------------------------------------------------------------


def on_get(target: str | None, session: Session, frame: Frame) -> None:
    if target is None:
        raise MessageError(f"{frame.type} asks for a type this bridge cannot send", code=12)

    async def answer() -> list[Outgoing]:
        await session.outcomes.settled()  # the peer reads its own writes
        return await session.adapter.publisher.query(session, target, frame.device, frame)

    session.writer.reply_in_order(answer)


def on_start(target: str | None, session: Session, frame: Frame) -> None:
    """Acknowledge with RTS_<type>, then push the node's state now and on every change."""
    interval = 0.0
    if target in ("TDATA", "QTDATA"):
        interval, _coordinates = tracking.decode_stream_request(frame.content)

    def start() -> bool:
        if target is not None:
            session.writer.subscribe(Subscription(target, frame.device, interval))
        return target is not None

    _acknowledge(session, frame, start)


def on_stop(target: str | None, session: Session, frame: Frame) -> None:
    _acknowledge(
        session,
        frame,
        lambda: target is not None and session.writer.unsubscribe(target, frame.device),
    )


def on_rts(_target: str | None, session: Session, frame: Frame) -> None:
    """Replies to queries: this bridge sends none, so they are only counted."""


def _acknowledge(session: Session, frame: Frame, act: Callable[[], bool]) -> None:
    """Run `act` in reply order (after earlier replies) and answer RTS_ with its success;
    pushes it starts are scheduled after the RTS_ is written."""

    async def answer() -> list[Outgoing]:
        await session.outcomes.settled()  # the first push shows the peer's own writes
        rts_type = "RTS_" + frame.type[4:]
        return [session.writer.pack(rts_type, frame.device, encode_rts(act()), reply_to=frame)]

    session.writer.reply_in_order(answer)


# -- the tables ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    becomes: str


ROUTES: dict[str, Route] = {
    "TRANSFORM": Route(on_transform, "SetTransform (coalesced per device)"),
    "POSITION": Route(on_position, "SetTransform from position + quaternion (coalesced)"),
    "QTRANS": Route(on_position, "SetTransform from position + quaternion (coalesced)"),
    "TDATA": Route(on_tdata, "SetTransform per element (coalesced per element name)"),
    "QTDATA": Route(on_qtdata, "SetTransform per element (coalesced per element name)"),
    "IMAGE": Route(on_image, "PutVolume (coalesced per device)"),
    "POINT": Route(on_point, "SetMarkupsPoints (coalesced per device)"),
    "POLYDATA": Route(on_polydata, "PutModel (coalesced per device)"),
    "STRING": Route(on_string, "SetText (ordered)"),
    "STATUS": Route(on_status, "recorded and logged"),
    "COMMAND": Route(on_command, "the named command; RTS_COMMAND reply"),
}

QUERY_ROUTES: dict[str, Callable[[str | None, Session, Frame], None]] = {
    "GET_": on_get,
    "STT_": on_start,
    "STP_": on_stop,
    "RTS_": on_rts,
}
_QUERY_TARGETS = {"GET_": GETTABLE_TYPES, "STT_": STREAMABLE_TYPES, "STP_": STREAMABLE_TYPES}


@functools.lru_cache(maxsize=512)
def route_for(type_name: str) -> Handler | None:
    """The handler of a message type, None for a type this bridge does not know."""
    route = ROUTES.get(type_name)
    if route is not None:
        return route.handler
    prefix = type_name[:4]
    if prefix in QUERY_PREFIXES and len(type_name) > 4:
        known = _QUERY_TARGETS.get(prefix, (*ROUTES, "CAPABILITY"))
        target = query_target(type_name[4:], known)
        return functools.partial(QUERY_ROUTES[prefix], target)
    return None
