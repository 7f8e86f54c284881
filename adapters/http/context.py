"""Typed keys for what every HTTP handler may need from the running application.

Handlers are plain `async def handler(request) -> Response` functions; they reach the bridge
(scene, bus, settings) through these keys instead of globals, so several bridges (tests)
can run in one process.
"""

from __future__ import annotations

from aiohttp import web

from bridge.app import Bridge
from bridge.config import Settings

BRIDGE: web.AppKey[Bridge] = web.AppKey("bridge", Bridge)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)


def bridge_of(request: web.Request) -> Bridge:
    return request.app[BRIDGE]
