"""A connection's latest-value outbox: what is due to be sent, one entry per target.

An entry is a key — ("TRANSFORM", node id), ("IMAGE", node id), ("STATUS", device) … — and
an optional payload (None: pack the node's state when sending). Putting a key that is
already due replaces it and counts as *overwritten*: the peer will get the newer state and
never the older one. So however fast the scene changes and however slow the peer reads, the
outbox holds at most one entry per key, and the socket buffer at most what fits under its
high-water mark plus one message.

A key may carry a minimum interval (STT_TDATA's RESOL): it is not handed out again before
that much time has passed since it was last sent; `next_wake` says when to look again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any


class Outbox:
    __slots__ = ("_due", "_intervals", "_last_sent", "overwritten")

    def __init__(self) -> None:
        self._due: dict[Hashable, Any] = {}
        self._intervals: dict[Hashable, float] = {}
        self._last_sent: dict[Hashable, float] = {}
        self.overwritten = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due

    def keys(self) -> Iterator[Hashable]:
        return iter(self._due)

    def put(self, key: Hashable, payload: Any = None, interval: float = 0.0) -> None:
        if key in self._due:
            self.overwritten += 1
            del self._due[key]  # re-inserted last: entries go out in order of last change
        self._due[key] = payload
        if interval > 0:
            self._intervals[key] = interval

    def pop_ready(self, now: float, skip: frozenset | set = frozenset()) -> tuple[Hashable, Any]:
        """The oldest due entry whose interval has passed (KeyError if none)."""
        for key in self._due:
            if key in skip:
                continue
            interval = self._intervals.get(key)
            if interval is not None and now - self._last_sent.get(key, -1e18) < interval:
                continue
            return key, self._due.pop(key)
        raise KeyError("nothing ready")

    def next_wake(self, now: float) -> float | None:
        """When the earliest interval-held entry becomes ready (None: none is held)."""
        times = [
            self._last_sent.get(key, now) + self._intervals[key]
            for key in self._due
            if key in self._intervals
        ]
        return min(times) if times else None

    def sent(self, key: Hashable, now: float) -> None:
        if key in self._intervals:
            self._last_sent[key] = now

    def discard(self, key: Hashable) -> None:
        self._due.pop(key, None)
        self._intervals.pop(key, None)
        self._last_sent.pop(key, None)
