"""Scene state → outgoing messages: what is pushed to whom, and how a node is packed.

One `Publisher` per adapter listens to the scene. A change to a node marks that node *due*
in the outbox of every session subscribed to it (`Subscription`: by STT_<type> or by the
`igtl_push` setting) — nothing is packed in the listener, which runs inside the bus's apply
pass. Each session packs due nodes from the scene's *current* state when its socket can take
more (`session.flush_outbox`), so a slow peer gets the newest state, never a backlog.

Like Slicer's OpenIGTLinkIF, a node is not pushed back to the peer that feeds it (no echo).
Big IMAGE messages are packed once per node state and shared by every session, with the CRC
computed off the event loop (`wire.pack_message_off_loop`); any other big body (a large
POLYDATA surface) also gets its CRC off the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from adapters.igtl.codecs import image, points, polydata, queries, status, text, tracking
from adapters.igtl.wire import (
    CRC_INLINE_LIMIT,
    Frame,
    Outgoing,
    pack_message,
    pack_message_off_loop,
)
from bridge import __version__
from bridge.scene.protocol import Scene
from bridge.scene.types import NodeInfo, NodeNotFound, SceneEvent

if TYPE_CHECKING:
    from adapters.igtl.session import Session

log = logging.getLogger(__name__)

#: Push families: a node's MRML base class decides which message carries it.
TRANSFORM_CLASS = "vtkMRMLTransformNode"
VOLUME_CLASS = "vtkMRMLVolumeNode"
MARKUPS_CLASS = "vtkMRMLMarkupsNode"
TEXT_CLASS = "vtkMRMLTextNode"
MODEL_CLASS = "vtkMRMLModelNode"
LINEAR_TRANSFORM_CLASS = "vtkMRMLLinearTransformNode"

#: Outgoing type → the node class it carries.
STREAM_CLASSES: dict[str, str] = {
    "TRANSFORM": TRANSFORM_CLASS,
    "POSITION": TRANSFORM_CLASS,
    "QTRANS": TRANSFORM_CLASS,
    "TDATA": TRANSFORM_CLASS,
    "QTDATA": TRANSFORM_CLASS,
    "IMAGE": VOLUME_CLASS,
    "POINT": MARKUPS_CLASS,
    "STRING": TEXT_CLASS,
    "POLYDATA": MODEL_CLASS,
}
STREAMABLE_TYPES: tuple[str, ...] = tuple(STREAM_CLASSES)
GETTABLE_TYPES: tuple[str, ...] = (*STREAMABLE_TYPES, "STATUS", "CAPABILITY")
#: TDATA/QTDATA carry many transforms in one message: one outbox entry per subscription.
BUNDLE_TYPES = frozenset({"TDATA", "QTDATA"})
#: What a configured push (`igtl_push`) sends, by node family.
DEFAULT_TYPE = {
    TRANSFORM_CLASS: "TRANSFORM",
    VOLUME_CLASS: "IMAGE",
    MARKUPS_CLASS: "POINT",
    TEXT_CLASS: "STRING",
    MODEL_CLASS: "POLYDATA",
}
AUTO = "AUTO"

#: Most nodes one GET_ with an empty device name is answered with.
MAX_QUERY_NODES = 256
#: Types this bridge can receive or send, for GET_CAPABIL.
CAPABILITIES = (
    "TRANSFORM", "POSITION", "QTRANS", "TDATA", "QTDATA", "IMAGE", "POINT", "POLYDATA",
    "STRING", "STATUS", "COMMAND", "RTS_COMMAND", "CAPABILITY",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Subscription:
    """Push `name` (a node name or id; "" = every node of the type's class) as `type`
    ("AUTO": the type that fits the node's class), at most once per `interval` seconds."""

    type: str
    name: str
    interval: float = 0.0

    def matches(self, node: NodeInfo, family: str | None) -> bool:
        if family is None:
            return False
        if self.type != AUTO and STREAM_CLASSES[self.type] != family:
            return False
        return not self.name or self.name in (node.name, node.id)

    def outbox_key(self, node: NodeInfo, family: str) -> tuple[str, str]:
        push_type = DEFAULT_TYPE[family] if self.type == AUTO else self.type
        if push_type in BUNDLE_TYPES:
            return push_type, "\0" + self.name  # one bundle message per subscription
        return push_type, node.id


class Publisher:
    """The adapter's single scene listener and its node packers."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.sessions: set[Session] = set()  # sessions with at least one subscription
        #: Node name or id → the session whose messages last set it (echo suppression).
        self.fed_by: dict[str, Session] = {}
        self._family_by_class: dict[str, str | None] = {}
        self._images: dict[tuple[str, int], tuple[int, Awaitable[Outgoing]]] = {}
        self._generation: dict[str, int] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.scene.subscribe(self.on_scene_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._images.clear()

    # -- scene events ------------------------------------------------------------------------
    def on_scene_event(self, event: SceneEvent) -> None:
        """Called by the scene inside the apply pass: mark, never pack."""
        node = event.node
        if event.kind == "cleared":
            self._generation.clear()
            self._images.clear()
            return
        if node is None:
            return
        if event.kind == "removed":
            self._generation.pop(node.id, None)
            for key in [key for key in self._images if key[0] == node.id]:
                del self._images[key]  # the packed voxels of a removed volume are let go
            return
        self._generation[node.id] = self._generation.get(node.id, 0) + 1
        if not self.sessions:
            return
        family = self.family_of(node)
        if family is None:
            return
        for session in self.sessions:
            session.writer.node_changed(node, family)

    def family_of(self, node: NodeInfo) -> str | None:
        """The push family (base class) of a node, by its class name, asked of the scene
        once per class name so MRML inheritance decides, not a hard-coded list."""
        if node.class_name not in self._family_by_class:
            family = None
            for base in DEFAULT_TYPE:
                if self.scene.nodes(id=node.id, class_name=base):
                    family = base
                    break
            self._family_by_class[node.class_name] = family
        return self._family_by_class[node.class_name]

    def nodes_for(self, subscription: Subscription) -> list[NodeInfo]:
        """Existing nodes a new subscription covers (pushed at once, as on connect)."""
        if subscription.name:
            try:
                found = [self.scene.find(subscription.name)]
            except NodeNotFound:
                return []
        else:
            class_name = STREAM_CLASSES.get(subscription.type)
            found = self.scene.nodes(class_name=class_name) if class_name else []
        return [node for node in found if subscription.matches(node, self.family_of(node))]

    # -- packing -----------------------------------------------------------------------------
    def pack(
        self, key: tuple[str, str], device: str, version: int
    ) -> Outgoing | Awaitable[Outgoing] | None:
        """The message for an outbox key from the current scene state; None if the node is
        gone. Small messages are returned packed; a big IMAGE as an awaitable."""
        push_type, target = key
        if push_type in BUNDLE_TYPES:
            return self._pack_bundle(push_type, target[1:], device, version)
        try:
            node = self.scene.find(target)
        except NodeNotFound:
            return None
        return self.pack_node(push_type, node, version)

    def pack_node(
        self, push_type: str, node: NodeInfo, version: int, message_id: int = 0
    ) -> Outgoing | Awaitable[Outgoing]:
        if push_type == "IMAGE":
            return self._pack_image(node, version, message_id)
        content = self._content(push_type, node)
        if len(content) > CRC_INLINE_LIMIT:
            return asyncio.ensure_future(
                pack_message_off_loop(
                    push_type, node.name, (content,), version=version, message_id=message_id
                )
            )
        return pack_message(push_type, node.name, content, version=version, message_id=message_id)

    def _content(self, push_type: str, node: NodeInfo) -> bytes:
        if push_type == "TRANSFORM":
            return tracking.encode_transform(self.scene.transform_matrix(node.id))
        if push_type in ("POSITION", "QTRANS"):
            position, quaternion = tracking.pose_of_matrix(self.scene.transform_matrix(node.id))
            return tracking.encode_position(position, quaternion)
        if push_type == "POINT":
            markups = self.scene.markups(node.id)
            rgba = (*(round(255 * channel) for channel in markups.color), 255)
            return points.encode_points(
                np.array([point.position for point in markups.points]).reshape(-1, 3),
                [point.label for point in markups.points],
                group=node.name,
                rgba=rgba,  # type: ignore[arg-type]
                owner=node.name,
            )
        if push_type == "STRING":
            return text.encode_string(self.scene.text(node.id))
        if push_type == "POLYDATA":
            model = self.scene.model(node.id)
            return polydata.encode_polydata(model.vertices, polygons=model.triangles)
        if push_type in BUNDLE_TYPES:
            return self._bundle_content(push_type, [node])
        raise ValueError(f"cannot push {push_type}")

    def _bundle_content(self, push_type: str, nodes: list[NodeInfo]) -> bytes:
        elements = [(node.name, self.scene.transform_matrix(node.id)) for node in nodes]
        encode = tracking.encode_tdata if push_type == "TDATA" else tracking.encode_qtdata
        return encode(elements)

    def _pack_bundle(self, push_type: str, name: str, device: str, version: int) -> Outgoing:
        if name:
            try:
                nodes = [self.scene.find(name, LINEAR_TRANSFORM_CLASS)]
            except NodeNotFound:
                nodes = []
        else:
            nodes = self.scene.nodes(class_name=LINEAR_TRANSFORM_CLASS)[:MAX_QUERY_NODES]
        return pack_message(
            push_type, device, self._bundle_content(push_type, nodes), version=version
        )

    def _pack_image(self, node: NodeInfo, version: int, message_id: int) -> Awaitable[Outgoing]:
        """One packing per (node state, header version), shared by every session."""
        generation = self._generation.get(node.id, 0)
        key = (node.id, version)
        cached = self._images.get(key)
        if cached is not None and cached[0] == generation and not message_id:
            return cached[1]
        volume = self.scene.volume(node.id)
        content = (
            image.encode_image_header(volume.array, volume.ijk_to_ras),
            image.voxel_bytes(volume.array),
        )
        task = asyncio.ensure_future(
            pack_message_off_loop(
                "IMAGE", node.name, content, version=version, message_id=message_id
            )
        )
        if not message_id:
            self._images[key] = (generation, task)
        return task

    # -- GET_ queries --------------------------------------------------------------------------
    async def query(
        self, session: Session, query_type: str, device: str, frame: Frame
    ) -> list[Outgoing]:
        """Replies to GET_<type>: that type for the named node (every node of the kind when
        the name is empty), or an empty-bodied <type> when there is none (`query.md`)."""
        version, message_id = frame.version, frame.message_id
        if query_type == "STATUS":
            report = status.Status(status.OK, 0, "OK", f"slicer-bridge {__version__}")
            return [
                session.writer.pack("STATUS", device, status.encode_status(report), reply_to=frame)
            ]
        if query_type == "CAPABILITY":
            content = queries.encode_capability(CAPABILITIES)
            return [session.writer.pack("CAPABILITY", device, content, reply_to=frame)]
        if query_type in BUNDLE_TYPES:
            return [self._pack_bundle(query_type, device, device, version)]
        nodes = self.nodes_for(Subscription(query_type, device))[:MAX_QUERY_NODES]
        if not nodes:
            return [session.writer.pack(query_type, device, b"", reply_to=frame)]
        replies = []
        for node in nodes:
            message = self.pack_node(query_type, node, version, message_id)
            replies.append(message if isinstance(message, Outgoing) else await message)
        return replies
