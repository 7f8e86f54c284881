"""Helpers for the compute tests: node processes, an SDK-only virtualenv, a raw fake node,
and the REST calls of the job API.

`NodeProcess` runs `python -m bridge.compute.cli node run FILE` as a separate process (its
log goes to a file, shown when a test fails); `make_sdk_venv` builds a virtualenv holding
only the SDK's dependencies (numpy, pyigtl and its crcmod), so a node started with its
Python proves the "another environment" claim — aiohttp, paho, pydicom are not there.
`FakeNode` speaks the job protocol byte by byte to send what a real node never would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from adapters.igtl.codecs.command import decode_command, encode_command
from adapters.igtl.codecs.status import OK, Status, encode_status
from adapters.igtl.framing import FrameReader
from adapters.igtl.wire import Frame, Outgoing, pack_message
from bridge import commands as c
from bridge.app import Bridge
from bridge.compute import protocol as p
from bridge.compute.registry import ComputeRegistry
from bridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NODES = Path(__file__).resolve().parent / "nodes"
EXAMPLES = ROOT / "examples" / "nodes"
#: What a node's environment needs: the SDK's dependencies and nothing else.
SDK_PACKAGES = ("numpy", "numpy.libs", "pyigtl", "crcmod")


async def eventually(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.02)


def make_sdk_venv(folder: Path) -> Path:
    """A virtualenv whose site-packages links only the SDK's dependencies; its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60
    )
    python = folder / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    )
    ours = Path(np.__file__).resolve().parents[1]  # this environment's site-packages
    for name in SDK_PACKAGES:
        if (ours / name).exists():
            (site / name).symlink_to(ours / name)
    return python


class NodeProcess:
    """A compute node running as its own process."""

    def __init__(
        self,
        file: Path,
        bridge_port: int,
        log_path: Path,
        *,
        python: str = sys.executable,
        name: str | None = None,
        arguments: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.log_path = log_path
        command = [python, "-m", "bridge.compute.cli", "node", "run", str(file),
                   "--bridge", f"127.0.0.1:{bridge_port}", *arguments]  # fmt: skip
        if name:
            command += ["--name", name]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the node dies mid-job, as a crash would."""
        if self.running:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the socket stays open but nothing is sent, heartbeats included."""
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


class FakeNode:
    """A raw OpenIGTLink peer that registers like a node and answers jobs with whatever a
    test makes it send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames = FrameReader(1 << 30)
        self.pending: list[Frame] = []
        self._heartbeat = asyncio.ensure_future(self._beat())

    @classmethod
    async def connect(cls, port: int) -> FakeNode:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def _beat(self) -> None:
        content = encode_status(Status(OK, 0, "Heartbeat", ""))
        metadata = {p.META_COMPUTE: p.HEARTBEAT}
        while True:
            await asyncio.sleep(0.2)
            if not self.writer.is_closing():
                self.send(pack_message("STATUS", p.DEVICE, content, version=2, metadata=metadata))

    def send(self, message: Outgoing) -> None:
        self.writer.write(message.to_bytes())

    async def register(self, capability: dict[str, Any]) -> dict[str, Any]:
        content = encode_command(1, p.REGISTER, json.dumps(capability))
        self.send(pack_message("COMMAND", p.DEVICE, content, version=2))
        reply = await self.next_frame("RTS_COMMAND")
        return json.loads(decode_command(reply.content).text)

    async def next_frame(self, type_name: str | None = None, timeout: float = 10.0) -> Frame:
        async def read() -> Frame:
            while True:
                while self.pending:
                    frame = self.pending.pop(0)
                    if frame.version > 1:
                        frame.locate_content()
                    if type_name is None or frame.type == type_name:
                        return frame
                data = await self.reader.read(1 << 18)
                if not data:
                    raise ConnectionError("the bridge closed the connection")
                self.frames.feed(data)
                while self.frames.read(64, self.pending):
                    pass

        return await asyncio.wait_for(read(), timeout)

    async def next_job(self) -> tuple[int, dict[str, Any]]:
        frame = await self.next_frame("COMMAND")
        message = decode_command(frame.content)
        return message.command_id, json.loads(message.text)

    def report(self, command_id: int, document: dict[str, Any]) -> None:
        content = encode_command(command_id, document.get("error", "")[:128], json.dumps(document))
        self.send(pack_message("RTS_COMMAND", p.DEVICE, content, version=2))

    async def close(self) -> None:
        self._heartbeat.cancel()
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def capability(node: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": 1, "node": node, "concurrency": 1, "heartbeat": 0.5,
            "operations": [operation]}  # fmt: skip


# -- a running bridge, and its scene --------------------------------------------------------------


@dataclass
class ComputeBridge:
    bridge: Bridge
    base_url: str
    igtl_port: int

    @property
    def registry(self) -> ComputeRegistry:
        assert self.bridge.compute is not None
        return self.bridge.compute


async def start_compute_bridge(folder: Path, **overrides: Any) -> ComputeBridge:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": 0,
        "igtl_port": 0,
        "mqtt": False,
        "dicom": False,  # not needed here (and each store keeps its SQLite files open)
        "data_dir": folder,
        "max_rate": 200.0,
        "compute_heartbeat_timeout": 1.0,
    }
    settings = Settings(**{**options, **overrides})
    bridge = Bridge(settings)
    await bridge.start()
    adapters = {adapter.name: adapter for adapter in bridge.adapters}
    assert {"http", "igtl"} <= set(adapters), "HTTP and OpenIGTLink must both start"
    http, igtl = adapters["http"], adapters["igtl"]
    return ComputeBridge(bridge, f"http://127.0.0.1:{http.port}", igtl.address[1])


def node_id(registry: ComputeRegistry, name: str) -> str:
    return next(record.id for record in registry.nodes.values() if record.name == name)


GEOMETRY = np.array(
    [
        [0.0, -1.2, 0.0, 10.0],
        [0.8, 0.0, 0.0, -20.0],
        [0.0, 0.0, 2.5, 30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def sample_volume(shape=(12, 20, 16), dtype=np.int16, seed=7) -> np.ndarray:
    return np.random.default_rng(seed).integers(-200, 800, size=shape).astype(dtype)


async def put_volume(bridge, name: str, array: np.ndarray, ijk_to_ras=GEOMETRY) -> None:
    result = await bridge.bus.submit(c.PutVolume(node=name, array=array, ijk_to_ras=ijk_to_ras))
    assert result.ok, result.error


# -- the REST job API ------------------------------------------------------------------------------


async def post_job(
    session: aiohttp.ClientSession, base: str, operation: str, **body: Any
) -> tuple[int, Any]:
    async with session.post(f"{base}/bridge/compute/{operation}", json=body) as response:
        return response.status, await response.json()


async def get_job(session: aiohttp.ClientSession, base: str, job: str, wait: float = 0) -> Any:
    query = f"?wait={wait}" if wait else ""
    async with session.get(f"{base}/bridge/jobs/{job}{query}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def wait_for_job(
    session: aiohttp.ClientSession,
    base: str,
    job: str,
    states: tuple[str, ...] = ("done", "failed", "cancelled"),
    timeout: float = 20.0,
) -> Any:
    """Poll `GET /bridge/jobs/<id>` until the job is in one of `states`."""
    deadline = time.monotonic() + timeout
    while True:
        state = await get_job(session, base, job)
        if state["state"] in states:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job} still {state['state']} after {timeout} s: {state}")
        await asyncio.sleep(0.02)
