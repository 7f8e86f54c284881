"""Sampling a voxel array on a pixel grid: a plane through the volume (reslicing, as a slice
view's layers do) and rays through it (maximum intensity and first surface, for the 3D view).

Pure numpy on arrays in (k, j, i) order and affine matrices into continuous IJK, where voxel
centres sit at integer IJK and the volume spans [-0.5, n-0.5] along each axis. Knows nothing
of views, colours or scenes.

Reslicing has a fast path when the pixel grid runs along the volume's axes (every default
slice view of a volume acquired along RAS or LPS axes, flips and permutations included): the
plane is then a 2-D slab of the array gathered with 1-D index vectors, and interpolation is
separable. Any other orientation samples every pixel through the full affine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A matrix entry this small (relative to its column) counts as zero for the fast path.
_AXIS_TOLERANCE = 1e-9


def resample_plane(
    array: np.ndarray,
    pixel_to_ijk: np.ndarray,
    width: int,
    height: int,
    *,
    linear: bool,
    fast: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample `array` at every pixel centre of a `width`×`height` grid.

    `pixel_to_ijk` maps (column, row, 0, 1) to continuous IJK. Returns the sampled values
    (height×width float32) and the mask of pixels inside the volume (voxel edges included).
    `linear` interpolates trilinearly (the voxels at the volume border extend to its edge);
    otherwise the nearest voxel is taken. `fast=False` forces the general path (for tests).
    """
    matrix = np.asarray(pixel_to_ijk, dtype=np.float64)
    shape_ijk = array.shape[::-1]
    if fast:
        axes = _pixel_axes(matrix)
        if axes is not None:
            return _resample_aligned(array, matrix, axes, shape_ijk, width, height, linear)
    return _resample_general(array, matrix, shape_ijk, width, height, linear)


def _pixel_axes(matrix: np.ndarray) -> tuple[int, int, int] | None:
    """(IJK axis of columns, of rows, normal axis) if each pixel direction runs along one
    IJK axis; None for an oblique grid."""
    found = []
    for column in (0, 1):
        step = matrix[:3, column]
        size = float(np.max(np.abs(step)))
        if size == 0.0:
            return None
        along = np.flatnonzero(np.abs(step) > size * _AXIS_TOLERANCE)
        if len(along) != 1:
            return None
        found.append(int(along[0]))
    if found[0] == found[1]:
        return None
    normal = 3 - found[0] - found[1]
    return found[0], found[1], normal


