"""The MQTT adapter: broker messages in as commands, results and scene state out.

Per incoming message (`_on_message`, on the loop thread inside paho's read): match the topic
(`topics.ROUTES`), check the size, decode the JSON, build the command (`payloads`), submit
it to the bus — never await it here, so the socket keeps draining and coalescing happens in
the bus. When the command's future resolves, the result goes to the requester's reply topic
(MQTT 5 `ResponseTopic` + `CorrelationData`, or `"reply_to"` in the JSON for 3.1.1), and a
failure also goes to `<root>/error`. Anything refused before the bus is answered the same
way, with `"status": "rejected"` on the error topic.

The adapter never touches the scene except to read it for state (`state.StatePublisher`),
and never blocks: replies and errors are dropped (and counted) rather than queued without
bound when the broker connection cannot take them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from adapters.mqtt.connection import BrokerConnection
from adapters.mqtt.options import MqttOptions
from adapters.mqtt.payloads import LazyTransform, encode_json, parse_json
from adapters.mqtt.state import StatePublisher
from adapters.mqtt.topics import TopicScheme, is_topic_name
from bridge.bus import CommandResult, Outcome
from bridge.commands import CommandError

if TYPE_CHECKING:
    from bridge.app import Bridge

log = logging.getLogger("slicer_bridge")

SOURCE = "mqtt"
ONLINE = b"online"
OFFLINE = b"offline"
#: How long after connecting the bridge listens for retained state left from earlier runs.
SWEEP_SECONDS = 1.0


@dataclass(slots=True)
class MessageCounters:
    """What happened to incoming messages and outgoing publications."""

    received: int = 0
    rejected: int = 0
    submitted: int = 0
    failed: int = 0
    retained_commands_ignored: int = 0
    replies: int = 0
    errors_published: int = 0
    publish_dropped: int = 0


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where a requester wants its result: a topic, and MQTT 5 correlation data."""

    topic: str
    correlation: bytes | None
    qos: int


