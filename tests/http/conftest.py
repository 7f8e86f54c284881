"""Fixtures for the HTTP tests: a real bridge serving HTTP on a free loopback port.

* `bridge_settings` — `Settings` for a bridge with only HTTP on (no IGTL, no MQTT), port 0
  (the system picks a free one), data in the test's tmp folder.
* `http_bridge` — that bridge, started; an object with `.bridge`, `.port`, `.base_url`,
  `.settings` and `.url(path)`; stopped after the test.
* `start_http_bridge` — a factory for variants: `await start_http_bridge(enable_exec=True,
  token="s3cret", cors=True)`; every bridge it started is stopped after the test. Names that
  `Settings` does not declare yet (e.g. `max_body_size`) are set on the settings object as
  extra attributes, which is how the HTTP adapter reads optional settings (`getattr`).
* `http_session` — an `aiohttp.ClientSession`, closed after the test.
* `probe_routes` — adds test-only routes to the `/bridge` table before a bridge starts:
  `/bridge/echo` (reads the whole body, answers its length and SHA-256), `/bridge/boom`
  (an unexpected exception) and `/bridge/refuse` (an HttpError 404).
* `raw_connect` — `await raw_connect(port)` opens a plain TCP connection (`RawHttp`) for
  what HTTP clients will not send: HTTP/1.0, `Expect`, hand-made chunks, malformed lines,
  paths with `..` left as they are. Closed after the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.http import bridge_api
from adapters.http.responses import HttpError, json_response
from adapters.http.routing import Route, RouteTable
from bridge.app import Bridge
from bridge.config import Settings


@dataclass
class RunningBridge:
    bridge: Bridge
    settings: Settings
    port: int
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def http(self) -> Any:
        return next(adapter for adapter in self.bridge.adapters if adapter.name == "http")


def settings_with(settings: Settings, **overrides: Any) -> Settings:
    """`settings` with `overrides` (unknown names are a TypeError, as they should be)."""
    return replace(settings, **overrides)


async def start_bridge(settings: Settings) -> RunningBridge:
    bridge = Bridge(settings)
    await bridge.start()
    adapters = [adapter for adapter in bridge.adapters if adapter.name == "http"]
    if not adapters:
        await bridge.stop()
        pytest.fail("the HTTP adapter did not start; see the log")
    adapter = adapters[0]
    scheme = "https" if settings.certfile else "http"
    return RunningBridge(bridge, settings, adapter.port, f"{scheme}://127.0.0.1:{adapter.port}")


@pytest.fixture
def bridge_settings(tmp_path: Path) -> Settings:
    return Settings(
        host="127.0.0.1",
        http_port=0,
        igtl=False,
        mqtt=False,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
async def start_http_bridge(
    bridge_settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[RunningBridge]]]:
    started: list[RunningBridge] = []

    async def start(**overrides: Any) -> RunningBridge:
        running = await start_bridge(settings_with(bridge_settings, **overrides))
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.bridge.stop()


@pytest.fixture
async def http_bridge(start_http_bridge) -> RunningBridge:
    return await start_http_bridge()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class RawResponse:
    version: str
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class RawHttp:
    """One TCP connection that speaks HTTP by hand, byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, data: bytes) -> RawResponse:
        await self.send(data)
        return await self.response()

    async def response(self, *, head: bool = False, timeout: float = 10.0) -> RawResponse:
        """The next response; `head`: it has no body whatever its headers say."""
        return await asyncio.wait_for(self._response(head), timeout)

    async def _response(self, head: bool) -> RawResponse:
        status_line = (await self.reader.readuntil(b"\r\n")).decode("latin-1").strip()
        version, status, *_ = status_line.split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        code = int(status)
        if head or code in (100, 204, 304) or 100 <= code < 200:
            body = b""
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunks()
        else:
            body = await self.reader.read()
        return RawResponse(version, code, headers, body)

    async def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return bytes(body)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout) == b""
        except (TimeoutError, ConnectionError):
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def raw_connect() -> AsyncIterator[Callable[..., Awaitable[RawHttp]]]:
    connections: list[RawHttp] = []

    async def connect(port: int, host: str = "127.0.0.1", **kwargs: Any) -> RawHttp:
        connection = RawHttp(*await asyncio.open_connection(host, port, **kwargs))
        connections.append(connection)
        return connection

    yield connect
    for connection in connections:
        await connection.close()


async def _echo(request):
    body = await request.read()
    return json_response({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})


async def _boom(request):
    raise RuntimeError("the probe failed on purpose")


async def _refuse(request):
    raise HttpError(404, "no such probe")


@pytest.fixture
def probe_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    table = bridge_api.BRIDGE_ROUTES
    probes = [
        Route("/echo", _echo, ("POST", "PUT"), match="exact"),
        Route("/boom", _boom, match="exact"),
        Route("/refuse", _refuse, match="exact"),
    ]
    monkeypatch.setattr(
        bridge_api, "BRIDGE_ROUTES", RouteTable("/bridge", [*table.routes, *probes])
    )
