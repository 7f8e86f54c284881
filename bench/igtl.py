"""Benchmark: OpenIGTLink ingest from 10 peers, against pyigtl's own server, plus an IMAGE
round trip.

1. Baseline: pyigtl's `OpenIGTLinkServer` drains one fast peer for `--seconds`; the figure is
   how many TRANSFORMs its receive thread decodes per second.
2. Saturation: `--peers` connections (default 10), each streaming TRANSFORMs as fast as its
   socket takes them for `--seconds`, into the headless scene at `--max-rate` passes/s.
   Figures, counted inside the streaming window only: messages ingested per second, scene
   passes per second, and the latency of the messages that were applied — from the sender's
   header timestamp (stamped just before each write) to the moment the bus applied it, and
   from receive to apply. Under saturation send→apply is dominated by what waits in the
   kernel's socket buffers (the sender's, and the bridge's `igtl_receive_buffer_kib`).
3. Paced: the same peers at `--paced-rate` messages/s each (a real tracker's rate), where
   the bridge keeps up: send→apply is then the bridge's own latency.
4. IMAGE round trip: a 130×256×256 int16 volume (17 MB) sent by one peer, applied, and pushed
   back (`igtl_push`) to a second peer; from the first byte written to the last byte read.

The load generator is a separate process (`--role sender`) writing pre-packed messages in
large writes (`--batch` messages per write), because a pyigtl client cannot produce more than
≈ 10 k messages/s; it restamps each write's headers with the current time (the CRC covers
the body only). Prints one JSON line, last on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Sibling scripts (bench/http.py, bench/mqtt.py) must not shadow the standard library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pyigtl  # noqa: E402

from adapters.igtl import IgtlAdapter, IgtlOptions  # noqa: E402
from adapters.igtl.wire import HEADER_SIZE  # noqa: E402
from bridge.app import Bridge  # noqa: E402
from bridge.config import Settings  # noqa: E402
from bridge.stats import LatencyHistogram  # noqa: E402

TRANSFORM_SIZE = HEADER_SIZE + 48
#: The header's timestamp words sit at bytes 34..42 of every message.
STAMPED = np.dtype([("head", "V34"), ("seconds", ">u4"), ("fraction", ">u4"), ("rest", "V64")])
assert STAMPED.itemsize == TRANSFORM_SIZE


# -- the load generator (its own process) ---------------------------------------------------------


class Stream:
    """One peer: a cycle of pre-packed TRANSFORMs for device Tool<peer>, CRCs included."""

    def __init__(self, host: str, port: int, peer: int, cycle: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        messages = []
        for index in range(cycle):
            matrix = np.eye(4)
            matrix[:3, 3] = (index, peer, 0.0)
            messages.append(pyigtl.TransformMessage(matrix, device_name=f"Tool{peer}").pack())
        self.cycle = b"".join(messages) * 2  # doubled: any run of ≤ cycle messages is contiguous
        self.count = cycle
        self.position = 0
        self.pending = memoryview(b"")
        self.queued = 0
        self.sent_bytes = 0

    def next_write(self, count: int) -> None:
        """The next `count` messages of the cycle, stamped now."""
        start = self.position * TRANSFORM_SIZE
        chunk = bytearray(self.cycle[start : start + count * TRANSFORM_SIZE])
        stamps = np.frombuffer(chunk, dtype=STAMPED)
        now = time.time()
        stamps["seconds"] = int(now)
        stamps["fraction"] = int((now - int(now)) * 2**32)
        self.position = (self.position + count) % self.count
        self.pending = memoryview(chunk)
        self.queued += count

    def send(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except BlockingIOError:
            sent = 0
        self.sent_bytes += sent
        self.pending = self.pending[sent:]


def run_sender(port: int, peers: int, seconds: float, batch: int, rate: float) -> dict[str, Any]:
    """Stream from `peers` sockets: as fast as each takes them (rate 0), or `rate`/s each."""
    streams = [Stream("127.0.0.1", port, peer, max(batch, 100)) for peer in range(peers)]
    selector = selectors.DefaultSelector()
    for stream in streams:
        selector.register(stream.sock, selectors.EVENT_WRITE, stream)
    started = time.monotonic()
    deadline = started + seconds
    while (now := time.monotonic()) < deadline:
        if rate:
            due = int((now - started) * rate)
            for stream in streams:
                if not stream.pending and due > stream.queued:
                    stream.next_write(min(due - stream.queued, batch))
                if stream.pending:
                    stream.send()
            time.sleep(min(0.5 / rate, 0.001))
            continue
        for key, _events in selector.select(timeout=0.05):
            stream = key.data
            if not stream.pending:
                stream.next_write(batch)
            stream.send()
    elapsed = time.monotonic() - started
    for stream in streams:
        selector.unregister(stream.sock)
        stream.sock.close()
    sent = sum(stream.sent_bytes // TRANSFORM_SIZE for stream in streams)
    return {"sent": sent, "seconds": elapsed}


def sender_arguments(port: int, peers: int, seconds: float, batch: int, rate: float) -> list[str]:
    return ["--role", "sender", "--port", str(port), "--peers", str(peers),
            "--seconds", str(seconds), "--batch", str(batch), "--rate", str(rate)]  # fmt: skip


# -- 1. pyigtl's server, one peer ---------------------------------------------------------------


def baseline_pyigtl(seconds: float, batch: int) -> float:
    """Messages/s pyigtl's OpenIGTLinkServer decodes from one fast peer."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = pyigtl.OpenIGTLinkServer(port=0, local_server=True)
    port = server.server_address[1]
    decoded = [0]
    receive = server._receive_message_from_socket
    lock = threading.Lock()

    def counting_receive(sock: socket.socket) -> bool:
        got = receive(sock)
        if got:
            with lock:
                decoded[0] += 1
        return got

    server._receive_message_from_socket = counting_receive
    try:
        process = subprocess.Popen(
            [sys.executable, __file__, *sender_arguments(port, 1, seconds, batch, 0.0)],
            stdout=subprocess.PIPE,
            text=True,
        )
        output, _ = process.communicate()
        with lock:
            count = decoded[0]  # inside the sender's window, as for the bridge below
        report = json.loads(output.strip().splitlines()[-1])
    finally:
        server.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return count / report["seconds"]


