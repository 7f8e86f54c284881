"""HTTP transport: Slicer's WebServer REST API (`/slicer`), DICOMweb (`/dicom`), the bridge's
own status (`/bridge`) and static pages (`/`), on one aiohttp server.

`create(settings)` is what the composition root (`bridge.app`) calls.
"""

from __future__ import annotations

from typing import Any


def create(settings: Any) -> Any:
    """The HTTP adapter for `settings` (an `HttpAdapter`; see `adapters.http.server`)."""
    from adapters.http.server import HttpAdapter

    return HttpAdapter(settings)


__all__ = ["create"]
