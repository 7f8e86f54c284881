"""Scene state out: retained JSON per topic, coalesced and rate-limited before paho sees it.

Scene change events only mark topics *dirty* (a set insert, cheap inside an apply pass).
A flush task publishes each dirty topic once, rendering its payload from the scene at that
moment, so however many changes happened in between, a topic carries its latest value, at
most `rate` times a second. A flush waits until paho's outgoing queue is empty (`sink.idle`):
a stalled or slow broker connection holds back whole flushes instead of growing paho's
unbounded QoS 0 queue, and memory stays one entry per topic.

Topics (under `<root>/state/`):

    nodes                  [{"id", "name", "class"}, …] — every node, in creation order
    transform/<name>       {"id", "name", "matrix": 4×4 matrix-to-parent}
    markups/<name>         {"id", "name", "points": [[x, y, z], …], "labels": […]}
    camera/3d              {"position", "focal_point", "view_up"}

`<name>` is the node's name, or its id when the name cannot be one topic level (contains
`/`, `+`, `#`). When a node is removed or renamed away, its topic gets an empty retained
payload, which deletes it from the broker. After every (re)connect all topics are
republished, and retained topics left from an earlier run that the scene no longer has
are deleted (`begin_sweep` / `note_retained` / `end_sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from adapters.mqtt.payloads import encode_json
from adapters.mqtt.topics import TopicScheme, level_for
from bridge.scene.protocol import Scene
from bridge.scene.types import NodeInfo, SceneError, SceneEvent

log = logging.getLogger("slicer_bridge")

TRANSFORM_CLASS = "vtkMRMLTransformNode"
MARKUPS_CLASS = "vtkMRMLMarkupsNode"
CAMERA_CLASS = "vtkMRMLCameraNode"

#: Node kinds with a state topic of their own: kind → MRML base class.
_NODE_KINDS = {"transform": TRANSFORM_CLASS, "markups": MARKUPS_CLASS}
#: Which aspects of a "modified" event change each kind's payload (display, properties … don't).
_ASPECTS = {
    "transform": frozenset({"transform", "name"}),
    "markups": frozenset({"markups", "name"}),
    "camera": frozenset({"view"}),
}


class StateSink(Protocol):
    """Where state goes: the broker connection."""

    idle: asyncio.Event

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Hand one message over; False if it could not be."""