# -- 2.–4. this adapter -----------------------------------------------------------------------


def frozen(histogram: LatencyHistogram) -> LatencyHistogram:
    copy = LatencyHistogram()
    copy.counts = list(histogram.counts)
    copy.count, copy.total, copy.max = histogram.count, histogram.total, histogram.max
    return copy


async def stream_phase(
    bridge: Bridge, adapter: IgtlAdapter, args: argparse.Namespace, rate: float
) -> dict[str, float]:
    """Run the sender; read every figure at the moment its window ends."""
    assert adapter.address is not None
    transform = adapter.stats.for_type("TRANSFORM")
    received, passes = transform.received, bridge.bus.stats.passes
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        *sender_arguments(adapter.address[1], args.peers, args.seconds, args.batch, rate),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    ingested = transform.received - received
    window_passes = bridge.bus.stats.passes - passes
    sender, receive = frozen(transform.sender_latency), frozen(transform.latency)
    report = json.loads(output.decode().strip().splitlines()[-1])
    seconds = report["seconds"]
    figures = {
        "messages_per_s": round(ingested / seconds),
        "sent_per_s": round(report["sent"] / seconds),
        "scene_passes_per_s": round(window_passes / seconds, 1),
        "latency_ms_p50": round(sender.percentile(0.5) * 1e3, 2),
        "latency_ms_p99": round(sender.percentile(0.99) * 1e3, 2),
        "receive_to_apply_ms_p50": round(receive.percentile(0.5) * 1e3, 2),
        "receive_to_apply_ms_p99": round(receive.percentile(0.99) * 1e3, 2),
    }
    await eventually_idle(adapter)
    figures["superseded_ratio"] = round(transform.superseded / max(transform.received, 1), 4)
    figures["failed"] = transform.failed + transform.rejected
    return figures


