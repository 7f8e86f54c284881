"""The HTTP adapter's server: listening sockets, TLS, access log, start and stop.

Slicer's `findFreePort` probed one port and then returned the next without testing it
(slicer-webserver-api.md §4.1). Here the scan is real: each candidate port, from the
configured one upwards, is *bound* (the bind is the test, so nothing can take the port in
between), and the first that binds is served; the chosen port is logged and reported by
`status()` (hence by `GET /bridge/status`). Port 0 asks the system for any free port.

With the default host (127.0.0.1, or `localhost`) the server also listens on the IPv6
loopback `::1`, on the same port, when the machine has it: clients that try `::1` first
(`localhost` on many systems) then connect at once instead of waiting for a fallback. The
original bound all IPv4 interfaces; this binds only what `host` says.

This module knows sockets and aiohttp's runner; the application itself is `app.build_app`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.http.app import MOUNTED, build_app
from adapters.http.metrics import HTTP_COUNTERS
from adapters.http.security import max_body_size
from bridge.app import Bridge

log = logging.getLogger("slicer_bridge")
access_log = logging.getLogger("slicer_bridge.http.access")

#: How many ports above the configured one the scan tries.
PORT_SCAN_LENGTH = 100
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs "%{User-Agent}i"'
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})
#: Errors meaning "this port is taken here"; anything else about the primary address is fatal.
PORT_TAKEN = frozenset({errno.EADDRINUSE, errno.EACCES})


class NoFreePort(OSError):
    """Every port of the scan was taken."""


def listen_addresses(host: str) -> tuple[tuple[int, str], list[tuple[int, str]]]:
    """(the address that must bind, addresses also bound on the same port when possible)."""
    if host in LOOPBACK_NAMES:
        return (socket.AF_INET, "127.0.0.1"), [(socket.AF_INET6, "::1")]
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return (family, address[0]), []


def open_listener(family: int, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_listeners(
    host: str, port: int, scan: int = PORT_SCAN_LENGTH
) -> tuple[int, list[socket.socket], list[int]]:
    """Bind the first free port from `port` on: (port, listening sockets, ports found taken)."""
    primary, optional = listen_addresses(host)
    candidates = [0] * 10 if port == 0 else list(range(port, min(port + scan, 65536)))
    taken: list[int] = []
    for candidate in candidates:
        try:
            first = open_listener(*primary, candidate)
        except OSError as error:
            if error.errno not in PORT_TAKEN:
                raise
            taken.append(candidate)
            continue
        chosen = first.getsockname()[1]
        sockets = [first]
        for family, address in optional:
            try:
                sockets.append(open_listener(family, address, chosen))
            except OSError as error:
                if error.errno in PORT_TAKEN:
                    break  # free on one loopback, taken on the other: try the next port
                log.debug("http: not listening on %s: %s", address, error.strerror)
        else:
            return chosen, sockets, taken
        for sock in sockets:
            sock.close()
        taken.append(chosen)
    last = candidates[-1] if port else "any"
    raise NoFreePort(errno.EADDRINUSE, f"no free port for {host} from {port} to {last}")


def tls_context(certfile: Path | None, keyfile: Path | None) -> ssl.SSLContext | None:
    if certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def url_for(scheme: str, address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


class HttpAdapter:
    """The HTTP transport: serves `build_app(bridge)` on the configured address."""

    name = "http"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.port: int | None = None
        self.urls: list[str] = []
        self.taken_ports: list[int] = []
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._tls = False

    async def start(self, bridge: Bridge) -> None:
        settings = self.settings
        context = tls_context(settings.certfile, settings.keyfile)
        self._tls = context is not None
        app = build_app(bridge)
        logging_on = settings.access_log
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=access_log if logging_on else None,
            access_log_format=ACCESS_LOG_FORMAT,
            keepalive_timeout=75.0,
            lingering_time=2.0,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            port, sockets, taken = bind_listeners(settings.host, settings.http_port)
        except BaseException:
            await runner.cleanup()
            raise
        scheme = "https" if context else "http"
        try:
            for sock in sockets:
                await web.SockSite(runner, sock, ssl_context=context).start()
        except BaseException:
            for sock in sockets:
                sock.close()
            await runner.cleanup()
            raise
        self._runner, self._app = runner, app
        self.port, self.taken_ports = port, taken
        self.urls = [url_for(scheme, sock.getsockname()[0], port) for sock in sockets]
        if taken and settings.http_port:
            log.info(
                "http: port %d is taken (tried %s); using port %d",
                settings.http_port,
                ", ".join(map(str, taken)),
                port,
            )
        log.info("http: listening on %s (port %d)", " and ".join(self.urls), port)
        log.info("http: serving %s", ", ".join(self.surfaces()) or "nothing")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("http: stopped")

    def surfaces(self) -> list[str]:
        return list(self._app[MOUNTED]) if self._app is not None else []

    def status(self) -> dict[str, Any]:
        settings = self.settings
        status: dict[str, Any] = {
            "port": self.port,
            "configured_port": settings.http_port,
            "taken_ports": list(self.taken_ports),
            "urls": list(self.urls),
            "addresses": [url.split("://", 1)[1] for url in self.urls],
            "tls": self._tls,
            "surfaces": self.surfaces(),
            "exec": bool(settings.enable_exec),
            "cors": bool(settings.cors),
            "token": bool(settings.token),
            "max_body_size": max_body_size(settings),
            "access_log": settings.access_log,
        }
        if self._app is not None:
            status.update(self._app[HTTP_COUNTERS].snapshot())
        return status
