"""Request/reply: COMMAND → RTS_COMMAND, GET_<type> → the node's state, STT_/STP_ → RTS_."""

from __future__ import annotations

import json

import numpy as np
from igtl_peers import CUBE_POINTS, IJK_TO_RAS, POSE, transform_message, translation, volume

from adapters.igtl.codecs import command, image, points, polydata, queries, status, tracking
from adapters.igtl.codecs.text import decode_string
from bridge.commands import PutModel, SetMarkupsPoints, SetText, SetTransform


async def test_a_json_command_is_applied_and_answered_with_its_result(bridge, adapter, connect):
    peer = await connect()
    content = command.encode_command(11, "SetLayout", '{"layout": "FourUp"}')
    await peer.send_message("COMMAND", "cmd", content, version=2, message_id=5)
    reply = await peer.receive_type("RTS_COMMAND")
    answer = command.decode_command(reply.content)
    assert (answer.command_id, answer.name, reply.version, reply.message_id) == (11, "", 2, 5)
    assert json.loads(answer.text)["status"] == "applied"
    assert bridge.scene.layout == "FourUp"


async def test_a_plus_style_xml_command_gets_an_xml_reply(bridge, adapter, connect):
    peer = await connect()
    xml = '<Command Name="SetSliceOffset" view="Red" offset="-12.5" />'
    await peer.send_message("COMMAND", "cmd", command.encode_command(3, "", xml), version=2)
    answer = command.decode_command((await peer.receive_type("RTS_COMMAND")).content)
    assert answer.text.startswith("<Command><Result>true</Result>")
    assert bridge.scene.slice_view("red").offset == -12.5


async def test_a_command_that_fails_is_answered_with_its_error(adapter, connect):
    peer = await connect()
    failing = ((1, '{"command": "Nope"}'), (2, '{"command": "DeleteNodes", "nodes": ["x"]}'))
    for command_id, text in failing:
        await peer.send_message("COMMAND", "cmd", command.encode_command(command_id, "", text))
        answer = command.decode_command((await peer.receive_type("RTS_COMMAND")).content)
        assert answer.command_id == command_id
        assert answer.name  # the error string, as RTSCommandMessage carries it
        assert json.loads(answer.text)["status"] == "failed"


async def test_replies_keep_the_order_of_the_requests(adapter, connect):
    peer = await connect()
    for command_id in range(20):
        text = json.dumps({"command": "SetSliceOffset", "view": "red", "offset": command_id})
        await peer.send_message("COMMAND", "cmd", command.encode_command(command_id, "", text))
    ids = [command.decode_command((await peer.receive()).content).command_id for _ in range(20)]
    assert ids == list(range(20))


async def test_get_transform_reads_what_the_peer_just_wrote(bridge, adapter, connect):
    peer = await connect()
    await peer.send(transform_message("Tool", POSE))
    await peer.send_message("GET_TRANSFOR", "Tool")  # cut to 12 characters, as query.md spells it
    reply = await peer.receive_type("TRANSFORM")
    assert reply.device == "Tool"
    assert np.allclose(tracking.decode_transform(reply), POSE, atol=1e-5)


async def test_get_image_and_get_point_answer_with_the_node_state(bridge, adapter, connect):
    bridge.bus.submit(SetMarkupsPoints(node="F", points=[[1, 2, 3]], labels=["F-1"]))
    peer = await connect()
    await peer.send_message("IMAGE", "Vol", image.encode_image(volume(), IJK_TO_RAS))
    await peer.send_message("GET_IMAGE", "Vol")
    decoded = image.decode_image(await peer.receive_type("IMAGE"))
    assert np.array_equal(decoded.array, volume())
    assert np.allclose(decoded.ijk_to_ras, IJK_TO_RAS, atol=1e-4)
    await peer.send_message("GET_POINT", "F")
    listed = points.decode_points((await peer.receive_type("POINT")).content)
    assert listed.names == ("F-1",)


