"""Benchmark: the bridge on a Qt event loop (`bridge.qt`) against plain asyncio and qasync.

For each loop — `asyncio` (plain, the bus paced by its own task), `qt` (`start_in_qt` on a
PySide6 QApplication: the selector-fd notifier integration, passes from a Qt timer) and
`qasync` (qasync's QEventLoop on the same QApplication, the bus in its task) — a server
process runs the real bridge (HTTP and OpenIGTLink on loopback, headless scene, 60 passes/s)
and this process loads it, one phase after the other, `--seconds` each:

* HTTP small requests: `GET /slicer/mrml/ids` back to back over 1, then 16 keep-alive
  connections (a minimal asyncio client, so the figure measures the server);
* IGTL ingest: one connection streaming pre-packed TRANSFORMs for 4 devices as fast as the
  socket takes them; the rate is what the bridge's bus received (`/bridge/status`);
* apply-pass jitter: while the IGTL stream keeps the bus busy, every pass's start against
  its deadline on the 60/s frame grid (lateness), and the period between on-grid passes.

Ratios are each loop's rate over plain asyncio's in the same round, the median over
`--rounds` interleaved rounds (target: ≥ 0.9 at 16 connections for `qt`); rates are medians
too. The
client shares this machine's cores with the server, so rates are lower bounds. Prints
progress on stderr and one JSON line, last on stdout.

    python bench/qt.py --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Sibling scripts (bench/http.py) must not shadow the standard library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

MODES = ("asyncio", "qt", "qasync")
SMALL_PATH = "/slicer/mrml/ids"
DEVICES = 4
MAX_RATE = 60.0


# -- the server process ------------------------------------------------------------------------
def bridge_settings(data_dir: Path) -> Any:
    from bridge.config import Settings

    return Settings(
        http_port=0, igtl_port=0, mqtt=False, data_dir=data_dir, max_rate=MAX_RATE
    )  # fmt: skip


class PassClock:
    """Wraps `bus.run_pass` to note each pass's deadline and start (bench only: it reads the
    bus's private `_due`, the deadline `next_pass_time` fixed for the pass)."""

    def __init__(self, bus: Any) -> None:
        self.records: list[tuple[float, float]] = []
        self._bus = bus
        self._run_pass = bus.run_pass
        bus.run_pass = self.run_pass

    def run_pass(self) -> Any:
        due = self._bus._due
        started = self._bus.clock()
        self.records.append((started if due is None else due, started))
        return self._run_pass()

    def summary(self) -> dict[str, Any]:
        interval = 1.0 / MAX_RATE
        lateness = sorted(started - due for due, started in self.records)
        periods = [
            later[1] - earlier[1]
            for earlier, later in zip(self.records, self.records[1:], strict=False)
            if abs(later[0] - earlier[0] - interval) < 1e-9  # consecutive ticks of the grid
        ]
        return {
            "passes": len(self.records),
            "lateness_ms": _spread(lateness),
            "period_ms": _spread(sorted(periods)),
            "interval_ms": round(interval * 1e3, 3),
        }


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    pick = lambda fraction: values[min(len(values) - 1, int(fraction * len(values)))]  # noqa: E731
    return {
        "mean": round(statistics.fmean(values) * 1e3, 3),
        "p50": round(pick(0.5) * 1e3, 3),
        "p99": round(pick(0.99) * 1e3, 3),
        "max": round(values[-1] * 1e3, 3),
    }


def _ports(bridge: Any) -> tuple[int, int]:
    http = next(a for a in bridge.adapters if a.name == "http")
    igtl = next(a for a in bridge.adapters if a.name == "igtl")
    return http.port, igtl.address[1]


def _watch_stdin(loop: asyncio.AbstractEventLoop, on_eof: Any) -> None:
    def readable() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            on_eof()

    loop.add_reader(sys.stdin.fileno(), readable)


async def _serve_on_running_loop(data_dir: Path) -> dict[str, Any]:
    """Plain asyncio and qasync: the bridge as `slicer-bridge serve` runs it."""
    from bridge.app import Bridge

    bridge = Bridge(bridge_settings(data_dir))
    clock = PassClock(bridge.bus)
    await bridge.start()
    try:
        print("READY {} {}".format(*_ports(bridge)), flush=True)
        done = asyncio.Event()
        _watch_stdin(asyncio.get_running_loop(), done.set)
        await done.wait()
    finally:
        await bridge.stop()
    return clock.summary()


def serve(mode: str, data_dir: Path) -> dict[str, Any]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    if mode == "asyncio":
        return asyncio.run(_serve_on_running_loop(data_dir))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    if mode == "qasync":
        import qasync

        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(_serve_on_running_loop(data_dir))
    from bridge.qt import start_in_qt

    qt_bridge = start_in_qt(app, bridge_settings(data_dir))
    clock = PassClock(qt_bridge.bridge.bus)
    report: dict[str, Any] = {}

    def finish() -> None:
        qt_bridge.stop()
        report.update(clock.summary(), qt=qt_bridge.driver.status())
        app.quit()

    print("READY {} {}".format(*_ports(qt_bridge.bridge)), flush=True)
    _watch_stdin(qt_bridge.loop, lambda: QTimer.singleShot(0, finish))
    app.exec()
    return report


