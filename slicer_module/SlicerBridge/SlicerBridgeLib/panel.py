"""What the SlicerBridge panel shows and stores, as plain data: one table of its settings.

Each `PanelSetting` is a control on the panel, a key in Slicer's settings
(`SlicerBridge/<key>`), and — unless it only concerns the panel (log output) — the bridge
setting it becomes (`bridge.config.Settings`, whose defaults are the panel's). The widget
(`SlicerBridge.py`) builds its controls from `PANEL_SETTINGS`, reads and writes QSettings
through `from_stored` / `to_stored`, and starts the bridge with `overrides(values)`.

No Qt and no Slicer here, so this is unit-tested outside Slicer (`tests/slicer/`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from bridge.config import Settings

SETTINGS_GROUP = "SlicerBridge"


@dataclass(frozen=True)
class PanelSetting:
    """One control: its settings key, label, tooltip, value type and default, and the
    bridge setting it feeds (None: the panel's own, e.g. where log lines go)."""

    key: str
    label: str
    tooltip: str
    kind: type
    default: Any
    bridge_setting: str | None = None
    section: str = "Servers"


def _bridge_default(name: str) -> Any:
    for spec in fields(Settings):
        if spec.name == name:
            return getattr(Settings(), name)
    raise KeyError(f"bridge.config.Settings has no {name!r}")


def _bridge(key: str, label: str, tooltip: str, section: str = "Servers") -> PanelSetting:
    default = _bridge_default(key)
    kind = next((k for k in (bool, int, float) if type(default) is k), str)
    return PanelSetting(key, label, tooltip, kind, "" if default is None else default, key, section)


#: Every setting the panel offers, in the order it shows them.
PANEL_SETTINGS: tuple[PanelSetting, ...] = (
    _bridge("http", "HTTP server", "Serve HTTP: the /slicer API, /dicom, static pages"),
    _bridge("http_port", "HTTP port", "First port tried; the next free one is used if taken"),
    _bridge("slicer_api", "Slicer API (/slicer)", "Slicer WebServer-compatible REST API"),
    _bridge(
        "enable_exec",
        "Slicer API exec",
        "Allow running Python sent to /slicer/exec. Anyone who can reach the port can then "
        "run any code in Slicer.",
    ),
    _bridge("dicom", "DICOMweb (/dicom)", "Serve DICOMweb at /dicom"),
    _bridge("static", "Static pages", "Serve the docroot's pages at /"),
    _bridge(
        "cors",
        "CORS",
        "Answer cross-origin requests: any web page can then use the server",
        "Security",
    ),
    _bridge(
        "token", "Token", "Require this bearer token on every request (empty: none)", "Security"
    ),
    _bridge(
        "host",
        "Listen address",
        "127.0.0.1: this computer only; 0.0.0.0: every network interface",
        "Security",
    ),
    _bridge("igtl", "OpenIGTLink server", "Serve OpenIGTLink (trackers, robots, PLUS)"),
    _bridge("igtl_port", "OpenIGTLink port", "OpenIGTLink server port"),
    _bridge("mqtt", "MQTT", "Connect to an MQTT broker"),
    _bridge("mqtt_url", "Broker URL", "mqtt://host:port or mqtts://host:port"),
    _bridge("instance", "Instance name", "MQTT topics live under slicer/<instance>"),
    _bridge(
        "max_rate",
        "Scene updates per second",
        "Most apply passes per second (frame rate)",
        "Advanced",
    ),
    PanelSetting(
        "log_to_gui", "Log to panel", "Show log lines in this panel", bool, True, section="Log"
    ),
    PanelSetting(
        "log_to_console",
        "Log to console",
        "Copy log lines to the Python console",
        bool,
        False,
        section="Log",
    ),
    PanelSetting(
        "log_level", "Log level", "debug, info, warning or error", str, "info", section="Log"
    ),
)

BY_KEY: dict[str, PanelSetting] = {setting.key: setting for setting in PANEL_SETTINGS}


def to_bool(value: Any) -> bool:
    """QSettings hands booleans back as `true`/`false` strings on some platforms."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def convert(setting: PanelSetting, value: Any) -> Any:
    """A stored or typed value as the setting's kind; the default when it cannot be read."""
    try:
        if setting.kind is bool:
            return to_bool(value)
        return setting.kind(value)
    except (TypeError, ValueError):
        return setting.default


def from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Panel values from what Slicer's settings hold (keys without the group prefix);
    missing keys take their defaults."""
    return {
        setting.key: convert(setting, stored[setting.key])
        if setting.key in stored
        else setting.default
        for setting in PANEL_SETTINGS
    }


def to_stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """`SlicerBridge/<key>` → value, for `QSettings.setValue`."""
    return {f"{SETTINGS_GROUP}/{key}": values[key] for key in BY_KEY if key in values}


def overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """The `start_in_qt(**overrides)` the panel's values ask for (an empty token is none)."""
    chosen: dict[str, Any] = {}
    for setting in PANEL_SETTINGS:
        if setting.bridge_setting is None or setting.key not in values:
            continue
        value = convert(setting, values[setting.key])
        if setting.bridge_setting == "token" and not value:
            value = None
        chosen[setting.bridge_setting] = value
    return chosen


#: Import name → pip requirement for what the bridge needs beyond what Slicer ships.
REQUIREMENTS: dict[str, str] = {
    "aiohttp": "aiohttp>=3.9",
    "orjson": "orjson>=3.9",
    "paho.mqtt": "paho-mqtt>=2.0",
    "pyigtl": "pyigtl>=0.3.1",
    "nrrd": "pynrrd>=1.0",
    "pydicom": "pydicom>=3.0",
    "PIL": "Pillow>=10",
    "dicomweb_client": "dicomweb-client>=0.61",
}


def missing_requirements(
    find_spec: Callable[[str], Any] = importlib.util.find_spec,
) -> list[str]:
    """The pip requirements whose modules cannot be found, in a stable order."""
    absent = []
    for module, requirement in REQUIREMENTS.items():
        try:
            found = find_spec(module)
        except (ImportError, ValueError):  # a parent package is missing
            found = None
        if found is None:
            absent.append(requirement)
    return absent


def status_text(ports: Mapping[str, int | None], running: bool) -> str:
    """The panel's one-line status: what listens where."""
    if not running:
        return "Stopped"
    parts = [f"{name.upper()} {port}" for name, port in ports.items() if port]
    return "Running" + (": " + ", ".join(parts) if parts else "")


__all__ = [
    "BY_KEY",
    "PANEL_SETTINGS",
    "REQUIREMENTS",
    "SETTINGS_GROUP",
    "PanelSetting",
    "convert",
    "from_stored",
    "missing_requirements",
    "overrides",
    "status_text",
    "to_bool",
    "to_stored",
]
