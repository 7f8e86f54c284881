"""Fixtures for the live-channel and browser tests.

The running-bridge fixtures are the HTTP tests' own (`tests/http/conftest.py`), loaded from
that file and re-exported here: `bridge_settings`, `start_http_bridge`, `http_bridge`,
`http_session`. Added here:

* `live` — `await live(bridge, **headers)` opens a `LiveClient` on `/bridge/ws`: a thin
  aiohttp WebSocket client that sorts what arrives into replies, states and frames; closed
  after the test (before the bridge stops, so stopping does not wait for open sockets).
* `volume_bridge` — a running bridge (300 passes/s) with a 64×64×40 volume shown in the
  slice views, so slice frames change with the offset.
* `browser` — headless Debian Chromium driven by Playwright's async API (skipped when either
  is missing; Playwright's own browser download is never used).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest

from adapters.http.ws_streams import unpack_frame
from bridge import commands as c


def _load_http_fixtures() -> Any:
    name = "tests_http_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "http" / "conftest.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


_http = _load_http_fixtures()
RunningBridge = _http.RunningBridge
bridge_settings = _http.bridge_settings
start_http_bridge = _http.start_http_bridge
http_bridge = _http.http_bridge
http_session = _http.http_session

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VOLUME_SHAPE = (40, 64, 64)


class LiveClient:
    """One `/bridge/ws` connection, its incoming messages sorted by type."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.messages: list[dict[str, Any]] = []
        self.frames: list[tuple[dict[str, Any], bytes]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.messages.append(orjson.loads(message.data))
                elif message.type is aiohttp.WSMsgType.BINARY:
                    self.frames.append(unpack_frame(message.data))
                self._arrived.set()
        finally:
            self._arrived.set()  # the close is news too

    async def send(self, message: Any) -> None:
        if isinstance(message, str | bytes):
            await (self.socket.send_str if isinstance(message, str) else self.socket.send_bytes)(
                message
            )
        else:
            text = orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            await self.socket.send_str(text)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    def states(self, subject: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.of_type("state") if subject is None or m["subject"] == subject]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "a message"
    ) -> Any:
        """Wait until `predicate()` is truthy (checked after each arrival); its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.messages[-5:]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def reply_to(self, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send `message` (given an `id` if it has none) and wait for the reply with that id."""
        message = {"id": f"q{len(self.messages)}-{time.monotonic_ns()}", **message}
        await self.send(message)
        return await self.wait_for(
            lambda: next((m for m in self.messages if m.get("id") == message["id"]), None),
            timeout,
            f"the reply to {message}",
        )

    async def quiet(self, seconds: float = 0.3) -> None:
        """Let whatever is on its way arrive."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        await self.socket.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@pytest.fixture
async def live(
    start_http_bridge: Any, http_session: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., Awaitable[LiveClient]]]:
    # Depends on start_http_bridge so that its clients close before any bridge stops.
    clients: list[LiveClient] = []

    async def connect(running: Any, path: str = "/bridge/ws", **headers: str) -> LiveClient:
        socket = await http_session.ws_connect(running.url(path), headers=headers or None)
        client = LiveClient(socket)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


async def put_test_volume(running: Any) -> str:
    k, j, i = np.indices(VOLUME_SHAPE, dtype=np.int32)
    array = (i * 3 + j * 2 + k * 5) % 97 + np.where((i - 32) ** 2 + (j - 32) ** 2 < 300, 80, 0)
    result = await running.bridge.bus.submit(
        c.PutVolume(node="LiveVolume", array=array.astype(np.int16), source="test")
    )
    assert result.ok, result.error
    return result.value["node"]


@pytest.fixture
async def volume_bridge(start_http_bridge: Callable[..., Awaitable[Any]]) -> Any:
    running = await start_http_bridge(max_rate=300.0)
    await put_test_volume(running)
    return running


@pytest.fixture
async def browser(start_http_bridge: Any) -> AsyncIterator[Any]:
    # Depends on start_http_bridge so that the browser closes its sockets before bridges stop.
    playwright_api = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
        )
        try:
            yield browser
        finally:
            await browser.close()
