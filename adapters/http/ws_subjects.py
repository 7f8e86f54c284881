"""Subscriptions of the live channel: which scene state a client follows, and that state.

A *subject* names one piece of state:

| subject                | state                                                          |
|------------------------|----------------------------------------------------------------|
| `nodes`                | every node: id, name, class                                    |
| `layout`               | the layout name                                                |
| `transform:<node>`     | matrix to parent, matrix to world, parent (a grid: no matrix)  |
| `markups:<node>`       | control points (local RAS), labels, colour, matrix to world    |
| `view:<view>`          | a slice view's plane and offset, or the 3D view's camera       |

`<node>` is a node name or id, or a pattern (`*`, `?`, `[…]`) on either; `<view>` is `red`,
`yellow`, `green`, `3d` (any alias) or a pattern. A pattern delivers one subject per matching
node, named `<kind>:<node name>`. A node that does not exist (yet, or any more) has the state
`null`: subscribing to `transform:Tracker` before the tracker connects is fine.

Delivery is coalesced per subject: a change only marks its subject *dirty*; the sender reads
the state when it sends, so however many changes happened in between, the client gets the
latest state once — never a backlog. A moving transform also dirties what lies under it
(their matrix to world changed).

Events are classified by MRML class name (`…TransformNode`, `vtkMRMLMarkups…Node`,
`vtkMRMLSliceNode…`, `vtkMRMLCameraNode`, `vtkMRMLLayoutNode`), the naming every MRML scene
follows; listing nodes for a pattern asks the scene (`nodes(class_name=…)`, with
inheritance). Nothing here sends or knows a socket.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.scene.protocol import Scene
from bridge.scene.types import (
    SLICE_VIEWS,
    THREED_VIEWS,
    NodeInfo,
    SceneError,
    SceneEvent,
    canonical_view,
)

PATTERN_CHARACTERS = frozenset("*?[")
ALL_VIEWS: tuple[str, ...] = (*SLICE_VIEWS, *THREED_VIEWS)


class SubjectError(ValueError):
    """A subject that does not parse (unknown kind, missing or bad name)."""


# -- classifying nodes -------------------------------------------------------------------------
def is_transform(class_name: str) -> bool:
    return class_name.endswith("TransformNode") and class_name.startswith("vtkMRML")


def is_markups(class_name: str) -> bool:
    return (
        class_name.startswith("vtkMRMLMarkups")
        and class_name.endswith("Node")
        and not class_name.endswith(("DisplayNode", "StorageNode", "JsonStorageNode"))
    )


def view_of_node(info: NodeInfo) -> str | None:
    """The view a view-state node belongs to: a slice node → its view, the camera → `3d`."""
    if info.class_name == "vtkMRMLCameraNode" or info.class_name == "vtkMRMLViewNode":
        return "3d"
    if info.class_name == "vtkMRMLSliceNode":
        with contextlib.suppress(SceneError):
            return canonical_view(info.id)
        with contextlib.suppress(SceneError):
            return canonical_view(info.name)
    return None


# -- state readers -----------------------------------------------------------------------------
def node_json(info: NodeInfo) -> dict[str, str]:
    return {"id": info.id, "name": info.name, "class": info.class_name}


def world_or_none(scene: Scene, ref: str) -> Any:
    try:
        return scene.world_matrix(ref)
    except SceneError:  # under a grid transform: no matrix
        return None


def transform_state(scene: Scene, info: NodeInfo) -> dict[str, Any]:
    parent = scene.parent_transform(info.id)
    try:
        matrix = scene.transform_matrix(info.id)
    except SceneError:
        matrix = None
    return {
        "matrix": matrix,
        "world": world_or_none(scene, info.id),
        "linear": matrix is not None,
        "parent": None if parent is None else parent.id,
    }


def markups_state(scene: Scene, info: NodeInfo) -> dict[str, Any]:
    data = scene.markups(info.id)
    return {
        "points": [point.position for point in data.points],
        "labels": [point.label for point in data.points],
        "visible": [point.visible for point in data.points],
        "color": data.color,
        "selected_color": data.selected_color,
        "glyph_scale": data.glyph_scale,
        "world": world_or_none(scene, info.id),
    }


def view_state(scene: Scene, view: str) -> dict[str, Any]:
    if view in SLICE_VIEWS:
        state = scene.slice_view(view)
        return {
            "view": view,
            "orientation": state.orientation,
            "offset": state.offset,
            "slice_to_ras": state.slice_to_ras,
            "field_of_view": state.field_of_view,
            "background": state.background_volume_id,
            "foreground": state.foreground_volume_id,
            "label": state.label_volume_id,
        }
    camera = scene.camera(view)
    return {
        "view": view,
        "position": camera.position,
        "focal_point": camera.focal_point,
        "view_up": camera.view_up,
        "view_angle": camera.view_angle,
    }


def nodes_state(scene: Scene) -> dict[str, Any]:
    return {"nodes": [node_json(info) for info in scene.nodes()]}


def layout_state(scene: Scene) -> dict[str, Any]:
    return {"layout": scene.layout}


# -- subject kinds -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NodeKind:
    """A subject kind over nodes of one MRML class."""

    name: str
    class_name: str
    classify: Callable[[str], bool]
    state: Callable[[Scene, NodeInfo], dict[str, Any]]
    #: Whether its state holds a matrix to world (so moving a parent transform changes it).
    follows_parents: bool = True


NODE_KINDS: dict[str, NodeKind] = {
    "transform": NodeKind("transform", "vtkMRMLTransformNode", is_transform, transform_state),
    "markups": NodeKind("markups", "vtkMRMLMarkupsNode", is_markups, markups_state),
}
#: Subjects without a name: state reader, and which events change it.
SINGLETONS: dict[str, tuple[Callable[[Scene], dict[str, Any]], Callable[[SceneEvent], bool]]] = {
    "nodes": (
        nodes_state,
        lambda event: event.kind != "modified" or event.aspect == "name",
    ),
    "layout": (
        layout_state,
        lambda event: (
            event.kind == "cleared"
            or (event.node is not None and "Layout" in event.node.class_name)
        ),
    ),
}
KINDS: tuple[str, ...] = (*SINGLETONS, *NODE_KINDS, "view")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One parsed subject as a client wrote it: kind, and the node/view name or pattern."""

    kind: str
    ref: str = ""

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.ref}" if self.ref else self.kind

    @property
    def is_pattern(self) -> bool:
        return any(char in PATTERN_CHARACTERS for char in self.ref)

    def matches(self, info: NodeInfo) -> bool:
        if self.is_pattern:
            return fnmatch.fnmatchcase(info.name, self.ref) or fnmatch.fnmatchcase(
                info.id, self.ref
            )
        return self.ref in (info.name, info.id)

    def concrete(self, info: NodeInfo) -> str:
        """The subject a change of `info` is delivered under."""
        return f"{self.kind}:{info.name}" if self.is_pattern else self.subject


