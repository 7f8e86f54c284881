"""What the MQTT adapter needs to know, read once from the bridge's settings.

`MqttOptions` is the adapter's own, fully checked view of the configuration: broker address
and TLS from `mqtt_url`, protocol version, credentials, topic root, rates and limits. It is
built from `bridge.config.Settings` by `from_settings`, which reads every MQTT setting with a
default, so the adapter also runs against a Settings that does not declare them all yet.
This module only parses and checks; it never connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from bridge.config import ConfigError, Settings

Protocol = Literal["5", "3.1.1"]

#: Spellings accepted for the protocol version setting.
_PROTOCOL_NAMES: dict[str, Protocol] = {
    **dict.fromkeys(("5", "5.0", "v5", "mqttv5", "mqtt5"), "5"),
    **dict.fromkeys(("3.1.1", "311", "v311", "mqttv311", "4"), "3.1.1"),
}

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_WILDCARDS = frozenset("+#\0")


@dataclass(frozen=True)
class MqttOptions:
    """Broker connection, topic root and limits of one MQTT adapter."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    protocol: Protocol = "5"
    instance: str = "default"
    #: Every topic lives under this prefix (default `slicer/<instance>`).
    topic_root: str = "slicer/default"
    username: str | None = None
    password: str | None = None
    #: CA bundle for mqtts:// (None: the system's trusted CAs).
    ca_file: Path | None = None
    #: Client certificate and key for brokers that require one.
    certfile: Path | None = None
    keyfile: Path | None = None
    keepalive: int = 30
    #: Upper bound on state publications per second (per topic: the latest value only).
    state_rate: float = 30.0
    #: Payloads larger than this are refused (answered on …/error) before decoding.
    max_payload: int = 1024 * 1024
    connect_timeout: float = 5.0
    reconnect_min_delay: float = 0.5
    reconnect_max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.protocol not in ("5", "3.1.1"):
            raise ConfigError(f"mqtt_protocol must be 5 or 3.1.1, got {self.protocol!r}")
        if not self.topic_root or _WILDCARDS & set(self.topic_root):
            raise ConfigError(
                f"MQTT topic root must be non-empty, without + # or NUL: {self.topic_root!r}"
            )
        if self.topic_root.startswith("/") or self.topic_root.endswith("/"):
            raise ConfigError(
                f"MQTT topic root must not start or end with '/': {self.topic_root!r}"
            )
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("an MQTT client certificate needs both mqtt_certfile and keyfile")
        if not 0 < self.port <= 65535:
            raise ConfigError(f"MQTT broker port must be 1-65535, got {self.port}")
        for name in ("keepalive", "state_rate", "max_payload", "connect_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"mqtt_{name} must be positive, got {getattr(self, name)}")

    @property
    def client_id(self) -> str:
        return f"slicer-bridge-{self.instance}"

    @property
    def url(self) -> str:
        """The broker URL for logs and status, never with the password."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttOptions:
        """Options for `mqtt://[user[:password]@]host[:port]` or `mqtts://…`; credentials in
        `options` take precedence over those in the URL."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(
                f"mqtt_url must be mqtt://host[:port] or mqtts://host[:port], got {url!r}"
            )
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ConfigError(f"mqtt_url has an invalid port: {url!r}") from None
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(f"mqtt_url takes no path or query: {url!r}")
        instance = options.get("instance", cls.instance)
        options.setdefault("topic_root", f"slicer/{instance}")
        if options.get("username") is None and parts.username:
            options["username"] = unquote(parts.username)
        if options.get("password") is None and parts.password:
            options["password"] = unquote(parts.password)
        return cls(host=parts.hostname, port=port, tls=parts.scheme == "mqtts", **options)

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttOptions:
        """Options from the bridge's settings (`--mqtt-*` flags)."""
        protocol_name = settings.mqtt_protocol.strip().lower()
        protocol = _PROTOCOL_NAMES.get(protocol_name)
        if protocol is None:
            raise ConfigError(f"mqtt_protocol must be 5 or 3.1.1, got {protocol_name!r}")
        options: dict[str, Any] = {
            "protocol": protocol,
            "instance": settings.instance,
            "topic_root": settings.mqtt_topic_root or f"slicer/{settings.instance}",
            "username": settings.mqtt_username,
            "password": settings.mqtt_password,
        }
        for name in ("ca_file", "certfile", "keyfile", "keepalive", "state_rate", "max_payload"):
            value = getattr(settings, f"mqtt_{name}")
            if value is not None:
                options[name] = value
        return cls.from_url(settings.mqtt_url, **options)
