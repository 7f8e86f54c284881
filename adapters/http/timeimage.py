"""The `/slicer/timeimage` picture: 128×32 PNG showing the current time, for latency tests.

As Slicer's WebServer draws it: a transparent image, a dotted 5-px border in `#<color>` at 80 %
opacity (default `#330`), and `time.time()` as text in `#333` from (10, 20) on its baseline.
Drawn with Pillow; the PNG is stored uncompressed, as the original did, because on a local
link sending bytes is cheaper than compressing them. Nothing here knows HTTP.
"""

from __future__ import annotations

import io
import re
import time
from functools import cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 128, 32
DEFAULT_COLOR = "330"
TEXT_COLOR = (0x33, 0x33, 0x33, 255)
BORDER_WIDTH = 5
#: Qt's DotLine: one pen width drawn, two pen widths blank.
_DOT_STEP = 3 * BORDER_WIDTH
_HEX = re.compile(r"^(?:[0-9a-fA-F]{3}){1,4}$")


def parse_color(text: str) -> tuple[int, int, int]:
    """QColor's hex forms without `#`: RGB, RRGGBB, RRRGGGBBB, RRRRGGGGBBBB."""
    digits = text.strip().lstrip("#")
    if not _HEX.match(digits):
        raise ValueError(f"color must be hex RGB such as 330 or ffcc00, got {text!r}")
    width = len(digits) // 3
    channels = [int(digits[i * width : (i + 1) * width], 16) for i in range(3)]
    top = 16**width - 1
    return tuple(round(channel * 255 / top) for channel in channels)  # type: ignore[return-value]


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=11)


def render_time_image(color: str = DEFAULT_COLOR, now: float | None = None) -> bytes:
    """The PNG bytes; `now` defaults to `time.time()`."""
    red, green, blue = parse_color(color)
    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    border = (red, green, blue, round(0.8 * 255))
    _dotted_rectangle(draw, 1, 1, WIDTH - 2, HEIGHT - 2, border)
    text = str(time.time() if now is None else now)
    font = _font()
    if isinstance(font, ImageFont.FreeTypeFont):
        draw.text((10, 20), text, fill=TEXT_COLOR, font=font, anchor="ls")
    else:  # Pillow without FreeType: the bitmap font has no baseline anchor
        draw.text((10, 10), text, fill=TEXT_COLOR, font=font)
    stream = io.BytesIO()
    image.save(stream, format="PNG", compress_level=0)
    return stream.getvalue()


def _dotted_rectangle(
    draw: ImageDraw.ImageDraw,
    left: int,
    top: int,
    right: int,
    bottom: int,
    fill: tuple[int, int, int, int],
) -> None:
    """Square dots of the pen width centred on the rectangle's outline."""
    half = BORDER_WIDTH // 2
    path = [
        *((x, top) for x in range(left, right, _DOT_STEP)),
        *((right, y) for y in range(top, bottom, _DOT_STEP)),
        *((x, bottom) for x in range(right, left, -_DOT_STEP)),
        *((left, y) for y in range(bottom, top, -_DOT_STEP)),
    ]
    for x, y in path:
        draw.rectangle((x - half, y - half, x + half, y + half), fill=fill)
