"""`IgtlAdapter`: the OpenIGTLink transport as the bridge sees it — start, stop, status.

It owns the listening server (127.0.0.1:18944 unless configured), the client-mode
connectors, the scene publisher and the counters; each connection is a `Session`. It decodes
nothing itself and never touches the scene except through the publisher's reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING, Any

from adapters.igtl.client import PeerConnector
from adapters.igtl.options import IgtlOptions
from adapters.igtl.publisher import Publisher
from adapters.igtl.session import Session
from adapters.igtl.stats import AdapterStats

if TYPE_CHECKING:
    from bridge.app import Bridge
    from bridge.bus import CommandBus
    from bridge.compute.registry import ComputeRegistry

log = logging.getLogger("slicer_bridge.igtl")


class IgtlAdapter:
    """OpenIGTLink server and client mode over the command bus."""

    name = "igtl"

    def __init__(self, options: IgtlOptions) -> None:
        self.options = options
        self.stats = AdapterStats()
        self.sessions: set[Session] = set()
        self.connectors: list[PeerConnector] = []
        self.address: tuple[str, int] | None = None
        self.bus: CommandBus
        self.publisher: Publisher
        self._server: asyncio.Server | None = None
        #: The bridge's compute registry, if it has one (peers may register as nodes).
        self.compute: ComputeRegistry | None = None

    async def start(self, bridge: Bridge) -> None:
        self.bus = bridge.bus
        self.compute = getattr(bridge, "compute", None)
        self.publisher = Publisher(bridge.scene)
        self.publisher.start()
        if not getattr(importlib.import_module("crcmod.crcmod"), "_usingExtension", True):
            log.warning("igtl: crcmod has no C extension; CRC-64 costs ~90 ms per MiB")
        options = self.options
        if options.serve:
            try:
                self._server = await asyncio.get_running_loop().create_server(
                    lambda: Session(self, role="server"),
                    options.host,
                    options.port,
                    reuse_address=True,
                    backlog=min(1024, max(128, options.max_peers)),
                )
            except OSError:
                self.publisher.stop()
                raise
            sockname = self._server.sockets[0].getsockname()
            self.address = (sockname[0], sockname[1])
            log.info("OpenIGTLink server on %s:%d", *self.address)
        for host, port in options.connect:
            connector = PeerConnector(self, host, port)
            connector.start()
            self.connectors.append(connector)
            log.info("OpenIGTLink client: connecting to %s", connector.target)

    async def stop(self) -> None:
        if not hasattr(self, "publisher"):
            return  # never started
        if self._server is not None:
            self._server.close()
        for connector in self.connectors:
            await connector.stop()
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.abort()
        closing = [session.closed for session in self.sessions]
        if closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None
        self.publisher.stop()

    # -- sessions ------------------------------------------------------------------------------
    def register(self, session: Session) -> bool:
        """Admit a new connection; accepted peers beyond `max_peers` are refused (dialled
        connections are configured on purpose and always admitted)."""
        if session.role == "server" and self._served() >= self.options.max_peers:
            self.stats.connections_refused += 1
            return False
        self.sessions.add(session)
        self.stats.connections_opened += 1
        return True

    def unregister(self, session: Session, reason: str) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            self.stats.connection_closed(session.stats, reason.split(":", 1)[0])

    def _served(self) -> int:
        return sum(1 for session in self.sessions if session.role == "server")

    # -- reporting -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        listening = f"{self.address[0]}:{self.address[1]}" if self.address else None
        return {
            "listening": listening,
            "peers_connected": len(self.sessions),
            "compute_nodes": sum(1 for s in self.sessions if s.compute_link is not None),
            "peers": {"by_peer": {s.peer: s.status() for s in self.sessions}},
            "clients": {"by_target": {c.target: c.status() for c in self.connectors}},
            "push": list(self.options.push),
            "check_crc": self.options.check_crc,
            "max_body_bytes": self.options.max_body,
            **self.stats.snapshot(),
        }
