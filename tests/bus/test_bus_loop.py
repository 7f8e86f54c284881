"""The bus's apply loop on a real asyncio loop: pacing, results, isolation, overload, stop.

Timing assertions here are upper bounds only (a pass rate never *above* the cap), which a
slow or loaded machine cannot break; speed itself is measured in bench/bus.py.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from bridge.bus import BusOverloaded, BusStopped, CommandBus, Outcome
from bridge.commands import Deferred, SetLayout, SetSliceOffset, SetTransform


def transform(node: str, x: float = 0.0, **meta) -> SetTransform:
    matrix = np.eye(4)
    matrix[0, 3] = x
    return SetTransform(node=node, matrix=matrix, **meta)


async def test_submit_resolves_after_the_command_was_applied() -> None:
    scene: dict[str, float] = {}
    bus = CommandBus(lambda cmd: scene.__setitem__(cmd.node, cmd.matrix[0, 3]) or "ok")
    await bus.start()
    try:
        result = await bus.submit(transform("Tool", 7.0, id="42"))
    finally:
        await bus.stop()
    assert result.outcome is Outcome.APPLIED
    assert result.id == "42" and result.value == "ok"
    assert scene == {"Tool": 7.0}, "the write is visible when the result arrives"
    assert result.to_json() == {"command": "SetTransform", "status": "applied", "id": "42",
                                "value": "ok"}  # fmt: skip


async def test_pass_rate_never_exceeds_max_rate_under_continuous_input() -> None:
    bus = CommandBus(lambda cmd: None, max_rate=50.0)
    await bus.start()
    started = time.monotonic()
    submitted = 0
    try:
        while time.monotonic() - started < 0.6:
            for node in ("A", "B", "C", "D"):
                bus.submit(transform(node, submitted))
                submitted += 1
            await asyncio.sleep(0)
        elapsed = time.monotonic() - started
        await bus.drained()
    finally:
        await bus.stop()
    stats = bus.stats
    assert stats.passes <= 50.0 * elapsed + 2
    assert stats.total.superseded > 0, "a fast publisher is coalesced"
    assert stats.total.applied + stats.total.superseded == submitted


async def test_slow_apply_pass_delays_the_next_and_intake_coalesces() -> None:
    """Rendering costs 30 ms per pass: passes slow down, pending stays one per key."""
    bus = CommandBus(lambda cmd: None, max_rate=1000.0, after_pass=lambda: time.sleep(0.03))
    await bus.start()
    max_pending = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < 0.5:
            for node in ("A", "B"):
                bus.submit(transform(node))
            max_pending = max(max_pending, bus.pending)
            await asyncio.sleep(0.001)
        elapsed = time.monotonic() - started
        await bus.drained()
    finally:
        await bus.stop()
    assert max_pending <= 2, "never more than one pending update per key"
    assert bus.stats.passes <= elapsed / 0.03 + 2


async def test_failing_command_fails_alone() -> None:
    applied: list[str] = []

    def apply(cmd):
        if cmd.node == "Broken":
            raise KeyError("no such node: Broken")
        applied.append(cmd.node)

    bus = CommandBus(apply)
    await bus.start()
    try:
        results = await asyncio.gather(
            bus.submit(transform("A")), bus.submit(transform("Broken")), bus.submit(transform("B"))
        )
        later = await bus.submit(transform("C"))
    finally:
        await bus.stop()
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.FAILED, Outcome.APPLIED]
    assert "no such node: Broken" in results[1].error
    assert isinstance(results[1].exception, KeyError)
    assert later.ok and applied == ["A", "B", "C"]
    assert bus.stats.by_kind["SetTransform"].failed == 1


async def test_deferred_decode_error_fails_that_update_only() -> None:
    def broken_body():
        raise ValueError("bad TRANSFORM body")

    bus = CommandBus(lambda cmd: cmd.node)
    await bus.start()
    try:
        bad = bus.submit(Deferred("SetTransform", ("transform", "X"), broken_body))
        good = bus.submit(transform("Y"))
        bad_result, good_result = await asyncio.gather(bad, good)
    finally:
        await bus.stop()
    assert bad_result.outcome is Outcome.FAILED and "bad TRANSFORM body" in bad_result.error
    assert good_result.value == "Y"


async def test_overloaded_bus_refuses_ordered_commands_with_a_reason() -> None:
    bus = CommandBus(lambda cmd: None, max_pending_barriers=3)  # not started: nothing drains
    futures = [bus.submit(SetLayout(layout="FourUp")) for _ in range(4)]
    refused = await futures[3]
    assert refused.outcome is Outcome.FAILED
    assert isinstance(refused.exception, BusOverloaded)
    assert "3 ordered commands are waiting" in refused.error
    keyed = bus.submit(SetSliceOffset(view="red", offset=1.0))
    assert not keyed.done(), "coalescible updates are bounded per key, never refused"
    await bus.run_pass()
    assert all(f.result().ok for f in [*futures[:3], keyed])


async def test_stop_applies_pending_then_fails_late_submissions() -> None:
    applied = []
    bus = CommandBus(applied.append, max_rate=1.0)
    await bus.start()
    await bus.submit(transform("first"))  # uses the first pass; the next is 1 s away
    pending = bus.submit(transform("A"))
    await bus.stop()
    assert (await pending).ok and len(applied) == 2
    late = await bus.submit(transform("B"))
    assert late.outcome is Outcome.FAILED and isinstance(late.exception, BusStopped)


async def test_stop_without_drain_fails_pending_commands_with_a_reason() -> None:
    bus = CommandBus(lambda cmd: None, max_rate=1.0)
    await bus.start()
    await bus.submit(transform("first"))
    pending = bus.submit(SetLayout(layout="OneUp3D"))
    await bus.stop(drain=False)
    result = await pending
    assert result.outcome is Outcome.FAILED and "stopped before applying" in result.error
    assert bus.stats.total.failed == 1


async def test_async_apply_runs_in_order_without_blocking_intake() -> None:
    """A slow barrier (e.g. a download) is awaited; later commands wait for it, while new
    submissions keep arriving and coalescing."""
    events = []
    release = asyncio.Event()

    def apply(cmd):
        if isinstance(cmd, SetLayout):

            async def slow():
                await release.wait()
                events.append("layout")

            return slow()
        events.append(cmd.node)
        return None

    bus = CommandBus(apply)
    await bus.start()
    try:
        layout = bus.submit(SetLayout(layout="FourUp"))
        after = [bus.submit(transform("T", x)) for x in range(5)]
        await asyncio.sleep(0.05)
        assert events == [] and not layout.done()
        assert sum(f.done() for f in after) == 4, "four superseded while the barrier waits"
        release.set()
        await asyncio.gather(layout, *after)
    finally:
        await bus.stop()
    assert events == ["layout", "T"]


async def test_latency_histogram_records_receive_to_apply() -> None:
    bus = CommandBus(lambda cmd: None, max_rate=20.0)
    await bus.start()
    try:
        await bus.submit(transform("warm"))
        old = transform("A", received=time.monotonic() - 0.2)  # arrived 200 ms ago
        await bus.submit(old)
    finally:
        await bus.stop()
    summary = bus.stats.by_source["local"].latency.summary_ms()
    assert summary["count"] == 2
    assert summary["max"] >= 200.0
    assert bus.stats.snapshot()["latency_ms"]["p99"] >= 150.0


def test_bus_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="max_rate must be positive"):
        CommandBus(lambda cmd: None, max_rate=0)
