"""One settings object for the whole bridge, from four layers.

Precedence, lowest first: the defaults below < a TOML file (`--config FILE`) < environment
variables `SLICER_BRIDGE_<NAME>` < command-line flags. Every setting is declared once, in
`Settings`, with its type, default and help text; the TOML reader, the environment reader and
the CLI's flags are all generated from that declaration, so they can never disagree.

Security defaults: listen on 127.0.0.1 only, `exec` off, CORS off, no TLS, no token.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "SLICER_BRIDGE_"


class ConfigError(ValueError):
    """A setting with an unknown name or a value of the wrong type, naming where it came from."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "slicer-bridge"


def _default_docroot() -> Path:
    return Path(__file__).resolve().parent.parent / "docroot"


def _default_ohif_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "vendor" / "ohif"


def setting(default: Any, help: str, *, flag: str | None = None, factory: Any = None) -> Any:
    """Declare one setting: its default, its help text, and its CLI flag if not the obvious one."""
    metadata = {"help": help, "flag": flag}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting of `slicer-bridge serve`."""

    host: str = setting("127.0.0.1", "address every server listens on (0.0.0.0: all interfaces)")
    http: bool = setting(True, "HTTP server (/slicer, /dicom, static pages)", flag="--no-http")
    http_port: int = setting(2016, "HTTP port; the next free port is used if it is taken")
    slicer_api: bool = setting(True, "Slicer WebServer REST API at /slicer", flag="--no-slicer-api")
    dicom: bool = setting(True, "DICOMweb server at /dicom", flag="--no-dicom")
    static: bool = setting(True, "static pages from --docroot at /", flag="--no-static")
    directory_listing: bool = setting(False, "list docroot folders that have no index.html")
    max_body_size: int = setting(1 << 30, "largest HTTP request body in bytes (larger: 413)")
    access_log: bool = setting(False, "log one line per HTTP request")
    allowed_hosts: str | None = setting(
        None, "extra names accepted in the HTTP Host header, comma-separated (DNS rebinding)"
    )
    public_url: str | None = setting(
        None, "absolute base URL clients reach this server at (behind a reverse proxy)"
    )
    file_roots: str | None = setting(
        None, "folders that localfile= and url=file: may use, os.pathsep-separated (default: any)"
    )
    igtl: bool = setting(True, "OpenIGTLink server", flag="--no-igtl")
    igtl_port: int = setting(18944, "OpenIGTLink server port")
    igtl_serve: bool = setting(
        True, "OpenIGTLink server (off: client mode only)", flag="--no-igtl-serve"
    )
    igtl_connect: str = setting("", "OpenIGTLink peers to connect out to: host:port[,host:port…]")
    igtl_push: str = setting("", "scene nodes pushed to every OpenIGTLink peer: name[,name…]")
    igtl_max_body_mib: int = setting(
        264, "largest OpenIGTLink message body accepted, MiB (a 512³ int16 image: 256)"
    )
    igtl_check_crc: bool = setting(
        True, "CRC-64 check of every OpenIGTLink message", flag="--no-igtl-check-crc"
    )
    igtl_read_timeout: float = setting(
        10.0, "seconds an OpenIGTLink peer may stall mid-message before it is dropped"
    )
    igtl_max_peers: int = setting(256, "most OpenIGTLink peers served at once")
    igtl_receive_buffer_kib: int = setting(
        256, "kernel receive buffer per OpenIGTLink peer, KiB (0: OS autotuning)"
    )
    compute: bool = setting(
        True, "compute-node registry (nodes register over OpenIGTLink)", flag="--no-compute"
    )
    compute_job_timeout: float = setting(
        600.0, "seconds a compute job may run on a node, unless the request or operation says"
    )
    compute_queue_timeout: float = setting(
        600.0, "seconds a compute job may wait in its queue for a free node"
    )
    compute_heartbeat_timeout: float = setting(
        5.0, "seconds of silence after which a compute node is dropped (≥ 3 heartbeats)"
    )
    mqtt: bool = setting(True, "MQTT client (connects to --mqtt-url)", flag="--no-mqtt")
    mqtt_url: str = setting(
        "mqtt://127.0.0.1:1883", "MQTT broker URL: mqtt://host:port or mqtts://host:port"
    )
    mqtt_protocol: str = setting("5", "MQTT protocol version: 5 or 3.1.1")
    mqtt_topic_root: str | None = setting(None, "MQTT topic root (default: slicer/<instance>)")
    mqtt_username: str | None = setting(None, "MQTT user name (mqtt://user@host also works)")
    mqtt_password: str | None = setting(
        None, "MQTT password; prefer the environment (SLICER_BRIDGE_MQTT_PASSWORD)"
    )
    mqtt_ca_file: Path | None = setting(
        None, "CA bundle (PEM) to verify an mqtts:// broker (default: the system's CAs)"
    )
    mqtt_certfile: Path | None = setting(None, "MQTT client certificate (PEM), if required")
    mqtt_keyfile: Path | None = setting(None, "private key (PEM) of --mqtt-certfile")
    mqtt_keepalive: int = setting(30, "MQTT keepalive in seconds")
    mqtt_state_rate: float = setting(30.0, "maximum MQTT state publications per second per topic")
    mqtt_max_payload: int = setting(
        1 << 20, "largest MQTT payload accepted, in bytes (larger: answered on .../error)"
    )
    instance: str = setting("default", "instance name; MQTT topics live under slicer/<instance>")
    data_dir: Path = setting(
        None, "where the DICOM store, samples and logs live", factory=_default_data_dir
    )
    docroot: Path = setting(None, "folder served as static pages at /", factory=_default_docroot)
    ohif_dir: Path = setting(
        None,
        "the OHIF viewer served at /browse (installed by scripts/install-ohif.sh)",
        factory=_default_ohif_dir,
    )
    enable_exec: bool = setting(False, "allow running Python sent to /slicer/exec (unsafe)")
    cors: bool = setting(False, "answer cross-origin requests (CORS)")
    token: str | None = setting(None, "require this bearer token on every request")
    certfile: Path | None = setting(None, "TLS certificate (PEM) for HTTPS")
    keyfile: Path | None = setting(None, "TLS private key (PEM) for HTTPS")
    max_rate: float = setting(60.0, "maximum scene update passes per second (frame rate)")
    log_level: str = setting("info", "logging level: debug, info, warning, error")

    def __post_init__(self) -> None:
        if not self.max_rate > 0:
            raise ConfigError(f"max_rate must be positive, got {self.max_rate}")
        for name in ("http_port", "igtl_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be a port number 0-65535, got {port}")
        for name in (
            "igtl_max_body_mib",
            "igtl_read_timeout",
            "igtl_max_peers",
            "compute_job_timeout",
            "compute_queue_timeout",
            "compute_heartbeat_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.igtl_receive_buffer_kib < 0:
            raise ConfigError("igtl_receive_buffer_kib must be 0 (OS default) or more")
        for peer in filter(None, (item.strip() for item in self.igtl_connect.split(","))):
            host, _, port = peer.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) <= 65535:
                raise ConfigError(f"igtl_connect: not a host:port address: {peer!r}")
        if self.max_body_size <= 0:
            raise ConfigError(f"max_body_size must be positive, got {self.max_body_size}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("TLS needs both certfile and keyfile")
        if self.mqtt_protocol.lower().lstrip("v") not in ("5", "3.1.1", "311"):
            raise ConfigError(f"mqtt_protocol must be 5 or 3.1.1, got {self.mqtt_protocol}")
        if not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise ConfigError(f"mqtt_url must start with mqtt:// or mqtts://, got {self.mqtt_url}")


def setting_types() -> dict[str, type]:
    """The value type of each setting (Optional unwrapped)."""
    hints = get_type_hints(Settings)
    return {spec.name: _base_type(hints[spec.name]) for spec in fields(Settings)}


def _base_type(hint: Any) -> type:
    for candidate in (bool, int, float, Path, str):
        if hint is candidate or candidate in getattr(hint, "__args__", ()):
            return candidate
    raise TypeError(f"unsupported setting type {hint!r}")


def _convert(name: str, value: Any, origin: str) -> Any:
    kind = setting_types()[name]
    try:
        if isinstance(value, str):
            return _PARSERS[kind](value)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if kind is Path and isinstance(value, str):
            return Path(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value
    except ValueError as error:
        raise ConfigError(f"{origin}: {name}: {error}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


_PARSERS: dict[type, Any] = {
    bool: _parse_bool,
    int: int,
    float: float,
    str: str,
    Path: lambda text: Path(text).expanduser(),
}


def from_mapping(base: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    """Overlay `values` (TOML table or flags) on `base`; unknown names are an error."""
    known = {spec.name for spec in fields(Settings)}
    changes = {}
    for raw_name, value in values.items():
        name = raw_name.replace("-", "_")
        if name not in known:
            raise ConfigError(f"{origin}: unknown setting {raw_name!r}")
        changes[name] = None if value is None else _convert(name, value, origin)
    return replace(base, **changes)


def from_toml(base: Settings, path: Path) -> Settings:
    try:
        with path.open("rb") as stream:
            table = tomllib.load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return from_mapping(base, table.get("bridge", table), str(path))


def from_environment(base: Settings, environ: Mapping[str, str]) -> Settings:
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG"
    }
    return from_mapping(base, values, "environment")


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < TOML file < environment < overrides (the CLI's flags that were given)."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    config_file = config_file or _env_config_file(environ)
    if config_file is not None:
        settings = from_toml(settings, config_file)
    settings = from_environment(settings, environ)
    return from_mapping(settings, overrides or {}, "command line")


def _env_config_file(environ: Mapping[str, str]) -> Path | None:
    value = environ.get(ENV_PREFIX + "CONFIG")
    return Path(value) if value else None
