"""MQTT transport: a paho-mqtt client on the asyncio loop, topic scheme ↔ commands.

`create(settings)` is what the composition root (`bridge.app`) calls. The pieces, one
concern each: `options` (settings → checked options), `topics` (the topic table),
`payloads` (JSON payloads → commands), `connection` (paho on asyncio, reconnecting),
`state` (scene → retained state topics), `adapter` (ties them to the bus), and `testing`
(a throwaway Mosquitto for tests and benchmarks).
"""

from __future__ import annotations

from typing import Any

from adapters.mqtt.adapter import MqttAdapter
from adapters.mqtt.options import MqttOptions

__all__ = ["MqttAdapter", "MqttOptions", "create"]


def create(settings: Any) -> MqttAdapter:
    """The adapter for `bridge.config.Settings` (raises `ConfigError` for bad MQTT settings)."""
    return MqttAdapter(MqttOptions.from_settings(settings))
