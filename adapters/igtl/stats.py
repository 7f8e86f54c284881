"""Counters and latencies of the OpenIGTLink adapter, per message type and per peer.

The bus already counts commands per kind and per source; these add what only the adapter
sees: bytes, messages that never became commands (bad CRC, malformed, unknown types,
replies), what was pushed or skipped on the way out, why connections closed, and two
latencies per applied message — receive→apply, and send→apply from the sender's header
timestamp (meaningful when the peer's clock is this machine's, as in the benchmark).

Everything is a plain increment on the hot path. Peers are many and short-lived, so only
live connections are listed; closed ones are summed into `closed`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bridge.stats import LatencyHistogram

#: Distinct unknown type names remembered before the rest count as "other".
_MAX_UNKNOWN_TYPES = 64
#: Distinct type names counted (known types, queries, unknown ones) before "other".
_MAX_TYPES = 256


@dataclass(slots=True)
class MessageCounters:
    """What happened to the messages of one type (or of one peer)."""

    received: int = 0
    bytes: int = 0
    applied: int = 0
    superseded: int = 0
    failed: int = 0
    rejected: int = 0  # bad CRC, malformed content, unsupported: never reached the bus
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    sender_latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "bytes": self.bytes,
            "applied": self.applied,
            "superseded": self.superseded,
            "failed": self.failed,
            "rejected": self.rejected,
            "latency_ms": self.latency.summary_ms(),
            "sender_latency_ms": self.sender_latency.summary_ms(),
        }


@dataclass(slots=True)
class PeerCounters(MessageCounters):
    """A connection's counters, plus its traffic out and its error kinds."""

    sent: int = 0
    bytes_sent: int = 0
    pushes_skipped: int = 0  # outbox entries overwritten before they could be sent
    errors: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            **MessageCounters.snapshot(self),
            "sent": self.sent,
            "bytes_sent": self.bytes_sent,
            "pushes_skipped": self.pushes_skipped,
            "errors": {"by_reason": dict(self.errors)},
        }


class AdapterStats:
    """Per-type counters for the whole adapter and the totals of closed connections."""

    def __init__(self) -> None:
        self.by_type: dict[str, MessageCounters] = {}
        self.unknown_types: Counter[str] = Counter()
        self.connections_opened = 0
        self.connections_refused = 0
        self.closed_reasons: Counter[str] = Counter()
        self.closed = PeerCounters()

    def for_type(self, type_name: str) -> MessageCounters:
        counters = self.by_type.get(type_name)
        if counters is None:
            if len(self.by_type) >= _MAX_TYPES:
                type_name = "other"
            counters = self.by_type.setdefault(type_name, MessageCounters())
        return counters

    def count_unknown(self, type_name: str) -> None:
        if type_name in self.unknown_types or len(self.unknown_types) < _MAX_UNKNOWN_TYPES:
            self.unknown_types[type_name] += 1
        else:
            self.unknown_types["other"] += 1

    def connection_closed(self, peer: PeerCounters, reason: str) -> None:
        self.closed_reasons[reason] += 1
        total = self.closed
        total.received += peer.received
        total.bytes += peer.bytes
        total.applied += peer.applied
        total.superseded += peer.superseded
        total.failed += peer.failed
        total.rejected += peer.rejected
        total.sent += peer.sent
        total.bytes_sent += peer.bytes_sent
        total.pushes_skipped += peer.pushes_skipped
        total.errors.update(peer.errors)

    def snapshot(self) -> dict[str, Any]:
        return {
            "connections_opened": self.connections_opened,
            "connections_refused": self.connections_refused,
            "closed_connections": {
                "by_reason": dict(self.closed_reasons),
                "totals": {
                    key: value
                    for key, value in self.closed.snapshot().items()
                    if not key.endswith("latency_ms")
                },
            },
            "messages": {
                "by_type": {name: c.snapshot() for name, c in sorted(self.by_type.items())}
            },
            "unknown_types": {"by_type": dict(self.unknown_types)},
        }
