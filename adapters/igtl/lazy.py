"""A received message as a `Deferred` update: decoded only if it is the one the bus applies.

The bus needs a coalescible update's kind, key and source at submit time; all three come
from the 58-byte header (and, for TDATA/QTDATA, the element names). The body is decoded by
`build()`, which the bus calls just before applying — so of a 1 kHz TRANSFORM stream into a
60 Hz scene, 16 of 17 messages are never decoded, and of a 30 fps ultrasound stream only the
newest frame's voxels are ever turned into an array.

`LazyUpdate` is a `Deferred` (the bus checks `isinstance`) that keeps the frame and the
decoder; one is made for every message, so it is a slotted class like its base.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from bridge.commands import Command, Deferred

if TYPE_CHECKING:
    from adapters.igtl.session import Session
    from adapters.igtl.wire import Frame


class LazyUpdate(Deferred):
    """A keyed update built from `frame` by `decode(update)` when the bus applies it."""

    __slots__ = ("built_at", "built_wallclock", "decode", "frame", "index", "session", "target")

    def __init__(
        self,
        kind: str,
        coalesce_key: Hashable,
        session: Session,
        frame: Frame,
        decode: Callable[[LazyUpdate], Command],
        target: str,
        index: int = 0,
    ) -> None:
        super().__init__(kind, coalesce_key, source=session.source, received=frame.received)
        self.session = session
        self.frame = frame
        self.decode = decode
        self.target = target
        self.index = index
        self.built_at = 0.0
        self.built_wallclock = 0.0

    def build(self) -> Command:
        self.built_at = time.monotonic()
        self.built_wallclock = time.time()
        self.session.note_applying(self)
        return self.decode(self)
