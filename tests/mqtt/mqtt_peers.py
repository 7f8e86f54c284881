"""Independent MQTT peers for the tests: a paho device and the mosquitto command-line tools.

`Device` is a separate paho client with its own network thread, as a robot or dashboard
would run it; everything it receives is appended to a list the test polls from the event
loop (on which the bridge under test runs). The `mosquitto_*` helpers run the Debian client
tools as subprocesses. Nothing here imports the adapter; `state_settled` only watches one.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: The bridge under test runs as this instance, so its topics live under `ROOT`.
INSTANCE = "test"
ROOT = f"slicer/{INSTANCE}"


async def eventually(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll `condition` (on the loop, so the bridge keeps running) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    correlation: bytes | None = None

    def json(self) -> Any:
        return orjson.loads(self.payload)


class Device:
    """A paho client on its own thread (MQTT 5 unless `protocol="3.1.1"`)."""

    def __init__(self, port: int, *, client_id: str, protocol: str = "5", **tls: Any) -> None:
        v5 = protocol == "5"
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        self.port = port
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subacks: set[int] = set()
        self.client.on_connect = lambda *_: self._connected.set()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda _c, _u, mid, *_: self._subacks.add(mid)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        if tls:
            self.client.tls_set(**tls)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        properties = getattr(message, "properties", None)
        item = Received(
            message.topic,
            message.payload,
            message.retain,
            message.qos,
            getattr(properties, "CorrelationData", None),
        )
        with self._lock:
            self.received.append(item)

    async def connect(self, username: str | None = None, password: str | None = None) -> Device:
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        await eventually(self._connected.is_set, what="device connected")
        return self

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        _, mid = self.client.subscribe(topic, qos)
        await eventually(lambda: mid in self._subacks, what=f"SUBACK for {topic}")

    def publish(
        self,
        topic: str,
        payload: Any,
        *,
        qos: int = 0,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> paho.MQTTMessageInfo:
        if not isinstance(payload, bytes | str):
            payload = orjson.dumps(payload)
        properties = None
        if response_topic is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def messages(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self.received if topic is None or m.topic == topic]

    async def next_on(self, topic: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Wait until `count` messages arrived on `topic`; returns them all."""
        await eventually(
            lambda: len(self.messages(topic)) >= count,
            timeout,
            what=f"{count} message(s) on {topic}",
        )
        return self.messages(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def mosquitto_pub(port: int, topic: str, message: str | bytes, *flags: str) -> None:
    """One `mosquitto_pub` (MQTT 3.1.1 unless `-V mqttv5` is among `flags`)."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        topic,
        *flags,
        "-s",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    data = message.encode() if isinstance(message, str) else message
    _, err = await asyncio.wait_for(process.communicate(data), 15)
    assert process.returncode == 0, f"mosquitto_pub failed: {err.decode()}"


async def mosquitto_sub_retained(port: int, topic: str, wait: float = 1.0) -> dict[str, bytes]:
    """The retained messages a brand-new `mosquitto_sub` receives on `topic` (a late
    subscriber): topic → payload."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        topic,
        "--retained-only",
        "-v",
        "-W",
        str(max(1, round(wait))),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), wait + 15)
    retained = {}
    for line in out.decode().splitlines():
        name, _, payload = line.partition(" ")
        retained[name] = payload.encode()
    return retained


async def mosquitto_rr(port: int, topic: str, response_topic: str, message: str) -> bytes:
    """A request with `mosquitto_rr` (MQTT 5 request/response): the reply payload."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto_rr",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        topic,
        "-e",
        response_topic,
        "-m",
        message,
        "-W",
        "10",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, f"mosquitto_rr failed: {err.decode()}"
    return out.strip()


async def state_settled(adapter: Any) -> None:
    """Wait until the adapter has handed all scene state to the broker (a late subscriber
    connecting now sees it retained)."""
    connection = adapter._connection
    assert connection is not None
    await eventually(
        lambda: adapter.status()["state_topics_pending"] == 0 and connection.idle.is_set(),
        what="state published",
    )
    await asyncio.sleep(0.05)  # the broker reads what paho wrote