class MqttAdapter:
    """Connects one bridge to one broker under one topic root."""

    name = "mqtt"

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        self.topics = TopicScheme(options.topic_root)
        self.counters = MessageCounters()
        self._v5 = options.protocol == "5"
        self._bridge: Bridge | None = None
        self._connection: BrokerConnection | None = None
        self._state: StatePublisher | None = None
        self._sweep_timer: asyncio.TimerHandle | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._connection = BrokerConnection(
            self.options,
            will=(self.topics.status, OFFLINE),
            subscriptions=self.topics.subscriptions(),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self._state = StatePublisher(
            bridge.scene, self.topics, self._connection, rate=self.options.state_rate
        )
        self._state.start()
        log.info(
            "mqtt: broker %s, MQTT %s, client id %s, topics under %s/",
            self.options.url,
            self.options.protocol,
            self.options.client_id,
            self.topics.root,
        )
        await self._connection.start()

    async def stop(self) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        if self._state is not None:
            await self._state.stop()
        if self._connection is not None:
            await self._connection.stop(farewell=(self.topics.status, OFFLINE))
        log.info("mqtt: stopped")

    def status(self) -> dict[str, Any]:
        connection = self._connection
        state = self._state
        counters: dict[str, int] = asdict(self.counters)
        if connection is not None:
            counters.update(asdict(connection.counters))
        if state is not None:
            counters["state_published"] = state.published
        counters["published"] = (
            counters["replies"] + counters["errors_published"] + counters.get("state_published", 0)
        )
        return {
            "broker": self.options.url,
            "protocol": self.options.protocol,
            "client_id": self.options.client_id,
            "topic_root": self.topics.root,
            "connected": connection is not None and connection.connected,
            "last_error": None if connection is None else connection.last_error,
            "state_topics_pending": 0 if state is None else state.pending,
            "counters": counters,
        }

    # -- connection events ---------------------------------------------------------------------
    def _on_connected(self) -> None:
        """Each (re)connect: announce, republish every state topic, sweep stale ones."""
        assert self._connection is not None and self._state is not None
        self._connection.publish(self.topics.status, ONLINE, qos=1, retain=True)
        self._state.mark_all()
        self._state.begin_sweep()
        self._connection.subscribe(self.topics.state_filter)
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        self._sweep_timer = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._end_sweep)

    def _end_sweep(self) -> None:
        assert self._connection is not None and self._state is not None
        self._sweep_timer = None
        self._connection.unsubscribe(self.topics.state_filter)
        stale = self._state.end_sweep()
        if stale:
            log.info("mqtt: deleting %d retained state topic(s) the scene no longer has", stale)

    # -- incoming ------------------------------------------------------------------------------
    def _on_message(self, message: Any) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            self.counters.received += 1
            self._reject("(not UTF-8)", "topic is not valid UTF-8", None)
            return
        payload: bytes = message.payload
        if topic.startswith(self.topics.state_prefix):  # the sweep's subscription
            if message.retain and self._state is not None:
                self._state.note_retained(topic, len(payload))
            return
        self.counters.received += 1
        reply = self._reply_target(message)
        match = self.topics.match(topic)
        if match is None:
            self._reject(topic, "no route for this topic", reply)
            return
        route, levels = match
        if message.retain and not route.replay_retained:
            if payload:  # an empty retained payload only clears it: nothing to say
                self.counters.retained_commands_ignored += 1
                self._reject(
                    topic,
                    "retained commands are not executed (they would replay at "
                    "every reconnect); clear it with an empty retained message",
                    reply,
                )
            return
        if len(payload) > self.options.max_payload:
            self._reject(
                topic,
                f"payload of {len(payload)} bytes exceeds the limit of "
                f"{self.options.max_payload} bytes",
                reply,
            )
            return
        try:
            body = parse_json(payload)
            if isinstance(body, dict) and "reply_to" in body:
                reply = self._reply_to_field(body.pop("reply_to"), message.qos) or reply
            command = route.decode(levels, body, SOURCE)
        except CommandError as error:
            self._reject(topic, error, reply)
            return
        except Exception as error:  # a decoder bug must still answer, and not stop the reads
            log.exception("mqtt: decoding a message on %s failed", topic)
            self._reject(topic, f"cannot decode: {type(error).__name__}: {error}", reply)
            return
        assert self._bridge is not None
        self.counters.submitted += 1
        future = self._bridge.bus.submit(command)
        on_result = partial(self._on_result, topic, reply)
        if reply is None and isinstance(command, LazyTransform):
            # Only an update that gets applied can fail: most of a stream is superseded, and
            # watching those would cost a callback per message for nothing to report.
            command.when_built(partial(future.add_done_callback, on_result))
        else:
            future.add_done_callback(on_result)

    def _reply_target(self, message: Any) -> ReplyTarget | None:
        """The MQTT 5 ResponseTopic (+ CorrelationData) of a request, if it has one."""
        properties = getattr(message, "properties", None)
        topic = getattr(properties, "ResponseTopic", None)
        if topic is None or not is_topic_name(topic):
            return None
        return ReplyTarget(topic, getattr(properties, "CorrelationData", None), message.qos)

    def _reply_to_field(self, topic: Any, qos: int) -> ReplyTarget | None:
        if not is_topic_name(topic):
            raise CommandError(
                f"expected a topic name without wildcards, got {topic!r}", field="reply_to"
            )
        return ReplyTarget(topic, None, qos)

    # -- outgoing ------------------------------------------------------------------------------
    def _on_result(
        self, topic: str, reply: ReplyTarget | None, future: asyncio.Future[CommandResult]
    ) -> None:
        if future.cancelled():
            return
        result = future.result()
        if reply is not None:
            self._reply(reply, result.to_json())
        if result.outcome is Outcome.FAILED:
            self.counters.failed += 1
            self._publish_error({"topic": topic, **result.to_json()})

    def _reject(self, topic: str, error: CommandError | str, reply: ReplyTarget | None) -> None:
        """Refused before the bus: say so on the error topic, and to the requester."""
        self.counters.rejected += 1
        report: dict[str, Any] = {"topic": topic, "status": "rejected", "error": str(error)}
        if isinstance(error, CommandError):
            if error.command:
                report["command"] = error.command
            if error.field:
                report["field"] = error.field
        self._publish_error(report)
        if reply is not None:
            self._reply(reply, {**report, "status": Outcome.FAILED.value})

    def _publish_error(self, report: dict[str, Any]) -> None:
        if self._publish(self.topics.error, encode_json(report)):
            self.counters.errors_published += 1

    def _reply(self, reply: ReplyTarget, body: dict[str, Any]) -> None:
        properties = None
        if self._v5 and reply.correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = reply.correlation
        if self._publish(reply.topic, encode_json(body), qos=reply.qos, properties=properties):
            self.counters.replies += 1

    def _publish(self, topic: str, payload: bytes, **options: Any) -> bool:
        assert self._connection is not None
        if self._connection.publish(topic, payload, **options):
            return True
        self.counters.publish_dropped += 1
        return False
