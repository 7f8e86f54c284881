"""Benchmark: the HTTP adapter under 10 concurrent keep-alive clients, against one connection
per request (how Slicer's WebServer serves every request) in the same run.

A server process runs the real bridge (`Bridge` with only HTTP on, port 0) with one
256×256×130 int16 volume put into the headless scene through the bus. This process is the
load generator: for each request — `GET /slicer/mrml/ids` (small JSON), `GET /slicer/volume`
(the volume as NRRD, ~17 MB) and `GET /slicer/slice` (a PNG rendering) — ten workers send
requests back to back for `--seconds`, first over persistent connections, then opening and
closing a connection per request. The client is a minimal asyncio protocol (no HTTP library)
so the figures measure the server more than the client. Client and server share this
machine's cores, so the figures are lower bounds.

A route that does not answer 200 (not implemented yet in this tree) gets null figures and is
named under "missing". Prints progress on stderr and one JSON line, last on stdout.

    python bench/http.py --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# This file is named http.py (as the issue asks): its folder must not shadow the standard
# library's `http` (aiohttp imports it), so that folder leaves the path and the repo comes in.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from bench.bench_server import VOLUME_SHAPE, bench_server, serve_volume  # noqa: E402

CLIENTS = 10


# -- the server process ------------------------------------------------------------------------
async def serve() -> None:
    await serve_volume(np.diag([-0.9, -0.9, 1.3, 1.0]), prefix="bench-http-")


# -- the client --------------------------------------------------------------------------------
class ResponseReader(asyncio.Protocol):
    """Reads one response at a time (Content-Length or until close), counting body bytes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.remaining: int | None = None  # body bytes still due; None: reading headers
        self.until_close = False
        self.status = 0
        self.body_bytes = 0
        self.waiter: asyncio.Future[tuple[int, int]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def request(self, data: bytes) -> asyncio.Future[tuple[int, int]]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.head.clear()
        self.remaining, self.until_close, self.body_bytes = None, False, 0
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if self.remaining is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.head[:end]).lower()
            self.status = int(head[9:12])
            marker = head.find(b"\r\ncontent-length:")
            if marker >= 0:
                stop = head.find(b"\r\n", marker + 2)
                self.remaining = int(head[marker + 17 : stop if stop > 0 else None])
            else:
                self.remaining, self.until_close = 1 << 62, True
            data = bytes(self.head[end + 4 :])
        self.body_bytes += len(data)
        self.remaining -= len(data)
        if self.remaining <= 0 and not self.until_close:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            if self.until_close:
                self._finish()
            else:
                self.waiter.set_exception(exc or ConnectionError("closed mid-response"))

    def _finish(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.status, self.body_bytes))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    port: int, path: str, seconds: float, keep_alive: bool, server_pid: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    connection = b"keep-alive" if keep_alive else b"close"
    request = (
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: " + connection + b"\r\n\r\n"
    )
    latencies: list[float] = []
    errors = 0
    body_bytes = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, body_bytes
        transport, reader = None, None
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if reader is None:
                    transport, reader = await loop.create_connection(
                        ResponseReader, "127.0.0.1", port
                    )
                status, size = await reader.request(request)
            except (OSError, ConnectionError):
                errors += 1
                transport = reader = None
                continue
            latencies.append(time.perf_counter() - started)
            body_bytes += size
            if status != 200:
                errors += 1
            if not keep_alive:
                transport.close()
                transport = reader = None
        if transport is not None:
            transport.close()

    server_cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    server_cpu_after = cpu_seconds(server_pid)
    count = len(latencies)
    cpu_per_request = (
        round((server_cpu_after - server_cpu) / count * 1e6, 1)
        if count and server_cpu is not None and server_cpu_after is not None
        else None
    )
    return {
        "requests": count,
        "errors": errors,
        "requests_per_s": round(count / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 3) if count else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 3) if count else None,
        "MB_per_s": round(body_bytes / elapsed / 1e6, 1),
        # Server CPU per request: the cost that does not depend on how busy the machine is.
        "server_cpu_us_per_request": cpu_per_request,
    }


async def probe(port: int, path: str) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(ResponseReader, "127.0.0.1", port)
    try:
        return await reader.request(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
    finally:
        transport.close()


async def bench(seconds: float) -> dict[str, Any]:
    async with bench_server(Path(__file__)) as server:
        port, volume_id = server.port, server.volume_id
        targets = {
            "mrml_ids": "/slicer/mrml/ids",
            "volume": f"/slicer/volume?id={volume_id}",
            "slice": "/slicer/slice?view=red",
        }
        figures: dict[str, Any] = {"keepalive": {}, "per_connection": {}}
        missing = []
        for name, path in targets.items():
            status, size = await probe(port, path)
            if status != 200:
                print(f"{name}: GET {path} answered {status}; not measured", file=sys.stderr)
                missing.append(name)
                figures["keepalive"][name] = figures["per_connection"][name] = None
                continue
            for mode, keep_alive in (("keepalive", True), ("per_connection", False)):
                result = await run_load(port, path, seconds, keep_alive, server.process.pid)
                result["response_bytes"] = size
                figures[mode][name] = result
                print(f"{name} {mode}: {result}", file=sys.stderr)
        return {
            "bench": "http",
            "seconds": seconds,
            "clients": CLIENTS,
            "volume_shape": list(VOLUME_SHAPE),
            "volume_dtype": "int16",
            **figures,
            "speedup_small_requests": _ratio(figures, "mrml_ids", "requests_per_s"),
            "speedup_volume": _ratio(figures, "volume", "MB_per_s"),
            "volume_GB_per_s": _get(figures["keepalive"], "volume", "MB_per_s", scale=1e-3),
            "missing": missing,
            "cpu_count": os.cpu_count(),
        }


def _get(table: dict[str, Any], name: str, key: str, scale: float = 1.0) -> float | None:
    entry = table.get(name)
    return None if entry is None else round(entry[key] * scale, 3)


def _ratio(figures: dict[str, Any], name: str, key: str) -> float | None:
    fast = _get(figures["keepalive"], name, key)
    slow = _get(figures["per_connection"], name, key)
    return round(fast / slow, 2) if fast and slow else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(serve())
        return
    print(json.dumps(asyncio.run(bench(arguments.seconds))))


if __name__ == "__main__":
    main()
