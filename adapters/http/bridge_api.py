"""The `/bridge` surface: this bridge's own status and metrics (not part of Slicer's API).

* `GET /bridge/status` — JSON: version, uptime, scene, each adapter with its addresses and
  counters (the HTTP adapter's chosen port among them), the bus counters per kind and
  source, and receive→apply latency percentiles;
* `GET /bridge/metrics` — the same figures as Prometheus text, with latency histograms;
* `GET /bridge/ws` — the live WebSocket channel (commands, subscriptions, view streams),
  `adapters.http.ws`;
* `/bridge/compute…` and `/bridge/jobs…` — compute operations and jobs,
  `adapters.http.compute_api`.

Status and metrics are read-only; the WebSocket channel and compute jobs submit commands
through the bus.
"""

from __future__ import annotations

from aiohttp import web

from adapters.http.compute_api import COMPUTE_ROUTES
from adapters.http.context import bridge_of
from adapters.http.metrics import CONTENT_TYPE, render_prometheus
from adapters.http.responses import json_response
from adapters.http.routing import Route, RouteTable
from adapters.http.ws import close_live_sessions, websocket


async def status(request: web.Request) -> web.Response:
    return json_response(bridge_of(request).status())


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=render_prometheus(bridge_of(request)).encode())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


BRIDGE_ROUTES = RouteTable(
    "/bridge",
    [
        Route("/status", status, ("GET",), match="exact"),
        Route("/metrics", metrics, ("GET",), match="exact"),
        Route("/ws", websocket, ("GET",), match="exact"),
        *COMPUTE_ROUTES,
    ],
)


def on_mount(app: web.Application) -> None:
    """What `/bridge` needs besides routes: live sockets closed when the server stops (else
    stopping waits out aiohttp's shutdown timeout for each open WebSocket)."""
    app.on_shutdown.append(close_live_sessions)
