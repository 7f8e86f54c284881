"""Every incoming message type becomes what the mapping table says, in the scene."""

from __future__ import annotations

import numpy as np
from igtl_peers import CUBE_POINTS, IJK_TO_RAS, POSE, eventually, translation, volume
from igtl_peers import transform_message as tracking_message

from adapters.igtl.codecs import image, points, polydata, status, text, tracking
from adapters.igtl.mapping import ROUTES
from adapters.igtl.wire import pack_message


async def test_a_transform_stream_sets_the_transform_named_after_the_device(
    bridge, adapter, connect
):
    peer = await connect()
    await peer.send(*(tracking_message("Tool", translation(x)) for x in range(200)))
    scene = bridge.scene
    await eventually(lambda: scene.transform_matrix("Tool")[0, 3] == 199)
    node = scene.find("Tool")
    assert node.class_name == "vtkMRMLLinearTransformNode"
    counters = adapter.stats.for_type("TRANSFORM")
    await eventually(lambda: counters.applied + counters.superseded == 200)
    assert counters.failed == counters.rejected == 0
    assert counters.superseded > 0  # coalesced: far fewer applies than messages


async def test_position_and_qtrans_set_a_transform_from_position_and_quaternion(
    bridge, adapter, connect
):
    peer = await connect()
    position, quaternion = tracking.pose_of_matrix(POSE)
    content = tracking.encode_position(position, quaternion)
    await peer.send_message("POSITION", "Pointer", content)
    await peer.send_message("QTRANS", "Other", content)
    for name in ("Pointer", "Other"):
        matrix = await eventually(lambda n=name: bridge.scene.transform_matrix(n))
        assert np.allclose(matrix, POSE, atol=1e-5)


async def test_tdata_and_qtdata_set_one_transform_per_element(bridge, adapter, connect):
    peer = await connect()
    other = translation(1, 2, 3)
    await peer.send_message(
        "TDATA", "Tracker", tracking.encode_tdata([("Stylus", POSE), ("Ref", other)])
    )
    await peer.send_message("QTDATA", "Tracker", tracking.encode_qtdata([("Probe", POSE)]))
    scene = bridge.scene
    await eventually(lambda: scene.find("Probe") and scene.find("Ref"))
    assert np.allclose(scene.transform_matrix("Stylus"), POSE, atol=1e-5)
    assert np.allclose(scene.transform_matrix("Ref"), other, atol=1e-5)
    assert np.allclose(scene.transform_matrix("Probe"), POSE, atol=1e-5)


async def test_an_image_becomes_a_volume_with_its_geometry(bridge, adapter, connect):
    peer = await connect()
    await peer.send_message("IMAGE", "US", image.encode_image(volume(), IJK_TO_RAS))
    data = await eventually(lambda: bridge.scene.volume("US"))
    assert np.array_equal(data.array, volume())
    assert np.allclose(data.ijk_to_ras, IJK_TO_RAS, atol=1e-5)


async def test_an_image_stream_keeps_only_the_newest_frame(bridge, adapter, connect):
    peer = await connect()
    frames = [image.encode_image(volume() + k, IJK_TO_RAS) for k in range(30)]
    await peer.send(*(pack_message("IMAGE", "Live", content).to_bytes() for content in frames))
    await eventually(lambda: bridge.scene.volume("Live").array[0, 0, 0] == 29)
    counters = adapter.stats.for_type("IMAGE")
    await eventually(lambda: counters.applied + counters.superseded == 30)
    assert counters.applied < 30


async def test_points_become_a_markups_point_list(bridge, adapter, connect):
    peer = await connect()
    positions = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    await peer.send_message("POINT", "Targets", points.encode_points(positions, ["T-1", "T-2"]))
    markups = await eventually(lambda: bridge.scene.markups("Targets"))
    assert [p.label for p in markups.points] == ["T-1", "T-2"]
    assert np.allclose([p.position for p in markups.points], positions)


