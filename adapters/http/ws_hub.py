"""The live channel's meeting point: one scene listener shared by every WebSocket connection.

`LiveHub` listens to the scene only while at least one connection is open. For each change
it bumps the generation of every view the change touches (`ws_streams.views_touched`) and
hands the event to each connection, which marks its subscriptions and wakes its sender. It
also keeps the last frame rendered per stream options, so connections that stream the same
view the same way share one rendering per change.

The listener only marks and wakes: it runs inside the scene's apply pass, so it never sends,
renders or awaits. One hub per bridge, found with `hub_for(bridge)`.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from adapters.http.ws_streams import ALL_VIEWS, StreamOptions, views_touched
from bridge.app import Bridge
from bridge.scene.protocol import Scene
from bridge.scene.types import SceneEvent

log = logging.getLogger("slicer_bridge")

#: Distinct stream options whose last frame is kept (clients resizing make new ones).
MAX_SHARED_FRAMES = 32


class LiveClient(Protocol):
    def on_scene_event(self, event: SceneEvent, views: tuple[str, ...]) -> None: ...


class LiveHub:
    """Fans scene changes out to live connections; counts view generations; shares frames."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.clients: set[LiveClient] = set()
        self.generations: dict[str, int] = dict.fromkeys(ALL_VIEWS, 0)
        self._frames: dict[StreamOptions, tuple[int, bytes, float]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.frames_rendered = 0
        self.frames_shared = 0

    def attach(self, client: LiveClient) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.scene.subscribe(self.on_scene_event)
        self.clients.add(client)

    def detach(self, client: LiveClient) -> None:
        self.clients.discard(client)
        if not self.clients and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            self._frames.clear()

    def on_scene_event(self, event: SceneEvent) -> None:
        views = tuple(views_touched(self.scene, event))
        for view in views:
            self.generations[view] += 1
        for client in list(self.clients):
            try:
                client.on_scene_event(event, views)
            except Exception:  # one broken connection must not break the scene's change
                log.exception("ws: a live connection failed on %s", event)

    def generation(self, view: str) -> int:
        return self.generations[view]

    def frame(self, options: StreamOptions) -> tuple[int, bytes, float]:
        """(generation, image bytes, render milliseconds) of the view now, rendered once per
        change of the view for all streams with these options. Errors propagate."""
        generation = self.generations[options.view]
        cached = self._frames.get(options)
        if cached is not None and cached[0] == generation:
            self.frames_shared += 1
            return cached
        started = time.perf_counter()
        image = options.render(self.scene)
        rendered = (generation, image, (time.perf_counter() - started) * 1000.0)
        if options not in self._frames and len(self._frames) >= MAX_SHARED_FRAMES:
            del self._frames[next(iter(self._frames))]  # the oldest
        self._frames[options] = rendered
        self.frames_rendered += 1
        return rendered


_HUBS: weakref.WeakKeyDictionary[Bridge, LiveHub] = weakref.WeakKeyDictionary()


def hub_for(bridge: Bridge) -> LiveHub:
    hub = _HUBS.get(bridge)
    if hub is None:
        hub = _HUBS[bridge] = LiveHub(bridge.scene)
    return hub


__all__ = ["LiveClient", "LiveHub", "hub_for"]
