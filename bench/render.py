"""Benchmark: rendering the headless scene — slice views, the 3D view, the layout, glTF.

The volume is the size `/slicer/slice` is measured with (256×256×130 int16): the built-in
phantom scaled up, with CT-like noise (±15 HU) so PNG compression works on realistic pixels.
Each figure is the median (and p90) over `--repeat` calls after one warm-up call, which also
fills the per-volume caches (auto window/level, the ray-casting volume), as a running server
has them filled after its first image. "png" figures include PNG encoding; "pixels" figures
stop at the RGBA/RGB array.

Prints one JSON line, last on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This folder's http.py would shadow the standard library's `http` (which urllib needs).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402

from bridge.geometry import ijk_to_ras_matrix  # noqa: E402
from bridge.scene.headless import HeadlessScene  # noqa: E402
from bridge.scene.samples import shepp_logan_phantom  # noqa: E402


def bench_volume() -> tuple[np.ndarray, np.ndarray]:
    """256 (i) × 256 (j) × 130 (k) int16, 1 × 1 × 1.3 mm, centred on the origin."""
    small = shepp_logan_phantom(128).array  # (k, j, i)
    array = small.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)[63:193]
    noise = np.random.default_rng(0).normal(0.0, 15.0, array.shape)
    voxels = (array + noise).astype(np.int16)
    origin = -np.array([255 / 2.0, 255 / 2.0, 129 * 1.3 / 2.0])
    return voxels, ijk_to_ras_matrix([1.0, 1.0, 1.3], origin)


def timed(call: Callable[[], object], repeat: int, budget_s: float = 1.0) -> dict[str, float]:
    """Median and p90 of up to `repeat` calls, stopping after `budget_s` (at least 3 calls)."""
    call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < repeat and (len(samples) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e3)
    samples.sort()
    return {
        "ms_p50": round(statistics.median(samples), 2),
        "ms_p90": round(samples[min(len(samples) - 1, int(0.9 * len(samples)))], 2),
    }


def main(args: argparse.Namespace) -> dict[str, object]:
    scene = HeadlessScene()
    voxels, ijk_to_ras = bench_volume()
    scene.set_volume("CT", voxels, ijk_to_ras)
    renderer = scene._renderer  # the pixel-only figures bypass PNG encoding
    started = time.perf_counter()
    scene.render_slice("red")
    first_slice_ms = round((time.perf_counter() - started) * 1e3, 1)
    scene.set_tracking_pose(position=np.array([0.0, 120.0, 0.0]))
    scene.set_markups_points("F", np.array([[0.0, 0.0, 90.0], [40.0, 60.0, 0.0]]))
    n = args.repeat
    budget = args.seconds / 9  # nine timed figures share the time budget

    def timed_figure(call: Callable[[], object], repeat: int = n) -> dict[str, float]:
        return timed(call, repeat, budget)

    figures: dict[str, object] = {
        "bench": "render",
        "volume": "256x256x130 int16",
        "repeats_max": n,
        "seconds": args.seconds,
        "first_slice_ms_including_auto_window_level": first_slice_ms,
        "slice_red_256_png": timed_figure(lambda: scene.render_slice("red")),
        "slice_red_256_pixels": timed_figure(lambda: renderer.slice_image("red")),
        "slice_yellow_256_png": timed_figure(lambda: scene.render_slice("yellow")),
        "slice_green_256_png": timed_figure(lambda: scene.render_slice("green")),
        "slice_red_512_png": timed_figure(lambda: scene.render_slice("red", 512)),
        "threed_512_png": timed_figure(lambda: scene.render_threed()),
        "threed_512_pixels": timed_figure(lambda: renderer.threed_image()),
        "screenshot_fourup_1024x768_png": None,
        "gltf_cube_and_markups": timed_figure(lambda: scene.gltf()),
    }
    scene.set_layout("FourUp")
    figures["screenshot_fourup_1024x768_png"] = timed_figure(scene.screenshot, max(3, n // 4))
    return figures


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40, help="most timed calls per figure")
    parser.add_argument("--seconds", type=float, default=9.0, help="time budget for all figures")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse_arguments())))
