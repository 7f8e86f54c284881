"""The command bus: one ordered, coalescing path from every transport into the scene.

The six rules (DESIGN.md), and where each lives here:

1. `submit(cmd)` returns a future that resolves to a `CommandResult` once the command was
   applied, superseded or failed (`_resolve`); adapters reply only then.
2. A barrier (`coalesce_key is None`) closes the open *segment*: everything submitted before
   it is applied before it, everything after it opens a new segment (`submit`).
3. Within a segment a keyed update replaces the pending one with the same key, whose future
   resolves `superseded`; the newer update moves to the end of the segment, so the applied
   order is always the submission order with superseded commands removed. Different keys are
   never merged, and nothing crosses a barrier.
4. One drain pass takes every pending segment and applies it on the loop thread, then
   yields (`run_pass`). Passes start at most `max_rate` times a second, paced by absolute
   deadlines (`next_pass_time`); a pass that overruns delays the next, and a pass started
   more than one interval late restarts the schedule from now instead of catching up with
   back-to-back passes. Intake keeps coalescing meanwhile, so the effective request rate
   follows the apply rate.
5. Nothing is dropped silently: every future resolves exactly once, counters and latency
   histograms record every outcome, and when ordered commands pile up past
   `max_pending_barriers` new ones fail at once with a reason rather than queue without bound.
6. A command whose apply raises fails alone: its future carries the error, the pass goes on.

The bus knows nothing about scenes or transports: it calls `apply(command)` (which may
return an awaitable for slow commands such as downloads) and `after_pass()` (the redraw).

Who starts the passes (`drive`):

* `"task"` (default): `start()` creates one asyncio task that waits for work, sleeps until
  `next_pass_time()` and awaits `run_pass()`.
* `"external"`: no task; an outside driver (the Qt integration in `bridge/qt.py`) asks
  `wants_pass` / `next_pass_time()`, and starts `run_pass()` itself when the deadline comes,
  e.g. from a plain Qt timer callback so that nothing that pumps Qt events during a pass can
  re-enter the asyncio loop. `on_pending` tells the driver when work arrives. A slow
  (awaitable) apply then runs as its own asyncio task while the pass waits for it, so
  foreign coroutines always run inside a task. The six rules are the same in both modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from bridge.commands import Deferred, Submittable
from bridge.stats import BusStats

log = logging.getLogger(__name__)

Apply = Callable[[Any], Any]
"""Applies one built command; returns a JSON-friendly value or an awaitable of one."""

Drive = Literal["task", "external"]
DRIVES: tuple[Drive, ...] = ("task", "external")


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    SUPERSEDED = "superseded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What became of one submitted command."""

    outcome: Outcome
    kind: str
    id: str | None = None
    value: Any = None
    error: str | None = None
    #: The exception a failed apply raised, so adapters can map its type to a status code.
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.APPLIED

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"command": self.kind, "status": self.outcome.value}
        if self.id is not None:
            payload["id"] = self.id
        if self.value is not None:
            payload["value"] = self.value
        if self.error is not None:
            payload["error"] = self.error
        return payload


class BusOverloaded(RuntimeError):
    """Too many ordered commands are waiting; the new one was refused, not queued."""


class BusStopped(RuntimeError):
    """The bus stopped before the command could be applied."""


class _Pending:
    __slots__ = ("command", "future")

    def __init__(self, command: Submittable, future: asyncio.Future[CommandResult]):
        self.command = command
        self.future = future


class _Segment:
    """Keyed updates in submission order (latest per key), then the barrier that closes it."""

    __slots__ = ("barrier", "updates")

    def __init__(self) -> None:
        self.updates: dict[Hashable, _Pending] = {}
        self.barrier: _Pending | None = None


