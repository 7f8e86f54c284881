"""Fixtures for the MQTT adapter tests: a real Mosquitto, bridges on it, independent peers.

`broker` is a fresh Mosquitto per test (generated config, free loopback port; see
`adapters.mqtt.testing`), so retained state never leaks between tests. `start_bridge` runs
a bridge (headless scene, MQTT adapter only) on the test's event loop; `device` makes
separate paho clients, as robots and dashboards would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_peers import INSTANCE, Device, eventually

from adapters.mqtt import MqttAdapter, MqttOptions
from adapters.mqtt.testing import LocalMosquitto
from bridge.app import Bridge
from bridge.config import Settings

#: Fast reconnects, so tests that stop the broker do not wait for the production backoff.
FAST_RECONNECT = {"reconnect_min_delay": 0.1, "reconnect_max_delay": 0.5}


@pytest.fixture
def broker() -> Iterator[LocalMosquitto]:
    with LocalMosquitto() as mosquitto:
        yield mosquitto


@pytest.fixture
async def start_bridge(broker: LocalMosquitto, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await start_bridge(**options)` → (bridge, adapter), connected unless `wait=False`.
    Keyword arguments are `MqttOptions` fields (`protocol="3.1.1"`, …) or `max_rate`."""
    bridges: list[Bridge] = []

    async def start(
        *, max_rate: float = 60.0, wait: bool = True, url: str | None = None, **options: Any
    ) -> tuple[Bridge, MqttAdapter]:
        settings = Settings(
            http=False,
            igtl=False,
            mqtt=False,  # the adapter is added below, with options Settings lacks
            data_dir=tmp_path / f"bridge{len(bridges)}",
            max_rate=max_rate,
        )
        bridge = Bridge(settings)
        bridges.append(bridge)
        await bridge.start()
        adapter = MqttAdapter(
            MqttOptions.from_url(
                url or broker.url, **{"instance": INSTANCE, **FAST_RECONNECT, **options}
            )
        )
        await adapter.start(bridge)
        bridge.adapters.append(adapter)
        if wait:
            await eventually(lambda: adapter.status()["connected"], what="bridge connected")
        return bridge, adapter

    yield start
    for bridge in reversed(bridges):
        await bridge.stop()


@pytest.fixture
async def device(broker: LocalMosquitto) -> AsyncIterator[Callable[..., Any]]:
    """`await device(name, protocol="5")` → a connected paho `Device`."""
    devices: list[Device] = []

    async def connect(name: str, *, protocol: str = "5", **tls: Any) -> Device:
        peer = Device(broker.port, client_id=name, protocol=protocol, **tls)
        devices.append(peer)
        return await peer.connect()

    yield connect
    for peer in devices:
        peer.close()
