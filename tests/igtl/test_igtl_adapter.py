"""The adapter as the bridge sees it: settings, the composition root, status, client mode's
reconnection with backoff."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from pathlib import Path

import pytest
from igtl_peers import RawPeer, eventually, transform_message, translation

import adapters.igtl
from adapters.igtl.mapping import ROUTES
from adapters.igtl.options import MIB, IgtlOptions, parse_address
from adapters.igtl.session import Session
from bridge.app import Bridge
from bridge.commands import SetTransform
from bridge.config import ConfigError, Settings


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("plus.local:18945", ("plus.local", 18945)),
        ("10.0.0.2", ("10.0.0.2", 18944)),
        ("[::1]:2000", ("::1", 2000)),
    ],
)
def test_peer_addresses_parse(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["", "host:0", "host:99999", ":18944"])
def test_bad_peer_addresses_are_refused(text):
    with pytest.raises(ValueError):
        parse_address(text)


def test_options_come_from_the_igtl_settings():
    settings = Settings(
        host="0.0.0.0", igtl_port=18000, igtl_connect="a:1, b:2", igtl_push="Tracker,Needle"
    )
    options = IgtlOptions.from_settings(settings)
    assert (options.host, options.port) == ("0.0.0.0", 18000)
    assert options.connect == (("a", 1), ("b", 2))
    assert options.push == ("Tracker", "Needle")
    assert options.max_body == 264 * MIB >= 512**3 * 2  # a 512³ int16 image fits
    assert options.check_crc and options.serve
    defaults = IgtlOptions.from_settings(Settings())
    assert (defaults.host, defaults.port, defaults.connect) == ("127.0.0.1", 18944, ())
    with pytest.raises(ConfigError, match="igtl_connect: not a host:port address: 'nohost'"):
        Settings(igtl_connect="a:1,nohost")


async def test_the_composition_root_starts_the_adapter_from_settings(tmp_path: Path):
    settings = Settings(http=False, mqtt=False, igtl=True, igtl_port=0, data_dir=tmp_path)
    bridge = Bridge(settings)
    await bridge.start()
    try:
        [adapter] = bridge.adapters
        assert isinstance(adapter, adapters.igtl.IgtlAdapter)
        peer = await RawPeer.connect(adapter)
        await peer.send(transform_message("Tool", translation(2)))
        await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 2)
        status = bridge.status()["adapters"]["igtl"]
        assert status["listening"].startswith("127.0.0.1:")
        assert status["messages"]["by_type"]["TRANSFORM"]["received"] == 1
        await peer.close()
    finally:
        await bridge.stop()


async def test_status_reports_peers_types_and_closed_connections(adapter, connect):
    peer = await connect()
    await peer.send(transform_message("Tool", translation(1)), b"\xde\xad" * 40)
    assert await peer.closed_by_server()
    await eventually(lambda: not adapter.sessions)
    status = adapter.status()
    assert status["closed_connections"]["by_reason"] == {"garbage header": 1}
    assert status["closed_connections"]["totals"]["received"] == 1
    assert status["messages"]["by_type"]["TRANSFORM"]["received"] == 1
    assert isinstance(status["messages"]["by_type"]["TRANSFORM"]["latency_ms"]["p99"], float)


async def test_client_mode_reconnects_with_backoff_and_maps_the_same(bridge, start_adapter):
    accepted: list[asyncio.StreamWriter] = []

    async def plus_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        writer.write(transform_message("PlusTool", translation(len(accepted))))
        await writer.drain()

    server = await asyncio.start_server(plus_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = await start_adapter(
        serve=False, connect=(("127.0.0.1", port),), push=("Needle",), reconnect_initial=0.05
    )
    connector = adapter.connectors[0]
    await eventually(lambda: bridge.scene.transform_matrix("PlusTool")[0, 3] == 1)
    assert adapter.address is None  # client mode only: nothing listens
    accepted[0].close()  # the PLUS server drops the connection…
    await eventually(lambda: len(accepted) == 2)  # …and the bridge dials again
    await eventually(lambda: bridge.scene.transform_matrix("PlusTool")[0, 3] == 2)
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(5)))
    assert connector.connections == 2 and connector.state == "connected"
    server.close()
    await server.wait_closed()
    for writer in accepted:
        writer.close()
    await eventually(lambda: connector.state == "waiting" and connector.attempts >= 3)
    assert "connect" in connector.last_error.lower() or connector.last_error


async def test_dialled_connections_are_not_counted_against_the_peer_limit(start_adapter):
    listening = await start_adapter(max_peers=1)
    dialler = await start_adapter(serve=False, connect=(listening.address,), max_peers=0)
    await eventually(lambda: dialler.connectors[0].state == "connected")
    assert all(session.role == "client" for session in dialler.sessions)
    assert isinstance(next(iter(dialler.sessions)), Session)


async def test_a_port_in_use_fails_the_adapter_and_the_bridge_goes_on(tmp_path: Path, caplog):
    occupied = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = occupied.sockets[0].getsockname()[1]
    settings = Settings(http=False, mqtt=False, igtl=True, igtl_port=port, data_dir=tmp_path)
    bridge = Bridge(settings)
    await bridge.start()
    try:
        assert bridge.adapters == []
        assert "igtl: adapter failed to start" in caplog.text
        bridge.bus.submit(SetTransform(node="Still", matrix=translation(1)))
        await eventually(lambda: bridge.scene.transform_matrix("Still")[0, 3] == 1)
    finally:
        await bridge.stop()
        occupied.close()


def test_the_readme_has_the_mapping_table_and_every_igtl_setting():
    text = (Path(adapters.igtl.__file__).parents[2] / "README.md").read_text()
    for type_name in ROUTES:
        assert f"`{type_name}`" in text, type_name
    for spec in fields(Settings):
        if spec.name.startswith("igtl_"):
            flag = spec.metadata["flag"] or "--" + spec.name.replace("_", "-")
            assert flag in text, spec.name
