"""Counting HTTP requests, and rendering the bridge's figures as Prometheus text.

Two things live here and nothing else: the request counters of the HTTP adapter (per
surface and status, requests in flight), kept by `app.reply_middleware`, and
`render_prometheus(bridge)`, the text exposition format (version 0.0.4) of

* the bus: commands per kind and per source and outcome, pending commands, apply passes,
  receive→apply latency per kind and pass duration as histograms with `le` buckets;
* every adapter's numeric status figures (`Adapter.status()`), flattened into
  `slicer_bridge_adapter_<path>{adapter="..."}` gauges.

It reads the bus statistics, it never changes them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web

from bridge.app import Bridge
from bridge.stats import LatencyHistogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Histogram bounds: one per octave, 1 µs … ~67 s (bucket edges of LatencyHistogram).
HISTOGRAM_BOUNDS = tuple(1e-6 * 2.0**octave for octave in range(27))


class HttpCounters:
    """Requests by surface and status since start, and requests in flight."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.in_flight = 0

    def record(self, path: str, status: int) -> None:
        self.requests[surface_of(path), status] += 1

    def snapshot(self) -> dict[str, Any]:
        by_surface: dict[str, dict[str, int]] = {}
        for (surface, status), count in sorted(self.requests.items()):
            by_surface.setdefault(surface, {})[str(status)] = count
        return {
            "requests_total": sum(self.requests.values()),
            "requests_in_flight": self.in_flight,
            "requests": {"by_surface": {s: {"by_status": c} for s, c in by_surface.items()}},
        }


HTTP_COUNTERS: web.AppKey[HttpCounters] = web.AppKey("http_counters", HttpCounters)


def surface_of(path: str) -> str:
    for prefix in ("/slicer", "/dicom", "/bridge"):
        if path == prefix or path.startswith(prefix + "/"):
            return prefix[1:]
    return "static"


# -- Prometheus text ---------------------------------------------------------------------------
def _escape(value: object) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


#: Every fixed metric family: name → (type, help).
FAMILIES: dict[str, tuple[str, str]] = {
    "slicer_bridge_info": ("gauge", "Version of the running bridge."),
    "slicer_bridge_uptime_seconds": ("gauge", "Seconds since the bridge started."),
    "slicer_bridge_commands_received_total": ("counter", "Commands submitted, per kind."),
    "slicer_bridge_commands_total": ("counter", "Commands that ended, per kind and outcome."),
    "slicer_bridge_source_commands_received_total": ("counter", "Commands submitted, per source."),
    "slicer_bridge_source_commands_total": (
        "counter",
        "Commands that ended, per source and outcome.",
    ),
    "slicer_bridge_commands_pending": ("gauge", "Commands waiting for an apply pass."),
    "slicer_bridge_apply_passes_total": ("counter", "Apply passes run."),
    "slicer_bridge_command_latency_seconds": (
        "histogram",
        "Time from receiving a command to its end (applied, superseded or failed), per kind.",
    ),
    "slicer_bridge_apply_pass_seconds": ("histogram", "Duration of one apply pass."),
}


class Exposition:
    """Metric families in the text format; the samples of one family stay together."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self._meta: dict[str, tuple[str, str]] = {}

    def _family(self, name: str) -> list[str]:
        if name not in self._lines:
            self._meta[name] = FAMILIES.get(name) or ("gauge", f"Adapter status figure {name}.")
            self._lines[name] = []
        return self._lines[name]

    def sample(self, name: str, value: float, **labels: object) -> None:
        self._family(name).append(f"{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, histogram: LatencyHistogram, **labels: object) -> None:
        lines = self._family(name)
        for bound, count in cumulative_at(histogram, HISTOGRAM_BOUNDS):
            lines.append(f"{name}_bucket{_labels({**labels, 'le': _number(bound)})} {count}")
        lines.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {histogram.count}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(histogram.total)}")
        lines.append(f"{name}_count{_labels(labels)} {histogram.count}")

    def text(self) -> str:
        out = []
        for name, lines in self._lines.items():
            kind, help_text = self._meta[name]
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *lines]
        return "\n".join(out) + "\n"


def cumulative_at(
    histogram: LatencyHistogram, bounds: Iterable[float]
) -> Iterator[tuple[float, int]]:
    """Samples ≤ each bound, for fixed bounds that are bucket edges of the histogram."""
    steps = list(histogram.cumulative())
    seen = 0
    position = 0
    for bound in bounds:
        while position < len(steps) and steps[position][0] <= bound * (1 + 1e-9):
            seen = steps[position][1]
            position += 1
        yield bound, seen


OUTCOMES = ("applied", "superseded", "failed")


def render_prometheus(bridge: Bridge) -> str:
    expo = Exposition()
    status = bridge.status()
    stats = bridge.bus.stats
    expo.sample("slicer_bridge_info", 1, version=status["version"], scene=status["scene"])
    expo.sample("slicer_bridge_uptime_seconds", status["uptime_s"])
    for label, table in (("kind", stats.by_kind), ("source", stats.by_source)):
        prefix = "slicer_bridge_" if label == "kind" else "slicer_bridge_source_"
        for key, counters in sorted(table.items()):
            expo.sample(f"{prefix}commands_received_total", counters.received, **{label: key})
            for outcome in OUTCOMES:
                value = getattr(counters, outcome)
                expo.sample(f"{prefix}commands_total", value, **{label: key, "outcome": outcome})
    expo.sample("slicer_bridge_commands_pending", bridge.bus.pending)
    expo.sample("slicer_bridge_apply_passes_total", stats.passes)
    for kind, counters in sorted(stats.by_kind.items()):
        expo.histogram("slicer_bridge_command_latency_seconds", counters.latency, kind=kind)
    expo.histogram("slicer_bridge_apply_pass_seconds", stats.pass_time)
    for adapter, adapter_status in status["adapters"].items():
        for path, labels, value in flatten_numbers(adapter_status):
            expo.sample(f"slicer_bridge_adapter_{path}", value, adapter=adapter, **labels)
    return expo.text()


_IDENTIFIER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def flatten_numbers(
    value: Any, path: str = "", labels: dict[str, str] | None = None, label: str = "key"
) -> Iterator[tuple[str, dict[str, str], float]]:
    """Numeric leaves of a status dict as (metric path, labels, value).

    Identifier keys extend the metric name; the keys of a `by_<label>` dict become values of
    the label `<label>` (`{"requests": {"by_status": {"200": 3}}}` → `requests{status="200"}`);
    other keys (addresses, peer names) become values of the label `key`.
    """
    labels = labels or {}
    if isinstance(value, bool | int | float):
        if path and math.isfinite(value):
            yield path, labels, value
        return
    if not isinstance(value, Mapping):
        return
    for key, item in value.items():
        key = str(key)
        if key.startswith("by_") and _IDENTIFIER.match(key) and isinstance(item, Mapping):
            yield from flatten_numbers(item, path, labels, key.removeprefix("by_"))
        elif label != "key" or not _IDENTIFIER.match(key):
            name = label if label not in labels and label != "adapter" else f"{label}_"
            yield from flatten_numbers(item, path, {**labels, name: key})
        else:
            yield from flatten_numbers(item, f"{path}_{key}" if path else key, labels)
