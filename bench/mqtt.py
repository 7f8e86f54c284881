"""Benchmark: MQTT ingest into the bridge against a bare paho subscriber, same broker, same run.

Starts its own Mosquitto on a free loopback port. A publisher process runs P paho clients
(default 10), each publishing QoS 0 transform updates for its own node
(`slicer/bench/transform/Tool<i>/set`, 16 numbers, the send time in the translation) as
fast as it can for `--seconds`. The same load is consumed, one phase after the other, by:

1. `paho`   — a bare paho subscriber on paho's own network thread, counting messages: the
              ceiling for any paho-based consumer (the baseline);
2. `driver` — a bare paho subscriber on the adapter's asyncio driver (`BrokerConnection`),
              counting messages: what the driver alone costs;
3. `bridge` — the bridge (headless scene, MQTT adapter only): decode, validate, submit to
              the bus, coalesce, apply; publish→apply latency is taken from the scene's
              change events for every applied update;
4. `paced`  — the bridge again, each publisher paced at `--rate` Hz, below saturation.

Phases 1–3 run `--repeat` interleaved rounds; figures are the median round's. Ingest rates
count messages between the first and the last one received. Each consumer's CPU time per
message (its process's CPU over the phase ÷ messages) is reported too: on a shared machine
wall-clock rates swing with other load, CPU per message much less, so `capacity_vs_paho`
(bare paho's CPU per message ÷ the bridge's) is the steadier comparison. At saturation every
consumer falls behind the publishers, so latency there is time queued in the broker and the
kernel's socket buffers (the bare paho figures show the same); the paced phase shows the
bridge's own latency. `--protocol 3.1.1` runs the consumers on MQTT 3.1.1.

Prints progress on stderr and one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Run as `python bench/mqtt.py`, Python puts bench/ first on the path, where bench/http.py
# would shadow the standard library's `http` (paho imports it): take bench/ off, and make the
# repository importable without an installed package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import paho.mqtt.client as paho  # noqa: E402

from adapters.mqtt.connection import BrokerConnection  # noqa: E402
from adapters.mqtt.options import MqttOptions  # noqa: E402
from adapters.mqtt.testing import LocalMosquitto  # noqa: E402

INSTANCE = "bench"
TOPIC = f"slicer/{INSTANCE}/transform/Tool{{}}/set"
FILTER = f"slicer/{INSTANCE}/transform/+/set"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def note(text: str) -> None:
    print(f"[bench/mqtt] {text}", file=sys.stderr, flush=True)


# -- the publisher process ---------------------------------------------------------------------


def publish(port: int, publishers: int, seconds: float, rate: float) -> dict[str, Any]:
    """P paho clients publishing QoS 0 as fast as possible (rate 0) or at `rate` Hz each."""
    clients = []
    for index in range(publishers):
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"bench-publisher-{index}",
            protocol=paho.MQTTv5,
        )
        client.connect("127.0.0.1", port, keepalive=60)
        while not client.is_connected():
            client.loop(0.05)
        clients.append(client)
    topics = [TOPIC.format(index) for index in range(publishers)]
    sent = 0
    started = time.monotonic()
    next_misc = started + 1.0
    end = started + seconds
    interval = 1.0 / rate if rate else 0.0
    next_due = started
    while (now := time.monotonic()) < end:
        if interval:
            if now < next_due:
                time.sleep(min(next_due - now, 0.001))
                continue
            next_due += interval
        for index, client in enumerate(clients):
            payload = f"[1,0,0,{time.monotonic():.6f},0,1,0,{sent},0,0,1,0,0,0,0,1]"
            client.publish(topics[index], payload)
            if client.want_write():  # the socket is full: let it drain, never queue without end
                client.loop_write()
            sent += 1
        if now > next_misc:
            for client in clients:
                client.loop_misc()
            next_misc = now + 1.0
    elapsed = time.monotonic() - started
    for client in clients:
        while client.want_write():
            client.loop_write()
        client.disconnect()
    return {"sent": sent, "seconds": round(elapsed, 3), "rate": round(sent / elapsed)}


async def run_publishers(port: int, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--publish",
        "--port",
        str(port),
        "--publishers",
        str(args.publishers),
        "--seconds",
        str(args.seconds),
        "--rate",
        str(rate),
        stdout=subprocess.PIPE,
    )
    out, _ = await process.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


# -- consumers ---------------------------------------------------------------------------------


class Arrivals:
    """Message count with first and last arrival times, and the publish→receive latency of
    every 16th message (the send time is the payload's fourth number)."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []

    def add(self, message: Any) -> None:
        now = time.monotonic()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        if not self.count & 15:
            self.latencies.append(now - float(message.payload.split(b",", 4)[3]))

    def latency_ms(self) -> dict[str, float]:
        return {
            "p50_ms": round(percentile(self.latencies, 0.50) * 1e3, 2),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1e3, 2),
        }

    def rate(self) -> float:
        span = self.last - self.first
        return self.count / span if span > 0 else 0.0


