"""Outgoing scene state: coalesced per topic, bounded while the connection is stalled, and
deleted (empty retained payload) when a node goes — against a fake sink, no broker."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from adapters.mqtt.state import StatePublisher
from adapters.mqtt.topics import TopicScheme
from bridge.scene.headless import HeadlessScene

ROOT = "slicer/test"
STATE = f"{ROOT}/state"


class Sink:
    """Records publications; `stalled` is paho with unsent packets (not idle)."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.idle.set()
        self.sent: list[tuple[str, bytes, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        self.sent.append((topic, payload, retain))
        return True

    def latest(self) -> dict[str, bytes]:
        return {topic: payload for topic, payload, _ in self.sent}

    def count(self, topic: str) -> int:
        return sum(1 for sent_topic, _, _ in self.sent if sent_topic == topic)


def pose(x: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[0, 3] = x
    return matrix


@pytest.fixture
async def published():
    scene = HeadlessScene()
    sink = Sink()
    state = StatePublisher(scene, TopicScheme(ROOT), sink, rate=1000.0)
    state.start()
    yield scene, sink, state
    await state.stop()


async def settle(state: StatePublisher) -> None:
    for _ in range(200):
        await asyncio.sleep(0.002)
        if not state.pending:
            return


async def test_many_changes_publish_the_latest_value_once_per_flush(published) -> None:
    scene, sink, state = published
    for x in range(1000):
        scene.set_transform("Tool", pose(x))
    assert state.pending <= 3  # nodes, transform/Tool (and camera at most): one slot a topic
    await settle(state)
    assert sink.count(f"{STATE}/transform/Tool") == 1
    body = orjson.loads(sink.latest()[f"{STATE}/transform/Tool"])
    assert body["matrix"][0][3] == 999 and body["name"] == "Tool"
    assert body["id"].startswith("vtkMRMLLinearTransformNode")
    assert all(retain for _, _, retain in sink.sent)


async def test_a_stalled_connection_holds_flushes_and_memory_stays_one_entry_per_topic(
    published,
) -> None:
    scene, sink, state = published
    sink.idle.clear()  # paho has unsent bytes: the broker is not reading
    for x in range(5000):
        scene.set_transform(f"Tool{x % 10}", pose(x))
    await asyncio.sleep(0.05)
    assert sink.sent == []
    assert state.pending == 11  # ten transforms and the node list, however many changes
    sink.idle.set()
    await settle(state)
    latest = sink.latest()
    assert orjson.loads(latest[f"{STATE}/transform/Tool9"])["matrix"][0][3] == 4999
    assert len(sink.sent) == 11


async def test_removed_and_renamed_nodes_leave_an_empty_retained_payload(published) -> None:
    scene, sink, state = published
    scene.set_transform("Tool", pose(1))
    scene.set_markups_points("F", np.array([[1.0, 2.0, 3.0]]), ["tip"])
    await settle(state)
    markups = orjson.loads(sink.latest()[f"{STATE}/markups/F"])
    assert markups["points"] == [[1.0, 2.0, 3.0]] and markups["labels"] == ["tip"]
    scene.rename("Tool", "Probe")
    await settle(state)
    assert sink.latest()[f"{STATE}/transform/Tool"] == b""
    assert orjson.loads(sink.latest()[f"{STATE}/transform/Probe"])["matrix"][0][3] == 1
    scene.remove(["Probe", "F"])
    await settle(state)
    assert sink.latest()[f"{STATE}/transform/Probe"] == b""
    assert sink.latest()[f"{STATE}/markups/F"] == b""
    names = [node["name"] for node in orjson.loads(sink.latest()[f"{STATE}/nodes"])]
    assert "Probe" not in names and "F" not in names and "Red" in names


async def test_a_name_that_cannot_be_a_topic_level_uses_the_node_id(published) -> None:
    scene, sink, state = published
    node = scene.set_transform("left/right", pose(2))
    await settle(state)
    assert f"{STATE}/transform/{node.id}" in sink.latest()
    assert not any("left" in topic for topic in sink.latest())


async def test_two_nodes_sharing_a_name_share_a_topic_until_one_goes(published) -> None:
    scene, sink, state = published
    first = scene.set_transform("Tool", pose(1))
    scene.rename(scene.set_transform("Other", pose(2)).id, "Tool")
    await settle(state)
    assert orjson.loads(sink.latest()[f"{STATE}/transform/Tool"])["id"] == first.id
    scene.remove([first.id])
    await settle(state)
    assert orjson.loads(sink.latest()[f"{STATE}/transform/Tool"])["matrix"][0][3] == 2


async def test_camera_changes_are_published(published) -> None:
    scene, sink, state = published
    scene.set_camera("3d", np.array([0, -400.0, 0]), np.zeros(3), np.array([0, 0, 1.0]))
    await settle(state)
    camera = orjson.loads(sink.latest()[f"{STATE}/camera/3d"])
    assert camera == {"position": [0, -400, 0], "focal_point": [0, 0, 0], "view_up": [0, 0, 1]}


async def test_after_a_reconnect_everything_is_republished_and_stale_topics_deleted(
    published,
) -> None:
    scene, sink, state = published
    scene.set_transform("Tool", pose(1))
    await settle(state)
    sink.sent.clear()
    state.mark_all()
    state.begin_sweep()
    for topic in (f"{STATE}/transform/Tool", f"{STATE}/transform/Ghost", f"{STATE}/bogus/x"):
        state.note_retained(topic, 10)
    state.note_retained(f"{STATE}/markups/Empty", 0)  # already deleted: nothing to do
    assert state.end_sweep() == 2
    await settle(state)
    latest = sink.latest()
    assert set(latest) == {
        f"{STATE}/nodes",
        f"{STATE}/camera/3d",
        f"{STATE}/transform/Tool",
        f"{STATE}/transform/Ghost",
        f"{STATE}/bogus/x",
    }
    assert latest[f"{STATE}/transform/Ghost"] == b"" and latest[f"{STATE}/bogus/x"] == b""
    assert orjson.loads(latest[f"{STATE}/transform/Tool"])["matrix"][0][3] == 1


async def test_a_node_that_came_and_went_between_flushes_publishes_nothing(published) -> None:
    scene, sink, state = published
    sink.idle.clear()
    scene.remove([scene.set_transform("Brief", pose(1)).id])
    sink.idle.set()
    await settle(state)
    assert not any("Brief" in topic for topic, _, _ in sink.sent)
    assert sink.count(f"{STATE}/nodes") == 1