async def test_get_string_and_get_polydata_answer_with_the_text_and_the_model(
    bridge, adapter, connect
):
    bridge.bus.submit(SetText(node="Memo", text="ready"))
    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    bridge.bus.submit(PutModel(node="Plan", vertices=CUBE_POINTS[:4], triangles=triangles))
    peer = await connect()
    await peer.send_message("GET_STRING", "Memo")
    assert decode_string((await peer.receive_type("STRING")).content) == "ready"
    await peer.send_message("GET_POLYDATA", "Plan")
    surface = polydata.decode_polydata((await peer.receive_type("POLYDATA")).content)
    assert np.allclose(surface.points, CUBE_POINTS[:4])
    assert surface.triangles().tolist() == triangles.tolist()
    await peer.send_message("GET_STRING", "Missing")
    empty = await peer.receive_type("STRING")
    assert (empty.device, len(empty.body)) == ("Missing", 0)


async def test_get_without_a_name_answers_every_node_and_a_missing_node_with_an_empty_body(
    bridge, adapter, connect
):
    for name in ("A", "B"):
        bridge.bus.submit(SetTransform(node=name, matrix=translation(1)))
    await bridge.bus.drained()
    peer = await connect()
    await peer.send_message("GET_TRANSFORM", "")
    names = {(await peer.receive_type("TRANSFORM")).device for _ in range(2)}
    assert names == {"A", "B"}
    await peer.send_message("GET_TRANSFORM", "Missing")
    empty = await peer.receive_type("TRANSFORM")
    assert (empty.device, len(empty.body)) == ("Missing", 0)


async def test_get_status_and_get_capabil_describe_the_bridge(adapter, connect):
    peer = await connect()
    await peer.send_message("GET_STATUS", "Bridge")
    report = status.decode_status((await peer.receive_type("STATUS")).content)
    assert report.code == status.OK and "slicer-bridge" in report.message
    await peer.send_message("GET_CAPABIL", "")
    types = queries.decode_capability((await peer.receive_type("CAPABILITY")).content)
    assert {"TRANSFORM", "IMAGE", "COMMAND"} <= set(types)


async def test_stt_starts_and_stp_stops_a_transform_stream(bridge, adapter, connect):
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(1)))
    peer = await connect()
    await peer.send_message("STT_TRANSFOR", "Needle")
    assert queries.decode_rts((await peer.receive_type("RTS_TRANSFOR")).content)
    first = await peer.receive_type("TRANSFORM")  # the current state, at once
    assert tracking.decode_transform(first)[0, 3] == 1
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(2)))
    assert tracking.decode_transform(await peer.receive_type("TRANSFORM"))[0, 3] == 2
    await peer.send_message("STP_TRANSFOR", "Needle")
    await peer.receive_type("RTS_TRANSFOR")
    bridge.bus.submit(SetTransform(node="Needle", matrix=translation(3)))
    await bridge.bus.drained()
    await peer.send_message("GET_STATUS", "")  # a marker: nothing pushed arrives before it
    assert (await peer.receive()).type == "STATUS"


async def test_stt_tdata_streams_all_transforms_in_one_message_at_its_resolution(
    bridge, adapter, connect
):
    for name in ("Stylus", "Ref"):
        bridge.bus.submit(SetTransform(node=name, matrix=POSE))
    await bridge.bus.drained()
    peer = await connect()
    await peer.send_message("STT_TDATA", "", tracking.encode_stream_request(0.2, ""))
    assert queries.decode_rts((await peer.receive_type("RTS_TDATA")).content)
    bundle = await peer.receive_type("TDATA")
    assert set(tracking.tdata_names(bundle.content)) == {"Stylus", "Ref"}
    for x in range(10):  # ten changes within the 200 ms resolution: at most one more message
        bridge.bus.submit(SetTransform(node="Stylus", matrix=translation(x)))
        await bridge.bus.drained()
    second = await peer.receive_type("TDATA")
    assert second.timestamp - bundle.timestamp >= 0.15
    index = tracking.tdata_names(second.content).index("Stylus")
    assert tracking.decode_tdata_matrix(second.content, index)[0, 3] in range(10)


async def test_a_query_for_an_unknown_type_is_answered_with_a_failed_rts_or_status(
    adapter, connect
):
    peer = await connect()
    await peer.send_message("STT_BOGUS", "x")
    assert not queries.decode_rts((await peer.receive_type("RTS_BOGUS")).content)
    await peer.send_message("GET_BOGUS", "x")
    report = status.decode_status((await peer.receive_type("STATUS")).content)
    assert report.code == status.UNKNOWN_INSTRUCTION
