"""Benchmark: the coalescing bus against a plain FIFO under high-rate tracking input.

N sources each submit keyed `SetTransform` updates (one tool each) at R Hz for T seconds,
with one barrier (`SetSliceOrientation`) every second, into the headless scene. Each apply
pass also pays a render cost (`--render-ms`, default 5 ms, a blocking sleep standing for the
redraw Slicer performs on the main thread after a scene change).

The baseline is the same load in the same run through a plain FIFO that applies every
command with its own pass and render: what a bridge without coalescing does. Its latency
includes the commands still queued when the input stops (their age then, a lower bound).

Prints one JSON line, last on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path

# Sibling scripts (bench/http.py) must not shadow the standard library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from bridge.apply import Applier  # noqa: E402
from bridge.bus import CommandBus  # noqa: E402
from bridge.commands import SetSliceOrientation, SetTransform  # noqa: E402
from bridge.scene.headless import HeadlessScene  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Load:
    """Paced producers: each source submits what is due every millisecond."""

    def __init__(self, sources: int, rate: float, seconds: float) -> None:
        self.sources = sources
        self.rate = rate
        self.seconds = seconds
        self.submitted = 0

    def command(self, source: int, number: int) -> SetTransform:
        matrix = np.eye(4)
        matrix[:3, 3] = (number, source, 0.0)
        return SetTransform(node=f"Tool{source}", matrix=matrix, source=f"tracker{source}")

    async def run(self, submit) -> None:
        started = time.monotonic()
        sent = [0] * self.sources
        barriers = 0
        while (elapsed := time.monotonic() - started) < self.seconds:
            due = int(elapsed * self.rate)
            for source in range(self.sources):
                while sent[source] < due:
                    submit(self.command(source, sent[source]))
                    sent[source] += 1
            if int(elapsed) >= barriers + 1:
                barriers += 1
                submit(SetSliceOrientation(view="red", orientation="axial", source="ui"))
            await asyncio.sleep(0.001)
        self.submitted = sum(sent) + barriers


def recording(scene: HeadlessScene, latencies: list[float]):
    applier = Applier(scene)

    def apply(command):
        latencies.append(time.monotonic() - command.received)
        return applier(command)

    return apply


async def run_bus(args: argparse.Namespace) -> dict[str, float]:
    latencies: list[float] = []
    pass_ends: list[float] = []
    render = args.render_ms / 1e3

    def render_pass() -> None:
        time.sleep(render)
        pass_ends.append(time.monotonic())

    bus = CommandBus(
        recording(HeadlessScene(), latencies), max_rate=args.max_rate, after_pass=render_pass
    )
    await bus.start()
    load = Load(args.sources, args.rate, args.seconds)
    started = time.monotonic()
    await load.run(bus.submit)
    await bus.drained()
    elapsed = time.monotonic() - started
    await bus.stop()
    totals = bus.stats.total
    return {
        "submitted_per_s": load.submitted / args.seconds,
        "applied_per_s": totals.applied / elapsed,
        "superseded_ratio": totals.superseded / max(totals.received, 1),
        # intervals between passes over their span: n passes have n - 1 intervals
        "passes_per_s": (len(pass_ends) - 1) / (pass_ends[-1] - pass_ends[0]),
        "latency_ms_p50": percentile(latencies, 0.50) * 1e3,
        "latency_ms_p99": percentile(latencies, 0.99) * 1e3,
        "latency_ms_max": max(latencies, default=0.0) * 1e3,
    }


async def run_fifo(args: argparse.Namespace) -> dict[str, float]:
    """No coalescing: every command gets its own apply and its own render."""
    latencies: list[float] = []
    apply = recording(HeadlessScene(), latencies)
    render = args.render_ms / 1e3
    queue: deque = deque()
    wakeup = asyncio.Event()
    stop = False

    def submit(command) -> None:
        queue.append(command)
        wakeup.set()

    async def consumer() -> None:
        while not stop:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            apply(queue.popleft())
            time.sleep(render)
            await asyncio.sleep(0)  # one command per loop turn, like a pass each

    task = asyncio.create_task(consumer())
    load = Load(args.sources, args.rate, args.seconds)
    started = time.monotonic()
    await load.run(submit)
    ended = time.monotonic()
    stop = True
    wakeup.set()
    await task
    applied = len(latencies)
    backlog_ages = [ended - command.received for command in queue]
    return {
        "applied_per_s": applied / (ended - started),
        "backlog_at_end": len(queue),
        "latency_ms_p50": percentile(latencies + backlog_ages, 0.50) * 1e3,
        "latency_ms_p99": percentile(latencies + backlog_ages, 0.99) * 1e3,
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    bus_runs, fifo_runs = [], []
    for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
        bus_runs.append(await run_bus(args))
        fifo_runs.append(await run_fifo(args))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(run[key] for run in runs), 3)

    bus_p99 = median(bus_runs, "latency_ms_p99")
    fifo_p99 = median(fifo_runs, "latency_ms_p99")
    return {
        "bench": "bus",
        "sources": args.sources,
        "rate_per_source_hz": args.rate,
        "seconds": args.seconds,
        "repeats": args.repeat,
        "max_rate": args.max_rate,
        "render_ms": args.render_ms,
        "render_note": "a blocking sleep per apply pass, standing for Slicer's redraw",
        "submitted_per_s": median(bus_runs, "submitted_per_s"),
        "applied_per_s": median(bus_runs, "applied_per_s"),
        "superseded_ratio": median(bus_runs, "superseded_ratio"),
        "passes_per_s": median(bus_runs, "passes_per_s"),
        "latency_ms_p50": median(bus_runs, "latency_ms_p50"),
        "latency_ms_p99": bus_p99,
        "latency_ms_max": median(bus_runs, "latency_ms_max"),
        "baseline": "plain FIFO, one apply + render per command, same load, same run",
        "baseline_no_coalescing_applied_per_s": median(fifo_runs, "applied_per_s"),
        "baseline_no_coalescing_backlog_at_end": median(fifo_runs, "backlog_at_end"),
        "baseline_no_coalescing_latency_ms_p50": median(fifo_runs, "latency_ms_p50"),
        "baseline_no_coalescing_latency_ms_p99": fifo_p99,
        "p99_latency_ratio_baseline_over_bus": round(fifo_p99 / bus_p99, 1) if bus_p99 else None,
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="input duration per run")
    parser.add_argument("--sources", type=int, default=10, help="tracking sources (one tool each)")
    parser.add_argument("--rate", type=float, default=1000.0, help="updates/s per source")
    parser.add_argument("--render-ms", type=float, default=5.0, help="render cost per pass")
    parser.add_argument("--max-rate", type=float, default=60.0, help="bus passes/s cap")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; medians kept")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_arguments()
    print(json.dumps(asyncio.run(main(arguments))), flush=True)
