"""The broker going away, coming late, stalling or requiring TLS, and the bridge process
dying: the bridge logs, counts, retries and never buffers without bound."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import orjson
import pytest
from mqtt_peers import ROOT, Device, eventually, mosquitto_sub_retained, state_settled

from adapters.mqtt.adapter import SWEEP_SECONDS
from adapters.mqtt.testing import LocalMosquitto

REPOSITORY = Path(__file__).resolve().parents[2]


def pose(x: float) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def x_of(bridge, node: str) -> float | None:
    try:
        return float(bridge.scene.transform_matrix(node)[0, 3])
    except LookupError:
        return None


async def test_a_broker_restart_mid_stream_is_survived_and_state_republished(
    start_bridge, device, broker
) -> None:
    bridge, adapter = await start_bridge()
    robot = await device("robot")
    sent = 0

    async def stream() -> None:  # 100 Hz; while the broker is away, paho drops QoS 0
        nonlocal sent
        while True:
            robot.publish(f"{ROOT}/transform/Tool/set", pose(sent))
            sent += 1
            await asyncio.sleep(0.01)

    streaming = asyncio.ensure_future(stream())
    try:
        await eventually(lambda: x_of(bridge, "Tool") is not None, what="stream applied")
        await asyncio.to_thread(broker.restart)  # retained messages die with it
        await eventually(lambda: adapter.status()["connected"], 10, "bridge reconnected")
        at_reconnect = x_of(bridge, "Tool")
        await eventually(lambda: x_of(bridge, "Tool") > at_reconnect, 10, "stream carries on")
    finally:
        streaming.cancel()
    last = sent - 1
    await eventually(lambda: x_of(bridge, "Tool") == last, 5, "last pose applied")
    counters = adapter.status()["counters"]
    assert counters["reconnects"] == 1 and counters["disconnects"] == 1
    assert counters["connects"] == 2

    await state_settled(adapter)
    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/#")
    assert retained[f"{ROOT}/status"] == b"online"
    assert orjson.loads(retained[f"{ROOT}/state/transform/Tool"])["matrix"][0][3] == last
    assert f"{ROOT}/state/nodes" in retained


async def test_a_broker_down_at_start_is_retried_until_it_comes(start_bridge) -> None:
    late = LocalMosquitto()  # a port nobody listens on yet
    try:
        bridge, adapter = await start_bridge(url=late.url, wait=False)
        await eventually(
            lambda: adapter.status()["counters"]["connect_failures"] >= 2, what="retries"
        )
        status = adapter.status()
        assert not status["connected"] and status["last_error"] == "connection refused"
        await asyncio.to_thread(late.start)
        await eventually(lambda: adapter.status()["connected"], 10, "connected at last")
        robot = Device(late.port, client_id="robot")
        await robot.connect()
        robot.publish(f"{ROOT}/cmd/SetLayout", {"layout": "FourUp"})
        await eventually(lambda: bridge.scene.layout == "FourUp")
        robot.close()
        assert adapter.status()["counters"]["reconnects"] == 0
    finally:
        late.close()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
async def test_status_goes_offline_when_the_bridge_process_ends(broker, tmp_path, signum) -> None:
    watcher = Device(broker.port, client_id="watcher")
    await watcher.connect()
    status_topic = "slicer/proc/status"
    await watcher.subscribe(status_topic)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "serve",
            "--no-http",
            "--no-igtl",
            "--mqtt-url",
            broker.url,
            "--instance",
            "proc",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        (online,) = await watcher.next_on(status_topic, 1, timeout=30)
        assert online.payload == b"online"
        process.send_signal(signum)  # SIGKILL: no goodbye; the broker sends the Will
        statuses = await watcher.next_on(status_topic, 2, timeout=10)
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        process.kill()
        watcher.close()
    assert statuses[-1].payload == b"offline"
    retained = await mosquitto_sub_retained(broker.port, status_topic)
    assert retained == {status_topic: b"offline"}
    if signum == signal.SIGTERM:
        assert process.returncode == 0 and "mqtt: stopped" in output
        assert "Traceback" not in output


async def test_a_stalled_broker_holds_state_back_instead_of_queueing_it(
    start_bridge, broker
) -> None:
    bridge, adapter = await start_bridge()
    connection = adapter._connection
    # A fixed, small send buffer (no autotuning): the kernel absorbs ~200 kB, not megabytes,
    # so the stall reaches paho within the first flush.
    connection._client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    points = np.random.default_rng(7).normal(size=(300, 3))  # ~15 kB of JSON per node
    broker.process.send_signal(signal.SIGSTOP)  # the broker stops reading its sockets
    try:
        for round_ in range(15):  # ~7 MB of state if every change were queued
            for node in range(30):
                bridge.scene.set_markups_points(f"M{node}", points + round_)
            await asyncio.sleep(0.05)
            assert adapter._state.pending <= 31  # one slot per topic: 30 markups + nodes
            assert connection.unsent <= 32  # paho holds at most one flush
        assert not connection.idle.is_set()  # the kernel buffers are full: flushes wait
    finally:
        broker.process.send_signal(signal.SIGCONT)
    await state_settled(adapter)
    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/state/markups/M29")
    latest = orjson.loads(retained[f"{ROOT}/state/markups/M29"])["points"]
    np.testing.assert_allclose(latest, points + 14)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_retained_state_left_by_an_earlier_run_is_deleted(
    start_bridge, device, broker, protocol
) -> None:
    previous = await device("previous-run")
    for topic in ("state/transform/Ghost", "state/markups/Old", "state/junk"):
        previous.publish(f"{ROOT}/{topic}", b'{"stale": true}', qos=1, retain=True)
    await asyncio.sleep(0.1)
    _, adapter = await start_bridge(protocol=protocol)
    await asyncio.sleep(SWEEP_SECONDS + 0.2)
    await state_settled(adapter)
    retained = await mosquitto_sub_retained(broker.port, f"{ROOT}/state/#")
    assert set(retained) == {f"{ROOT}/state/nodes", f"{ROOT}/state/camera/3d"}


def _certificates(directory: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 (EC keys: fast)."""

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *curve,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=slicer-bridge test CA",
    )
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    )
    for name in ("ca.crt", "server.crt", "server.key"):
        (directory / name).chmod(0o644)