def _nearest(coordinates: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest voxel index (clipped into range) and whether the coordinate is inside."""
    index = np.floor(coordinates + 0.5).astype(np.intp)
    inside = (index >= 0) & (index < size)
    np.clip(index, 0, size - 1, out=index)
    return index, inside


def _linear(coordinates: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and weight of the upper one, clamped to the voxel centres;
    coordinates within 1e-4 voxel of a centre are snapped onto it (weight 0 or 1)."""
    clamped = np.clip(coordinates, 0.0, size - 1.0)
    rounded = np.round(clamped)
    clamped = np.where(np.abs(clamped - rounded) < 1e-4, rounded, clamped)
    lower = np.floor(clamped).astype(np.intp)
    np.clip(lower, 0, max(size - 2, 0), out=lower)
    weight = (clamped - lower).astype(np.float32)
    upper = np.minimum(lower + 1, size - 1)
    return lower, upper, weight


def _on_centres(lower: np.ndarray, upper: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """The voxel index of every sample if all fall on voxel centres, else None."""
    if np.all((weight == 0.0) | (weight == 1.0)):
        return np.where(weight == 1.0, upper, lower)
    return None


def _resample_aligned(
    array: np.ndarray,
    matrix: np.ndarray,
    axes: tuple[int, int, int],
    shape_ijk: tuple[int, ...],
    width: int,
    height: int,
    linear: bool,
) -> tuple[np.ndarray, np.ndarray]:
    column_axis, row_axis, normal_axis = axes
    numpy_axis = {axis: 2 - axis for axis in range(3)}  # IJK axis → (k, j, i) array axis
    origin = matrix[:3, 3]
    columns = origin[column_axis] + np.arange(width) * matrix[column_axis, 0]
    rows = origin[row_axis] + np.arange(height) * matrix[row_axis, 1]
    depth = origin[normal_axis]

    # the 2-D plane across the normal axis, its axes ordered (rows, columns)
    normal_size = shape_ijk[normal_axis]
    _, normal_inside = _nearest(np.array([depth]), normal_size)
    if not normal_inside[0]:
        return np.zeros((height, width), np.float32), np.zeros((height, width), bool)
    if linear:
        below, above, weight = _linear(np.array([depth]), normal_size)
        centre = _on_centres(below, above, weight)
        if centre is not None:
            plane = np.take(array, centre[0], axis=numpy_axis[normal_axis])
        else:
            plane = np.take(array, below[0], axis=numpy_axis[normal_axis]).astype(np.float32)
            upper_plane = np.take(array, above[0], axis=numpy_axis[normal_axis])
            plane += weight[0] * (upper_plane - plane)
    else:
        index, _ = _nearest(np.array([depth]), normal_size)
        plane = np.take(array, index[0], axis=numpy_axis[normal_axis])
    if numpy_axis[row_axis] > numpy_axis[column_axis]:
        plane = plane.T  # remaining array axes come out in (k, j, i) order

    if linear:
        r0, r1, rw = _linear(rows, shape_ijk[row_axis])
        c0, c1, cw = _linear(columns, shape_ijk[column_axis])
        row_centres = _on_centres(r0, r1, rw)
        if row_centres is not None:  # pixel rows on voxel rows: nothing to interpolate
            by_rows = plane[row_centres]
        else:
            top, bottom = plane[r0].astype(np.float32), plane[r1]
            by_rows = top + rw[:, None] * (bottom - top)
        column_centres = _on_centres(c0, c1, cw)
        if column_centres is not None:
            values = by_rows[:, column_centres].astype(np.float32, copy=False)
        else:
            left, right = by_rows[:, c0].astype(np.float32, copy=False), by_rows[:, c1]
            values = left + cw[None, :] * (right - left)
        _, row_inside = _nearest(rows, shape_ijk[row_axis])
        _, column_inside = _nearest(columns, shape_ijk[column_axis])
    else:
        row_index, row_inside = _nearest(rows, shape_ijk[row_axis])
        column_index, column_inside = _nearest(columns, shape_ijk[column_axis])
        values = plane[row_index][:, column_index].astype(np.float32)
    inside = row_inside[:, None] & column_inside[None, :]
    return values, inside


def _resample_general(
    array: np.ndarray,
    matrix: np.ndarray,
    shape_ijk: tuple[int, ...],
    width: int,
    height: int,
    linear: bool,
) -> tuple[np.ndarray, np.ndarray]:
    columns = np.arange(width, dtype=np.float64)
    rows = np.arange(height, dtype=np.float64)
    coordinates = [
        matrix[axis, 3] + rows[:, None] * matrix[axis, 1] + columns[None, :] * matrix[axis, 0]
        for axis in range(3)
    ]
    flat = array.reshape(-1)
    strides = (1, shape_ijk[0], shape_ijk[0] * shape_ijk[1])  # flat offset of one i, j, k step
    inside = np.ones((height, width), dtype=bool)
    for axis in range(3):
        _, axis_inside = _nearest(coordinates[axis], shape_ijk[axis])
        inside &= axis_inside
    if not linear:
        offset = np.zeros((height, width), dtype=np.intp)
        for axis in range(3):
            index, _ = _nearest(coordinates[axis], shape_ijk[axis])
            offset += index * strides[axis]
        return flat.take(offset).astype(np.float32), inside
    lows, highs, weights = [], [], []
    for axis in range(3):
        low, high, weight = _linear(coordinates[axis], shape_ijk[axis])
        lows.append(low * strides[axis])
        highs.append(high * strides[axis])
        weights.append(weight)
    values = np.zeros((height, width), dtype=np.float32)
    for corner in range(8):
        offset = np.zeros((height, width), dtype=np.intp)
        weight = np.ones((height, width), dtype=np.float32)
        for axis in range(3):
            if corner >> axis & 1:
                offset += highs[axis]
                weight *= weights[axis]
            else:
                offset += lows[axis]
                weight *= 1.0 - weights[axis]
        values += weight * flat.take(offset)
    return values, inside


# -- maximum-intensity projection ----------------------------------------------------------------
def max_pool(array: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Block maximum of `array` so no axis exceeds `limit` voxels, and the IJK→IJK matrix
    from the pooled grid to the original one. Thin bright structures survive, as a MIP needs."""
    factors = [max(1, math.ceil(size / limit)) for size in array.shape]
    if factors == [1, 1, 1]:
        return array, np.eye(4)
    padded_shape = [math.ceil(size / f) * f for size, f in zip(array.shape, factors, strict=True)]
    pads = [(0, padded - size) for padded, size in zip(padded_shape, array.shape, strict=True)]
    padded = np.pad(array, pads, mode="edge") if any(p for _, p in pads) else array
    blocks = padded.reshape(
        padded_shape[0] // factors[0],
        factors[0],
        padded_shape[1] // factors[1],
        factors[1],
        padded_shape[2] // factors[2],
        factors[2],
    )
    pooled = blocks.max(axis=(1, 3, 5))
    fk, fj, fi = factors
    pooled_to_original = np.array(
        [
            [fi, 0, 0, (fi - 1) / 2.0],
            [0, fj, 0, (fj - 1) / 2.0],
            [0, 0, fk, (fk - 1) / 2.0],
            [0, 0, 0, 1.0],
        ],
        dtype=np.float64,
    )
    return pooled, pooled_to_original


def crop_to_content(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The smallest box of `volume` holding all its non-zero voxels, and the IJK→IJK matrix
    from the box to the volume; None if every voxel is zero. Rays then skip empty margins."""
    occupied = [np.flatnonzero(volume.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    if occupied[0].size == 0:
        return None
    (k0, k1), (j0, j1), (i0, i1) = ((found[0], found[-1] + 1) for found in occupied)
    box_to_volume = np.eye(4)
    box_to_volume[:3, 3] = (i0, j0, k0)
    return volume[k0:k1, j0:j1, i0:i1], box_to_volume


def pad_for_projection(volume: np.ndarray) -> np.ndarray:
    """`volume` with one zero voxel around it, as `max_intensity_projection` samples it
    (samples that float error puts just outside the volume land there)."""
    return np.pad(volume, 1)


@dataclass(frozen=True, slots=True, eq=False)
class RayCast:
    """What rays found in a volume: the maximum along each ray (uint8, 0 for a miss) and the
    ray parameter (depth) where the running maximum first reached the surface threshold
    (float64, +inf where it never did)."""

    maximum: np.ndarray
    surface_depth: np.ndarray


def cast_rays(
    padded: np.ndarray,
    eye_ijk: np.ndarray,
    directions_ijk: np.ndarray,
    near: float,
    threshold: int,
) -> RayCast:
    """Cast rays through a uint8 volume ((k, j, i), given `pad_for_projection`-ed; IJK are
    those of its unpadded voxels), sampling the nearest voxel.

    Ray r starts at `eye_ijk` and runs along `directions_ijk[r]` (…×3, any length: the ray's
    parameter is whatever one unit of direction means to the caller, e.g. depth); samples
    before parameter `near` are skipped. Every ray takes as many evenly spaced samples across
    its stretch inside the volume as the longest stretch needs for one sample per voxel step.
    The first sample at or above `threshold` marks the ray's surface: since the running
    maximum never falls, it is where the maximum first reaches the threshold.
    """
    shape = directions_ijk.shape[:-1]
    directions = directions_ijk.reshape(-1, 3).astype(np.float64)
    size = np.array(padded.shape[::-1], dtype=np.float64) - 2.0  # (ni, nj, nk) unpadded
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / directions
        first = (-0.5 - eye_ijk) * inverse
        second = (size - 0.5 - eye_ijk) * inverse
    # a ray parallel to a slab: inside it for every parameter, or never
    parallel = directions == 0.0
    within = (eye_ijk >= -0.5) & (eye_ijk <= size - 0.5)
    lows = np.where(parallel, np.where(within, -np.inf, np.inf), np.minimum(first, second))
    highs = np.where(parallel, np.where(within, np.inf, -np.inf), np.maximum(first, second))
    # per-axis columns combined one by one: reductions along a length-3 axis are slow
    enter = np.maximum(np.maximum(np.maximum(lows[:, 0], lows[:, 1]), lows[:, 2]), near)
    leave = np.minimum(np.minimum(highs[:, 0], highs[:, 1]), highs[:, 2])
    hits = np.flatnonzero(leave > enter)
    maximum_all = np.zeros(directions.shape[0], dtype=np.uint8)
    depth_all = np.full(directions.shape[0], np.inf)
    if hits.size == 0:
        return RayCast(maximum_all.reshape(shape), depth_all.reshape(shape))
    enter, leave, directions = enter[hits], leave[hits], directions[hits]
    stretch = (leave - enter)[:, None] * directions  # IJK span of each ray inside
    steps = max(1, math.ceil(float(np.abs(stretch).max())))
    flat = padded.reshape(-1)
    row, plane = padded.shape[2], padded.shape[2] * padded.shape[1]
    step = (stretch / steps).T.astype(np.float32)  # 3×M: one contiguous row per axis
    # +1.5: +1 for the padding, +0.5 so truncating a positive coordinate rounds it
    start = eye_ijk[:, None] + enter[None, :] * directions.T + 1.5
    position = (start + step / 2).astype(np.float32)
    index = np.empty(position.shape, dtype=np.int32)
    offset = np.empty(hits.size, dtype=np.int32)
    maximum = np.zeros(hits.size, dtype=np.uint8)
    below = np.zeros(hits.size, dtype=np.int32)  # samples taken before reaching the threshold
    under = np.empty(hits.size, dtype=bool)
    for _ in range(steps):
        np.copyto(index, position, casting="unsafe")
        np.multiply(index[2], plane, out=offset)
        offset += index[0]
        index[1] *= row
        offset += index[1]
        np.maximum(maximum, flat.take(offset), out=maximum)
        np.less(maximum, threshold, out=under)
        below += under
        position += step
    maximum_all[hits] = maximum
    found = below < steps
    depth_all[hits[found]] = enter[found] + (below[found] + 0.5) * (leave - enter)[found] / steps
    return RayCast(maximum_all.reshape(shape), depth_all.reshape(shape))


__all__ = [
    "RayCast",
    "cast_rays",
    "crop_to_content",
    "max_pool",
    "pad_for_projection",
    "resample_plane",
]
