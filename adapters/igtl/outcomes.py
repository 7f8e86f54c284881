"""What became of every message one connection sent to the bus — counted, and failures told.

Every message that reached the bus ends applied, superseded or failed, and is counted so per
type and per peer, with receive→apply and sender→apply latencies for applied ones. Watching
every future would cost a callback per message — at 100 k messages/s, more than the rest of
the path. Instead: within one slice of frames, the previous update with the same key is
already resolved (superseded, synchronously, by the bus) when the next one is submitted, so
it is counted on the spot; only the last update per key of each slice is watched with a
callback. A barrier ends the slice early, since after it same-key updates no longer
supersede each other. A failure is answered with a STATUS error naming the device.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from adapters.igtl.lazy import LazyUpdate
from adapters.igtl.stats import MessageCounters
from adapters.igtl.wire import Frame
from bridge.bus import CommandResult, Outcome
from bridge.commands import Command

if TYPE_CHECKING:
    from adapters.igtl.session import Session


class Outcomes:
    """Submits one connection's commands to the bus and accounts for each of them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.bus = session.bus
        self.by_type = session.adapter.stats
        self.peer = session.stats
        #: Counters of the type of the frame being handled (the session sets it per frame).
        self.type_stats = MessageCounters()
        self._unresolved: dict[Hashable, tuple[LazyUpdate, asyncio.Future[CommandResult]]] = {}
        self._watched: set[asyncio.Future[CommandResult]] = set()

    def submit_update(
        self,
        frame: Frame,
        kind: str,
        key: Hashable,
        decode: Callable[[LazyUpdate], Command],
        target: str,
        index: int = 0,
    ) -> None:
        """Submit a coalescible update decoded only if applied (see `lazy`)."""
        update = LazyUpdate(kind, key, self.session, frame, decode, target, index)
        future = self.bus.submit(update)
        previous = self._unresolved.get(key)
        if previous is not None:
            earlier, earlier_future = previous
            if not earlier_future.done():
                self._watch(earlier.frame, earlier, earlier_future)
            elif earlier_future.result().outcome is Outcome.SUPERSEDED:  # the common case
                if earlier.frame.type == frame.type:
                    self.type_stats.superseded += 1
                else:
                    self.by_type.for_type(earlier.frame.type).superseded += 1
                self.peer.superseded += 1
            else:
                self.count(earlier.frame, earlier, earlier_future.result())
        self._unresolved[key] = (update, future)

    def submit_command(
        self, command: Command, frame: Frame, *, report_failure: bool = True
    ) -> asyncio.Future[CommandResult]:
        """Submit a decoded command (ordered ones: STRING, COMMAND) and watch its outcome."""
        self.end_slice()  # after a barrier, same-key updates no longer supersede
        future = self.bus.submit(command)
        self._watch(frame, None, future, report_failure)
        return future

    def end_slice(self) -> None:
        """Watch the last update per key of the slice just handled."""
        for update, future in self._unresolved.values():
            self._watch(update.frame, update, future)
        self._unresolved.clear()

    async def settled(self) -> None:
        """Wait until every message this peer sent so far was applied, superseded or failed."""
        self.end_slice()
        pending = [future for future in self._watched if not future.done()]
        if pending:
            await asyncio.wait(pending)

    def _watch(
        self,
        frame: Frame,
        update: LazyUpdate | None,
        future: asyncio.Future[CommandResult],
        report_failure: bool = True,
    ) -> None:
        self._watched.add(future)
        future.add_done_callback(functools.partial(self._on_outcome, frame, update, report_failure))

    def _on_outcome(
        self,
        frame: Frame,
        update: LazyUpdate | None,
        report_failure: bool,
        future: asyncio.Future[CommandResult],
    ) -> None:
        self._watched.discard(future)
        if not future.cancelled():
            self.count(frame, update, future.result(), report_failure)

    def count(
        self,
        frame: Frame,
        update: LazyUpdate | None,
        result: CommandResult,
        report_failure: bool = True,
    ) -> None:
        type_stats = self.by_type.for_type(frame.type)
        peer = self.peer
        if result.outcome is Outcome.SUPERSEDED:
            type_stats.superseded += 1
            peer.superseded += 1
        elif result.outcome is Outcome.APPLIED:
            type_stats.applied += 1
            peer.applied += 1
            applied_at = update.built_at if update is not None else time.monotonic()
            type_stats.latency.record(applied_at - frame.received)
            peer.latency.record(applied_at - frame.received)
            if update is not None and frame.timestamp > 0:
                sender_latency = update.built_wallclock - frame.timestamp
                if 0 <= sender_latency < 3600:  # the sender's clock is plausibly this one's
                    type_stats.sender_latency.record(sender_latency)
                    peer.sender_latency.record(sender_latency)
        else:
            type_stats.failed += 1
            peer.failed += 1
            if report_failure:
                self.session.report_failure(frame, result)
