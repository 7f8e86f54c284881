"""Counters and latency histograms for the bus, cheap enough to update for every command.

The histogram uses log-spaced buckets (four per octave, from 1 µs to about 2 minutes), so
recording is one `log2` and an increment, memory is fixed whatever the rate, and
percentiles are within ±9 % of the true value: enough to tell 2 ms from 20 ms, and the same
buckets serve Prometheus' cumulative `le` histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_MIN_SECONDS = 1e-6
_PER_OCTAVE = 4
_BUCKETS = 27 * _PER_OCTAVE + 2  # [0, 1 µs), 108 log buckets up to ~134 s, overflow


def _bucket_upper(index: int) -> float:
    """Upper bound in seconds of bucket `index` (inf for the overflow bucket)."""
    if index >= _BUCKETS - 1:
        return math.inf
    return _MIN_SECONDS * 2.0 ** (index / _PER_OCTAVE)


class LatencyHistogram:
    """Fixed log-bucket histogram of durations in seconds."""

    __slots__ = ("count", "counts", "max", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        if seconds < _MIN_SECONDS:
            index = 0
        else:
            index = min(int(math.log2(seconds / _MIN_SECONDS) * _PER_OCTAVE) + 1, _BUCKETS - 1)
        self.counts[index] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, fraction: float) -> float:
        """The value below which `fraction` of the samples lie (bucket geometric midpoint)."""
        if self.count == 0:
            return 0.0
        rank = fraction * self.count
        seen = 0
        for index, bucket_count in enumerate(self.counts):
            seen += bucket_count
            if seen >= rank and bucket_count:
                if index == 0:
                    return _MIN_SECONDS / 2
                upper = min(_bucket_upper(index), self.max)
                lower = _bucket_upper(index - 1)
                return min(math.sqrt(lower * max(upper, lower)), self.max)
        return self.max

    def cumulative(self) -> Iterator[tuple[float, int]]:
        """(upper bound in seconds, samples ≤ it) for every non-empty prefix, as Prometheus'
        `_bucket{le=…}` lines want."""
        seen = 0
        for index, bucket_count in enumerate(self.counts):
            seen += bucket_count
            if bucket_count:
                yield _bucket_upper(index), seen

    def summary_ms(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50": round(self.percentile(0.50) * 1e3, 3),
            "p90": round(self.percentile(0.90) * 1e3, 3),
            "p99": round(self.percentile(0.99) * 1e3, 3),
            "max": round(self.max * 1e3, 3),
            "mean": round(self.total / self.count * 1e3, 3) if self.count else 0.0,
        }


@dataclass(slots=True)
class OutcomeCounters:
    """What happened to the commands of one kind or one source."""

    received: int = 0
    applied: int = 0
    superseded: int = 0
    failed: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "applied": self.applied,
            "superseded": self.superseded,
            "failed": self.failed,
            "latency_ms": self.latency.summary_ms(),
        }


class BusStats:
    """Totals, per-kind and per-source counters, and pass timing.

    Sources are capped (`max_sources`) so a server that sees thousands of short-lived peers
    keeps bounded memory; later sources are counted under "other".
    """

    def __init__(self, max_sources: int = 256) -> None:
        self.total = OutcomeCounters()
        self.by_kind: dict[str, OutcomeCounters] = {}
        self.by_source: dict[str, OutcomeCounters] = {}
        self.passes = 0
        self.pass_time = LatencyHistogram()
        self.commands_per_pass_max = 0
        self._max_sources = max_sources

    def counters_for(self, kind: str, source: str) -> tuple[OutcomeCounters, ...]:
        by_kind = self.by_kind.get(kind)
        if by_kind is None:
            by_kind = self.by_kind[kind] = OutcomeCounters()
        by_source = self.by_source.get(source)
        if by_source is None:
            if len(self.by_source) >= self._max_sources:
                source = "other"
            by_source = self.by_source.setdefault(source, OutcomeCounters())
        return (self.total, by_kind, by_source)

    def snapshot(self, pending: int = 0) -> dict[str, Any]:
        return {
            **self.total.snapshot(),
            "pending": pending,
            "passes": self.passes,
            "pass_ms": self.pass_time.summary_ms(),
            "commands_per_pass_max": self.commands_per_pass_max,
            "by_kind": {kind: c.snapshot() for kind, c in sorted(self.by_kind.items())},
            "by_source": {src: c.snapshot() for src, c in sorted(self.by_source.items())},
        }