class CommandBus:
    """Orders, coalesces and applies commands; see the module docstring for the rules."""

    def __init__(
        self,
        apply: Apply,
        *,
        max_rate: float = 60.0,
        after_pass: Callable[[], Any] | None = None,
        max_pending_barriers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        drive: Drive = "task",
        on_pending: Callable[[], Any] | None = None,
    ) -> None:
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, got {max_rate!r}")
        if drive not in DRIVES:
            raise ValueError(f"drive must be one of {', '.join(DRIVES)}, got {drive!r}")
        self._apply = apply
        self._drive: Drive = drive
        #: External drive: called (on the loop thread) whenever a submit leaves work pending.
        self.on_pending = on_pending
        self._after_pass = after_pass
        self._interval = 1.0 / max_rate
        self._max_pending_barriers = max_pending_barriers
        self._clock = clock
        self._segments: deque[_Segment] = deque([_Segment()])
        self._pending_count = 0
        self._pending_barriers = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._stopped = False
        self._pass_lock = asyncio.Lock()
        #: Pacing: the earliest start of the next pass, and the deadline fixed for it.
        self._next_pass = 0.0
        self._due: float | None = None
        self.stats = BusStats()

    # -- intake --------------------------------------------------------------------------------
    @property
    def max_rate(self) -> float:
        return 1.0 / self._interval

    @property
    def pending(self) -> int:
        return self._pending_count

    @property
    def drive(self) -> Drive:
        return self._drive

    @property
    def clock(self) -> Callable[[], float]:
        """The clock `next_pass_time` is read on (monotonic seconds by default)."""
        return self._clock

    @property
    def wants_pass(self) -> bool:
        """Work is pending and no pass is running: a driver should start one when due."""
        return bool(self._pending_count) and not self._stopped and not self._pass_lock.locked()

    def next_pass_time(self) -> float | None:
        """The bus-clock time (`clock`, monotonic seconds) at which the next pass may start;
        None while nothing waits or a pass is still running. The deadline is fixed when first
        asked and kept until that pass starts, so a driver that wakes a little late does not
        shift the schedule (absolute deadlines, never `sleep(interval)` drift)."""
        if not self.wants_pass:
            return None
        if self._due is None:
            self._due = max(self._next_pass, self._clock())
        return self._due

    def submit(self, command: Submittable) -> asyncio.Future[CommandResult]:
        """Queue a command; await the returned future for its result. Loop thread only."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[CommandResult] = loop.create_future()
        pending = _Pending(command, future)
        for counters in self.stats.counters_for(command.kind, command.source):
            counters.received += 1
        if self._stopped:
            self._fail(pending, BusStopped("the bus is stopped"))
            return future
        key = command.coalesce_key
        segment = self._segments[-1]
        if key is None:
            if self._pending_barriers >= self._max_pending_barriers:
                self._fail(
                    pending,
                    BusOverloaded(
                        f"{self._pending_barriers} ordered commands are waiting to be applied"
                    ),
                )
                return future
            segment.barrier = pending
            self._segments.append(_Segment())
            self._pending_barriers += 1
        else:
            previous = segment.updates.pop(key, None)
            if previous is not None:
                self._pending_count -= 1
                self._resolve(previous, Outcome.SUPERSEDED)
            segment.updates[key] = pending
        self._pending_count += 1
        if self._wakeup is not None:
            self._wakeup.set()
        elif self.on_pending is not None and self._started:
            self.on_pending()
        return future

    def submit_threadsafe(self, command: Submittable) -> Awaitable[CommandResult]:
        """Submit from another thread; returns a concurrent future of the result."""
        if self._loop is None:
            raise BusStopped("the bus is not running")

        async def submit_on_loop() -> CommandResult:
            return await self.submit(command)

        return asyncio.run_coroutine_threadsafe(submit_on_loop(), self._loop)  # type: ignore[return-value]

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start on the running event loop: the apply task (`drive="task"`), or only bind
        the loop and tell the driver about work already pending (`drive="external"`)."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._started = True
        if self._drive == "external":
            if self._pending_count and self.on_pending is not None:
                self.on_pending()
            return
        self._wakeup = asyncio.Event()
        if self._pending_count:
            self._wakeup.set()
        self._task = self._loop.create_task(self._run(), name="command-bus")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop the apply loop. With `drain`, apply what is pending first (waiting for a
        pass a driver is running); anything left fails with `BusStopped` (never silently
        dropped)."""
        if not self._started:
            return
        if drain and self._pending_count:
            await self.run_pass()
        self._stopped = True
        self._started = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._wakeup = None
        for segment in self._take_all():
            for pending in (*segment.updates.values(), segment.barrier):
                if pending is not None:
                    self._fail(pending, BusStopped("the bus stopped before applying it"))

    async def drained(self) -> None:
        """Wait until nothing is pending (tests, shutdown)."""
        while self._pending_count:
            await asyncio.sleep(self._interval / 4)

    # -- the apply loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            if not self._pending_count:
                wakeup.clear()
                await wakeup.wait()
            due = self.next_pass_time()
            if due is None:  # a pass started elsewhere (stop's drain) holds the lock
                await asyncio.sleep(self._interval / 4)
                continue
            now = self._clock()
            if now < due:
                await asyncio.sleep(due - now)
            try:
                await self.run_pass()
            except Exception:  # a bug in the bus itself must not stop the loop
                log.exception("apply pass failed")

    async def run_pass(self) -> int:
        """Apply everything pending now, in order; returns how many commands were applied or
        failed. Commands submitted during the pass wait for the next one.

        An external driver may start it without a task (stepping the coroutine from a plain
        callback): it only awaits futures, and only when an apply is slow or another pass
        holds the lock."""
        async with self._pass_lock:
            self._pass_started()
            return await self._drain()

    def _pass_started(self) -> None:
        """Advance the pacing schedule: the next pass is due one interval after this one's
        deadline, or after now when this pass started more than an interval late (a blocked
        loop restarts the schedule rather than catching up with a burst of passes)."""
        now = self._clock()
        due = self._due
        base = due if due is not None and now - due < self._interval else now
        self._next_pass = base + self._interval
        self._due = None

    async def _drain(self) -> int:
        segments = self._take_all()
        started = self._clock()
        done = 0
        for segment in segments:
            for pending in segment.updates.values():
                await self._apply_one(pending)
                done += 1
            if segment.barrier is not None:
                self._pending_barriers -= 1
                await self._apply_one(segment.barrier)
                done += 1
        if done and self._after_pass is not None:
            try:
                result = self._after_pass()
                if inspect.isawaitable(result):
                    await self._in_task(result)
            except Exception:
                log.exception("after-pass hook (render) failed")
        if done:
            self.stats.passes += 1
            self.stats.pass_time.record(self._clock() - started)
            self.stats.commands_per_pass_max = max(self.stats.commands_per_pass_max, done)
        return done

    def _in_task(self, awaitable: Awaitable[Any]) -> Awaitable[Any]:
        """External drive: a slow apply's coroutine runs as its own task (the pass itself may
        be stepped outside any task). Task drive: awaited inline, as always."""
        if self._drive == "external" and inspect.iscoroutine(awaitable):
            loop = self._loop or asyncio.get_running_loop()
            return loop.create_task(awaitable, name="command-bus-apply")
        return awaitable

    def _take_all(self) -> deque[_Segment]:
        segments, self._segments = self._segments, deque([_Segment()])
        return segments

    async def _apply_one(self, pending: _Pending) -> None:
        self._pending_count -= 1
        command = pending.command
        try:
            if isinstance(command, Deferred):
                command = command.build()
            value = self._apply(command)
            if inspect.isawaitable(value):
                value = await self._in_task(value)
        except (Exception, SystemExit) as error:
            self._fail(pending, error)
        else:
            self._resolve(pending, Outcome.APPLIED, value=value)

    # -- results -------------------------------------------------------------------------------
    def _fail(self, pending: _Pending, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        self._resolve(pending, Outcome.FAILED, error=message, exception=error)

    def _resolve(
        self,
        pending: _Pending,
        outcome: Outcome,
        *,
        value: Any = None,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        command = pending.command
        counters = self.stats.counters_for(command.kind, command.source)
        if outcome is Outcome.SUPERSEDED:
            for counter in counters:
                counter.superseded += 1
        else:
            latency = self._clock() - command.received
            for counter in counters:
                if outcome is Outcome.APPLIED:
                    counter.applied += 1
                else:
                    counter.failed += 1
                counter.latency.record(latency)
        if not pending.future.done():
            pending.future.set_result(
                CommandResult(outcome, command.kind, command.id, value, error, exception)
            )
