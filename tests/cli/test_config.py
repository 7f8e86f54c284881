"""Settings precedence and errors: defaults < TOML < environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, Settings, load_settings


def test_secure_defaults() -> None:
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1"
    assert settings.enable_exec is False and settings.cors is False
    assert settings.token is None and settings.certfile is None
    assert (settings.http_port, settings.igtl_port) == (2016, 18944)
    assert settings.mqtt_url == "mqtt://127.0.0.1:1883" and settings.instance == "default"
    assert settings.max_rate == 60.0


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('http_port = 3000\nigtl_port = 3001\ninstance = "toml"\nmax_rate = 30\n')
    environ = {"SLICER_BRIDGE_IGTL_PORT": "4001", "SLICER_BRIDGE_INSTANCE": "env"}
    settings = load_settings(config_file=config, environ=environ, overrides={"instance": "flag"})
    assert settings.http_port == 3000, "TOML beats the default"
    assert settings.igtl_port == 4001, "environment beats TOML"
    assert settings.instance == "flag", "flags beat the environment"
    assert settings.max_rate == 30.0 and isinstance(settings.max_rate, float)


def test_config_file_from_environment_and_bridge_table(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text("[bridge]\nenable-exec = true\ndata_dir = '~/sb'\n")
    settings = load_settings(environ={"SLICER_BRIDGE_CONFIG": str(config)})
    assert settings.enable_exec is True
    assert settings.data_dir == Path("~/sb").expanduser()


def test_environment_booleans() -> None:
    assert load_settings(environ={"SLICER_BRIDGE_MQTT": "off"}).mqtt is False
    assert load_settings(environ={"SLICER_BRIDGE_CORS": "yes"}).cors is True
    with pytest.raises(ConfigError, match="environment: cors: expected true/false"):
        load_settings(environ={"SLICER_BRIDGE_CORS": "maybe"})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("htp_port = 1", "unknown setting 'htp_port'"),
        ('http_port = "high"', "http_port: invalid literal"),
        ("http_port = 70000", "http_port must be a port number"),
        ("max_rate = 0", "max_rate must be positive"),
        ("cors = 1", "cors: expected bool, got int"),
        ('mqtt_url = "tcp://x"', "mqtt_url must start with mqtt://"),
        ('certfile = "/c.pem"', "TLS needs both certfile and keyfile"),
        ("http_port = [", "not valid TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file=config, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file .*nope.toml"):
        load_settings(config_file=tmp_path / "nope.toml", environ={})


def test_settings_are_immutable() -> None:
    with pytest.raises(AttributeError):
        Settings().host = "0.0.0.0"  # type: ignore[misc]