def parse_subject(text: object) -> Subscription:
    if not isinstance(text, str) or not text.strip():
        raise SubjectError(f"a subject must be a non-empty string, got {text!r}")
    kind, _, ref = text.strip().partition(":")
    kind, ref = kind.strip().lower(), ref.strip()
    if kind in SINGLETONS:
        if ref:
            raise SubjectError(f"subject {kind!r} takes no name, got {text!r}")
        return Subscription(kind)
    if kind not in NODE_KINDS and kind != "view":
        raise SubjectError(
            f"unknown subject {text!r}; subjects: nodes, layout, transform:<node>, "
            "markups:<node>, view:<view> (a name, an id or a pattern such as markups:*)"
        )
    if not ref:
        raise SubjectError(f"subject {text!r} needs a name or pattern after '{kind}:'")
    if kind == "view" and not any(char in PATTERN_CHARACTERS for char in ref):
        try:
            ref = canonical_view(ref)
        except SceneError as error:
            raise SubjectError(str(error)) from None
    return Subscription(kind, ref)


# -- one connection's subscriptions ------------------------------------------------------------
@dataclass
class Subscriptions:
    """What one client follows, and which subjects changed since they were last sent."""

    scene: Scene
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    #: Concrete subjects waiting to be sent, in the order they first changed.
    dirty: dict[str, None] = field(default_factory=dict)
    #: Node id each concrete node subject was last sent for (renames, removals).
    sent_for: dict[str, str] = field(default_factory=dict)

    def add(self, subscriptions: Iterable[Subscription]) -> list[str]:
        """Follow these subjects; their current state is marked for sending."""
        added = []
        for subscription in subscriptions:
            self.subscriptions[subscription.subject] = subscription
            for subject in self._current_subjects(subscription):
                self.dirty[subject] = None
            added.append(subscription.subject)
        return added

    def remove(self, subjects: Iterable[str]) -> list[str]:
        removed = []
        for text in subjects:
            subject = parse_subject(text).subject if text != "*" else None
            chosen = list(self.subscriptions) if subject is None else [subject]
            for name in chosen:
                if self.subscriptions.pop(name, None) is not None:
                    removed.append(name)
        if removed:
            kept = {s for sub in self.subscriptions.values() for s in self._current_subjects(sub)}
            self.dirty = {s: None for s in self.dirty if s in kept}
            self.sent_for = {s: i for s, i in self.sent_for.items() if s in kept}
        return removed

    @property
    def names(self) -> list[str]:
        return list(self.subscriptions)

    def take_dirty(self) -> list[str]:
        subjects, self.dirty = list(self.dirty), {}
        return subjects

    # -- changes --------------------------------------------------------------------------------
    def on_event(self, event: SceneEvent) -> bool:
        """Mark what `event` changed; True if anything this client follows did."""
        if not self.subscriptions:
            return False
        before = len(self.dirty)
        if event.node is None:  # the scene was cleared: everything may have changed
            for subscription in self.subscriptions.values():
                for subject in self._current_subjects(subscription):
                    self.dirty[subject] = None
            for subject in self.sent_for:
                self.dirty[subject] = None
            return len(self.dirty) > before or bool(self.subscriptions)
        info = event.node
        for subject, node_id in self.sent_for.items():
            if node_id == info.id:
                self.dirty[subject] = None
        for subscription in self.subscriptions.values():
            self._mark(subscription, event, info)
        if event.aspect == "transform" and is_transform(info.class_name):
            self._mark_dependents(info.id)
        return len(self.dirty) > before

    def _mark(self, subscription: Subscription, event: SceneEvent, info: NodeInfo) -> None:
        kind = subscription.kind
        if kind in SINGLETONS:
            if SINGLETONS[kind][1](event):
                self.dirty[kind] = None
        elif kind == "view":
            view = view_of_node(info)
            if view is not None and _view_matches(subscription, view):
                self.dirty[f"view:{view}"] = None
        elif NODE_KINDS[kind].classify(info.class_name) and subscription.matches(info):
            self.dirty[subscription.concrete(info)] = None

    def _mark_dependents(self, transform_id: str) -> None:
        """Nodes under `transform_id` that a subscription follows: their world moved."""
        for subscription in self.subscriptions.values():
            kind = NODE_KINDS.get(subscription.kind)
            if kind is None or not kind.follows_parents:
                continue
            for info in self.scene.nodes(class_name=kind.class_name):
                if subscription.matches(info) and transform_id in _ancestor_ids(self.scene, info):
                    self.dirty[subscription.concrete(info)] = None

    # -- reading state --------------------------------------------------------------------------
    def state(self, subject: str) -> tuple[NodeInfo | None, dict[str, Any] | None]:
        """(node, state) of a concrete subject now; (None, None) for a node that is gone."""
        subscription = parse_subject(subject)
        if subscription.kind in SINGLETONS:
            return None, SINGLETONS[subscription.kind][0](self.scene)
        if subscription.kind == "view":
            return None, view_state(self.scene, subscription.ref)
        kind = NODE_KINDS[subscription.kind]
        info = _find_exact(self.scene, kind.class_name, subscription.ref)
        if info is None:
            self.sent_for.pop(subject, None)
            return None, None
        self.sent_for[subject] = info.id
        return info, kind.state(self.scene, info)

    def _current_subjects(self, subscription: Subscription) -> Iterator[str]:
        """The concrete subjects a subscription covers now."""
        if subscription.kind in SINGLETONS:
            yield subscription.kind
        elif subscription.kind == "view":
            for view in ALL_VIEWS:
                if _view_matches(subscription, view):
                    yield f"view:{view}"
        elif not subscription.is_pattern:
            yield subscription.subject
        else:
            kind = NODE_KINDS[subscription.kind]
            for info in self.scene.nodes(class_name=kind.class_name):
                if subscription.matches(info):
                    yield subscription.concrete(info)


def _view_matches(subscription: Subscription, view: str) -> bool:
    if subscription.is_pattern:
        return fnmatch.fnmatchcase(view, subscription.ref.lower())
    return subscription.ref == view


def _find_exact(scene: Scene, class_name: str, ref: str) -> NodeInfo | None:
    found = scene.nodes(id=ref, class_name=class_name) or scene.nodes(
        name=ref, class_name=class_name
    )
    return found[0] if found else None


def _ancestor_ids(scene: Scene, info: NodeInfo) -> set[str]:
    ancestors: set[str] = set()
    parent = scene.parent_transform(info.id)
    while parent is not None and parent.id not in ancestors:
        ancestors.add(parent.id)
        parent = scene.parent_transform(parent.id)
    return ancestors


__all__ = [
    "KINDS",
    "SubjectError",
    "Subscription",
    "Subscriptions",
    "node_json",
    "parse_subject",
    "view_of_node",
]
