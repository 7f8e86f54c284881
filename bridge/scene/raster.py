"""Drawing into pixel buffers: background gradients, z-buffered triangles and shaded sphere
glyphs, and PNG encoding (Pillow).

A frame is a float32 colour buffer (height×width×3, 0..1) plus an inverse-depth buffer
(height×width float32, 1/depth, 0 where nothing is drawn; larger is nearer), so a fragment is
drawn where its 1/depth is larger than what the pixel holds. Triangles are rasterised in
vectorised batches by bounding-box size; lighting is a headlight (the light sits at the eye),
lit on both sides, as VTK's default two-sided lighting. Coordinates are continuous pixel
positions with pixel centres at +0.5, matching `camera.Projection`.

No scene, no camera maths beyond what is handed in.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: Headlight shading: ambient part plus diffuse part times |cos| of the incidence angle.
AMBIENT = 0.25
DIFFUSE = 0.75
#: Bounding-box sizes (pixels) of the vectorised triangle batches; larger ones go one by one.
_TILES = (4, 16, 64)
#: Fragments evaluated per batch at most (keeps temporaries to a few MB).
_BATCH_FRAGMENTS = 1 << 20
#: zlib level of PNG output: 1 is several times faster than the default and still compresses.
PNG_COMPRESS_LEVEL = 1


class Frame:
    """A colour buffer and its inverse-depth buffer."""

    def __init__(self, color: np.ndarray) -> None:
        self.color = np.ascontiguousarray(color, dtype=np.float32)
        self.height, self.width = self.color.shape[:2]
        self.inverse_depth = np.zeros((self.height, self.width), dtype=np.float32)

    def to_bytes(self) -> np.ndarray:
        """The colour buffer as height×width×3 uint8."""
        return (np.clip(self.color, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def write(self, pixels: np.ndarray, inverse_depth: np.ndarray, colors: np.ndarray) -> None:
        """Depth-test fragments (flat pixel index, 1/depth, RGB) and keep the nearest."""
        if pixels.size == 0:
            return
        depth = self.inverse_depth.reshape(-1)
        np.maximum.at(depth, pixels, inverse_depth)
        nearest = inverse_depth >= depth[pixels]
        self.color.reshape(-1, 3)[pixels[nearest]] = colors[nearest]


def vertical_gradient(width: int, height: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """A height×width×3 float32 image blending from `top` (first row) to `bottom`."""
    t = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None, None]
    line = (1.0 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.broadcast_to(line, (height, width, 3)).copy()


def shade(colors: np.ndarray, cosines: np.ndarray) -> np.ndarray:
    """Headlight-lit colours: `colors` (…×3) at incidence cosines `cosines` (…)."""
    light = AMBIENT + DIFFUSE * np.abs(cosines)
    return np.asarray(colors, np.float32) * light[..., None].astype(np.float32)


def draw_triangles(
    frame: Frame, pixels: np.ndarray, depths: np.ndarray, colors: np.ndarray
) -> None:
    """Rasterise triangles with a z-buffer.

    `pixels`: T×3×2 continuous pixel positions of the corners; `depths`: T×3 camera depths
    (all > 0; clip before calling); `colors`: T×3 flat colours, already shaded. Depth is
    interpolated perspective-correctly (1/depth is linear on screen).
    """
    if len(pixels) == 0:
        return
    pixels = np.asarray(pixels, dtype=np.float64)
    inverse = 1.0 / np.asarray(depths, dtype=np.float64)
    colors = np.asarray(colors, dtype=np.float32)
    low = np.floor(pixels.min(axis=1) - 0.5).astype(np.int64)
    high = np.ceil(pixels.max(axis=1) - 0.5).astype(np.int64)
    np.maximum(low, 0, out=low)
    high[:, 0] = np.minimum(high[:, 0], frame.width - 1)
    high[:, 1] = np.minimum(high[:, 1], frame.height - 1)
    extent = (high - low + 1).max(axis=1)
    visible = (high >= low).all(axis=1)
    done = ~visible
    for tile in _TILES:
        chosen = np.flatnonzero(~done & (extent <= tile))
        done[chosen] = True
        per_batch = max(1, _BATCH_FRAGMENTS // (tile * tile))
        for start in range(0, len(chosen), per_batch):
            batch = chosen[start : start + per_batch]
            _fill(frame, pixels[batch], inverse[batch], colors[batch], low[batch], tile, tile)
    for triangle in np.flatnonzero(~done):
        width, height = high[triangle] - low[triangle] + 1
        _fill(
            frame,
            pixels[triangle : triangle + 1],
            inverse[triangle : triangle + 1],
            colors[triangle : triangle + 1],
            low[triangle : triangle + 1],
            int(width),
            int(height),
        )


def _fill(
    frame: Frame,
    corners: np.ndarray,
    inverse: np.ndarray,
    colors: np.ndarray,
    origin: np.ndarray,
    width: int,
    height: int,
) -> None:
    """Fragments of a batch of triangles over `width`×`height` grids anchored at `origin`."""
    columns = origin[:, 0, None, None] + np.arange(width)[None, None, :]
    rows = origin[:, 1, None, None] + np.arange(height)[None, :, None]
    x = columns + 0.5
    y = rows + 0.5
    (x0, y0), (x1, y1), (x2, y2) = (corners[:, i, :].T[..., None, None] for i in range(3))
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b1 = ((x - x0) * (y2 - y0) - (x2 - x0) * (y - y0)) / area
        b2 = ((x1 - x0) * (y - y0) - (x - x0) * (y1 - y0)) / area
    b0 = 1.0 - b1 - b2
    inside = (
        (b0 >= 0)
        & (b1 >= 0)
        & (b2 >= 0)
        & (area != 0)
        & (columns < frame.width)
        & (rows < frame.height)
    )
    triangle, row, column = np.nonzero(inside)
    if triangle.size == 0:
        return
    weights = np.stack([b0[inside], b1[inside], b2[inside]], axis=1)
    fragment_inverse = (weights * inverse[triangle]).sum(axis=1).astype(np.float32)
    flat = (rows[triangle, row, 0] * frame.width + columns[triangle, 0, column]).astype(np.intp)
    frame.write(flat, fragment_inverse, colors[triangle])


def draw_spheres(
    frame: Frame,
    centers: np.ndarray,
    depths: np.ndarray,
    radii_px: np.ndarray,
    radii: np.ndarray,
    colors: np.ndarray,
) -> None:
    """Shaded spheres as screen-space discs with per-pixel depth (impostors).

    `centers`: N×2 pixel positions; `depths`: N camera depths of the centres; `radii_px`: N
    radii on screen; `radii`: N radii in scene units; `colors`: N×3 unlit colours.
    """
    for center, depth, radius_px, radius, color in zip(
        np.asarray(centers, np.float64),
        np.asarray(depths, np.float64),
        np.asarray(radii_px, np.float64),
        np.asarray(radii, np.float64),
        np.asarray(colors, np.float32),
        strict=True,
    ):
        if radius_px <= 0 or depth - radius <= 0:
            continue
        column_low = max(int(np.floor(center[0] - radius_px)), 0)
        column_high = min(int(np.ceil(center[0] + radius_px)), frame.width - 1)
        row_low = max(int(np.floor(center[1] - radius_px)), 0)
        row_high = min(int(np.ceil(center[1] + radius_px)), frame.height - 1)
        if column_high < column_low or row_high < row_low:
            continue
        rows, columns = np.mgrid[row_low : row_high + 1, column_low : column_high + 1]
        dx = (columns + 0.5 - center[0]) / radius_px
        dy = (rows + 0.5 - center[1]) / radius_px
        squared = dx * dx + dy * dy
        inside = squared <= 1.0
        if not inside.any():
            continue
        facing = np.sqrt(1.0 - squared[inside])  # the surface normal's component to the eye
        fragment_inverse = (1.0 / (depth - radius * facing)).astype(np.float32)
        flat = (rows[inside] * frame.width + columns[inside]).astype(np.intp)
        frame.write(flat, fragment_inverse, shade(np.broadcast_to(color, (flat.size, 3)), facing))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (height×width grey, ×3 RGB or ×4 RGBA)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return buffer.getvalue()


__all__ = [
    "AMBIENT",
    "DIFFUSE",
    "PNG_COMPRESS_LEVEL",
    "Frame",
    "draw_spheres",
    "draw_triangles",
    "encode_png",
    "shade",
    "vertical_gradient",
]