# -- the load generator ------------------------------------------------------------------------
class KeepAliveClient(asyncio.Protocol):
    """One keep-alive connection, one request in flight; responses must carry Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.body_left = -1
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, data: bytes) -> asyncio.Future[int]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self.body_left = -1
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.body_left < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            start = head.find(b"content-length:") + len(b"content-length:")
            stop = head.find(b"\r\n", start)
            self.body_left = int(head[start : stop if stop >= 0 else len(head)])
            self.status = int(head[9:12])
            del self.buffer[: end + 4]
        if len(self.buffer) >= self.body_left and self.waiter and not self.waiter.done():
            self.waiter.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("closed"))


async def http_phase(port: int, connections: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    request = f"GET {SMALL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    count = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count, errors
        transport, client = await loop.create_connection(KeepAliveClient, "127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                status = await client.request(request)
                count += 1
                errors += status != 200
        finally:
            transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"requests_per_s": round(count / elapsed, 1), "errors": errors}


async def fetch_json(port: int, path: str) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = await reader.read()
    finally:
        writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def igtl_stream(port: int, seconds: float) -> int:
    """Blast pre-packed TRANSFORMs (4 devices) for `seconds`; returns messages written."""
    import numpy as np
    import pyigtl

    messages = []
    for index in range(256):
        matrix = np.eye(4)
        matrix[0, 3] = float(index)
        device = f"Tool{index % DEVICES}"
        messages.append(pyigtl.TransformMessage(matrix, device_name=device).pack())
    chunk = b"".join(messages)
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.sendall(chunk)
            sent += len(messages)
    return sent


async def igtl_phase(http_port: int, igtl_port: int, seconds: float) -> dict[str, Any]:
    def received() -> Any:
        return fetch_json(http_port, "/bridge/status")

    before = (await received())["bus"]["received"]
    started = time.perf_counter()
    sent = await asyncio.get_running_loop().run_in_executor(None, igtl_stream, igtl_port, seconds)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.3)  # what was in flight arrives
    status = (await received())["bus"]
    return {
        "messages_per_s": round((status["received"] - before) / elapsed, 1),
        "sent_per_s": round(sent / elapsed, 1),
        "applied": status["applied"],
    }


async def run_mode(mode: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-qt-") as data_dir:
        server = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--role", "server", "--loop", mode,
            "--data-dir", data_dir,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=_HERE.parent,
        )  # fmt: skip
        try:
            line = (await asyncio.wait_for(server.stdout.readline(), 60)).decode().split()
            if not line or line[0] != "READY":
                raise RuntimeError(f"the {mode} server did not start: {line}")
            http_port, igtl_port = int(line[1]), int(line[2])
            result = {
                "http_c1": await http_phase(http_port, 1, seconds),
                "http_c16": await http_phase(http_port, 16, seconds),
                "igtl": await igtl_phase(http_port, igtl_port, seconds),
            }
            server.stdin.close()
            output = await asyncio.wait_for(server.stdout.read(), 60)
            result["passes"] = json.loads(output.decode().strip().splitlines()[-1])
        finally:
            if server.returncode is None:
                try:
                    await asyncio.wait_for(server.wait(), 30)
                except TimeoutError:
                    server.kill()
                    await server.wait()
    print(f"{mode}: {json.dumps(result)}", file=sys.stderr)
    return result


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 1) if present else None


async def bench(seconds: float, rounds: int, modes: list[str]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    unavailable: dict[str, str] = {}
    for _ in range(rounds):
        for mode in modes:
            if mode in unavailable:
                continue
            try:
                runs[mode].append(await run_mode(mode, seconds))
            except Exception as error:  # e.g. qasync or PySide6 missing: null figures
                unavailable[mode] = f"{type(error).__name__}: {error}"
                print(f"{mode}: not measured: {error}", file=sys.stderr)

    def rate(mode: str, phase: str, key: str) -> float | None:
        return _median([run[phase][key] for run in runs.get(mode, [])])

    figures = {
        phase: {mode: rate(mode, phase, key) for mode in modes}
        for phase, key in (
            ("http_c1", "requests_per_s"),
            ("http_c16", "requests_per_s"),
            ("igtl", "messages_per_s"),
        )
    }

    def ratio(mode: str, phase: str, key: str) -> float | None:
        """Median over rounds of this loop's rate ÷ plain asyncio's in the same round (the
        machine's load drifts between rounds more than between neighbouring runs)."""
        pairs = [
            (run[phase][key], base[phase][key])
            for run, base in zip(runs.get(mode, []), runs["asyncio"], strict=False)
            if run[phase][key] and base[phase][key]
        ]
        return round(statistics.median(a / b for a, b in pairs), 3) if pairs else None

    keys = {"http_c1": "requests_per_s", "http_c16": "requests_per_s", "igtl": "messages_per_s"}
    ratios = {
        mode: {phase: ratio(mode, phase, key) for phase, key in keys.items()}
        for mode in modes
        if mode != "asyncio"
    }
    jitter = {mode: runs[mode][-1]["passes"] if runs[mode] else None for mode in modes}
    qt_c16 = ratios.get("qt", {}).get("http_c16")
    return {
        "bench": "qt",
        "seconds": seconds,
        "rounds": rounds,
        "http_small_requests_per_s": {"c1": figures["http_c1"], "c16": figures["http_c16"]},
        "igtl_ingest_messages_per_s": figures["igtl"],
        "ratio_vs_asyncio": ratios,
        "target_qt_c16_ratio": 0.9,
        "target_met": None if qt_c16 is None else qt_c16 >= 0.9,
        "apply_pass_jitter": jitter,
        "unavailable": unavailable,
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
    }


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for package in ("PySide6-Essentials", "qasync", "aiohttp"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs per loop")
    parser.add_argument("--modes", default=",".join(MODES), help="loops to compare")
    parser.add_argument("--role", choices=("bench", "server"), default="bench")
    parser.add_argument("--loop", choices=MODES, default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "server":
        print(json.dumps(serve(args.loop, args.data_dir)), flush=True)
        return
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if "asyncio" not in modes:
        modes.insert(0, "asyncio")  # the baseline every ratio needs
    report = asyncio.run(bench(args.seconds, max(1, args.rounds), modes))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
