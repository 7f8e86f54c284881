"""Benchmark: the live WebSocket channel against REST polling, and commands over one socket.

A server process runs the real bridge (HTTP only, port 0) with one 256×256×130 int16 volume
put into the headless scene through the bus and shown in the slice views. This process is the
client. Each phase lasts `--seconds`:

* **ws_stream** (PNG) and **ws_stream_jpeg** — a simulated drag: `SetSliceOffset` over the
  socket at 60 interactions a second (every mouse move sent, no client-side throttling),
  while the red view streams with the default flow control (one frame in flight, acked on
  arrival). Latency of an interaction = from sending it to the arrival of the first frame
  that shows it or a newer move (frame header `applied`; a superseded move counts as shown
  by the move that replaced it).
* **rest_polling** — the baseline web front-ends use today: one keep-alive connection
  looping `GET /slicer/slice?view=red&offset=<newest interaction>` (each request carries the
  newest move made before it left, the best a poller can do); the same 60/s interactions.
* **command_throughput** — commands pipelined over one socket (256 in flight): ordered
  `SetLayout` barriers, then keyed `SetTransform` updates over 64 nodes; results per second.

Client and server share this machine's cores, so the figures are lower bounds. Prints
progress on stderr and one JSON line, last on stdout.

    python bench/ws.py --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script from anywhere: the repository root goes first on the path, and this folder
# (whose http.py would shadow the standard library's `http`) leaves it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from bench.bench_server import VOLUME_SHAPE, bench_server, serve_volume  # noqa: E402

INTERACTION_HZ = 60.0
#: The drag sweeps the offset back and forth over this range (mm), one way per second.
SWEEP_MM = (-70.0, 70.0)
COMMAND_WINDOW = 256
KEYED_NODES = 64


# -- the server process ------------------------------------------------------------------------
async def serve() -> None:
    ijk_to_ras = np.diag([-0.9, -0.9, 1.1, 1.0])
    ijk_to_ras[:3, 3] = (115.0, 115.0, -71.5)
    await serve_volume(ijk_to_ras, prefix="bench-ws-")


# -- interactions ------------------------------------------------------------------------------
def sweep_offset(index: int) -> float:
    """The drag's offset at interaction `index`: a triangle wave, one way per second."""
    low, high = SWEEP_MM
    steps = int(INTERACTION_HZ)
    phase = index % (2 * steps)
    fraction = phase / steps if phase < steps else 2 - phase / steps
    return round(low + fraction * (high - low), 3)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_figures(latencies: list[float]) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1e3, 2)

    return {
        "interactions_shown": len(latencies),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies) if latencies else None),
    }


def unpack_header(message: bytes) -> dict[str, Any]:
    (length,) = struct.unpack_from(">I", message)
    return json.loads(message[4 : 4 + length])


# -- phase: the view stream ----------------------------------------------------------------------
async def ws_stream(session: Any, port: int, seconds: float, image_format: str) -> dict[str, Any]:
    import aiohttp

    sent_at: dict[int, float] = {}
    outcomes: dict[int, str] = {}
    frames: list[tuple[float, int, int]] = []  # (arrival, applied id, bytes)
    async with session.ws_connect(f"http://127.0.0.1:{port}/bridge/ws") as socket:
        await socket.send_json({"stream": "view:red", "format": image_format, "quality": 80})
        stop = asyncio.Event()

        async def drag() -> None:
            index = 0
            started = time.perf_counter()
            while not stop.is_set():
                index += 1
                sent_at[index] = time.perf_counter()
                await socket.send_json(
                    {
                        "command": "SetSliceOffset",
                        "id": str(index),
                        "view": "red",
                        "offset": sweep_offset(index),
                    }
                )
                delay = started + index / INTERACTION_HZ - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))

        async def receive() -> None:
            async for message in socket:
                now = time.perf_counter()
                if message.type is aiohttp.WSMsgType.BINARY:
                    header = unpack_header(message.data)
                    await socket.send_json({"ack": header["stream"]})
                    frames.append((now, int(header["applied"] or 0), header["bytes"]))
                elif message.type is aiohttp.WSMsgType.TEXT:
                    reply = json.loads(message.data)
                    if reply.get("type") == "result":
                        outcomes[int(reply["id"])] = reply["status"]
                    elif reply.get("type") == "error":
                        raise RuntimeError(f"the bridge refused a message: {reply}")

        receiver = asyncio.create_task(receive())
        await asyncio.sleep(0.5)  # the first frame, outside the measurement
        first = len(frames)
        began = time.perf_counter()
        dragger = asyncio.create_task(drag())
        await asyncio.sleep(seconds)
        stop.set()
        await dragger
        elapsed = time.perf_counter() - began
        await asyncio.sleep(0.3)  # let the last frames arrive
        receiver.cancel()
    measured = [frame for frame in frames[first:] if frame[0] <= began + elapsed]
    latencies = stream_latencies(sent_at, outcomes, frames[first:])
    return {
        "format": image_format,
        "interactions": len(sent_at),
        "superseded": sum(1 for status in outcomes.values() if status == "superseded"),
        "frames": len(measured),
        "frames_per_s": round(len(measured) / elapsed, 1),
        "frame_bytes": round(sum(f[2] for f in measured) / len(measured)) if measured else None,
        **latency_figures(latencies),
    }


