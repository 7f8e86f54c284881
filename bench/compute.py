"""Benchmark: compute jobs through external nodes, against the raw transfer of the same bytes.

A bridge runs in this process (headless scene, OpenIGTLink on a free loopback port, bus at
`--max-rate`); nodes run as separate processes (`python -m bridge.compute.cli node run`)
offering `identity` — the job's cost is then all transport and bookkeeping. The input is a
130×256×256 int16 volume (17 MB), each job's output a new 17 MB volume in the scene.

1. Round trip, one node: jobs one after another; each from submitting `RunCompute` to the
   bus until its output volume is in the scene (p50/p99).
2. Throughput with one node, then with two: `--in-flight` jobs kept submitted; jobs/s.
3. Steps 1–2 again with nodes registered `--no-crc` (job data without CRC-64: the four
   CRC passes of a job — bridge out, node in, node out, bridge in — are ≈ 80 ms each here).
4. Raw transfer baseline, in the same run: the same 17 MB written over a plain loopback
   socket to an echo process and read back (no framing, no CRC, no scene) — p50; and the
   same `identity` computed in this process (a copy of the array).

Each job phase lasts a sixth of `--seconds`. `overhead` is the job p50 over the raw transfer
p50 (target: within 2×). Prints one JSON line, last on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

# Sibling scripts (bench/http.py, bench/mqtt.py) must not shadow the standard library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
ROOT = _HERE.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bridge import commands as c  # noqa: E402
from bridge.app import Bridge  # noqa: E402
from bridge.config import Settings  # noqa: E402

SHAPE = (130, 256, 256)

NODE_FILE = textwrap.dedent(
    """
    from bridge.compute import ComputeNode, Volume

    node = ComputeNode("bench")

    @node.operation("identity", inputs={"volume": Volume}, outputs={"volume": Volume})
    def identity(job):
        return job.inputs["volume"]
    """
)

ECHO = textwrap.dedent(
    """
    import socket, sys
    size = int(sys.argv[1])
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    connection, _ = server.accept()
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray(size)
    view = memoryview(buffer)
    while True:
        got = 0
        while got < size:
            count = connection.recv_into(view[got:])
            if not count:
                sys.exit(0)
            got += count
        connection.sendall(buffer)
    """
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


# -- baselines ------------------------------------------------------------------------------------


def raw_transfer(payload: bytes, seconds: float) -> list[float]:
    """Round trips of `payload` through an echo process over a plain loopback socket."""
    echo = subprocess.Popen(
        [sys.executable, "-c", ECHO, str(len(payload))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        received = bytearray(len(payload))
        view = memoryview(received)
        times: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or len(times) < 3:
            started = time.perf_counter()
            sock.sendall(payload)
            got = 0
            while got < len(payload):
                got += sock.recv_into(view[got:])
            times.append(time.perf_counter() - started)
        assert received == payload
        sock.close()
        return times
    finally:
        echo.kill()
        echo.wait()


def in_process(volume: np.ndarray, seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(times) < 3:
        started = time.perf_counter()
        volume.copy()
        times.append(time.perf_counter() - started)
    return times


# -- jobs -----------------------------------------------------------------------------------------


async def run_job(bridge: Bridge, index: int) -> float:
    started = time.perf_counter()
    command = c.RunCompute(
        operation="identity", inputs={"volume": "input"}, outputs={"volume": f"out{index % 8}"}
    )
    result = await bridge.bus.submit(command)
    assert result.ok, result.error
    assert bridge.compute is not None
    job = bridge.compute.job(result.value["job"])
    await job.finished.wait()
    assert job.state == "done", job.error
    return time.perf_counter() - started


async def sequential(bridge: Bridge, seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(times) < 3:
        times.append(await run_job(bridge, len(times)))
    return times


async def throughput(bridge: Bridge, seconds: float, in_flight: int) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    started = time.perf_counter()

    async def worker(offset: int) -> None:
        nonlocal done
        index = offset
        while time.monotonic() < deadline:
            await run_job(bridge, index)
            done += 1
            index += in_flight

    await asyncio.gather(*(worker(offset) for offset in range(in_flight)))
    return done / (time.perf_counter() - started)


def start_node(
    path: Path, port: int, name: str, options: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.compute.cli", "node", "run", str(path),
         "--bridge", f"127.0.0.1:{port}", "--name", name, "--log-level", "warning", *options],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


async def wait_for_nodes(bridge: Bridge, count: int) -> None:
    assert bridge.compute is not None
    deadline = time.monotonic() + 30
    while len(bridge.compute.nodes) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the nodes did not register")
        await asyncio.sleep(0.05)


async def job_figures(
    volume: np.ndarray, folder: Path, arguments: argparse.Namespace, *, crc: bool
) -> tuple[dict[str, Any], float]:
    """Round trips and throughput through identity nodes registered with or without CRC."""
    phase = arguments.seconds / 6
    settings = Settings(
        http=False, mqtt=False, igtl_port=0, data_dir=folder, max_rate=arguments.max_rate
    )
    bridge = Bridge(settings)
    await bridge.start()
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        port = next(a for a in bridge.adapters if a.name == "igtl").address[1]
        node_file = folder / "identity_node.py"
        node_file.write_text(NODE_FILE)
        options = () if crc else ("--no-crc",)
        nodes.append(start_node(node_file, port, "bench-1", options))
        await wait_for_nodes(bridge, 1)
        applied = await bridge.bus.submit(c.PutVolume(node="input", array=volume))
        assert applied.ok, applied.error
        await run_job(bridge, 0)  # warm up
        round_trips = await sequential(bridge, phase)
        one_node = await throughput(bridge, phase, arguments.in_flight)
        nodes.append(start_node(node_file, port, "bench-2", options))
        await wait_for_nodes(bridge, 2)
        two_nodes = await throughput(bridge, phase, arguments.in_flight)
        assert np.array_equal(bridge.scene.volume("out0").array, volume)
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(10)
        await bridge.stop()
    p50 = statistics.median(round_trips)
    figures = {
        "jobs": len(round_trips),
        "job_round_trip_ms": {
            "p50": milliseconds(p50),
            "p99": milliseconds(percentile(round_trips, 0.99)),
        },
        "jobs_per_s": {"one_node": round(one_node, 2), "two_nodes": round(two_nodes, 2)},
    }
    return figures, p50


async def bench(arguments: argparse.Namespace) -> dict[str, Any]:
    volume = np.random.default_rng(1).integers(-1000, 3000, size=SHAPE).astype(np.int16)
    with tempfile.TemporaryDirectory() as folder:
        with_crc, crc_p50 = await job_figures(volume, Path(folder), arguments, crc=True)
        without_crc, no_crc_p50 = await job_figures(volume, Path(folder), arguments, crc=False)
    raw = raw_transfer(volume.tobytes(), min(arguments.seconds / 6, 5.0))
    local = in_process(volume, min(arguments.seconds / 6, 2.0))
    raw_p50 = statistics.median(raw)
    return {
        "benchmark": "compute",
        "volume": "x".join(str(size) for size in SHAPE[::-1]) + " int16",
        "bytes": volume.nbytes,
        "seconds": arguments.seconds,
        "max_rate": arguments.max_rate,
        "in_flight": arguments.in_flight,
        **with_crc,
        "raw_transfer_ms": {
            "p50": milliseconds(raw_p50),
            "p99": milliseconds(percentile(raw, 0.99)),
        },
        "in_process_identity_ms": milliseconds(statistics.median(local)),
        "overhead": round(crc_p50 / raw_p50, 2),
        "no_crc": {**without_crc, "overhead": round(no_crc_p50 / raw_p50, 2)},
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the job phases")
    parser.add_argument("--max-rate", type=float, default=60.0, help="bus passes per second")
    parser.add_argument("--in-flight", type=int, default=4, help="jobs kept submitted")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(bench(arguments))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