async def consume_with_paho_thread(
    broker: LocalMosquitto, args: argparse.Namespace
) -> dict[str, Any]:
    arrivals = Arrivals()
    subscribed = threading.Event()
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id="bench-bare-paho",
        protocol=paho.MQTTv5 if args.protocol == "5" else paho.MQTTv311,
    )
    client.on_message = lambda _c, _u, message: arrivals.add(message)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe(FILTER, qos=1)
    client.loop_start()
    await asyncio.to_thread(subscribed.wait, 5)
    cpu = time.process_time()
    publishers = await run_publishers(broker.port, args, rate=0)
    await asyncio.sleep(0.5)  # let the tail arrive
    cpu = time.process_time() - cpu
    client.loop_stop()
    client.disconnect()
    note(
        f"paho thread: {arrivals.count} of {publishers['sent']} at {arrivals.rate():.0f}/s, "
        f"{arrivals.latency_ms()}"
    )
    return {
        "msgs_per_s": round(arrivals.rate()),
        "cpu_us_per_msg": round(cpu / max(arrivals.count, 1) * 1e6, 1),
        "sent": publishers["sent"],
        "received": arrivals.count,
        **arrivals.latency_ms(),
    }


async def consume_with_driver(broker: LocalMosquitto, args: argparse.Namespace) -> dict[str, Any]:
    arrivals = Arrivals()
    options = MqttOptions.from_url(broker.url, instance="bench-driver", protocol=args.protocol)
    connection = BrokerConnection(
        options,
        will=("slicer/bench-driver/status", b"offline"),
        subscriptions=[FILTER],
        on_message=arrivals.add,
        on_connected=lambda: None,
    )
    await connection.start()
    await asyncio.sleep(0.2)
    cpu = time.process_time()
    publishers = await run_publishers(broker.port, args, rate=0)
    await asyncio.sleep(0.5)
    cpu = time.process_time() - cpu
    await connection.stop()
    note(
        f"paho on the asyncio driver: {arrivals.count} of {publishers['sent']} at "
        f"{arrivals.rate():.0f}/s, {arrivals.latency_ms()}"
    )
    return {
        "msgs_per_s": round(arrivals.rate()),
        "cpu_us_per_msg": round(cpu / max(arrivals.count, 1) * 1e6, 1),
        **arrivals.latency_ms(),
    }


async def consume_with_bridge(
    broker: LocalMosquitto, args: argparse.Namespace, rate: float
) -> dict[str, Any]:
    from adapters.mqtt import MqttAdapter
    from bridge.app import Bridge
    from bridge.config import Settings

    settings = Settings(
        http=False,
        igtl=False,
        mqtt=False,  # added below: Settings has no protocol option yet
        data_dir=broker.directory / "data",
        max_rate=args.max_rate,
    )
    bridge = Bridge(settings)
    latencies: list[float] = []
    scene = bridge.scene

    def on_change(event: Any) -> None:
        if event.kind == "modified" and event.aspect == "transform" and event.node is not None:
            latencies.append(time.monotonic() - float(scene.transform_matrix(event.node.id)[0, 3]))

    scene.subscribe(on_change)
    await bridge.start()
    adapter = MqttAdapter(
        MqttOptions.from_url(broker.url, instance=INSTANCE, protocol=args.protocol)
    )
    await adapter.start(bridge)
    bridge.adapters.append(adapter)
    await asyncio.sleep(0.3)
    samples: list[tuple[float, int, int]] = []
    cpu = time.process_time()
    publisher = asyncio.ensure_future(run_publishers(broker.port, args, rate))
    while not publisher.done():
        samples.append((time.monotonic(), adapter.counters.received, bridge.bus.stats.passes))
        await asyncio.sleep(0.05)
    publishers = publisher.result()
    await asyncio.sleep(0.5)
    samples.append((time.monotonic(), adapter.counters.received, bridge.bus.stats.passes))
    cpu = time.process_time() - cpu
    status = bridge.status()
    received = adapter.counters.received
    await bridge.stop()
    active = [sample for sample in samples if sample[1] > 0]
    first = active[0]
    last = next(s for s in active if s[1] == active[-1][1])  # when the last message came in
    span = max(last[0] - first[0], 1e-9)
    ingest = (last[1] - first[1]) / span
    passes = (last[2] - first[2]) / span
    bus = status["bus"]
    result = {
        "sent": publishers["sent"],
        "publish_rate": publishers["rate"],
        "received": received,
        "ingest_msgs_per_s": round(ingest),
        "cpu_us_per_msg": round(cpu / max(received, 1) * 1e6, 1),
        "scene_passes_per_s": round(passes, 1),
        "applied": bus["applied"],
        "superseded": bus["superseded"],
        "failed": bus["failed"],
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "max_ms": round(max(latencies, default=0.0) * 1e3, 2),
    }
    note(f"bridge (rate {rate or 'max'}): {json.dumps(result)}")
    return result


