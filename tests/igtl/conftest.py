"""Fixtures for the OpenIGTLink adapter tests: a running bridge on the headless scene, the
adapter on an ephemeral loopback port, and raw peers connected to it (`igtl_peers`).

`bridge` runs the bus fast (200 passes/s) so tests wait little; `start_adapter(**options)`
starts an `IgtlAdapter` on it (port 0) and stops it after the test; `applied_texts`
registers handlers for the stand-in SetText/PutModel commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from igtl_peers import TEXT_KINDS, PutModel, RawPeer, SetText

from adapters.igtl import IgtlAdapter, IgtlOptions
from bridge.app import Bridge
from bridge.config import Settings


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    settings = Settings(http=False, igtl=False, mqtt=False, data_dir=tmp_path, max_rate=200.0)
    running = Bridge(settings)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def applied_texts(bridge: Bridge) -> list[tuple[str, str]]:
    """Registers the stand-in SetText/PutModel handlers; returns what SetText applied."""
    texts: list[tuple[str, str]] = []
    bridge.applier.register(SetText, lambda cmd: texts.append((cmd.node, cmd.text)))  # type: ignore[arg-type]
    bridge.models = {}  # type: ignore[attr-defined]

    def put_model(cmd: PutModel) -> None:
        bridge.models[cmd.node] = cmd  # type: ignore[attr-defined]

    bridge.applier.register(PutModel, put_model)  # type: ignore[arg-type]
    return texts


@pytest.fixture
async def start_adapter(
    bridge: Bridge,
) -> AsyncIterator[Callable[..., Awaitable[IgtlAdapter]]]:
    started: list[IgtlAdapter] = []

    async def start(*, command_kinds: Any = None, **options: Any) -> IgtlAdapter:
        options.setdefault("port", 0)
        adapter = IgtlAdapter(IgtlOptions(**options), command_kinds=command_kinds)
        await adapter.start(bridge)
        started.append(adapter)
        return adapter

    yield start
    for adapter in reversed(started):
        await adapter.stop()


@pytest.fixture
async def adapter(start_adapter: Callable[..., Awaitable[IgtlAdapter]]) -> IgtlAdapter:
    return await start_adapter(command_kinds=TEXT_KINDS)


@pytest.fixture
async def connect(adapter: IgtlAdapter) -> AsyncIterator[Callable[..., Awaitable[RawPeer]]]:
    peers: list[RawPeer] = []

    async def open_peer(target: IgtlAdapter | None = None) -> RawPeer:
        peer = await RawPeer.connect(target or adapter)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.close()
