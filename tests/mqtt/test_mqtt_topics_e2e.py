"""The topic scheme end to end: a bridge on a real Mosquitto, driven and watched by
independent clients (a separate paho client, `mosquitto_pub`/`_sub`/`_rr`)."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest
from mqtt_peers import (
    INSTANCE,
    ROOT,
    eventually,
    mosquitto_pub,
    mosquitto_rr,
    mosquitto_sub_retained,
    state_settled,
)

from bridge import commands as c
from bridge.app import Bridge
from bridge.config import Settings
from bridge.scene.types import SceneError

SHIFTED = [1, 0, 0, 5, 0, 1, 0, 6, 0, 0, 1, 7, 0, 0, 0, 1]


def translation(bridge: Bridge, node: str) -> list[float] | None:
    try:
        return bridge.scene.transform_matrix(node)[:3, 3].tolist()
    except LookupError:
        return None


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_commands_from_paho_and_mosquitto_pub_drive_the_scene(
    start_bridge, device, broker, protocol
) -> None:
    bridge, _ = await start_bridge(protocol=protocol)
    robot = await device("robot")
    robot.publish(f"{ROOT}/transform/Tool/set", SHIFTED)
    robot.publish(f"{ROOT}/markups/F/set", {"points": [[1, 2, 3], [4, 5, 6]], "labels": ["a", "b"]})
    robot.publish(
        f"{ROOT}/camera/3d/set",
        {"position": [0, -300, 0], "focal_point": [0, 0, 0], "view_up": [0, 0, 1]},
    )
    await mosquitto_pub(
        broker.port,
        f"{ROOT}/transform/Probe/set",
        '{"position": [1, 2, 3], "quaternion": [0, 0, 0, 1]}',
    )
    await mosquitto_pub(broker.port, f"{ROOT}/cmd/SetLayout", '{"layout": "FourUp"}')

    await eventually(lambda: bridge.scene.layout == "FourUp", what="layout")
    await eventually(lambda: translation(bridge, "Tool") == [5, 6, 7], what="Tool")
    await eventually(lambda: translation(bridge, "Probe") == [1, 2, 3], what="Probe")
    probe = bridge.scene.transform_matrix("Probe")
    np.testing.assert_allclose(probe[:3, :3], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    await eventually(lambda: bridge.scene.nodes(name="F"), what="markups")
    assert [p.label for p in bridge.scene.markups("F").points] == ["a", "b"]
    assert bridge.scene.camera("3d").position.tolist() == [0, -300, 0]


async def test_a_late_subscriber_gets_retained_state_and_removal_deletes_it(
    start_bridge, device, broker
) -> None:
    bridge, adapter = await start_bridge()
    robot = await device("robot")
    robot.publish(f"{ROOT}/transform/Tool/set", SHIFTED)
    robot.publish(f"{ROOT}/markups/F/set", [[1, 2, 3]])
    await eventually(lambda: bridge.scene.nodes(name="F") and translation(bridge, "Tool"))
    await state_settled(adapter)

    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/#")
    assert retained[f"{ROOT}/status"] == b"online"
    tool = orjson.loads(retained[f"{ROOT}/state/transform/Tool"])
    assert tool["name"] == "Tool" and tool["matrix"][0][3] == 5
    assert orjson.loads(retained[f"{ROOT}/state/markups/F"])["points"] == [[1, 2, 3]]
    assert "position" in orjson.loads(retained[f"{ROOT}/state/camera/3d"])
    names = {node["name"] for node in orjson.loads(retained[f"{ROOT}/state/nodes"])}
    assert {"Tool", "F", "Red"} <= names

    robot.publish(f"{ROOT}/cmd/DeleteNodes", {"nodes": ["Tool"]})
    await eventually(lambda: translation(bridge, "Tool") is None, what="Tool removed")
    await state_settled(adapter)
    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/state/#")
    assert f"{ROOT}/state/transform/Tool" not in retained  # the empty payload deleted it
    assert f"{ROOT}/state/markups/F" in retained
    assert "Tool" not in {node["name"] for node in orjson.loads(retained[f"{ROOT}/state/nodes"])}


async def test_mqtt5_requests_get_their_result_with_the_correlation_data(
    start_bridge, device, broker
) -> None:
    await start_bridge()
    client = await device("requester")
    replies = "requester/replies"
    await client.subscribe(replies)
    errors = f"{ROOT}/error"
    await client.subscribe(errors)

    client.publish(
        f"{ROOT}/cmd/SetLayout",
        {"layout": "FourUp"},
        qos=1,
        response_topic=replies,
        correlation=b"\x00req-1",
    )
    client.publish(
        f"{ROOT}/cmd/LoadFile",
        {"path": "/no/such/volume.nrrd"},
        qos=1,
        response_topic=replies,
        correlation=b"req-2",
    )
    client.publish(
        f"{ROOT}/cmd/SetLayout",
        {"layout": "NoSuchLayout"},
        response_topic=replies,
        correlation=b"req-3",
    )
    received = await client.next_on(replies, 3)
    by_correlation = {reply.correlation: reply.json() for reply in received}
    assert by_correlation[b"\x00req-1"] == {
        "command": "SetLayout",
        "status": "applied",
        "value": {"layout": "FourUp"},
    }
    assert by_correlation[b"req-2"]["status"] == "failed"
    assert "volume.nrrd" in by_correlation[b"req-2"]["error"]
    assert by_correlation[b"req-3"]["status"] == "failed"
    assert by_correlation[b"req-3"]["field"] == "layout"
    qos = {reply.correlation: reply.qos for reply in received}
    assert (qos[b"\x00req-1"], qos[b"req-3"]) == (1, 0)  # answered at the request's QoS

    reported = {(e.json()["topic"], e.json()["status"]) for e in await client.next_on(errors, 2)}
    assert reported == {(f"{ROOT}/cmd/LoadFile", "failed"), (f"{ROOT}/cmd/SetLayout", "rejected")}

    answer = await mosquitto_rr(
        broker.port, f"{ROOT}/cmd/SetLayout", "rr/replies", '{"layout": "OneUp3D"}'
    )
    assert orjson.loads(answer)["value"] == {"layout": "OneUp3D"}


async def test_every_request_of_a_burst_is_answered_applied_or_superseded(
    start_bridge, device
) -> None:
    bridge, _ = await start_bridge(max_rate=2)  # passes 0.5 s apart: the burst coalesces
    client = await device("tracker")
    await client.subscribe("tracker/replies")
    for x in range(30):
        pose = [1, 0, 0, x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        client.publish(
            f"{ROOT}/transform/Tool/set",
            pose,
            qos=1,
            response_topic="tracker/replies",
            correlation=str(x).encode(),
        )
    replies = await client.next_on("tracker/replies", 30)
    status = {int(reply.correlation): reply.json()["status"] for reply in replies}
    assert len(status) == 30 and set(status.values()) <= {"applied", "superseded"}
    assert status[29] == "applied"
    assert list(status.values()).count("superseded") >= 25
    assert translation(bridge, "Tool") == [29, 0, 0]


async def test_mqtt311_clients_name_their_reply_topic_in_the_payload(start_bridge, device) -> None:
    await start_bridge(protocol="3.1.1")
    client = await device("old-robot", protocol="3.1.1")
    await client.subscribe("old-robot/replies")
    await client.subscribe(f"{ROOT}/error")
    client.publish(
        f"{ROOT}/cmd/SetLayout",
        {"layout": "FourUp", "id": "req-7", "reply_to": "old-robot/replies"},
    )
    client.publish(
        f"{ROOT}/transform/Tool/set",
        {"matrix": SHIFTED, "id": "pose-1", "reply_to": "old-robot/replies"},
    )
    client.publish(f"{ROOT}/cmd/SetLayout", {"layout": "FourUp", "reply_to": "old-robot/+"})
    replies = {r.json()["id"]: r.json() for r in await client.next_on("old-robot/replies", 2)}
    assert replies["req-7"]["status"] == "applied" and replies["req-7"]["value"]
    assert replies["pose-1"] == {
        "command": "SetTransform",
        "status": "applied",
        "id": "pose-1",
        "value": {"node": "vtkMRMLLinearTransformNode1"},
    }
    (error,) = await client.next_on(f"{ROOT}/error")
    assert error.json()["field"] == "reply_to"


async def test_bad_input_is_answered_on_the_error_topic_while_a_good_stream_goes_on(
    start_bridge, device
) -> None:
    bridge, adapter = await start_bridge()
    watcher = await device("watcher")
    await watcher.subscribe(f"{ROOT}/error")
    good, bad = await device("good-robot"), await device("bad-robot")
    sent = 0

    async def stream() -> None:  # a well-behaved tracker at ~200 Hz
        nonlocal sent
        while True:
            good.publish(
                f"{ROOT}/transform/Good/set", [1, 0, 0, sent, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
            )
            sent += 1
            await asyncio.sleep(0.005)

    streaming = asyncio.ensure_future(stream())
    await eventually(lambda: translation(bridge, "Good"), what="good stream applied")
    cases = [  # topic, payload, words in the error, field
        ("cmd/SetTransform", b'{"node": "X", "matrix": [1, 2,', "not valid JSON", None),
        ("cmd/Frobnicate", b"{}", "unknown command 'Frobnicate'", None),
        ("transform/Bad1/set", b"[1, 2, 3]", "expected shape 4×4", "matrix"),
        ("transform/Bad2/set", b'{"position": [1, 2]}', "expected shape 3", "position"),
        ("transform/Bad3/set", b"\xff\xfe\x00", "not valid JSON", None),
        ("markups/F/set", b"[[1, 2]]", "list of [x, y, z]", "points"),
        (
            "camera/3d/set",
            b'{"position": [0, 0, 0], "focal_point": [0, 0, 0]}',
            "differ",
            "focal_point",
        ),
        ("cmd/SetLayout", b"[" + b"0," * 5_000_000 + b"0]", "exceeds the limit", None),
        ("cmd/LoadFile", b'{"path": "/no/such/file.nrrd"}', "file.nrrd", None),
    ]
    for topic, payload, _, _ in cases:
        bad.publish(f"{ROOT}/{topic}", payload, qos=1)
    reports = await watcher.next_on(f"{ROOT}/error", len(cases), timeout=20)
    by_topic = {report.json()["topic"]: report.json() for report in reports}
    for topic, _, words, field in cases:
        report = by_topic[f"{ROOT}/{topic}"]
        assert words in report["error"], (topic, report)
        assert report.get("field") == field, (topic, report)
    assert by_topic[f"{ROOT}/cmd/LoadFile"]["status"] == "failed"
    assert len(reports) == len(cases)

    before = sent
    await eventually(lambda: translation(bridge, "Good")[0] > before, what="stream goes on")
    streaming.cancel()
    last = sent - 1
    await eventually(lambda: translation(bridge, "Good") == [last, 0, 0], what="last pose")
    assert bridge.bus.stats.by_kind["SetTransform"].received == sent  # none lost, none refused
    counters = adapter.status()["counters"]
    assert counters["rejected"] == len(cases) - 1 and counters["failed"] == 1
    assert not any("Good" in report.json()["topic"] for report in reports)


async def test_retained_commands_are_not_replayed_but_a_retained_pose_is_applied(
    start_bridge, device
) -> None:
    setup = await device("setup")
    await setup.subscribe(f"{ROOT}/error")
    setup.publish(f"{ROOT}/cmd/SetLayout", {"layout": "FourUp"}, qos=1, retain=True)
    setup.publish(f"{ROOT}/transform/Tool/set", SHIFTED, qos=1, retain=True)
    await asyncio.sleep(0.1)

    bridge, adapter = await start_bridge()
    await eventually(lambda: translation(bridge, "Tool") == [5, 6, 7], what="retained pose")
    (error,) = await setup.next_on(f"{ROOT}/error")
    assert "retained commands are not executed" in error.json()["error"]
    assert bridge.scene.layout != "FourUp"
    assert adapter.status()["counters"]["retained_commands_ignored"] == 1


async def test_the_composition_root_runs_the_adapter_and_reports_its_counters(
    broker, tmp_path, device
) -> None:
    settings = Settings(
        http=False, igtl=False, mqtt_url=broker.url, instance=INSTANCE, data_dir=tmp_path
    )
    bridge = Bridge(settings)
    await bridge.start()
    try:
        status = bridge.status()["adapters"]["mqtt"]
        assert status["connected"] and status["topic_root"] == ROOT
        assert status["client_id"] == f"slicer-bridge-{INSTANCE}"
        robot = await device("robot")
        robot.publish(f"{ROOT}/cmd/SetLayout", {"layout": "FourUp"})
        robot.publish(f"{ROOT}/cmd/SetLayout", {"layout": 3})
        await eventually(lambda: bridge.scene.layout == "FourUp")
        mqtt_counters = lambda: bridge.status()["adapters"]["mqtt"]["counters"]  # noqa: E731
        await eventually(lambda: mqtt_counters()["errors_published"] == 1)
        counters = mqtt_counters()
        assert (counters["received"], counters["rejected"], counters["connects"]) == (2, 1, 1)
        assert counters["published"] >= counters["errors_published"]
        assert counters["reconnects"] == 0
    finally:
        await bridge.stop()
    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/status")
    assert retained == {f"{ROOT}/status": b"offline"}  # said on a clean stop, not by the Will


async def test_a_streamed_pose_that_fails_when_applied_is_reported(start_bridge, device) -> None:
    bridge, adapter = await start_bridge(max_rate=5)

    def refuse(command: c.SetTransform) -> None:
        raise SceneError(f"{command.node} is locked")

    bridge.applier.register(c.SetTransform, refuse)
    watcher = await device("watcher")
    await watcher.subscribe(f"{ROOT}/error")
    for x in range(20):
        watcher.publish(
            f"{ROOT}/transform/Locked/set", [1, 0, 0, x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        )
    await eventually(lambda: adapter.status()["counters"]["received"] == 20)
    await eventually(lambda: bridge.bus.pending == 0)
    reports = await watcher.next_on(f"{ROOT}/error")
    failed = bridge.bus.stats.by_kind["SetTransform"].failed
    await eventually(lambda: len(watcher.messages(f"{ROOT}/error")) == failed)
    assert 1 <= failed < 20  # only the applied ones were built, and each failure is reported
    assert (
        reports[0].json()["status"] == "failed" and "Locked is locked" in reports[0].json()["error"]
    )
    assert adapter.status()["counters"]["failed"] == failed


async def test_counters_are_served_at_bridge_status_and_bridge_metrics(
    broker, tmp_path, device
) -> None:
    aiohttp = pytest.importorskip("aiohttp")
    settings = Settings(
        igtl=False, http_port=0, mqtt_url=broker.url, instance=INSTANCE, data_dir=tmp_path
    )
    bridge = Bridge(settings)
    await bridge.start()
    try:
        robot = await device("robot")
        robot.publish(f"{ROOT}/cmd/SetLayout", {"layout": "nope"})
        mqtt = lambda: bridge.status()["adapters"]["mqtt"]["counters"]  # noqa: E731
        await eventually(lambda: mqtt()["rejected"] == 1)
        base = bridge.status()["adapters"]["http"]["urls"][0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/bridge/status") as response:
                status = await response.json()
            async with session.get(f"{base}/bridge/metrics") as response:
                metrics = await response.text()
    finally:
        await bridge.stop()
    counters = status["adapters"]["mqtt"]["counters"]
    assert counters["received"] == counters["rejected"] == 1 and counters["connects"] == 1
    for name in ("received", "rejected", "published", "reconnects"):
        assert f'slicer_bridge_adapter_counters_{name}{{adapter="mqtt"}}' in metrics, name
    assert 'slicer_bridge_adapter_counters_rejected{adapter="mqtt"} 1' in metrics
