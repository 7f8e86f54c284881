"""Outgoing: configured pushes, no echo, header versions, and the latest-value outbox that
keeps a slow peer from building a backlog."""

from __future__ import annotations

import asyncio

import numpy as np
from igtl_peers import IJK_TO_RAS, RawPeer, eventually, transform_message, translation, volume

from adapters.igtl.codecs import image, points, polydata, text, tracking
from adapters.igtl.outbox import Outbox
from adapters.igtl.wire import CRC_INLINE_LIMIT
from bridge.commands import PutModel, PutVolume, SetMarkupsPoints, SetTransform


async def test_configured_nodes_are_pushed_on_connect_and_on_every_change(
    bridge, start_adapter, connect
):
    bridge.bus.submit(SetTransform(node="Tracker", matrix=translation(1)))
    await bridge.bus.drained()
    adapter = await start_adapter(push=("Tracker", "Needle", "Plan", "CT"))
    peer = await connect(adapter)
    first = await peer.receive_type("TRANSFORM")
    assert (first.device, tracking.decode_transform(first)[0, 3]) == ("Tracker", 1)
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(2)))
    assert (await peer.receive_type("TRANSFORM")).device == "Needle"
    bridge.bus.submit(SetMarkupsPoints(node="Plan", points=[[1, 2, 3]], labels=["P-1"]))
    assert points.decode_points((await peer.receive_type("POINT")).content).names == ("P-1",)
    bridge.bus.submit(PutVolume(node="CT", array=volume(), ijk_to_ras=IJK_TO_RAS))
    pushed = image.decode_image(await peer.receive_type("IMAGE"))
    assert np.array_equal(pushed.array, volume())


async def test_a_node_is_not_echoed_to_the_peer_that_feeds_it(bridge, start_adapter):
    adapter = await start_adapter(push=("Tool",))
    feeder = await RawPeer.connect(adapter)
    watcher = await RawPeer.connect(adapter)
    await feeder.send(transform_message("Tool", translation(5)))
    pushed = await watcher.receive_type("TRANSFORM")
    assert tracking.decode_transform(pushed)[0, 3] == 5
    await feeder.send_message("GET_STATUS", "")
    assert (await feeder.receive()).type == "STATUS"  # no TRANSFORM came first
    for peer in (feeder, watcher):
        await peer.close()


async def test_text_and_model_nodes_are_pushed_as_string_and_polydata(bridge, start_adapter):
    adapter = await start_adapter(push=("Memo",))
    feeder = await RawPeer.connect(adapter)
    watcher = await RawPeer.connect(adapter)
    await feeder.send_message("STRING", "Memo", text.encode_string("from the feeder"))
    pushed = await watcher.receive_type("STRING")
    assert text.decode_string(pushed.content) == "from the feeder"
    # a surface big enough for its CRC to be computed off the loop, streamed by STT_POLYDATA
    await watcher.send_message("STT_POLYDATA", "Mesh")
    await watcher.receive_type("RTS_POLYDATA")
    vertices = np.random.default_rng(1).uniform(-50, 50, (12_000, 3))
    triangles = np.arange(36_000).reshape(-1, 3) % 12_000
    bridge.bus.submit(PutModel(node="Mesh", vertices=vertices, triangles=triangles))
    surface = await watcher.receive_type("POLYDATA")
    assert len(surface.body) > CRC_INLINE_LIMIT
    decoded = polydata.decode_polydata(surface.content)
    assert np.allclose(decoded.points, vertices, atol=1e-4)  # float32 on the wire
    assert np.array_equal(decoded.triangles(), triangles)
    await feeder.send_message("GET_STATUS", "")
    assert (await feeder.receive()).type == "STATUS"  # no echo of its own STRING came first
    for peer in (feeder, watcher):
        await peer.close()


async def test_pushes_speak_the_header_version_the_peer_speaks(bridge, start_adapter):
    adapter = await start_adapter(push=("Needle",))
    peer = await RawPeer.connect(adapter)
    await peer.send_message("STATUS", "hello", bytes(31), version=2, metadata={"dummy": "dummy"})
    await eventually(lambda: next(iter(adapter.sessions)).version == 2)
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(3)))
    pushed = await peer.receive_type("TRANSFORM")
    assert pushed.version == 2
    assert tracking.decode_transform(pushed)[0, 3] == 3
    await peer.close()


async def test_a_peer_that_does_not_read_gets_the_newest_state_not_a_backlog(bridge, start_adapter):
    adapter = await start_adapter(push=("CT",))
    assert adapter.address is not None
    reader, writer = await asyncio.open_connection(*adapter.address)
    shape = (64, 256, 128)  # 4 MiB per push: a dozen of them is more than socket buffers hold
    for value in range(12):  # the peer reads nothing meanwhile
        bridge.bus.submit(PutVolume(node="CT", array=np.full(shape, value, np.int16)))
        await bridge.bus.drained()
        await asyncio.sleep(0.01)
    session = await eventually(lambda: next(iter(adapter.sessions)))
    assert session.writer.outbox.overwritten > 0  # states skipped, not queued
    assert session.transport.get_write_buffer_size() <= (1 << 20) + 2 * np.prod(shape) + 200
    values = []
    while not values or values[-1] != 11:
        header = await asyncio.wait_for(reader.readexactly(58), 5)
        body = await asyncio.wait_for(reader.readexactly(int.from_bytes(header[42:50], "big")), 5)
        if header[2:7] == b"IMAGE":
            values.append(int(np.frombuffer(body[72:74], "<i2")[0]))
    assert values == sorted(values) and len(values) < 12  # newest last, stale ones never sent
    writer.close()


def test_the_outbox_keeps_one_entry_per_key_and_honours_intervals():
    outbox = Outbox()
    outbox.put(("TRANSFORM", "a"))
    outbox.put(("TRANSFORM", "b"), interval=1.0)
    outbox.put(("TRANSFORM", "a"))
    assert (len(outbox), outbox.overwritten) == (2, 1)
    assert outbox.pop_ready(0.0)[0] == ("TRANSFORM", "b")  # never sent yet: ready
    outbox.sent(("TRANSFORM", "b"), 0.0)
    assert outbox.pop_ready(0.0)[0] == ("TRANSFORM", "a")
    outbox.put(("TRANSFORM", "b"), interval=1.0)
    try:
        outbox.pop_ready(0.5)
        raise AssertionError("b was sent 0.5 s ago with a 1 s interval")
    except KeyError:
        pass
    assert outbox.next_wake(0.5) == 1.0
    assert outbox.pop_ready(1.0)[0] == ("TRANSFORM", "b")