async def test_tls_with_username_and_password(start_bridge) -> None:
    secure = LocalMosquitto(anonymous=False)
    try:
        _certificates(secure.directory)
        passwords = secure.directory / "passwords"
        for user, password in (("bridge", "bridge-secret"), ("robot", "robot-secret")):
            create = ["-c"] if not passwords.exists() else []
            subprocess.run(
                ["mosquitto_passwd", "-b", *create, str(passwords), user, password],
                check=True,
                capture_output=True,
            )
        passwords.chmod(0o644)
        d = secure.directory
        secure.extra_config = (
            f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
            f"password_file {passwords}\n"
        )
        await asyncio.to_thread(secure.start)
        url = f"mqtts://127.0.0.1:{secure.port}"
        ca = d / "ca.crt"

        _, refused = await start_bridge(
            url=url, ca_file=ca, username="bridge", password="wrong", instance="refused", wait=False
        )
        bridge, adapter = await start_bridge(
            url=url, ca_file=ca, username="bridge", password="bridge-secret"
        )
        assert adapter.status()["broker"] == f"mqtts://bridge@127.0.0.1:{secure.port}"
        robot = Device(secure.port, client_id="robot", ca_certs=str(ca))
        await robot.connect("robot", "robot-secret")
        robot.publish(f"{ROOT}/cmd/SetLayout", {"layout": "FourUp"})
        await eventually(lambda: bridge.scene.layout == "FourUp", what="command over TLS")
        robot.close()

        await eventually(lambda: refused.status()["counters"]["connect_failures"] >= 1)
        assert not refused.status()["connected"]
        assert "authorized" in refused.status()["last_error"].lower()
    finally:
        secure.close()


async def test_paho_runs_on_the_event_loop_with_nodelay(start_bridge) -> None:
    _, adapter = await start_bridge()
    client = adapter._connection._client
    assert client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert client._thread is None  # no loop_start() network thread
    assert not [t.name for t in threading.enumerate() if t.name.startswith("paho-mqtt")]
