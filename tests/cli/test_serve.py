"""`slicer-bridge` as a user runs it: a real process, its log, signals, exit codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.cli import build_parser
from bridge.config import Settings

EXECUTABLE = [sys.executable, "-m", "bridge.cli"]


def start_serve(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*EXECUTABLE, "serve", "--data-dir", str(tmp_path), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> str:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    process.kill()
    pytest.fail(f"{marker!r} not seen in output:\n{''.join(lines)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_logs_its_services_and_stops_cleanly_on_signal(tmp_path: Path, signum) -> None:
    process = start_serve(tmp_path, "--no-http", "--max-rate", "30")
    try:
        startup = read_until(process, "ready; press Ctrl-C to stop")
        assert "command bus: up to 30 passes/s" in startup
        assert "http: disabled" in startup
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "shutting down" in rest and "stopped" in rest
    assert "Traceback" not in startup + rest


def test_flags_for_adapters_not_built_are_accepted_and_logged(tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--mqtt-url", "mqtt://127.0.0.1:1999", "--igtl-port", "0")
    try:
        startup = read_until(process, "ready; press Ctrl-C to stop")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        process.kill()
    assert "Traceback" not in startup
    for transport in ("http", "igtl", "mqtt"):  # each says whether and where it runs
        logged = rf"slicer_bridge(: {transport}: |\.{transport}: )"
        assert re.search(logged, startup), startup


def test_bad_flag_value_exits_2_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [*EXECUTABLE, "serve", "--http-port", "99999"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "http_port must be a port number 0-65535, got 99999" in result.stderr


def test_help_documents_every_setting() -> None:
    result = subprocess.run(
        [*EXECUTABLE, "serve", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    required = [
        "--config", "--host", "--http-port", "--igtl-port", "--no-http", "--no-igtl",
        "--mqtt-url", "--no-mqtt", "--instance", "--data-dir", "--docroot", "--enable-exec",
        "--cors", "--token", "--certfile", "--keyfile", "--max-rate",
    ]  # fmt: skip
    for flag in required:
        assert flag in result.stdout, flag
    assert "SLICER_BRIDGE_" in result.stdout, "the environment layer is documented"


def test_only_given_flags_override_lower_layers() -> None:
    arguments = build_parser().parse_args(["serve", "--no-igtl", "--cors"])
    given = {k: v for k, v in vars(arguments).items() if k not in ("config", "run", "subcommand")}
    assert given == {"igtl": False, "cors": True}
    assert set(given) <= set(Settings.__dataclass_fields__)


def test_commands_listing_names_every_kind_and_its_mode() -> None:
    result = subprocess.run([*EXECUTABLE, "commands"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "SetTransform" in result.stdout and "coalesced" in result.stdout
    assert "Exec" in result.stdout and "code*" in result.stdout
