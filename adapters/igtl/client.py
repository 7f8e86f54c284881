"""Client mode: keep one outgoing connection to a peer (e.g. a PLUS server) up.

A `PeerConnector` dials `host:port`; the connection is an ordinary `Session` (same mapping,
same pushes). When the dial fails or the connection closes it waits and dials again, the
wait doubling from `reconnect_initial` up to `reconnect_max`, and starting over once a
connection has stayed up for `STABLE_AFTER` seconds — a peer that restarts is reached again
quickly, one that is down is not hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from adapters.igtl.session import Session

if TYPE_CHECKING:
    from adapters.igtl.adapter import IgtlAdapter

log = logging.getLogger("slicer_bridge.igtl")

STABLE_AFTER = 10.0


class PeerConnector:
    def __init__(self, adapter: IgtlAdapter, host: str, port: int) -> None:
        self.adapter = adapter
        self.host = host
        self.port = port
        self.target = f"{host}:{port}"
        self.state = "idle"
        self.attempts = 0
        self.connections = 0
        self.last_error = ""
        self.session: Session | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"igtl-client-{self.target}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.session is not None and self.session.transport is not None:
            self.session.transport.abort()
        self.state = "stopped"

    async def _run(self) -> None:
        options = self.adapter.options
        delay = options.reconnect_initial
        loop = asyncio.get_running_loop()
        while True:
            self.state = "connecting"
            self.attempts += 1
            try:
                _transport, session = await loop.create_connection(
                    lambda: Session(self.adapter, role="client", target=self.target),
                    self.host,
                    self.port,
                )
            except OSError as error:
                self.last_error = str(error)
                level = logging.WARNING if self.attempts == 1 else logging.DEBUG
                log.log(level, "igtl: cannot connect to %s: %s; retrying", self.target, error)
            else:
                self.state = "connected"
                self.connections += 1
                self.session = session
                connected_at = time.monotonic()
                self.last_error = await asyncio.shield(session.closed)
                self.session = None
                if time.monotonic() - connected_at >= STABLE_AFTER:
                    delay = options.reconnect_initial
            self.state = "waiting"
            await asyncio.sleep(delay)
            delay = min(delay * 2, options.reconnect_max)

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "attempts": self.attempts,
            "connections": self.connections,
            "last_error": self.last_error,
        }
