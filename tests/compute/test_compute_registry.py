"""The registry's rules on their own: dispatch, re-dispatch, health and retention, driven
through stand-in channels on a running bridge (no sockets, no node processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from compute_peers import eventually

from bridge import commands as c
from bridge.app import Bridge
from bridge.compute import protocol as p
from bridge.compute.jobs import JobState
from bridge.compute.registry import ComputeRegistry
from bridge.compute.values import Volume
from bridge.config import Settings

OPERATION = {
    "name": "identity",
    "inputs": [{"name": "volume", "type": "volume"}],
    "outputs": [{"name": "volume", "type": "volume"}, {"name": "note", "type": "value"}],
}


class StandInChannel:
    """Records what the registry asks of a node."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.receiving = False
        self.sent: list[str] = []
        self.cancelled: list[str] = []
        self.closed: list[str] = []

    def send_job(self, job) -> None:
        self.sent.append(job.id)

    def cancel_job(self, job) -> None:
        self.cancelled.append(job.id)

    def close(self, reason: str) -> None:
        self.closed.append(reason)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[ComputeRegistry]:
    settings = Settings(
        http=False,
        igtl=False,
        mqtt=False,
        data_dir=tmp_path,
        max_rate=500.0,
        compute_heartbeat_timeout=0.4,
    )
    bridge = Bridge(settings)
    await bridge.start()
    await bridge.bus.submit(c.PutVolume(node="input", array=np.ones((2, 3, 4), np.int16)))
    assert bridge.compute is not None
    yield bridge.compute
    await bridge.stop()


def register(registry: ComputeRegistry, name: str, concurrency: int = 1) -> StandInChannel:
    channel = StandInChannel(f"10.0.0.1:{len(registry.nodes) + 1000}")
    document = {"protocol": 1, "node": name, "concurrency": concurrency, "heartbeat": 0.1,
                "operations": [OPERATION]}  # fmt: skip
    registry.register(document, channel)
    return channel


def submit(registry: ComputeRegistry) -> str:
    return registry.submit("identity", inputs={"volume": "input"}, parameters={}, outputs={}).id


async def test_jobs_go_to_the_node_with_the_most_free_slots_in_submission_order(registry) -> None:
    big = register(registry, "big", concurrency=3)
    small = register(registry, "small", concurrency=1)
    jobs = [submit(registry) for _ in range(6)]
    # 3 free of 3, then 2 of 3 vs 1 of 1 (the small node is emptier), then the big one
    assert big.sent == [jobs[0], jobs[2], jobs[3]] and small.sent == [jobs[1]]
    assert [registry.job(job).state for job in jobs[4:]] == [JobState.QUEUED] * 2
    node = next(iter(registry.nodes))
    registry.report(node, p.JobReport(jobs[0], p.FAILED, error="no"))
    assert big.sent[-1] == jobs[4]  # the oldest queued job takes the freed slot


async def test_a_lost_job_prefers_a_node_it_has_not_run_on(registry) -> None:
    first = register(registry, "first", concurrency=2)
    job = submit(registry)
    assert first.sent == [job]
    second = register(registry, "second")
    registry.node_lost(next(iter(registry.nodes)), "gone")
    assert second.sent == [job] and registry.job(job).attempts == 2
    assert registry.job(job).tried == {f"first@{first.peer}", f"second@{second.peer}"}


async def test_silent_nodes_are_dropped_but_not_while_a_message_is_arriving(registry) -> None:
    silent = register(registry, "silent")
    busy = register(registry, "busy")
    busy.receiving = True
    await eventually(lambda: silent.closed, 3.0, "silent node closed")
    assert "no heartbeat for" in silent.closed[0]
    assert [node.name for node in registry.nodes.values()] == ["busy"]
    busy.receiving = False
    await eventually(lambda: not registry.nodes, 3.0, "busy node dropped once idle")


async def test_a_done_report_stores_data_outputs_and_values(registry) -> None:
    register(registry, "node")
    job = submit(registry)
    node = next(iter(registry.nodes))
    registry.output(node, job, "volume", Volume(np.full((2, 3, 4), 7, np.int16)))
    registry.report(node, p.JobReport(job, p.DONE, {"volume": "volume"}, {"note": [1, "two"]}))
    record = registry.job(job)
    await asyncio.wait_for(record.finished.wait(), 5)
    assert record.state is JobState.DONE, record.error
    assert record.outputs["note"] == {"value": [1, "two"]}
    assert record.outputs["volume"]["name"] == f"identity-{job}"
    assert record.inputs == {} and record.received == {}  # nothing held once finished


async def test_finished_jobs_are_forgotten_beyond_the_limit(registry) -> None:
    register(registry, "node", concurrency=10)
    registry.keep_finished = 3
    node = next(iter(registry.nodes))
    jobs = [submit(registry) for _ in range(5)]
    for job in jobs:
        registry.report(node, p.JobReport(job, p.FAILED, error="no"))
    assert list(registry.jobs) == jobs[2:]
    assert registry.status()["failed"] == 5
