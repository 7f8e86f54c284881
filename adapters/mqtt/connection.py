"""One paho-mqtt client driven by the asyncio loop, kept connected by its own task.

paho's external-loop API does the protocol; this module does the driving:

* the socket is watched with `loop.add_reader` / `add_writer` (paho's `on_socket_*` hooks)
  and `loop_misc` runs from a 1 s timer: no `loop_start()` thread, every paho callback runs
  on the loop thread, where the bus and the scene live;
* `TCP_NODELAY` is set on every socket paho opens (without it a QoS 1 round trip waited
  ~44 ms for Nagle and delayed ACKs, against 0.3 ms with it);
* with an external loop paho never reconnects by itself, so `_supervise` does: connect,
  wait for the loss, back off with jitter (0.5 s doubling to 30 s), try again, forever.
  The broker being down at start or going away later is logged and counted, never fatal;
* the blocking part of connecting (DNS, TCP, TLS handshake; up to `connect_timeout`) runs in
  a one-thread executor, as aiomqtt does; while it runs nothing else touches the client,
  and the socket hooks it triggers are handed to the loop thread in order.

It knows nothing of topics or commands: the owner passes the subscriptions, the Will, and
callbacks for messages and for each successful connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from adapters.mqtt.options import MqttOptions

log = logging.getLogger("slicer_bridge")

#: How often paho's keepalive and retry bookkeeping (`loop_misc`) runs.
MISC_INTERVAL = 1.0
#: QoS 0 packets paho may hold unsent before further replies and errors are dropped
#: (counted); paho's own QoS 0 queue has no bound.
MAX_UNSENT = 10_000
#: QoS > 0 messages paho may hold (its default, 0, is unbounded).
MAX_QUEUED_QOS1 = 1_000
#: How many packets one readable event may process before the loop runs other work.
MAX_READS_PER_WAKE = 64
#: MQTT 5 Maximum Packet Size the bridge announces: the broker discards (for this client
#: only) anything larger, so the bridge never buffers more than this for one message.
MAX_PACKET = 16 * 1024 * 1024


class ConnectFailed(ConnectionError):
    """The broker could not be reached, or refused the connection."""


@dataclass(slots=True)
class ConnectionCounters:
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0


class BrokerConnection:
    """A paho client on the running loop, reconnected whenever it is lost."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        will: tuple[str, bytes],
        subscriptions: list[str],
        on_message: Callable[[paho.MQTTMessage], None],
        on_connected: Callable[[], None],
    ) -> None:
        self.options = options
        self.counters = ConnectionCounters()
        self.last_error: str | None = None
        self._will = will
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connected = on_connected
        self._client = self._make_client()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        #: TLS sockets hold decrypted bytes (`pending()`) that do not make the fd readable.
        self._tls = options.tls
        self._fd: int | None = None
        self._writer_watched = False
        self._tls_read_scheduled = False
        self._misc_timer: asyncio.TimerHandle | None = None
        self._messages_in = 0
        self._unsent = 0
        self._connected = False
        self._connack: asyncio.Future[None] | None = None
        self._lost = asyncio.Event()
        self._first_attempt_done = asyncio.Event()
        #: Set while connected with nothing waiting in paho's outgoing queue.
        self.idle = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._attempt: concurrent.futures.Future[Any] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mqtt-connect")

    # -- the paho client -----------------------------------------------------------------------
    def _make_client(self) -> paho.Client:
        options = self.options
        v5 = options.protocol == "5"
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else True,
            reconnect_on_failure=False,  # else a refused CONNACK reconnects, blocking, in paho
        )
        client.connect_timeout = options.connect_timeout
        client.max_queued_messages_set(MAX_QUEUED_QOS1)
        client.suppress_exceptions = True  # our callbacks catch their own; this is a backstop
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set(
                ca_certs=None if options.ca_file is None else str(options.ca_file),
                certfile=None if options.certfile is None else str(options.certfile),
                keyfile=None if options.keyfile is None else str(options.keyfile),
            )
        topic, payload = self._will
        client.will_set(topic, payload, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_socket_open = self._handle_socket_open
        client.on_socket_close = self._handle_socket_close
        client.on_socket_register_write = self._handle_register_write
        client.on_socket_unregister_write = self._handle_unregister_write
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.MaximumPacketSize = max(MAX_PACKET, 2 * options.max_payload)
        client.connect_async(
            options.host,
            options.port,
            keepalive=options.keepalive,
            clean_start=True if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        return client

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def unsent(self) -> int:
        """Packets handed to paho since its outgoing queue was last empty."""
        return self._unsent

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, *, wait: float = 2.0) -> None:
        """Start connecting; returns once the first attempt ended or after `wait` seconds,
        connected or not (the supervisor keeps trying)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._supervisor = self._loop.create_task(self._supervise(), name="mqtt-connection")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt_done.wait(), wait)

    async def stop(self, farewell: tuple[str, bytes] | None = None, timeout: float = 2.0) -> None:
        """Stop reconnecting; publish `farewell` (QoS 1, retained) and disconnect cleanly if
        connected, so the broker does not send the Will."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._attempt is not None and not self._attempt.done():  # a connect in the executor
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(self._attempt), timeout)
        client = self._client
        if self._connected:
            if farewell is not None:
                info = client.publish(farewell[0], farewell[1], qos=1, retain=True)
                await self._until(info.is_published, timeout)
            self._lost.clear()
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout)
        self._connected = False
        self.idle.clear()
        self._unwatch()
        sock = client.socket()
        if sock is not None:  # the broker never answered the DISCONNECT: drop the socket
            sock.close()
        self._executor.shutdown(wait=False)

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or not self._connected:
                return False
            await asyncio.sleep(0.005)
        return True

    # -- reconnecting --------------------------------------------------------------------------
    async def _supervise(self) -> None:
        options = self.options
        delay = options.reconnect_min_delay
        failures_in_a_row = 0
        while True:
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # whatever it was, the bridge keeps trying
                if not isinstance(error, OSError | ValueError | TimeoutError):
                    log.exception("mqtt: unexpected error while connecting")
                self.counters.connect_failures += 1
                failures_in_a_row += 1
                self.last_error = _describe(error)
                self._first_attempt_done.set()
                wait = delay * random.uniform(0.5, 1.0)
                # Every failure is counted; the log says it at first, then every 10th time.
                level = logging.WARNING if failures_in_a_row % 10 == 1 else logging.DEBUG
                log.log(
                    level,
                    "mqtt: cannot connect to %s (%s); attempt %d, retrying in %.1f s",
                    options.url,
                    self.last_error,
                    failures_in_a_row,
                    wait,
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, options.reconnect_max_delay)
                continue
            if self.counters.connects:
                self.counters.reconnects += 1
            self.counters.connects += 1
            failures_in_a_row = 0
            delay = options.reconnect_min_delay
            self._first_attempt_done.set()
            log.info(
                "mqtt: connected to %s as %s (MQTT %s)",
                options.url,
                options.client_id,
                options.protocol,
            )
            await self._lost.wait()
            self.counters.disconnects += 1
            log.warning(
                "mqtt: connection to %s lost (%s); reconnecting", options.url, self.last_error
            )
            await asyncio.sleep(options.reconnect_min_delay * random.uniform(0.5, 1.0))

    async def _connect_once(self) -> None:
        """One attempt: blocking connect in the executor, then wait for a good CONNACK."""
        assert self._loop is not None
        # Nothing on the loop may touch the client while the executor does: stop watching
        # any socket left from a refused attempt (paho closes it in `reconnect`).
        self._unwatch()
        self._lost.clear()
        self._connack = self._loop.create_future()
        self._attempt = self._executor.submit(self._client.reconnect)
        code = await asyncio.wrap_future(self._attempt)
        if code != paho.MQTT_ERR_SUCCESS:
            raise ConnectFailed(paho.error_string(code))
        try:
            await asyncio.wait_for(self._connack, self.options.connect_timeout)
        except TimeoutError:
            raise TimeoutError("no CONNACK from the broker") from None

    # -- paho callbacks (loop thread, except socket hooks during a connect) --------------------
    def _handle_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        connack = self._connack
        if reason.is_failure:
            if connack is not None and not connack.done():
                connack.set_exception(ConnectFailed(f"broker refused the connection: {reason}"))
            return
        self._connected = True
        self._unsent = 0
        self.idle.set()
        try:
            self._subscribe(client)
            self._on_connected()
        except Exception:
            log.exception("mqtt: error while setting up the connection")
        if connack is not None and not connack.done():
            connack.set_result(None)

    def _subscribe(self, client: paho.Client) -> None:
        if self.options.protocol == "5":
            # noLocal: never receive what the bridge itself publishes.
            options = SubscribeOptions(qos=1, noLocal=True)
            client.subscribe([(topic, options) for topic in self._subscriptions])
        else:
            client.subscribe([(topic, 1) for topic in self._subscriptions])

    def subscribe(self, topic: str, qos: int = 0) -> None:
        """An extra subscription for this connection only (not renewed on reconnect)."""
        if not self._connected:
            return
        if self.options.protocol == "5":
            self._client.subscribe(topic, options=SubscribeOptions(qos=qos, noLocal=True))
        else:
            self._client.subscribe(topic, qos)

    def unsubscribe(self, topic: str) -> None:
        if self._connected:
            self._client.unsubscribe(topic)

    def _handle_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._on_loop(self._lose, str(reason))

    def _lose(self, reason: str) -> None:
        if self._connected:  # a refused attempt keeps the refusal as its error
            self.last_error = "connection lost" if reason == "Unspecified error" else reason
        self._connected = False
        self.idle.clear()
        connack = self._connack
        if connack is not None and not connack.done():
            connack.set_exception(ConnectFailed(f"connection closed before CONNACK ({reason})"))
        self._lost.set()

    def _handle_message(self, _client: paho.Client, _userdata: Any, message: Any) -> None:
        self._messages_in += 1
        try:
            self._on_message(message)
        except Exception:
            log.exception("mqtt: message handler failed on %r", message.topic)

    # -- publishing ----------------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> bool:
        """Hand one message to paho; False (nothing sent) when not connected or when paho
        already holds `MAX_UNSENT` packets."""
        if not self._connected or self._unsent >= MAX_UNSENT:
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return False
        self._unsent += 1
        return True

    # -- socket hooks --------------------------------------------------------------------------
    def _on_loop(self, function: Callable[..., None], *arguments: Any) -> None:
        """Run now if on the loop thread, else hand it to the loop (in call order)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            function(*arguments)
        else:
            self._loop.call_soon_threadsafe(function, *arguments)

    def _handle_socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._on_loop(self._watch, sock)

    def _handle_socket_close(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._on_loop(self._unwatch)

    def _handle_register_write(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._on_loop(self._watch_writes)

    def _handle_unregister_write(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._on_loop(self._unwatch_writes)

    def _watch(self, sock: Any) -> None:
        assert self._loop is not None
        fd = sock.fileno()
        if fd < 0:  # closed again before the loop got here
            return
        self._unwatch()
        self._fd = fd
        self._loop.add_reader(fd, self._on_readable)
        self._misc_timer = self._loop.call_later(MISC_INTERVAL, self._on_misc)

    def _unwatch(self) -> None:
        if self._fd is None or self._loop is None:
            return
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._fd = None
        self._writer_watched = False
        if self._misc_timer is not None:
            self._misc_timer.cancel()
            self._misc_timer = None

    def _watch_writes(self) -> None:
        self.idle.clear()
        if self._fd is not None and not self._writer_watched and self._loop is not None:
            self._loop.add_writer(self._fd, self._on_writable)
            self._writer_watched = True

    def _unwatch_writes(self) -> None:
        self._unsent = 0
        if self._writer_watched and self._fd is not None and self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._writer_watched = False
        if self._connected:
            self.idle.set()

    def _on_readable(self) -> None:
        """Read up to `MAX_READS_PER_WAKE` packets (paho's `loop_read` reads one per call),
        stopping early when a read brought no message. What remains in the socket makes it
        readable again at the next loop iteration, after the other work due."""
        self._tls_read_scheduled = False
        client = self._client
        for _ in range(MAX_READS_PER_WAKE):
            before = self._messages_in
            if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                return
            sock = client.socket()
            if sock is None:
                return
            if self._messages_in == before and not (self._tls and sock.pending()):
                return
        sock = client.socket()
        if self._tls and sock is not None and sock.pending() and not self._tls_read_scheduled:
            # Bytes decrypted inside TLS do not make the fd readable: come back for them.
            assert self._loop is not None
            self._tls_read_scheduled = True
            self._loop.call_soon(self._on_tls_pending)

    def _on_tls_pending(self) -> None:
        if self._fd is not None and self._tls_read_scheduled:
            self._on_readable()

    def _on_writable(self) -> None:
        self._client.loop_write()

    def _on_misc(self) -> None:
        self._misc_timer = None
        if self._fd is None or self._loop is None:
            return
        self._client.loop_misc()
        if self._fd is not None:
            self._misc_timer = self._loop.call_later(MISC_INTERVAL, self._on_misc)


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host: {error.strerror or error}"
    if isinstance(error, TimeoutError | socket.timeout):
        return str(error) or "timed out"
    return str(error) or type(error).__name__
