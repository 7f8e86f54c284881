"""Fixtures for the OpenIGTLink adapter tests: a running bridge on the headless scene, the
adapter on an ephemeral loopback port, and raw peers connected to it (`igtl_peers`).

`bridge` runs the bus fast (200 passes/s) so tests wait little; `start_adapter(**options)`
starts an `IgtlAdapter` on it (port 0) and stops it after the test; `scene_texts` records
every text a text node of the scene took, in order (a text node holds only the latest).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from igtl_peers import RawPeer

from adapters.igtl import IgtlAdapter, IgtlOptions
from bridge.app import Bridge
from bridge.config import Settings
from bridge.scene.types import SceneEvent


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    settings = Settings(http=False, igtl=False, mqtt=False, data_dir=tmp_path, max_rate=200.0)
    running = Bridge(settings)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def scene_texts(bridge: Bridge) -> list[tuple[str, str]]:
    """(node name, text) for every text a text node took, in the order the scene took them."""
    texts: list[tuple[str, str]] = []
    scene = bridge.scene

    def record(event: SceneEvent) -> None:
        node = event.node
        if node is not None and node.class_name == "vtkMRMLTextNode" and event.kind != "removed":
            texts.append((node.name, scene.text(node.id)))

    scene.subscribe(record)
    return texts


@pytest.fixture
async def start_adapter(
    bridge: Bridge,
) -> AsyncIterator[Callable[..., Awaitable[IgtlAdapter]]]:
    started: list[IgtlAdapter] = []

    async def start(**options: Any) -> IgtlAdapter:
        options.setdefault("port", 0)
        adapter = IgtlAdapter(IgtlOptions(**options))
        await adapter.start(bridge)
        started.append(adapter)
        return adapter

    yield start
    for adapter in reversed(started):
        await adapter.stop()


@pytest.fixture
async def adapter(start_adapter: Callable[..., Awaitable[IgtlAdapter]]) -> IgtlAdapter:
    return await start_adapter()


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
