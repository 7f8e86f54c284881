"""Interoperability with pyigtl, an independent implementation: its client sends to the
server (header v1 and v2 with metadata), its server receives what client mode pushes.

pyigtl's transport is thread-based and blocking, so its calls run in `asyncio.to_thread`;
its server installs signal handlers, so it is built in the main thread and the previous
handlers are restored afterwards. pyigtl quirks respected here: 3-D images as (k, j, i),
ASCII strings, distinct device names per type.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import numpy as np
import pyigtl
import pytest
from igtl_peers import IJK_TO_RAS, POSE, eventually, translation, volume

from adapters.igtl.codecs import tracking
from bridge import geometry
from bridge.commands import PutVolume, SetMarkupsPoints, SetText, SetTransform


@pytest.fixture
async def pyigtl_client(adapter) -> Iterator[pyigtl.OpenIGTLinkClient]:
    client = pyigtl.OpenIGTLinkClient(host="127.0.0.1", port=adapter.address[1])
    await eventually(client.is_connected)
    yield client
    await asyncio.to_thread(client.stop)


@pytest.fixture
def pyigtl_server() -> Iterator[pyigtl.OpenIGTLinkServer]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = pyigtl.OpenIGTLinkServer(port=0, local_server=True)
    yield server
    server.stop()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


async def test_pyigtl_client_messages_of_every_kind_reach_the_scene(
    bridge, adapter, pyigtl_client, scene_texts
):
    position, quaternion = tracking.pose_of_matrix(POSE)
    messages = [
        pyigtl.TransformMessage(POSE, device_name="Tool"),
        pyigtl.ImageMessage(
            volume(),
            ijk_to_world_matrix=IJK_TO_RAS,
            world_coordinate_system="ras",
            device_name="US",
        ),
        pyigtl.PointMessage(positions=[[1, 2, 3], [4, 5, 6]], names=["A", "B"], device_name="F"),
        pyigtl.StringMessage("hello from pyigtl", device_name="Note"),
        pyigtl.PositionMessage(positions=position, quaternions=quaternion, device_name="Pos"),
    ]
    for message in messages:
        pyigtl_client.send_message(message, wait=False)
    scene = bridge.scene
    await eventually(lambda: scene.find("Pos") and scene_texts)
    assert np.allclose(scene.transform_matrix("Tool"), POSE, atol=1e-5)
    received = scene.volume("US")
    assert np.array_equal(received.array, volume())
    assert np.allclose(received.ijk_to_ras, IJK_TO_RAS, atol=1e-4)
    assert [p.label for p in scene.markups("F").points] == ["A", "B"]
    assert scene_texts == [("Note", "hello from pyigtl")]
    assert scene.find("Note").class_name == "vtkMRMLTextNode"
    assert np.allclose(scene.transform_matrix("Pos"), POSE, atol=1e-5)


async def test_pyigtl_header_v2_messages_with_metadata_are_read(bridge, adapter, pyigtl_client):
    message = pyigtl.TransformMessage(translation(12), device_name="V2Tool")
    message.header_version = 2
    message.message_id = 99
    message.metadata = {"TransformStatus": "OK", "Unit": "mm"}
    pyigtl_client.send_message(message, wait=False)
    await eventually(lambda: bridge.scene.transform_matrix("V2Tool")[0, 3] == 12)
    session = next(iter(adapter.sessions))
    assert session.version == 2


async def test_pyigtl_client_receives_what_it_asked_for(bridge, adapter, pyigtl_client):
    bridge.bus.submit(SetTransform(node="Needle", matrix=POSE))
    await bridge.bus.drained()
    query = pyigtl.MessageBase(device_name="Needle")  # pyigtl has no GET_ class: a bare one
    query._message_type = "GET_TRANSFORM"
    query._valid_message = True
    pyigtl_client.send_message(query, wait=False)
    reply = await asyncio.to_thread(pyigtl_client.wait_for_message, "Needle", 5)
    assert reply is not None
    assert np.allclose(reply.matrix, POSE, atol=1e-5)


async def test_pyigtl_server_receives_the_pushes_of_client_mode(
    bridge, start_adapter, pyigtl_server
):
    port = pyigtl_server.server_address[1]
    adapter = await start_adapter(
        serve=False, connect=(("127.0.0.1", port),), push=("Needle", "CT", "Plan", "Memo")
    )
    await eventually(lambda: adapter.connectors[0].state == "connected")
    bridge.bus.submit(SetTransform(node="Needle", matrix=POSE))
    bridge.bus.submit(PutVolume(node="CT", array=volume(), ijk_to_ras=IJK_TO_RAS))
    bridge.bus.submit(SetMarkupsPoints(node="Plan", points=[[7, 8, 9]], labels=["P-1"]))
    bridge.bus.submit(SetText(node="Memo", text="needle in place"))
    transform = await asyncio.to_thread(pyigtl_server.wait_for_message, "Needle", 5)
    assert np.allclose(transform.matrix, POSE, atol=1e-5)
    image = await asyncio.to_thread(pyigtl_server.wait_for_message, "CT", 5)
    assert np.array_equal(image.image, volume())
    lps = geometry.LPS_TO_RAS @ IJK_TO_RAS
    assert image.world_coordinate_system == "lps"
    assert np.allclose(image.ijk_to_world_matrix, lps, atol=1e-4)
    points = await asyncio.to_thread(pyigtl_server.wait_for_message, "Plan", 5)
    assert points.names == ["P-1"]
    assert np.allclose(points.positions, [[7, 8, 9]])
    memo = await asyncio.to_thread(pyigtl_server.wait_for_message, "Memo", 5)
    assert memo.string == "needle in place"


async def test_pyigtl_server_messages_reach_the_scene_through_client_mode(
    bridge, start_adapter, pyigtl_server
):
    port = pyigtl_server.server_address[1]
    adapter = await start_adapter(serve=False, connect=(("127.0.0.1", port),))
    await eventually(lambda: adapter.connectors[0].state == "connected")
    pyigtl_server.send_message(
        pyigtl.TransformMessage(translation(21), device_name="Plus"), wait=False
    )
    await eventually(lambda: bridge.scene.transform_matrix("Plus")[0, 3] == 21)