async def broker_dropped(broker: LocalMosquitto) -> int:
    """Mosquitto's count of messages it dropped for slow subscribers ($SYS, every 1 s)."""
    await asyncio.sleep(1.2)
    process = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-p",
        str(broker.port),
        "-C",
        "1",
        "-W",
        "3",
        "-t",
        "$SYS/broker/publish/messages/dropped",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    with contextlib.suppress(ValueError):
        return int(out.decode().strip() or 0)
    return -1


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median `key` (its other figures belong to the same run)."""
    return sorted(runs, key=lambda run: run[key])[len(runs) // 2]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    paho_runs: list[dict[str, Any]] = []
    driver_runs: list[dict[str, Any]] = []
    bridge_runs: list[dict[str, Any]] = []
    with LocalMosquitto() as broker:
        note(
            f"mosquitto on port {broker.port}; {args.publishers} publishers, {args.seconds} s, "
            f"{args.repeat} round(s)"
        )
        for _ in range(args.repeat):  # interleaved, so load from elsewhere hits all alike
            paho_runs.append(await consume_with_paho_thread(broker, args))
            driver_runs.append(await consume_with_driver(broker, args))
            dropped_before = await broker_dropped(broker)
            run = await consume_with_bridge(broker, args, rate=0)
            run["broker_dropped"] = await broker_dropped(broker) - dropped_before
            bridge_runs.append(run)
        paced = await consume_with_bridge(broker, args, rate=args.rate)
    paho_only = median_run(paho_runs, "msgs_per_s")
    saturated = median_run(bridge_runs, "ingest_msgs_per_s")
    ceiling = paho_only["msgs_per_s"]
    paho_cpu = statistics.median(run["cpu_us_per_msg"] for run in paho_runs)
    bridge_cpu = statistics.median(run["cpu_us_per_msg"] for run in bridge_runs)
    saturated = {**saturated, "cpu_us_per_msg": bridge_cpu}
    return {
        "bench": "mqtt",
        "seconds": args.seconds,
        "rounds": args.repeat,
        "publishers": args.publishers,
        "qos": 0,
        "protocol": args.protocol,
        "ingest_msgs_per_s": saturated["ingest_msgs_per_s"],
        "baseline_paho_msgs_per_s": ceiling,
        "ingest_vs_paho": round(saturated["ingest_msgs_per_s"] / ceiling, 3) if ceiling else 0,
        # CPU per message is what the shared machine's noise disturbs least: the capacity
        # ratio is bare paho's CPU per message over the bridge's.
        "cpu_us_per_msg": saturated["cpu_us_per_msg"],
        "baseline_paho_cpu_us_per_msg": paho_cpu,
        "capacity_vs_paho": round(paho_cpu / saturated["cpu_us_per_msg"], 3),
        "scene_passes_per_s": saturated["scene_passes_per_s"],
        "p50_ms": saturated["p50_ms"],
        "p99_ms": saturated["p99_ms"],
        "publish_rate": saturated["publish_rate"],
        "sent": saturated["sent"],
        "received": saturated["received"],
        "superseded": saturated["superseded"],
        "broker_dropped": saturated["broker_dropped"],
        "baseline_paho": paho_only,
        "driver_only": median_run(driver_runs, "msgs_per_s"),
        "all_rounds_msgs_per_s": {
            "paho": [run["msgs_per_s"] for run in paho_runs],
            "driver": [run["msgs_per_s"] for run in driver_runs],
            "bridge": [run["ingest_msgs_per_s"] for run in bridge_runs],
        },
        "all_rounds_cpu_us_per_msg": {
            "paho": [run["cpu_us_per_msg"] for run in paho_runs],
            "driver": [run["cpu_us_per_msg"] for run in driver_runs],
            "bridge": [run["cpu_us_per_msg"] for run in bridge_runs],
        },
        "paced": {
            "rate_per_publisher": args.rate,
            "ingest_msgs_per_s": paced["ingest_msgs_per_s"],
            "scene_passes_per_s": paced["scene_passes_per_s"],
            "p50_ms": paced["p50_ms"],
            "p99_ms": paced["p99_ms"],
            "max_ms": paced["max_ms"],
            "sent": paced["sent"],
            "received": paced["received"],
        },
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--publishers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="Hz per publisher, paced")
    parser.add_argument("--max-rate", type=float, default=60.0, help="bus passes/s")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds; medians")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5", help="consumers'")
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_arguments()
    if arguments.publish:
        print(
            json.dumps(
                publish(arguments.port, arguments.publishers, arguments.seconds, arguments.rate)
            )
        )
    else:
        print(json.dumps(asyncio.run(main(arguments))))
