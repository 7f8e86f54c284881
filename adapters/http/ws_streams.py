"""View streams of the live channel: options, flow control, and the frame wire format.

A client opens a stream with `{"stream": "view:red", "format": "jpeg", "quality": 70,
"size": 256, "max_in_flight": 1}` and from then on gets a frame whenever the view changed,
with at most `max_in_flight` frames unacknowledged (`{"ack": "view:red"}` acknowledges one).
A view that changes while the client still holds its quota is only marked *dirty*: the next
frame, rendered once the client acks, shows the latest state. Frames in between are skipped,
never queued, so the frame rate follows whatever the link and the client can take.

Which views a scene change touches (`views_touched`) is decided per event: a slice node
changes its own view, the camera the 3D view, a volume every view, a transform the 3D view
and the slice views whose volumes hang under it, markups and models the 3D view only (the
slice views show no annotations). Each view has a *generation* that such changes bump; a
stream renders when the view's generation is past the one it last sent — also when the
change leaves the picture as it was, so a client always learns that its move is shown.

A frame is one binary WebSocket message: a 4-byte big-endian header length, a UTF-8 JSON
header (`stream`, `seq`, `format`, `bytes`, `render_ms`, `commands`, `applied`), then the
image bytes. `commands` counts this connection's commands that were resolved, in order,
before the frame was rendered, and `applied` is the `id` of the last of them — so a client
knows which of its interactions a frame shows. Nothing here touches a socket.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.http.ws_subjects import is_markups, is_transform, view_of_node
from bridge.scene.protocol import Scene
from bridge.scene.types import (
    SLICE_VIEWS,
    THREED_VIEWS,
    NodeInfo,
    SceneError,
    SceneEvent,
    canonical_view,
)
from bridge.scene.view_images import DEFAULT_JPEG_QUALITY, image_format, jpeg_quality
from bridge.scene.view_images import render_view as render_view_image

ALL_VIEWS: tuple[str, ...] = (*SLICE_VIEWS, *THREED_VIEWS)
STREAM_PREFIX = "view:"
DEFAULT_MAX_IN_FLIGHT = 1
MAX_IN_FLIGHT_LIMIT = 16
MAX_IMAGE_SIDE = 4096
_HEADER_LENGTH = struct.Struct(">I")


class StreamError(ValueError):
    """A stream request that cannot be honoured (bad view, format, size, quality)."""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What a stream sends: a view, an image format and quality, a size. Hashable: streams
    with the same options (from any connection) share one rendered frame per change."""

    view: str
    format: str = "png"
    quality: int = DEFAULT_JPEG_QUALITY
    size: int | tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return STREAM_PREFIX + self.view

    def render(self, scene: Scene) -> bytes:
        return render_view_image(
            scene, self.view, format=self.format, quality=self.quality, size=self.size
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.name,
            "format": self.format,
            "quality": self.quality,
            "size": list(self.size) if isinstance(self.size, tuple) else self.size,
        }


def stream_view(name: object) -> str:
    """`view:red`, `view:Red`, `view:3D`, `view:1` → `red` / `3d`; StreamError otherwise."""
    if not isinstance(name, str) or not name.strip().lower().startswith(STREAM_PREFIX):
        raise StreamError(f"a stream is named view:<view> (view:red, view:3d), got {name!r}")
    try:
        return canonical_view(name.strip()[len(STREAM_PREFIX) :])
    except SceneError as error:
        raise StreamError(str(error)) from None


def parse_stream_request(message: Mapping[str, Any]) -> tuple[StreamOptions, int]:
    """(options, max frames in flight) of a `{"stream": ...}` message."""
    view = stream_view(message.get("stream"))
    try:
        chosen_format = image_format(message.get("format", "png"))
        quality = jpeg_quality(message.get("quality", DEFAULT_JPEG_QUALITY))
    except SceneError as error:
        raise StreamError(str(error)) from None
    size = parse_size(message.get("size"))
    window = message.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    if isinstance(window, bool) or not isinstance(window, int):
        raise StreamError(f"max_in_flight must be an integer, got {window!r}")
    if not 1 <= window <= MAX_IN_FLIGHT_LIMIT:
        raise StreamError(f"max_in_flight must be within 1..{MAX_IN_FLIGHT_LIMIT}, got {window}")
    return StreamOptions(view, chosen_format, quality, size), window


