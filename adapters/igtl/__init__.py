"""OpenIGTLink adapter: an asyncio server and client speaking OpenIGTLink to the bus.

Trackers, robots, ultrasound scanners and PLUS servers stream poses and images at any rate;
this adapter turns each message into a typed command (`mapping`), lets the bus coalesce
them, and pushes scene changes back out (`publisher`). Layers, one module each: `wire`
(header, metadata, CRC), `framing` (byte stream → frames), `codecs/` (message contents),
`mapping` (type → command), `lazy` (decode only what is applied), `session` (one
connection: reading), `outcomes` (what became of each message), `writer` (replies and
pushes), `outbox` (latest-value sending), `errors` (failure → STATUS code), `client` (dial
and reconnect), `adapter` (start, stop, status), `stats`, `options`, `remote_command`
(COMMAND text ↔ typed commands), `compute_link` (compute-node peers ↔ the job registry).

The composition root finds `create(settings)` here. The adapter is imported lazily: `wire`,
`framing` and `codecs/` need only pyigtl and numpy, and the compute-node SDK
(`bridge.compute`), which runs where the bridge's other dependencies are not installed,
imports them without pulling in the adapter (and with it the bus and the scene).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.igtl.adapter import IgtlAdapter
    from adapters.igtl.options import IgtlOptions


def create(settings: Any) -> IgtlAdapter:
    """The adapter configured from the bridge's `--igtl-*` settings."""
    from adapters.igtl.adapter import IgtlAdapter
    from adapters.igtl.options import IgtlOptions

    return IgtlAdapter(IgtlOptions.from_settings(settings))


def __getattr__(name: str) -> Any:
    if name == "IgtlAdapter":
        from adapters.igtl.adapter import IgtlAdapter

        return IgtlAdapter
    if name == "IgtlOptions":
        from adapters.igtl.options import IgtlOptions

        return IgtlOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["IgtlAdapter", "IgtlOptions", "create"]
