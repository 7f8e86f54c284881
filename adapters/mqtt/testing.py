"""A throwaway Mosquitto broker on a free loopback port, for tests and benchmarks.

Starts Debian's `mosquitto` with a generated config (never a system service, never a
non-loopback address), waits until it accepts connections, and stops it again; `restart`
keeps the port, so clients can reconnect to the same URL. Not used by the bridge itself.

The config says what the bridge needs from a broker (README, "Broker requirements"):
MQTT 5, retained messages, `set_tcp_nodelay`, a `message_size_limit` above the bridge's
`mqtt_max_payload` so oversized commands reach the bridge and are answered, and the default
per-client queue (`max_queued_messages 1000`): the bridge's state is coalesced per topic,
so it never relies on a deep broker queue.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = "mosquitto"


class BrokerError(RuntimeError):
    """Mosquitto is missing, or did not start."""


def mosquitto_available() -> bool:
    return shutil.which(MOSQUITTO) is not None or Path("/usr/sbin/mosquitto").exists()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalMosquitto:
    """One Mosquitto process listening on 127.0.0.1:`port`."""

    def __init__(
        self,
        *,
        port: int | None = None,
        extra_config: str = "",
        anonymous: bool = True,
        sys_interval: int = 1,
    ) -> None:
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="slicer-bridge-mosquitto-"))
        # Run as root, mosquitto drops to user `mosquitto`: let it read what we generate.
        self.directory.chmod(0o755)
        self.extra_config = extra_config
        self.anonymous = anonymous
        self.sys_interval = sys_interval
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.directory / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        return "\n".join(
            [
                "per_listener_settings false",
                f"listener {self.port} 127.0.0.1",
                f"allow_anonymous {'true' if self.anonymous else 'false'}",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "set_tcp_nodelay true",
                "max_inflight_messages 20",
                "max_queued_messages 1000",
                "message_size_limit 67108864",  # 64 MiB: above the bridge's payload limit
                f"sys_interval {self.sys_interval}",
                self.extra_config,
                "",
            ]
        )

    def write_file(self, name: str, text: str) -> Path:
        """A file in the broker's folder, readable by it (certificates, password file)."""
        path = self.directory / name
        path.write_text(text)
        path.chmod(0o644)
        return path

    def start(self, timeout: float = 10.0) -> None:
        if not mosquitto_available():
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        config = self.write_file("mosquitto.conf", self.config_text())
        executable = shutil.which(MOSQUITTO) or "/usr/sbin/mosquitto"
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [executable, "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"mosquitto exited at start:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port}:\n{self.log()}")

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Stop and delete the broker's folder."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalMosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