def stream_latencies(
    sent_at: dict[int, float], outcomes: dict[int, str], frames: list[tuple[float, int, int]]
) -> list[float]:
    """Per interaction: first frame showing it (or the move that superseded it) − send time."""
    applied_ids = sorted(index for index, status in outcomes.items() if status == "applied")
    latencies: list[float] = []
    carrier_position = 0
    frame_position = 0
    for index in sorted(sent_at):
        while carrier_position < len(applied_ids) and applied_ids[carrier_position] < index:
            carrier_position += 1
        if carrier_position == len(applied_ids):
            break  # not applied before the end
        carrier = applied_ids[carrier_position]
        while frame_position < len(frames) and frames[frame_position][1] < carrier:
            frame_position += 1
        if frame_position == len(frames):
            break
        latencies.append(frames[frame_position][0] - sent_at[index])
    return latencies


# -- phase: REST polling -----------------------------------------------------------------------
async def rest_polling(session: Any, port: int, seconds: float) -> dict[str, Any]:
    sent_at: dict[int, float] = {}
    newest = 0
    stop = asyncio.Event()

    async def drag() -> None:
        nonlocal newest
        index = 0
        started = time.perf_counter()
        while not stop.is_set():
            index += 1
            sent_at[index] = time.perf_counter()
            newest = index
            delay = started + index / INTERACTION_HZ - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))

    latencies: list[float] = []
    shown = 0  # interactions up to this one are on screen
    responses = 0
    body_bytes = 0
    began = time.perf_counter()
    dragger = asyncio.create_task(drag())
    await asyncio.sleep(0)
    while time.perf_counter() - began < seconds:
        carried = newest
        offset = sweep_offset(carried)
        async with session.get(
            f"http://127.0.0.1:{port}/slicer/slice?view=red&offset={offset}"
        ) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /slicer/slice answered {response.status}: {body[:200]}")
        now = time.perf_counter()
        responses += 1
        body_bytes += len(body)
        for index in range(shown + 1, carried + 1):
            latencies.append(now - sent_at[index])
        shown = max(shown, carried)
    elapsed = time.perf_counter() - began
    stop.set()
    await dragger
    return {
        "interactions": len(sent_at),
        "frames": responses,
        "frames_per_s": round(responses / elapsed, 1),
        "frame_bytes": round(body_bytes / responses) if responses else None,
        **latency_figures(latencies),
    }


# -- phase: command throughput over one socket ---------------------------------------------------
async def command_throughput(session: Any, port: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    figures: dict[str, Any] = {"window": COMMAND_WINDOW}
    async with session.ws_connect(f"http://127.0.0.1:{port}/bridge/ws") as socket:
        for name, build in (
            ("ordered", lambda i: {"command": "SetLayout", "layout": ("FourUp", "OneUp3D")[i % 2]}),
            (
                "keyed",
                lambda i: {
                    "command": "SetTransform",
                    "node": f"Tool{i % KEYED_NODES}",
                    "matrix": [[1, 0, 0, i % 100], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                },
            ),
        ):
            sent = done = applied = 0
            window = asyncio.Semaphore(COMMAND_WINDOW)
            began = time.perf_counter()

            async def send_all(build: Any, window: asyncio.Semaphore, deadline: float) -> None:
                nonlocal sent
                while time.perf_counter() < deadline:
                    await window.acquire()
                    sent += 1
                    await socket.send_json({**build(sent), "id": str(sent)})

            sender = asyncio.create_task(send_all(build, window, began + seconds / 2))
            while not (sender.done() and done == sent):
                message = await socket.receive(timeout=30)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"unexpected message {message.type}")
                reply = json.loads(message.data)
                if reply.get("type") == "result":
                    done += 1
                    applied += reply["status"] == "applied"
                    window.release()
            await sender
            elapsed = time.perf_counter() - began
            figures[f"{name}_per_s"] = round(done / elapsed, 1)
            figures[f"{name}_applied"] = applied
            figures[f"{name}_results"] = done
    return figures


# -- the run -----------------------------------------------------------------------------------
async def bench(seconds: float) -> dict[str, Any]:
    import aiohttp

    async with bench_server(Path(__file__)) as server:
        port = server.port
        figures: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session:
            for name, phase in (
                ("ws_stream", lambda: ws_stream(session, port, seconds, "png")),
                ("rest_polling", lambda: rest_polling(session, port, seconds)),
                ("ws_stream_jpeg", lambda: ws_stream(session, port, seconds, "jpeg")),
                ("command_throughput", lambda: command_throughput(session, port, seconds)),
            ):
                figures[name] = await phase()
                print(f"{name}: {figures[name]}", file=sys.stderr)
        stream, rest = figures["ws_stream"], figures["rest_polling"]
        return {
            "bench": "ws",
            "seconds": seconds,
            "volume_shape": list(VOLUME_SHAPE),
            "volume_dtype": "int16",
            "interaction_hz": INTERACTION_HZ,
            **figures,
            "frames_per_s_ratio": _ratio(stream["frames_per_s"], rest["frames_per_s"]),
            "p99_latency_ratio_rest_over_ws": _ratio(rest["p99_ms"], stream["p99_ms"]),
            "cpu_count": os.cpu_count(),
        }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 2) if numerator and denominator else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per phase")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(serve())
        return
    print(json.dumps(asyncio.run(bench(arguments.seconds))))


if __name__ == "__main__":
    main()