def parse_size(value: object) -> int | tuple[int, int] | None:
    """`256` (the longer side), `[320, 200]` or `"320x200"` (width × height), or None."""
    if value is None:
        return None
    numbers: list[object]
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            raise StreamError(f"size must be N, [W, H] or 'WxH', got {value!r}") from None
    elif isinstance(value, list):
        numbers = list(value)
    else:
        numbers = [value]
    if len(numbers) not in (1, 2) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_IMAGE_SIDE for n in numbers
    ):
        raise StreamError(
            f"size must be N or [W, H] with 1..{MAX_IMAGE_SIDE} pixels, got {value!r}"
        )
    return numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])  # type: ignore[return-value]


class ViewStream:
    """One open stream of one connection: its options and its flow-control state."""

    __slots__ = ("in_flight", "max_in_flight", "options", "sent", "sent_generation")

    def __init__(self, options: StreamOptions, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT):
        self.options = options
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.sent = 0
        #: Generation of the view the last frame showed (-1: none sent yet).
        self.sent_generation = -1

    @property
    def name(self) -> str:
        return self.options.name

    def ready(self, generation: int) -> bool:
        """Whether a frame should be rendered now: the view changed and there is room."""
        return generation > self.sent_generation and self.in_flight < self.max_in_flight

    def ack(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)


def pack_frame(header: Mapping[str, Any], image: bytes) -> bytes:
    """Header length (4 bytes, big-endian), JSON header, image: one binary message."""
    encoded = orjson.dumps(header)
    return _HEADER_LENGTH.pack(len(encoded)) + encoded + image


def unpack_frame(message: bytes) -> tuple[dict[str, Any], bytes]:
    """The inverse of `pack_frame` (clients and tests)."""
    (length,) = _HEADER_LENGTH.unpack_from(message)
    start = _HEADER_LENGTH.size
    return orjson.loads(message[start : start + length]), message[start + length :]


# -- which views a change touches --------------------------------------------------------------
def views_touched(scene: Scene, event: SceneEvent) -> Iterable[str]:
    info = event.node
    if info is None:  # cleared
        return ALL_VIEWS
    own_view = view_of_node(info)
    if own_view is not None:
        return (own_view,)
    class_name = info.class_name
    if "Layout" in class_name or class_name.endswith("StorageNode"):
        return ()
    if is_markups(class_name) or "ModelNode" in class_name or "Segmentation" in class_name:
        return THREED_VIEWS
    if is_transform(class_name):
        return (*THREED_VIEWS, *_slice_views_under(scene, info))
    return ALL_VIEWS  # volumes, display nodes and anything unknown: redraw everything


def _slice_views_under(scene: Scene, transform: NodeInfo) -> list[str]:
    """Slice views showing a volume that lies under `transform` (or is gone)."""
    touched = []
    for view in SLICE_VIEWS:
        state = scene.slice_view(view)
        shown = (state.background_volume_id, state.foreground_volume_id, state.label_volume_id)
        if any(volume and _is_under(scene, volume, transform.id) for volume in shown):
            touched.append(view)
    return touched


def _is_under(scene: Scene, ref: str, transform_id: str) -> bool:
    seen: set[str] = set()
    with contextlib.suppress(SceneError):
        parent = scene.parent_transform(ref)
        while parent is not None and parent.id not in seen:
            if parent.id == transform_id:
                return True
            seen.add(parent.id)
            parent = scene.parent_transform(parent.id)
        return False
    return True  # the volume vanished: redraw to be safe


__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "StreamError",
    "StreamOptions",
    "ViewStream",
    "pack_frame",
    "parse_stream_request",
    "stream_view",
    "unpack_frame",
    "views_touched",
]
