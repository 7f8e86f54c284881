"""OpenIGTLink adapter: an asyncio server and client speaking OpenIGTLink to the bus.

Trackers, robots, ultrasound scanners and PLUS servers stream poses and images at any rate;
this adapter turns each message into a typed command (`mapping`), lets the bus coalesce
them, and pushes scene changes back out (`publisher`). Layers, one module each: `wire`
(header, metadata, CRC), `framing` (byte stream → frames), `codecs/` (message contents),
`mapping` (type → command), `lazy` (decode only what is applied), `session` (one
connection: reading), `outcomes` (what became of each message), `writer` (replies and
pushes), `outbox` (latest-value sending), `errors` (failure → STATUS code), `client` (dial
and reconnect), `adapter` (start, stop, status), `stats`, `options`, `remote_command`
(COMMAND text ↔ typed commands).

The composition root finds `create(settings)` here.
"""

from __future__ import annotations

from typing import Any

from adapters.igtl.adapter import IgtlAdapter
from adapters.igtl.options import IgtlOptions


def create(settings: Any) -> IgtlAdapter:
    """The adapter configured from the bridge's `--igtl-*` settings."""
    return IgtlAdapter(IgtlOptions.from_settings(settings))


__all__ = ["IgtlAdapter", "IgtlOptions", "create"]
