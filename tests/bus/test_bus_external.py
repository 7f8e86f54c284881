"""The bus with an external pass driver (`drive="external"`), as `bridge.qt` drives it.

No task runs the passes: the driver is told about work (`on_pending`), reads the deadline
(`next_pass_time`) and starts `run_pass()` itself, possibly by stepping the coroutine from a
plain callback. The rules are the same as with the task; these tests pin what differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest

from bridge.bus import BusStopped, CommandBus, Outcome
from bridge.commands import SetLayout, SetTransform


def transform(node: str, x: float = 0.0) -> SetTransform:
    matrix = np.eye(4)
    matrix[0, 3] = x
    return SetTransform(node=node, matrix=matrix)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def step(pass_coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a pass from a plain call, outside any task; it must not need to wait."""
    try:
        pass_coroutine.send(None)
    except StopIteration as done:
        return done.value
    pass_coroutine.close()
    raise AssertionError("the pass waited although every apply was synchronous")


async def test_external_drive_starts_no_task_and_reports_pending_work() -> None:
    woken: list[int] = []
    bus = CommandBus(lambda cmd: None, drive="external")
    bus.on_pending = lambda: woken.append(bus.pending)
    early = bus.submit(transform("A"))
    assert woken == [], "not started: nobody to tell yet"
    before = asyncio.all_tasks()
    await bus.start()
    assert asyncio.all_tasks() == before, "no pacing task"
    assert woken == [1], "work pending at start is reported at once"
    bus.submit(transform("B"))
    assert woken == [1, 2]
    assert bus.wants_pass
    assert step(bus.run_pass()) == 2
    assert early.result().ok
    assert not bus.wants_pass and bus.next_pass_time() is None
    await bus.stop()


async def test_next_pass_time_is_an_absolute_deadline_kept_until_the_pass() -> None:
    clock = FakeClock()
    bus = CommandBus(lambda cmd: None, max_rate=50.0, clock=clock, drive="external")
    await bus.start()
    bus.submit(transform("A"))
    first = bus.next_pass_time()
    assert first == clock.now, "idle bus: the first pass is due at once"
    clock.now += 0.004  # the driver wakes 4 ms late
    assert bus.next_pass_time() == first, "asking again does not move the deadline"
    step(bus.run_pass())
    bus.submit(transform("A", 1.0))
    assert bus.next_pass_time() == pytest.approx(first + 0.02), "paced from the deadline"
    clock.now = first + 0.02 + 0.005
    step(bus.run_pass())
    bus.submit(transform("A", 2.0))
    assert bus.next_pass_time() == pytest.approx(first + 0.04), "no drift from late wakeups"
    await bus.stop()


async def test_a_pass_started_more_than_an_interval_late_restarts_the_schedule() -> None:
    clock = FakeClock()
    bus = CommandBus(lambda cmd: None, max_rate=50.0, clock=clock, drive="external")
    await bus.start()
    bus.submit(transform("A"))
    due = bus.next_pass_time()
    clock.now = due + 0.2  # the GUI was blocked for 200 ms
    step(bus.run_pass())
    bus.submit(transform("A", 1.0))
    assert bus.next_pass_time() == pytest.approx(clock.now + 0.02), "no catch-up burst"
    await bus.stop()


async def test_an_overrunning_pass_delays_the_next() -> None:
    clock = FakeClock()

    def slow_apply(cmd: Any) -> None:
        clock.now += 0.05  # 50 ms of work in a 20 ms frame

    bus = CommandBus(slow_apply, max_rate=50.0, clock=clock, drive="external")
    await bus.start()
    bus.submit(transform("A"))
    bus.next_pass_time()
    step(bus.run_pass())
    bus.submit(transform("A", 1.0))
    assert bus.next_pass_time() == clock.now, "due now, after the overrun, not before"
    await bus.stop()


async def test_a_slow_apply_runs_as_a_task_while_the_stepped_pass_waits() -> None:
    seen: list[Any] = []
    release = asyncio.get_running_loop().create_future()

    async def download(cmd: Any) -> str:
        seen.append(asyncio.current_task())
        await release
        return "loaded"

    def apply(cmd: Any) -> Any:
        return download(cmd) if isinstance(cmd, SetLayout) else "quick"

    bus = CommandBus(apply, drive="external")
    await bus.start()
    slow = bus.submit(SetLayout(layout="FourUp"))
    later = bus.submit(transform("A"))
    pass_coroutine = bus.run_pass()
    waiting_on = pass_coroutine.send(None)
    assert isinstance(waiting_on, asyncio.Task), "the pass waits on the apply's task"
    assert not bus.wants_pass and bus.next_pass_time() is None, "a pass is running"
    await asyncio.sleep(0)
    assert seen == [waiting_on], "the slow apply's coroutine runs inside its own task"
    release.set_result(None)
    while not waiting_on.done():
        await asyncio.sleep(0)
    with pytest.raises(StopIteration):
        pass_coroutine.send(None)
    assert slow.result().value == "loaded"
    assert later.result().value == "quick", "what follows the barrier waits for it"
    await bus.stop()


async def test_stop_drains_and_then_refuses_with_external_drive() -> None:
    applied: list[str] = []
    bus = CommandBus(lambda cmd: applied.append(cmd.node), drive="external")
    await bus.start()
    pending = bus.submit(transform("A"))
    await bus.stop()
    assert applied == ["A"] and pending.result().ok
    late = await bus.submit(transform("B"))
    assert late.outcome is Outcome.FAILED and isinstance(late.exception, BusStopped)
    assert not bus.wants_pass


async def test_stop_without_drain_fails_what_is_pending() -> None:
    bus = CommandBus(lambda cmd: None, drive="external")
    await bus.start()
    pending = bus.submit(transform("A"))
    await bus.stop(drain=False)
    assert pending.result().outcome is Outcome.FAILED
    assert isinstance(pending.result().exception, BusStopped)


def test_unknown_drive_is_refused() -> None:
    with pytest.raises(ValueError, match="drive"):
        CommandBus(lambda cmd: None, drive="thread")  # type: ignore[arg-type]


async def test_task_drive_is_unchanged_and_never_calls_on_pending() -> None:
    called: list[int] = []
    bus = CommandBus(lambda cmd: "ok", on_pending=lambda: called.append(1))
    await bus.start()
    try:
        result = await bus.submit(transform("A"))
    finally:
        await bus.stop()
    assert result.value == "ok" and called == []
    assert bus.drive == "task"