class StatePublisher:
    """Keeps `<root>/state/…` equal to the scene, latest value per topic."""

    def __init__(self, scene: Scene, topics: TopicScheme, sink: StateSink, *, rate: float):
        self.scene = scene
        self.topics = topics
        self.sink = sink
        self.published = 0
        self.flushes = 0
        self._interval = 1.0 / rate
        self._dirty: set[str] = set()
        #: Topics whose last publication was a non-empty payload.
        self._live: set[str] = set()
        #: The node topic each node was last published (or marked) under, by node id.
        self._node_topic: dict[str, str] = {}
        #: MRML class name → node kind ("transform", "markups", "camera" or "").
        self._kind_of_class: dict[str, str] = {}
        self._seen_retained: set[str] | None = None
        #: Retained topics found at connect that this run has not published (yet).
        self._swept: set[str] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._nodes_topic = topics.state("nodes")
        self._camera_topic = topics.state("camera", "3d")
        self._fixed_topics = {self._nodes_topic, self._camera_topic}
        self._renderers: dict[str, Callable[[str], Any]] = {
            "nodes": self._render_nodes,
            "transform": self._render_transform,
            "markups": self._render_markups,
            "camera": self._render_camera,
        }

    @property
    def pending(self) -> int:
        return len(self._dirty)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = self.scene.subscribe(self._on_scene_event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-state")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def mark_all(self) -> None:
        """Every topic the scene has, and every topic published before, becomes dirty (after
        a reconnect: the broker may have lost its retained messages)."""
        self._dirty.update(self._fixed_topics)
        self._dirty.update(self._live)
        for kind, class_name in _NODE_KINDS.items():
            for node in self.scene.nodes(class_name=class_name):
                self._dirty.add(self._remember(node, kind))
        self._wakeup.set()

    # -- events → dirty topics -----------------------------------------------------------------
    def _on_scene_event(self, event: SceneEvent) -> None:
        dirty = self._dirty
        node = event.node
        if event.kind != "modified" or event.aspect == "name":
            dirty.add(self._nodes_topic)
        if event.kind == "cleared":
            dirty.add(self._camera_topic)
        elif node is not None:
            kind = "" if event.kind == "removed" else self._kind(node)
            if event.kind != "modified" or event.aspect in _ASPECTS.get(kind, ()):
                previous = self._node_topic.pop(node.id, None)
                if previous is not None:  # removed or renamed: re-render the old topic too
                    dirty.add(previous)
                if kind == "camera":
                    dirty.add(self._camera_topic)
                elif kind:
                    dirty.add(self._remember(node, kind))
        if dirty:
            self._wakeup.set()

    def _kind(self, node: NodeInfo) -> str:
        """The state kind of a node, by class (looked up once per class, with inheritance)."""
        kind = self._kind_of_class.get(node.class_name)
        if kind is None:
            kind = ""
            for name, class_name in (*_NODE_KINDS.items(), ("camera", CAMERA_CLASS)):
                if self.scene.nodes(id=node.id, class_name=class_name):
                    kind = name
                    break
            self._kind_of_class[node.class_name] = kind
        return kind

    def _remember(self, node: NodeInfo, kind: str) -> str:
        topic = self.topics.state(kind, level_for(node.name, node.id))
        self._node_topic[node.id] = topic
        return topic

    # -- flushing ------------------------------------------------------------------------------
    async def _run(self) -> None:
        next_flush = 0.0
        while True:
            if not self._dirty:
                self._wakeup.clear()
                await self._wakeup.wait()
            now = time.monotonic()
            if now < next_flush:
                await asyncio.sleep(next_flush - now)
            await self.sink.idle.wait()  # connected, and paho has sent everything before
            scheduled = max(next_flush, time.monotonic())
            try:
                self.flush()
            except Exception:
                log.exception("mqtt: state flush failed")
            next_flush = scheduled + self._interval

    def flush(self) -> int:
        """Publish every dirty topic once, with the scene's current value; returns how many."""
        dirty, self._dirty = self._dirty, set()
        index = self._node_index() if len(dirty) > 1 else None
        sent = 0
        for topic in sorted(dirty):
            payload = self._render(topic, index)
            if not payload and topic not in self._live and topic not in self._swept:
                continue  # nothing retained there to delete (a node that came and went)
            if not self.sink.publish(topic, payload, retain=True):
                self._dirty.add(topic)  # keep it for the next flush
                continue
            sent += 1
            self._swept.discard(topic)
            if payload:
                self._live.add(topic)
            else:
                self._live.discard(topic)
        self.published += sent
        self.flushes += 1
        return sent

    def _node_index(self) -> dict[str, NodeInfo]:
        """Topic → node for every node with a node topic (first node wins a shared name)."""
        index: dict[str, NodeInfo] = {}
        for kind, class_name in _NODE_KINDS.items():
            for node in self.scene.nodes(class_name=class_name):
                index.setdefault(self.topics.state(kind, level_for(node.name, node.id)), node)
        return index

    def _render(self, topic: str, index: dict[str, NodeInfo] | None) -> bytes:
        kind, _, level = topic[len(self.topics.state_prefix) :].partition("/")
        renderer = self._renderers.get(kind)
        if renderer is None or (kind not in _NODE_KINDS and topic not in self._fixed_topics):
            return b""  # not a topic this bridge publishes (left by someone else): delete it
        try:
            if kind in _NODE_KINDS:
                node = self._find(topic, kind, level) if index is None else index.get(topic)
                if node is None:
                    return b""
                return encode_json(renderer(node))
            return encode_json(renderer(level))
        except SceneError:  # gone meanwhile, or a topic this scene cannot have (camera/red)
            return b""

    def _find(self, topic: str, kind: str, level: str) -> NodeInfo | None:
        """The node published under `topic`, by name, else by id (its `level_for`)."""
        class_name = _NODE_KINDS[kind]
        for node in (
            *self.scene.nodes(class_name=class_name, name=level),
            *self.scene.nodes(class_name=class_name, id=level),
        ):
            if self.topics.state(kind, level_for(node.name, node.id)) == topic:
                return node
        return None

    # -- payloads ------------------------------------------------------------------------------
    def _render_nodes(self, _level: str) -> list[dict[str, str]]:
        return [
            {"id": node.id, "name": node.name, "class": node.class_name}
            for node in self.scene.nodes()
        ]

    def _render_transform(self, node: NodeInfo) -> dict[str, Any]:
        return {
            "id": node.id,
            "name": node.name,
            "matrix": self.scene.transform_matrix(node.id),
        }

    def _render_markups(self, node: NodeInfo) -> dict[str, Any]:
        data = self.scene.markups(node.id)
        return {
            "id": node.id,
            "name": node.name,
            "points": np.array([point.position for point in data.points]).reshape(-1, 3),
            "labels": [point.label for point in data.points],
        }

    def _render_camera(self, view: str) -> dict[str, Any]:
        camera = self.scene.camera(view)
        return {
            "position": camera.position,
            "focal_point": camera.focal_point,
            "view_up": camera.view_up,
        }

    # -- deleting retained topics left from an earlier run -------------------------------------
    def begin_sweep(self) -> None:
        """Start collecting the retained state topics the broker holds (the caller
        subscribes to `<root>/state/#` and passes each retained message to `note_retained`)."""
        self._seen_retained = set()

    def note_retained(self, topic: str, payload_size: int) -> None:
        if self._seen_retained is not None and payload_size:
            self._seen_retained.add(topic)

    def end_sweep(self) -> int:
        """Stop collecting; retained topics this run has not published are rendered anew,
        which deletes those the scene does not have. Returns how many."""
        seen, self._seen_retained = self._seen_retained or set(), None
        stale = seen - self._live - self._dirty
        if stale:  # rendered like any dirty topic: empty, unless the scene has it after all
            self._swept.update(stale)
            self._dirty.update(stale)
            self._wakeup.set()
        return len(stale)
