"""The adapter's options, read from the bridge's settings (`--igtl-*` flags)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config import Settings

MIB = 1 << 20


def parse_address(text: str, default_port: int = 18944) -> tuple[str, int]:
    """`host:port`, `host` or `[v6]:port` → (host, port)."""
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    port = int(port_text) if port_text else default_port
    if not host or not 0 < port <= 65535:
        raise ValueError(f"not a host:port address: {text!r}")
    return host, port


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class IgtlOptions:
    host: str = "127.0.0.1"
    port: int = 18944
    serve: bool = True
    connect: tuple[tuple[str, int], ...] = ()
    push: tuple[str, ...] = ()
    max_body: int = 264 * MIB
    check_crc: bool = True
    read_timeout: float = 10.0
    max_peers: int = 256
    receive_buffer: int = 256 * 1024
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IgtlOptions:
        try:
            connect = tuple(parse_address(item) for item in _names(settings.igtl_connect))
        except ValueError as error:
            raise ValueError(f"igtl_connect: {error}") from None
        return cls(
            host=settings.host,
            port=settings.igtl_port,
            serve=settings.igtl_serve,
            connect=connect,
            push=_names(settings.igtl_push),
            max_body=settings.igtl_max_body_mib * MIB,
            check_crc=settings.igtl_check_crc,
            read_timeout=settings.igtl_read_timeout,
            max_peers=settings.igtl_max_peers,
            receive_buffer=settings.igtl_receive_buffer_kib * 1024,
        )
