"""`GET /bridge/ws`: the live WebSocket channel — commands, subscriptions, view streams.

The handshake passes the same guard as every HTTP request (Host, token by header, `?token=`
or cookie; with CORS off a foreign `Origin` is refused, as for a write). Then one
`LiveSession` per connection runs two loops:

* the **reader** decodes each client message (`ws_protocol`) and acts at once: a command is
  submitted to the bus (in message order) and its result answered when the bus resolves it;
  subscriptions and streams change this session's state. When too many replies or commands
  are outstanding it stops reading, so a client that floods is slowed by TCP, not buffered.
* the **sender** is the only writer on the socket. Woken by the reader, by command results
  and by scene changes (through the shared `LiveHub`), it sends, in this order: replies and
  command results; subscription states that changed (latest state per subject, at most
  `max_rate` rounds a second); a frame for each stream whose view changed and which has
  room under its `max_in_flight` quota. Each send waits until the socket drains, and while
  it waits changes only mark subjects and views dirty — nothing queues up.

Frames are rendered on the loop thread, like every scene access; a stream whose view did
not change costs nothing. This module holds the connection logic only: messages are in
`ws_protocol`, subjects in `ws_subjects`, streams in `ws_streams`, the listener in `ws_hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from adapters.http.context import BRIDGE, bridge_of
from adapters.http.responses import HttpError, dumps
from adapters.http.ws_hub import LiveHub, hub_for
from adapters.http.ws_protocol import error_message, handle_text
from adapters.http.ws_streams import StreamOptions, ViewStream, pack_frame
from adapters.http.ws_subjects import Subscription, Subscriptions, node_json
from bridge import commands as c
from bridge.bus import CommandBus, CommandResult
from bridge.scene.types import SceneEvent

log = logging.getLogger("slicer_bridge")

#: Replies plus unresolved commands a connection may have before its messages wait.
MAX_OUTSTANDING = 256
#: Subscription rounds per second unless the client asks otherwise.
DEFAULT_STATE_RATE = 60.0
HEARTBEAT_SECONDS = 20.0
#: Largest client message (commands are small; volumes do not travel over this channel).
MAX_MESSAGE_SIZE = 1 << 20


async def websocket(request: web.Request) -> web.StreamResponse:
    """The `/bridge/ws` handler: upgrade, then run the session until either side closes."""
    socket = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS, compress=False, max_msg_size=MAX_MESSAGE_SIZE
    )
    if not socket.can_prepare(request).ok:
        raise HttpError(426, "this is a WebSocket endpoint: connect with a WebSocket client")
    await socket.prepare(request)
    bridge = bridge_of(request)
    session = LiveSession(socket, bridge.bus, hub_for(bridge), f"ws:{request.remote or 'unknown'}")
    await session.run()
    return socket


async def close_live_sessions(app: web.Application) -> None:
    """Close every live connection of `app`'s bridge (1001, going away): for the
    application's `on_shutdown`, so stopping the server does not wait for open sockets."""
    hub = hub_for(app[BRIDGE])
    for client in list(hub.clients):
        if isinstance(client, LiveSession):
            with contextlib.suppress(ConnectionError):
                await client.socket.close(
                    code=WSCloseCode.GOING_AWAY, message=b"the bridge is stopping"
                )