async def eventually_idle(adapter: IgtlAdapter) -> None:
    """Wait until the closed senders' kernel backlog has been read and handled."""
    deadline = time.monotonic() + 60
    while adapter.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def image_round_trip(port: int, shape: tuple[int, ...], repeats: int) -> list[float]:
    """Milliseconds from the first byte of an IMAGE sent to the last byte of its push."""
    receiver_reader, receiver_writer = await asyncio.open_connection("127.0.0.1", port)
    _sender_reader, sender_writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.1)
    times = []
    for repeat in range(repeats):
        message = pyigtl.ImageMessage(np.full(shape, repeat, np.int16), device_name="US").pack()
        started = time.perf_counter()
        sender_writer.write(message)
        while True:
            header = await receiver_reader.readexactly(HEADER_SIZE)
            size = int.from_bytes(header[42:50], "big")
            await receiver_reader.readexactly(size)
            if header[2:7] == b"IMAGE" and header[14:16] == b"US":
                break
        times.append((time.perf_counter() - started) * 1e3)
    for writer in (receiver_writer, sender_writer):
        writer.close()
    return times


async def run_adapter(args: argparse.Namespace) -> dict[str, object]:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            http=False, igtl=False, mqtt=False, data_dir=Path(data_dir), max_rate=args.max_rate
        )
        for phase, rate in (("", 0.0), ("paced_", args.paced_rate)):
            bridge = Bridge(settings)
            await bridge.start()
            adapter = IgtlAdapter(IgtlOptions(port=0, push=("US",)))
            await adapter.start(bridge)
            measured = await stream_phase(bridge, adapter, args, rate)
            figures.update({phase + key: value for key, value in measured.items()})
            if phase == "paced_":
                assert adapter.address is not None
                shape = tuple(args.image_shape)
                times = await image_round_trip(adapter.address[1], shape, args.image_repeats)
                figures["image_shape_kji"] = list(shape)
                figures["image_round_trip_ms_median"] = round(statistics.median(times), 1)
                figures["image_round_trip_ms_max"] = round(max(times), 1)
            await adapter.stop()
            await bridge.stop()
    figures["paced_rate_per_peer_hz"] = args.paced_rate
    return figures


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="streaming time per phase")
    parser.add_argument("--peers", type=int, default=10, help="streaming peers")
    parser.add_argument("--batch", type=int, default=100, help="messages per write (at most)")
    parser.add_argument("--max-rate", type=float, default=60.0, help="bus passes/s cap")
    parser.add_argument("--paced-rate", type=float, default=1000.0, help="messages/s per peer")
    parser.add_argument(
        "--image-shape", type=int, nargs=3, default=(130, 256, 256), help="k j i of the image"
    )
    parser.add_argument("--image-repeats", type=int, default=5)
    parser.add_argument("--role", choices=("bench", "sender"), default="bench")
    parser.add_argument("--port", type=int, default=0, help="(sender) where to send")
    parser.add_argument("--rate", type=float, default=0.0, help="(sender) messages/s per peer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    if args.role == "sender":
        report = run_sender(args.port, args.peers, args.seconds, args.batch, args.rate)
        print(json.dumps(report))
        return
    logging.basicConfig(level=logging.WARNING)
    baseline = baseline_pyigtl(args.seconds, args.batch)
    figures = asyncio.run(run_adapter(args))
    print(
        json.dumps(
            {
                "bench": "igtl",
                "peers": args.peers,
                "seconds": args.seconds,
                "max_rate": args.max_rate,
                **figures,
                "baseline": "pyigtl OpenIGTLinkServer draining one peer, same load generator",
                "baseline_pyigtl_messages_per_s": round(baseline),
            }
        )
    )


if __name__ == "__main__":
    main()
