"""Everything one connection sends: replies in request order, and STATUS errors and pushes
through its latest-value `Outbox`.

Replies (RTS_*, GET_ answers) go out in the order of the requests, each once every earlier
one was written. STATUS errors and pushes go through the outbox: one entry per device or
node, packed from the current state only when the socket's buffer is under its high-water
mark — so a slow peer gets the newest state, a flood of errors becomes the latest error,
and nothing grows with a peer that does not read. A peer whose unread replies pass
`REPLY_BACKLOG_LIMIT` is dropped rather than buffered further.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

from adapters.igtl.codecs import status as status_codec
from adapters.igtl.errors import INPUT_ERRORS, status_code_for
from adapters.igtl.outbox import Outbox
from adapters.igtl.publisher import Subscription
from adapters.igtl.wire import Frame, MessageError, Outgoing, pack_message
from bridge.scene.types import NodeInfo, SceneError

if TYPE_CHECKING:
    from adapters.igtl.session import Session

log = logging.getLogger("slicer_bridge.igtl")

MIB = 1 << 20
#: Pushes wait while more than this is queued in the socket buffer.
WRITE_HIGH_WATER = 1 * MIB
#: A peer with this much unread reply data queued is dropped rather than buffered further.
REPLY_BACKLOG_LIMIT = 64 * MIB
#: Requests (GET_, STT_, COMMAND) awaiting their reply before the peer is dropped.
MAX_PENDING_REPLIES = 1024


class PeerWriter:
    """The sending half of a `Session`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.publisher = session.publisher
        self.outbox = Outbox()
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.paused = False
        self._loop = asyncio.get_running_loop()
        self._reply_tail: asyncio.Task[None] | None = None
        self._replies_waiting = 0
        self._packing: set[Hashable] = set()
        self._flush_handle: asyncio.Handle | None = None

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()

    def pack(
        self, type: str, device: str, content: bytes, *, reply_to: Frame | None = None
    ) -> Outgoing:
        """A small message to this peer: a reply keeps the request's header version and
        message id, anything else uses the highest version the peer has spoken."""
        if reply_to is None:
            return pack_message(type, device, content, version=self.session.version)
        return pack_message(
            type, device, content, version=reply_to.version, message_id=reply_to.message_id
        )

    def reply_in_order(self, make: Callable[[], Awaitable[list[Outgoing]]]) -> None:
        """Send what `make` produces once every earlier reply of this peer was sent."""
        if self._replies_waiting >= MAX_PENDING_REPLIES:
            self.session.close(f"more than {MAX_PENDING_REPLIES} requests wait for their replies")
            return
        self._replies_waiting += 1
        self._reply_tail = self.session.spawn(self._reply(self._reply_tail, make))

    async def _reply(
        self,
        previous: asyncio.Task[None] | None,
        make: Callable[[], Awaitable[list[Outgoing]]],
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        self._replies_waiting -= 1
        try:
            messages = await make()
        except INPUT_ERRORS as error:
            self.send_status("", status_code_for(error), "Error", str(error))
            return
        except Exception as error:
            log.exception("igtl: reply to %s failed", self.session.peer)
            self.send_status("", status_codec.UNKNOWN_ERROR, "Error", f"internal error: {error}")
            return
        for message in messages:
            self.write_reply(message)

    def write_reply(self, message: Outgoing) -> None:
        session = self.session
        if not session.active:
            return
        assert session.transport is not None
        if session.transport.get_write_buffer_size() > REPLY_BACKLOG_LIMIT:
            session.close("peer does not read its replies")
            return
        self.write(message)

    def write(self, message: Outgoing) -> None:
        transport = self.session.transport
        assert transport is not None
        if len(message.body) == 1 and len(message.body[0]) < 65536:
            transport.write(message.header + bytes(message.body[0]))
        else:  # part by part: writelines joins the parts into one copy (Python < 3.12)
            transport.write(message.header)
            for part in message.body:
                transport.write(part)
        self.session.stats.sent += 1
        self.session.stats.bytes_sent += len(message)

    # -- pushes --------------------------------------------------------------------------------
    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions[(subscription.type, subscription.name)] = subscription
        self.publisher.sessions.add(self.session)
        for node in self.publisher.nodes_for(subscription):
            self.node_changed(node, self.publisher.family_of(node))

    def unsubscribe(self, type_name: str, name: str) -> bool:
        removed = self.subscriptions.pop((type_name, name), None) is not None
        if not self.subscriptions:
            self.publisher.sessions.discard(self.session)
        return removed

    def node_changed(self, node: NodeInfo, family: str | None) -> None:
        """A subscribed node changed (or was subscribed to): mark it due."""
        if family is None:
            return
        fed_by = self.publisher.fed_by
        if fed_by.get(node.name) is self.session or fed_by.get(node.id) is self.session:
            return  # no echo to the peer that feeds this node
        marked = False
        for subscription in self.subscriptions.values():
            if subscription.matches(node, family):
                key = subscription.outbox_key(node, family)
                self.outbox.put(key, subscription.name, subscription.interval)
                marked = True
        if marked:
            self.schedule_flush()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.schedule_flush()

    def schedule_flush(self) -> None:
        if self._flush_handle is None and self.session.active:
            self._flush_handle = self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send due entries while the socket takes them; pack each from current state."""
        self._flush_handle = None
        if not self.session.active:
            return
        now = self._loop.time()
        while not self.paused:
            try:
                key, payload = self.outbox.pop_ready(now, self._packing)
            except KeyError:
                break
            message = self._message_for(key, payload)
            if message is None:
                continue
            if isinstance(message, Outgoing):
                self.write(message)
                self.outbox.sent(key, now)
            else:
                self._packing.add(key)
                self.session.spawn(self._send_when_packed(key, payload, message))
        wake = self.outbox.next_wake(now)
        if wake is not None and self._flush_handle is None:
            self._flush_handle = self._loop.call_at(wake, self.flush)

    def _message_for(self, key: Any, payload: Any) -> Outgoing | Awaitable[Outgoing] | None:
        kind, target = key
        if kind == "STATUS":
            return pack_message(
                "STATUS", target, status_codec.encode_status(payload), version=self.session.version
            )
        try:
            return self.publisher.pack(key, payload or "", self.session.version)
        except (SceneError, MessageError, ValueError) as error:
            self.session.log_once(
                "push", "igtl: cannot push %s to %s: %s", target, self.session.peer, error
            )
            return None

    async def _send_when_packed(
        self, key: Hashable, payload: Any, packing: Awaitable[Outgoing]
    ) -> None:
        """Write a message packed off the loop — unless the socket filled up meanwhile: then
        the key is due again (its packing is cached per node state, so this costs nothing)."""
        try:
            message = await packing
        finally:
            self._packing.discard(key)
        if not self.session.active:
            return
        if self.paused:
            if key not in self.outbox:
                self.outbox.put(key, payload)
            return
        self.write(message)
        self.outbox.sent(key, self._loop.time())
        self.schedule_flush()

    def send_status(self, device: str, code: int, name: str, message: str) -> None:
        """A STATUS to the peer, through the outbox: a flood of errors for one device
        becomes its latest error, not a backlog."""
        self.outbox.put(("STATUS", device), status_codec.Status(code, 0, name, message))
        self.schedule_flush()
