"""`/bridge/ws` with a real WebSocket client (aiohttp): commands, subscriptions, view streams
with flow control, bad messages, and the handshake's token and Origin rules."""

from __future__ import annotations

import asyncio
import dataclasses
import io

import aiohttp
import numpy as np
import pytest
from PIL import Image

from adapters.http.ws import close_live_sessions
from adapters.http.ws_hub import hub_for
from bridge import commands as c
from bridge.scene.view_images import render_view


def translation(x: float, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = (x, y, z)
    return matrix


# -- commands ----------------------------------------------------------------------------------
async def test_a_command_is_applied_and_its_result_echoes_the_id(http_bridge, live):
    client = await live(http_bridge)
    reply = await client.reply_to(
        {
            "command": "SetCamera",
            "id": "camera-1",
            "position": [0, -400, 100],
            "focal_point": [0, 0, 0],
        }
    )
    assert reply == {
        "type": "result",
        "command": "SetCamera",
        "status": "applied",
        "id": "camera-1",
    }
    camera = http_bridge.bridge.scene.camera("3d")
    assert camera.position.tolist() == [0, -400, 100]


async def test_a_failing_command_answers_failed_and_the_connection_stays(http_bridge, live):
    client = await live(http_bridge)
    reply = await client.reply_to({"command": "DeleteNodes", "nodes": ["no-such-node"]})
    assert reply["type"] == "result"
    assert reply["status"] == "failed"
    assert "no-such-node" in reply["error"]
    pong = await client.reply_to({"ping": 42})
    assert pong["type"] == "pong" and pong["ping"] == 42


async def test_commands_from_one_socket_are_applied_in_message_order(http_bridge, live):
    client = await live(http_bridge)
    for index in range(20):
        await client.send(
            {"command": "SetLayout", "layout": ("FourUp", "OneUp3D")[index % 2], "id": str(index)}
        )
    await client.wait_for(lambda: len(client.of_type("result")) == 20, what="20 results")
    assert sorted(int(m["id"]) for m in client.of_type("result")) == list(range(20))
    assert http_bridge.bridge.scene.layout == "OneUp3D"  # the last one won


# -- bad messages ------------------------------------------------------------------------------
BAD_MESSAGES = [
    ("not json", "not JSON", None),
    ("[1, 2]", "must be a JSON object, got an array", None),
    ('{"hello": 1}', "unknown message", None),
    ('{"command": "Teleport", "id": "t"}', "unknown command 'Teleport'", "command"),
    ('{"command": "SetSliceOffset", "view": "red", "offset": "far"}', "offset", "command"),
    ('{"command": "SetCamera", "position": [0, 0, 1], "focal_point": [0, 0, 1]}', "focal_point",
     "command"),
    ('{"subscribe": ["bogus:x"]}', "unknown subject 'bogus:x'", "subscribe"),
    ('{"subscribe": ["transform:"]}', "needs a name", "subscribe"),
    ('{"subscribe": []}', "non-empty list", "subscribe"),
    ('{"subscribe": ["nodes"], "max_rate": 0}', "max_rate", "subscribe"),
    ('{"stream": "view:purple"}', "unknown view", "stream"),
    ('{"stream": "red"}', "view:<view>", "stream"),
    ('{"stream": "view:red", "format": "gif"}', "unknown image format", "stream"),
    ('{"stream": "view:red", "size": 0}', "size", "stream"),
    ('{"stream": "view:red", "quality": 500}', "quality", "stream"),
    ('{"stream": "view:red", "max_in_flight": 0}', "max_in_flight", "stream"),
    ('{"ack": "view:red"}', "no stream view:red is open", "ack"),
    ('{"unstream": "view:3d"}', "no stream view:3d is open", "unstream"),
]  # fmt: skip


async def test_bad_messages_are_answered_with_an_error_and_the_connection_kept(http_bridge, live):
    client = await live(http_bridge)
    for text, expected, request in BAD_MESSAGES:
        before = len(client.of_type("error"))
        await client.send(text)
        errors = await client.wait_for(
            lambda before=before: client.of_type("error")[before:], what=f"an error for {text}"
        )
        assert expected in errors[0]["message"], (text, errors[0])
        assert errors[0].get("request") == request, (text, errors[0])
    await client.send(b"\x00\x01binary")
    await client.wait_for(
        lambda: any("binary" in m["message"] for m in client.of_type("error")), what="binary"
    )
    assert not client.socket.closed
    assert (await client.reply_to({"ping": "still here"}))["ping"] == "still here"


async def test_an_error_echoes_the_id_of_the_bad_message(http_bridge, live):
    client = await live(http_bridge)
    reply = await client.reply_to({"command": "Teleport", "id": "t-1"})
    assert reply["type"] == "error"
    assert reply["id"] == "t-1"


# -- subscriptions -----------------------------------------------------------------------------
async def test_a_subscription_sends_the_current_state_then_changes(http_bridge, live):
    scene = http_bridge.bridge.scene
    client = await live(http_bridge)
    reply = await client.reply_to({"subscribe": ["transform:Tracker", "nodes", "layout"]})
    assert reply["subjects"] == ["transform:Tracker", "nodes", "layout"]
    await client.wait_for(lambda: client.states("transform:Tracker"))
    assert client.states("transform:Tracker")[0]["state"] is None  # not there yet: fine
    assert client.states("layout")[0]["state"] == {"layout": scene.layout}

    result = await client.reply_to(
        {"command": "SetTransform", "node": "Tracker", "matrix": translation(5, 6, 7)}
    )
    assert result["status"] == "applied"
    state = await client.wait_for(lambda: client.states("transform:Tracker")[1:])
    assert np.allclose(state[0]["state"]["matrix"], translation(5, 6, 7))
    assert np.allclose(state[0]["state"]["world"], translation(5, 6, 7))
    assert state[0]["node"]["name"] == "Tracker"
    await client.wait_for(
        lambda: any(
            "Tracker" in [n["name"] for n in m["state"]["nodes"]] for m in client.states("nodes")
        ),
        what="the node list with Tracker",
    )


async def test_changes_between_two_deliveries_coalesce_into_the_latest_state(http_bridge, live):
    scene = http_bridge.bridge.scene
    client = await live(http_bridge)
    await client.reply_to({"subscribe": ["transform:Tracker"]})
    await client.wait_for(lambda: client.states("transform:Tracker"))
    for step in range(100):  # one burst, no await in between: one delivery
        scene.set_transform("Tracker", translation(step))
    await client.wait_for(lambda: len(client.states("transform:Tracker")) >= 2)
    await client.quiet()
    states = client.states("transform:Tracker")
    assert len(states) == 2
    assert states[-1]["state"]["matrix"][0][3] == 99


async def test_state_rounds_are_rate_limited_and_end_with_the_latest_value(http_bridge, live):
    client = await live(http_bridge)
    await client.reply_to({"subscribe": "transform:Tracker", "max_rate": 10})
    await client.wait_for(lambda: client.states("transform:Tracker"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for step in range(60):
        await http_bridge.bridge.bus.submit(
            c.SetTransform(node="Tracker", matrix=translation(step))
        )
        await asyncio.sleep(0.005)
    elapsed = loop.time() - started
    await client.wait_for(
        lambda: client.states("transform:Tracker")[-1]["state"]["matrix"][0][3] == 59,
        what="the last matrix",
    )
    deliveries = len(client.states("transform:Tracker")) - 1
    assert deliveries <= elapsed * 10 + 2  # at most max_rate rounds a second, never 60


async def test_patterns_deliver_one_subject_per_node_and_follow_parent_transforms(
    http_bridge, live
):
    scene = http_bridge.bridge.scene
    client = await live(http_bridge)
    await client.reply_to({"subscribe": ["markups:*"]})
    for name, points in (("A", [[1, 2, 3]]), ("B", [[4, 5, 6], [7, 8, 9]])):
        reply = await client.reply_to(
            {"command": "SetMarkupsPoints", "node": name, "points": points}
        )
        assert reply["status"] == "applied"
    await client.wait_for(lambda: client.states("markups:A") and client.states("markups:B"))
    assert client.states("markups:B")[-1]["state"]["points"] == [[4, 5, 6], [7, 8, 9]]

    scene.set_transform("Holder", translation(10))
    scene.set_parent_transform("A", "Holder")
    await client.wait_for(
        lambda: client.states("markups:A")[-1]["state"]["world"][0][3] == 10, what="under"
    )
    count = len(client.states("markups:A"))
    reply = await client.reply_to(
        {"command": "SetTransform", "node": "Holder", "matrix": translation(20)}
    )
    assert reply["status"] == "applied"
    moved = await client.wait_for(lambda: client.states("markups:A")[count:], what="moved")
    assert moved[-1]["state"]["world"][0][3] == 20
    assert moved[-1]["state"]["points"] == [[1, 2, 3]]  # local points unchanged

    await client.reply_to({"command": "DeleteNodes", "nodes": ["A"]})
    await client.wait_for(lambda: client.states("markups:A")[-1]["state"] is None, what="gone")


async def test_view_subjects_carry_the_camera_and_the_slice_plane(volume_bridge, live):
    client = await live(volume_bridge)
    await client.reply_to({"subscribe": ["view:3d", "view:Red"]})
    await client.wait_for(lambda: client.states("view:3d") and client.states("view:red"))
    await client.reply_to({"command": "SetSliceOffset", "view": "red", "offset": 3.5})
    await client.wait_for(
        lambda: client.states("view:red")[-1]["state"]["offset"] == pytest.approx(3.5),
        what="the new offset",
    )
    await client.reply_to(
        {"command": "SetCamera", "position": [0, 0, 600], "focal_point": [0, 0, 0],
         "view_up": [0, 1, 0]}
    )  # fmt: skip
    await client.wait_for(
        lambda: client.states("view:3d")[-1]["state"]["position"] == [0, 0, 600], what="camera"
    )


async def test_unsubscribe_stops_the_states(http_bridge, live):
    client = await live(http_bridge)
    await client.reply_to({"subscribe": ["transform:*"]})
    reply = await client.reply_to({"unsubscribe": "*"})
    assert reply["subjects"] == ["transform:*"]
    await client.reply_to({"command": "SetTransform", "node": "T", "matrix": np.eye(4)})
    await client.quiet(0.2)
    assert client.states() == []


# -- view streams ------------------------------------------------------------------------------
async def test_a_client_that_never_acks_receives_exactly_max_in_flight_frames(volume_bridge, live):
    bus = volume_bridge.bridge.bus
    for window in (1, 3):
        client = await live(volume_bridge)
        reply = await client.reply_to({"stream": "view:red", "size": 64, "max_in_flight": window})
        assert reply["max_in_flight"] == window
        for step in range(50):  # the view changes 50 times, and the client never acks
            await bus.submit(c.SetSliceOffset(view="red", offset=-15.0 + 0.6 * step))
            await asyncio.sleep(0.004)
        await client.quiet(0.4)
        assert len(client.frames) == window
        assert [header["seq"] for header, _ in client.frames] == list(range(1, window + 1))
        await client.close()


async def test_an_ack_releases_one_frame_showing_the_latest_state(volume_bridge, live):
    scene = volume_bridge.bridge.scene
    client = await live(volume_bridge)
    await client.reply_to({"stream": "view:red", "size": 64})
    await client.wait_for(lambda: client.frames, what="the first frame")
    for step in range(20):
        await volume_bridge.bridge.bus.submit(c.SetSliceOffset(view="red", offset=-10.0 + step))
    await client.quiet(0.2)
    assert len(client.frames) == 1
    await client.send({"ack": "view:red"})
    await client.wait_for(lambda: len(client.frames) == 2, what="the frame after the ack")
    await client.quiet(0.2)
    assert len(client.frames) == 2  # the 19 states in between were skipped, not queued
    header, image = client.frames[1]
    assert header["stream"] == "view:red" and header["format"] == "png"
    assert image == render_view(scene, "red", format="png", size=64)
    await client.send({"ack": "view:red"})
    await client.quiet(0.2)
    assert len(client.frames) == 2  # acked, but the view did not change: nothing to send


async def test_jpeg_frames_at_the_asked_size_and_the_3d_view_answers_a_camera_command(
    volume_bridge, live
):
    client = await live(volume_bridge)
    await client.reply_to({"stream": "view:3d", "format": "jpeg", "quality": 60, "size": [96, 64]})
    await client.wait_for(lambda: client.frames, what="a 3D frame")
    header, image = client.frames[0]
    assert header["format"] == "jpeg" and header["bytes"] == len(image)
    with Image.open(io.BytesIO(image)) as picture:
        assert picture.format == "JPEG" and picture.size == (96, 64)
    await client.send({"ack": "view:3d"})
    await client.send(
        {
            "command": "SetCamera",
            "id": "orbit-1",
            "position": [400, 0, 50],
            "focal_point": [0, 0, 0],
        }
    )
    frame = await client.wait_for(
        lambda: next((f for f in client.frames if f[0]["applied"] == "orbit-1"), None),
        what="the frame that shows the camera move",
    )
    assert frame[0]["commands"] == 1
    assert frame[1] != image


async def test_unstream_stops_the_frames(volume_bridge, live):
    client = await live(volume_bridge)
    await client.reply_to({"stream": "view:red", "size": 32})
    await client.wait_for(lambda: client.frames)
    assert (await client.reply_to({"unstream": "view:red"}))["type"] == "unstreamed"
    await client.send({"ack": "view:red"})
    await volume_bridge.bridge.bus.submit(c.SetSliceOffset(view="red", offset=4.0))
    await client.quiet(0.2)
    assert len(client.frames) == 1


async def test_streams_with_the_same_options_share_one_rendering(volume_bridge, live):
    hub = hub_for(volume_bridge.bridge)
    first, second = await live(volume_bridge), await live(volume_bridge)
    for client in (first, second):
        await client.reply_to({"stream": "view:green", "size": 48})
        await client.wait_for(lambda client=client: client.frames)
    rendered = hub.frames_rendered
    for client in (first, second):
        await client.send({"ack": "view:green"})
    await volume_bridge.bridge.bus.submit(c.SetSliceOffset(view="green", offset=2.0))
    await first.wait_for(lambda: len(first.frames) == 2)
    await second.wait_for(lambda: len(second.frames) == 2)
    assert first.frames[1][1] == second.frames[1][1]
    assert hub.frames_rendered == rendered + 1


# -- the handshake: token, Origin, upgrade -----------------------------------------------------
async def test_the_token_is_required_for_the_handshake(start_http_bridge, live):
    running = await start_http_bridge(token="s3cret")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live(running)
    assert refused.value.status == 401
    by_query = await live(running, "/bridge/ws?token=s3cret")
    assert (await by_query.reply_to({"ping": 1}))["type"] == "pong"
    by_header = await live(running, Authorization="Bearer s3cret")
    assert (await by_header.reply_to({"ping": 2}))["type"] == "pong"


async def test_a_foreign_origin_is_refused_unless_cors_is_on(start_http_bridge, live):
    running = await start_http_bridge()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live(running, Origin="http://evil.example")
    assert refused.value.status == 403
    same = await live(running, Origin=running.base_url)
    assert (await same.reply_to({"ping": 1}))["type"] == "pong"
    open_running = await start_http_bridge(cors=True)
    foreign = await live(open_running, Origin="http://elsewhere.example")
    assert (await foreign.reply_to({"ping": 1}))["type"] == "pong"


async def test_a_plain_get_is_told_to_upgrade(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/bridge/ws")) as response:
        assert response.status == 426
        assert "WebSocket" in (await response.json())["message"]


async def test_closing_live_sessions_says_going_away(http_bridge, live):
    client = await live(http_bridge)
    await client.reply_to({"ping": 0})
    await close_live_sessions(http_bridge.http._app)
    await client.wait_for(lambda: client.socket.closed, what="the close")
    assert client.socket.close_code == aiohttp.WSCloseCode.GOING_AWAY


async def test_stopping_the_bridge_closes_live_sockets_with_going_away(
    start_http_bridge, monkeypatch, http_session
):
    """With the `/bridge` surface's `on_mount` hook installed (`Surface.setup`), stopping the
    server closes each live socket properly instead of cutting it after a timeout."""
    from adapters.http import app as http_app

    if "setup" not in {spec.name for spec in dataclasses.fields(http_app.Surface)}:
        pytest.skip("surfaces cannot install hooks in this tree (Surface.setup)")
    surfaces = tuple(
        dataclasses.replace(surface, setup="on_mount") if surface.name == "bridge" else surface
        for surface in http_app.SURFACES
    )
    monkeypatch.setattr(http_app, "SURFACES", surfaces)
    running = await start_http_bridge()
    try:
        socket = await http_session.ws_connect(running.url("/bridge/ws"))
        await socket.send_json({"ping": 1})
        assert (await socket.receive_json(timeout=5))["type"] == "pong"
    finally:
        await running.bridge.stop()
    message = await socket.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.GOING_AWAY
