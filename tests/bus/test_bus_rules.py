"""Property tests pinning the bus rules against a reference model.

Hypothesis generates programs of operations from several sources: keyed updates (coalescible
`SetTransform`s on a few nodes, some lazily decoded), barriers (`SetSliceOrientation`), some
of either marked to fail in apply, and drain passes at random points. The model below states
the rules in the plainest possible way; the bus must match it exactly: the applied sequence,
every command's outcome, and the counters.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.bus import CommandBus, Outcome
from bridge.commands import Deferred, SetSliceOrientation, SetTransform

KEYS = ("Tool", "Probe", "Needle")
SOURCES = ("igtl:a", "mqtt:b", "http:c")


@dataclass(frozen=True)
class Op:
    """One step of a generated program."""

    action: str  # "update", "barrier" or "pass"
    key: str = ""
    source: str = ""
    fails: bool = False
    lazy: bool = False


updates = st.builds(
    Op,
    action=st.just("update"),
    key=st.sampled_from(KEYS),
    source=st.sampled_from(SOURCES),
    fails=st.just(False),
    lazy=st.booleans(),
)
failing_updates = st.builds(
    Op, action=st.just("update"), key=st.sampled_from(KEYS), source=st.sampled_from(SOURCES),
    fails=st.just(True), lazy=st.booleans(),
)  # fmt: skip
barriers = st.builds(
    Op, action=st.just("barrier"), source=st.sampled_from(SOURCES), fails=st.booleans()
)
passes = st.just(Op(action="pass"))
programs = st.lists(
    st.one_of(updates, updates, updates, failing_updates, barriers, passes), max_size=80
)


def model(program: list[Op]) -> tuple[list[int], dict[int, Outcome]]:
    """The rules, stated directly: (applied-or-failed order of command numbers, outcomes)."""
    segments: list[tuple[dict[str, int], list[int]]] = [({}, [])]
    order: list[int] = []
    outcome: dict[int, Outcome] = {}

    def drain() -> None:
        for updates_by_key, barrier in segments:
            for number in updates_by_key.values():
                order.append(number)
            order.extend(barrier)
        segments[:] = [({}, [])]

    for number, op in enumerate(program):
        if op.action == "pass":
            drain()
        elif op.action == "barrier":
            segments[-1][1].append(number)
            segments.append(({}, []))
        else:
            updates_by_key = segments[-1][0]
            if op.key in updates_by_key:
                outcome[updates_by_key.pop(op.key)] = Outcome.SUPERSEDED
            updates_by_key[op.key] = number  # re-inserted: moves to the end
    drain()
    for number in order:
        outcome[number] = Outcome.FAILED if program[number].fails else Outcome.APPLIED
    return order, outcome


def build(number: int, op: Op):
    tag = str(number)
    if op.action == "barrier":
        return SetSliceOrientation(view="red", orientation="axial", id=tag, source=op.source)
    matrix = np.eye(4)
    matrix[0, 3] = number
    if op.lazy:
        key = ("transform", op.key)
        return Deferred(
            kind="SetTransform",
            coalesce_key=key,
            build=lambda: SetTransform(node=op.key, matrix=matrix, id=tag, source=op.source),
            source=op.source,
            id=tag,
        )
    return SetTransform(node=op.key, matrix=matrix, id=tag, source=op.source)


async def run_program(program: list[Op]):
    applied: list[int] = []

    def apply(command):
        number = int(command.id)
        applied.append(number)
        if program[number].fails:
            raise RuntimeError(f"command {number} is marked to fail")
        return number

    bus = CommandBus(apply)
    futures: dict[int, asyncio.Future] = {}
    for number, op in enumerate(program):
        if op.action == "pass":
            await bus.run_pass()
        else:
            futures[number] = bus.submit(build(number, op))
    await bus.run_pass()
    return bus, applied, futures


@settings(max_examples=300, deadline=None)
@given(programs)
def test_bus_matches_the_reference_model(program: list[Op]) -> None:
    bus, applied, futures = asyncio.run(run_program(program))
    expected_order, expected_outcome = model(program)

    assert applied == expected_order
    assert all(future.done() for future in futures.values()), "every future resolves"
    outcomes = {number: future.result().outcome for number, future in futures.items()}
    assert outcomes == expected_outcome
    for number, future in futures.items():
        result = future.result()
        assert result.id == str(number)
        if result.outcome is Outcome.FAILED:
            assert f"command {number} is marked to fail" in result.error
        if result.outcome is Outcome.APPLIED:
            assert result.value == number
    totals = bus.stats.total
    assert totals.received == len(futures)
    assert totals.applied + totals.superseded + totals.failed == totals.received
    assert totals.failed == sum(o is Outcome.FAILED for o in expected_outcome.values())
    for source in SOURCES:
        submitted = sum(1 for op in program if op.action != "pass" and op.source == source)
        counted = bus.stats.by_source.get(source)
        assert (counted.received if counted else 0) == submitted
    assert bus.pending == 0


@settings(max_examples=200, deadline=None)
@given(programs)
def test_latest_update_per_key_is_never_lost(program: list[Op]) -> None:
    """Per key, the last submitted update of each barrier-delimited segment is applied, and
    applied after every other update of that key in the segment."""
    _, applied, _ = asyncio.run(run_program(program))
    position = {number: index for index, number in enumerate(applied)}
    segment: dict[str, int] = {}
    for number, op in enumerate([*program, Op(action="barrier")]):
        if op.action == "barrier":
            for last in segment.values():
                assert last in position, f"latest update {last} was not applied"
            segment = {}
        elif op.action == "update":
            segment[op.key] = number


@settings(max_examples=200, deadline=None)
@given(programs)
def test_barrier_is_never_reordered(program: list[Op]) -> None:
    _, applied, _ = asyncio.run(run_program(program))
    barrier_numbers = [n for n, op in enumerate(program) if op.action == "barrier"]
    assert [n for n in applied if program[n].action == "barrier"] == barrier_numbers
    for index, number in enumerate(applied):
        if program[number].action != "barrier":
            continue
        assert all(earlier < number for earlier in applied[:index]), "nothing after crosses"
        assert all(later > number for later in applied[index + 1 :]), "nothing before crosses"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.integers()), min_size=1, max_size=60))
def test_one_apply_per_key_per_pass_and_different_keys_never_merge(submissions) -> None:
    async def scenario():
        applied = []
        bus = CommandBus(lambda command: applied.append((command.node, command.id)))
        for number, (key, _) in enumerate(submissions):
            bus.submit(SetTransform(node=key, matrix=np.eye(4), id=str(number)))
        await bus.run_pass()
        return applied

    applied = asyncio.run(scenario())
    keys = [key for key, _ in applied]
    assert len(keys) == len(set(keys)), "at most one apply per key per pass"
    assert set(keys) == {key for key, _ in submissions}, "every key applied"
    last = {key: str(number) for number, (key, _) in enumerate(submissions)}
    assert dict(applied) == last, "each key applied with its newest value"