class LiveSession:
    """One WebSocket connection: its subscriptions, streams, outstanding commands."""

    def __init__(self, socket: web.WebSocketResponse, bus: CommandBus, hub: LiveHub, source: str):
        self.socket = socket
        self.bus = bus
        self.hub = hub
        self.source = source
        self.subscriptions = Subscriptions(hub.scene)
        self.streams: dict[str, ViewStream] = {}
        self.replies: deque[dict[str, Any]] = deque()
        #: This connection's commands in submission order, until resolved in order.
        self.commands: deque[tuple[str | None, asyncio.Future[CommandResult]]] = deque()
        self.commands_done = 0
        self.last_done_id: str | None = None
        self.unresolved = 0
        self.state_interval = 1.0 / DEFAULT_STATE_RATE
        self.next_state_time = 0.0
        self.wakeup = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.frames_sent = 0
        self._timer: asyncio.TimerHandle | None = None

    # -- the two loops -------------------------------------------------------------------------
    async def run(self) -> None:
        self.hub.attach(self)
        sender = asyncio.create_task(self._send_loop(), name=f"ws-sender {self.source}")
        try:
            async for message in self.socket:
                if message.type is WSMsgType.TEXT:
                    handle_text(self, message.data)
                elif message.type is WSMsgType.BINARY:
                    self.reply(error_message("binary messages are not accepted; send JSON text"))
                else:  # ERROR (e.g. a message over the size limit): aiohttp closes the socket
                    break
                if sender.done():
                    break
                await self._wait_for_room()
        finally:
            self.hub.detach(self)
            if self._timer is not None:
                self._timer.cancel()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            with contextlib.suppress(ConnectionError):
                await self.socket.close()

    async def _wait_for_room(self) -> None:
        while len(self.replies) + self.unresolved >= MAX_OUTSTANDING:
            self.room.clear()
            await self.room.wait()

    async def _send_loop(self) -> None:
        try:
            while not self.socket.closed:
                await self.wakeup.wait()
                self.wakeup.clear()
                await self._send_replies()
                await self._send_states()
                await self._send_frames()
        except ConnectionError:
            log.debug("ws: %s went away while sending", self.source)
        except Exception:  # a bug here must end this connection, not leave it mute
            log.exception("ws: sending to %s failed; closing the connection", self.source)
            with contextlib.suppress(ConnectionError):
                await self.socket.close(code=WSCloseCode.INTERNAL_ERROR)

    # -- what the sender sends -----------------------------------------------------------------
    async def _send_replies(self) -> None:
        while self.replies:
            await self._send_json(self.replies.popleft())
            self.room.set()

    async def _send_states(self) -> None:
        if not self.subscriptions.dirty:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self.next_state_time:
            self._wake_at(self.next_state_time)
            return
        self.next_state_time = now + self.state_interval
        for subject in self.subscriptions.take_dirty():
            try:
                node, state = self.subscriptions.state(subject)
            except Exception as error:  # a subject whose state cannot be read: say so
                log.debug("ws: state of %s failed: %s", subject, error)
                message = error_message(f"cannot read {subject}: {error}", "subscribe")
                await self._send_json(message)
                continue
            message: dict[str, Any] = {"type": "state", "subject": subject, "state": state}
            if node is not None:
                message["node"] = node_json(node)
            await self._send_json(message)
            if self.replies:  # answers first: a command result must not wait behind states
                await self._send_replies()

    async def _send_frames(self) -> None:
        for stream in list(self.streams.values()):
            if self.streams.get(stream.options.view) is not stream:
                continue  # closed or replaced while an earlier frame was being sent
            if not stream.ready(self.hub.generation(stream.options.view)):
                continue
            self._settle_commands()
            commands, applied = self.commands_done, self.last_done_id
            try:
                generation, image, render_ms = self.hub.frame(stream.options)
            except Exception as error:
                stream.sent_generation = self.hub.generation(stream.options.view)
                log.warning("ws: rendering %s failed: %s", stream.name, error)
                message = error_message(f"cannot render {stream.name}: {error}", "stream")
                message["stream"] = stream.name
                await self._send_json(message)
                continue
            stream.sent_generation = generation
            stream.in_flight += 1
            stream.sent += 1
            header = {
                "stream": stream.name,
                "seq": stream.sent,
                "format": stream.options.format,
                "bytes": len(image),
                "render_ms": round(render_ms, 3),
                "commands": commands,
                "applied": applied,
            }
            await self.socket.send_bytes(pack_frame(header, image))
            self.frames_sent += 1
            await asyncio.sleep(0)  # let the loop breathe between renders
            await self._send_replies()

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.socket.send_frame(dumps(message), WSMsgType.TEXT)

    def _wake_at(self, when: float) -> None:
        if self._timer is None or self._timer.when() > when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(when, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.wakeup.set()

    # -- what message handlers call (ws_protocol.Session) --------------------------------------
    def reply(self, message: dict[str, Any]) -> None:
        self.replies.append(message)
        self.wakeup.set()

    def submit(self, command: c.Command) -> None:
        future = self.bus.submit(command)
        self.commands.append((command.id, future))
        self.unresolved += 1
        future.add_done_callback(self._command_resolved)

    def _command_resolved(self, future: asyncio.Future[CommandResult]) -> None:
        self.unresolved -= 1
        if future.cancelled():
            return
        message = {"type": "result", **future.result().to_json()}
        self.reply(message)

    def _settle_commands(self) -> None:
        """Count the commands resolved in order (what the next frame shows)."""
        while self.commands and self.commands[0][1].done():
            command_id, _ = self.commands.popleft()
            self.commands_done += 1
            self.last_done_id = command_id

    def subscribe(self, subscriptions: list[Subscription], max_rate: float | None) -> list[str]:
        if max_rate is not None:
            self.state_interval = 1.0 / max_rate
        self.subscriptions.add(subscriptions)
        self.wakeup.set()
        return self.subscriptions.names

    def unsubscribe(self, subjects: list[str]) -> list[str]:
        return self.subscriptions.remove(subjects)

    def open_stream(self, options: StreamOptions, max_in_flight: int) -> None:
        previous = self.streams.get(options.view)
        stream = ViewStream(options, max_in_flight)
        if previous is not None:  # new options or quota; its frames in flight stay counted
            stream.in_flight = previous.in_flight
            stream.sent = previous.sent
        self.streams[options.view] = stream
        self.wakeup.set()

    def close_stream(self, view: str) -> bool:
        return self.streams.pop(view, None) is not None

    def ack(self, view: str) -> bool:
        stream = self.streams.get(view)
        if stream is None:
            return False
        stream.ack()
        self.wakeup.set()
        return True

    # -- scene changes (called by the hub, inside the apply pass: mark and wake only) ----------
    def on_scene_event(self, event: SceneEvent, views: tuple[str, ...]) -> None:
        changed = self.subscriptions.on_event(event)
        if changed or any(view in self.streams for view in views):
            self.wakeup.set()


__all__ = ["LiveSession", "close_live_sessions", "websocket"]