async def test_strings_set_a_text_node_in_order_and_are_never_coalesced(
    bridge, adapter, connect, scene_texts
):
    peer = await connect()
    words = ("one", "two", "two", "", "drei ✓")
    await peer.send(
        *(pack_message("STRING", "Log", text.encode_string(w)).to_bytes() for w in words)
    )
    await eventually(lambda: len(scene_texts) == len(words))
    assert scene_texts == [("Log", word) for word in words]  # repeats and "" included
    assert bridge.scene.find("Log").class_name == "vtkMRMLTextNode"
    assert bridge.scene.text("Log") == "drei ✓"
    counters = adapter.stats.for_type("STRING")
    await eventually(lambda: counters.applied == len(words))
    assert counters.superseded == counters.failed == 0


async def test_polydata_becomes_a_model_node_and_a_stream_keeps_the_newest(
    bridge, adapter, connect
):
    peer = await connect()
    content = polydata.encode_polydata(CUBE_POINTS, polygons=[np.array([0, 1, 2, 3])])
    await peer.send_message("POLYDATA", "Surface", content)
    model = await eventually(lambda: bridge.scene.model("Surface"))
    assert bridge.scene.find("Surface").class_name == "vtkMRMLModelNode"
    assert np.allclose(model.vertices, CUBE_POINTS)
    assert model.triangles.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert model.color == (0.5, 0.5, 1.0)  # SlicerOpenIGTLink's colour for received models

    def surface(shift: float) -> bytes:
        triangles = np.array([[0, 1, 2], [2, 3, 0], [3, 4, 5]])
        content = polydata.encode_polydata(CUBE_POINTS + shift, polygons=triangles)
        return pack_message("POLYDATA", "Surface", content).to_bytes()

    await peer.send(*(surface(shift) for shift in range(1, 21)))
    await eventually(lambda: bridge.scene.model("Surface").vertices[0, 0] == 20)
    assert bridge.scene.model("Surface").triangles.tolist() == [[0, 1, 2], [2, 3, 0], [3, 4, 5]]
    counters = adapter.stats.for_type("POLYDATA")
    await eventually(lambda: counters.applied + counters.superseded == 21)
    assert counters.applied < 21 and counters.failed == 0


async def test_a_polydata_model_keeps_its_colour_and_a_bad_surface_fails_alone(
    bridge, adapter, connect
):
    bridge.scene.set_tracking_pose()  # the yellow trackingDevice cube
    peer = await connect()
    triangle = polydata.encode_polydata(CUBE_POINTS, polygons=[np.array([0, 1, 2])])
    await peer.send_message("POLYDATA", "trackingDevice", triangle)
    await eventually(lambda: len(bridge.scene.model("trackingDevice").triangles) == 1)
    assert bridge.scene.model("trackingDevice").color == (1.0, 1.0, 0.0)
    await peer.send_message("POLYDATA", "Bad", polydata.encode_polydata([[0, 0, 0]])[:41])
    reply = status.decode_status((await peer.receive_type("STATUS")).content)
    assert reply.code != status.OK and "POLYDATA" in reply.message
    await peer.send_message("STRING", "Still", text.encode_string("fine"))
    await eventually(lambda: bridge.scene.text("Still") == "fine")


async def test_status_messages_are_recorded_per_peer_and_device(adapter, connect):
    peer = await connect()
    report = status.Status(status.BUSY, 3, "Warming", "laser not ready")
    await peer.send_message("STATUS", "Laser", status.encode_status(report))
    session = await eventually(lambda: next(iter(adapter.sessions)))
    assert await eventually(lambda: session.statuses.get("Laser")) == report
    assert (
        "laser not ready" in adapter.status()["peers"]["by_peer"][session.peer]["statuses"]["Laser"]
    )


async def test_an_empty_device_name_addresses_the_openigtlink_node(bridge, adapter, connect):
    peer = await connect()
    await peer.send(tracking_message("", translation(4)))
    await eventually(lambda: bridge.scene.transform_matrix("OpenIGTLink")[0, 3] == 4)


def test_the_mapping_table_names_every_type_of_the_issue():
    assert set(ROUTES) >= {
        "TRANSFORM", "POSITION", "QTRANS", "TDATA", "QTDATA", "IMAGE", "POINT",
        "STRING", "STATUS", "POLYDATA", "COMMAND",
    }  # fmt: skip
