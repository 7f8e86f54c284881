"""The live channel's messages: what a client may send, one small handler per type.

Every client message is a JSON object (a text message); its type is the first of these keys
it has, looked up in `MESSAGE_TYPES`:

* `{"command": "SetCamera", "id": "7", ...}` — a command in the common JSON form; answered
  `{"type": "result", "command", "status", "id", "value" | "error"}` once the bus applied,
  superseded or failed it (`id` echoed, as a string).
* `{"subscribe": ["transform:Tracker", "markups:*", "nodes"], "max_rate": 30}` — answered
  `{"type": "subscribed", "subjects": [...]}`, then `{"type": "state", "subject", "node",
  "state"}` for each subject now and whenever it changes (`ws_subjects`).
* `{"unsubscribe": ["markups:*"]}` (`"*"`: all) — `{"type": "unsubscribed", "subjects"}`.
* `{"stream": "view:red", "format": "jpeg", "quality": 70, "size": 256, "max_in_flight": 1}`
  — `{"type": "streaming", ...options}`, then binary frames (`ws_streams`).
* `{"unstream": "view:red"}` — `{"type": "unstreamed", "stream"}`.
* `{"ack": "view:red"}` — no reply: the stream may send one more frame.
* `{"ping": <anything>}` — `{"type": "pong", "ping": <it>, "time": <server epoch ms>}`.

Any message may carry an `"id"`, echoed in its reply. A message that is not JSON, not an
object, of no known type, or wrong in any field is answered `{"type": "error", "message":
..., "id": ...}` and the connection stays open. Handlers validate and call the connection
(`LiveSession`); they never touch the scene or the socket themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from adapters.http.ws_streams import StreamError, StreamOptions, parse_stream_request, stream_view
from adapters.http.ws_subjects import SubjectError, Subscription, parse_subject
from bridge import commands as c
from bridge.scene.types import SceneError

#: Largest rate (deliveries per second) a client may ask subscriptions to be sent at.
MAX_STATE_RATE = 1000.0


class ProtocolError(ValueError):
    """A client message that cannot be honoured; answered with an error message."""


class Session(Protocol):
    """What message handlers may ask of a connection (see `adapters.http.ws.LiveSession`)."""

    source: str

    def submit(self, command: c.Command) -> None: ...

    def subscribe(self, subscriptions: list[Subscription], max_rate: float | None) -> list[str]: ...

    def unsubscribe(self, subjects: list[str]) -> list[str]: ...

    def open_stream(self, options: StreamOptions, max_in_flight: int) -> None: ...

    def close_stream(self, view: str) -> bool: ...

    def ack(self, view: str) -> bool: ...

    def reply(self, message: dict[str, Any]) -> None: ...


Handler = Callable[[Session, Mapping[str, Any]], None]


def with_id(message: dict[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    request_id = request.get("id")
    if request_id is not None:
        message["id"] = request_id
    return message


# -- handlers, one per message type ------------------------------------------------------------
def on_command(session: Session, message: Mapping[str, Any]) -> None:
    try:
        command = c.Command.from_json(message, source=session.source)
    except c.CommandError as error:
        raise ProtocolError(str(error)) from None
    session.submit(command)


def on_subscribe(session: Session, message: Mapping[str, Any]) -> None:
    subscriptions = [parse_subject(text) for text in _subject_list(message["subscribe"])]
    max_rate = message.get("max_rate")
    if max_rate is not None and (
        isinstance(max_rate, bool)
        or not isinstance(max_rate, int | float)
        or not 0 < max_rate <= MAX_STATE_RATE
    ):
        raise ProtocolError(
            f"max_rate must be a number in (0, {MAX_STATE_RATE:g}], got {max_rate!r}"
        )
    subjects = session.subscribe(subscriptions, None if max_rate is None else float(max_rate))
    session.reply(with_id({"type": "subscribed", "subjects": subjects}, message))


def on_unsubscribe(session: Session, message: Mapping[str, Any]) -> None:
    removed = session.unsubscribe(_subject_list(message["unsubscribe"]))
    session.reply(with_id({"type": "unsubscribed", "subjects": removed}, message))


def on_stream(session: Session, message: Mapping[str, Any]) -> None:
    options, max_in_flight = parse_stream_request(message)
    session.open_stream(options, max_in_flight)
    reply = {"type": "streaming", **options.to_json(), "max_in_flight": max_in_flight}
    session.reply(with_id(reply, message))


def on_unstream(session: Session, message: Mapping[str, Any]) -> None:
    view = stream_view(message["unstream"])
    if not session.close_stream(view):
        raise ProtocolError(f"no stream view:{view} is open")
    session.reply(with_id({"type": "unstreamed", "stream": f"view:{view}"}, message))


def on_ack(session: Session, message: Mapping[str, Any]) -> None:
    view = stream_view(message["ack"])
    if not session.ack(view):
        raise ProtocolError(f"no stream view:{view} is open to acknowledge")


def on_ping(session: Session, message: Mapping[str, Any]) -> None:
    reply = {"type": "pong", "ping": message["ping"], "time": time.time() * 1000.0}
    session.reply(with_id(reply, message))


#: Message type (the key that names it) → handler; the first key present wins.
MESSAGE_TYPES: tuple[tuple[str, Handler], ...] = (
    ("command", on_command),
    ("subscribe", on_subscribe),
    ("unsubscribe", on_unsubscribe),
    ("stream", on_stream),
    ("unstream", on_unstream),
    ("ack", on_ack),
    ("ping", on_ping),
)
KNOWN_TYPES = ", ".join(name for name, _ in MESSAGE_TYPES)


def _subject_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ProtocolError(f"expected a subject or a non-empty list of subjects, got {value!r}")
    return value


# -- dispatch ----------------------------------------------------------------------------------
def handle_text(session: Session, text: str) -> None:
    """Decode one client text message and run its handler; reply with an error if needed."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        session.reply(error_message(f"not JSON: {error}"))
        return
    if not isinstance(message, dict):
        session.reply(error_message(f"a message must be a JSON object, got {_json_type(message)}"))
        return
    handle_message(session, message)


def handle_message(session: Session, message: Mapping[str, Any]) -> None:
    for name, handler in MESSAGE_TYPES:
        if name in message:
            try:
                handler(session, message)
            except (ProtocolError, SubjectError, StreamError, SceneError) as error:
                session.reply(with_id(error_message(str(error), name), message))
            return
    known = ", ".join(sorted(map(str, message))) or "none"
    session.reply(
        with_id(
            error_message(f"unknown message: it has none of {KNOWN_TYPES} (keys: {known})"),
            message,
        )
    )


def error_message(text: str, request: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "error", "message": text}
    if request is not None:
        message["request"] = request
    return message


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


__all__ = ["MESSAGE_TYPES", "ProtocolError", "Session", "error_message", "handle_text"]
