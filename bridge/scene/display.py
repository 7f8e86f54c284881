"""How voxel values become colours: automatic window/level and the labelmap colour table.

Slicer's scalar volume display node computes its automatic window/level from the 0.1 and 99.9
intensity percentiles (`vtkMRMLScalarVolumeDisplayNode::CalculateAutoLevels`: window = upper −
lower, level = their middle) and maps values linearly onto 0..255; labelmaps are drawn through
a colour table (GenericAnatomyColors by default) with label 0 transparent. This module does
the same on numpy arrays, and caches the per-volume result until the volume's voxels change.

It knows no scene and draws nothing; `render` decides which volume is shown where.
"""

from __future__ import annotations

import colorsys
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Slicer's auto window/level percentiles (lower, upper).
AUTO_PERCENTILES: tuple[float, float] = (0.1, 99.9)
#: Above this many voxels, percentiles are estimated from an evenly strided subset.
_PERCENTILE_SAMPLES = 1 << 20

#: GenericAnatomyColors, Slicer's default labelmap colour table, for its first labels.
GENERIC_ANATOMY_COLORS: dict[int, tuple[int, int, int]] = {
    1: (128, 174, 128),  # tissue
    2: (241, 214, 145),  # bone
    3: (177, 122, 101),  # skin
    4: (111, 184, 210),  # connective tissue
    5: (216, 101, 79),  # blood
    6: (221, 130, 101),  # organ
    7: (144, 238, 144),  # mass
    8: (192, 104, 88),  # muscle
    9: (220, 245, 20),  # foreign object
}


@dataclass(frozen=True, slots=True)
class WindowLevel:
    """A display window (width of the mapped range) and level (its centre)."""

    window: float
    level: float

    @property
    def lower(self) -> float:
        return self.level - self.window / 2.0

    @property
    def upper(self) -> float:
        return self.level + self.window / 2.0


def auto_window_level(array: np.ndarray) -> WindowLevel:
    """Slicer's automatic window/level of a voxel array (0.1–99.9 percentile range).

    Large arrays are sampled with an even stride (about a million voxels), which moves the
    percentiles by far less than one display step. NaN and infinite voxels are left out. A
    constant volume gets window 1 around its value, so the mapping stays defined.
    """
    flat = np.asarray(array).reshape(-1)
    stride = max(1, flat.size // _PERCENTILE_SAMPLES)
    sample = flat[::stride]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return WindowLevel(window=1.0, level=0.0)
    lower, upper = np.percentile(sample, AUTO_PERCENTILES)
    lower, upper = float(lower), float(upper)
    if not upper > lower:
        return WindowLevel(window=1.0, level=lower)
    return WindowLevel(window=upper - lower, level=(lower + upper) / 2.0)


def window_to_bytes(values: np.ndarray, window_level: WindowLevel) -> np.ndarray:
    """Values mapped linearly from [lower, upper] onto 0..255 (clamped; NaN → 0), as uint8."""
    scale = np.float32(255.0 / window_level.window)
    mapped = (np.asarray(values, dtype=np.float32) - np.float32(window_level.lower)) * scale
    np.clip(mapped, 0.0, 255.0, out=mapped)
    if not np.isfinite(mapped).all():
        np.nan_to_num(mapped, copy=False, nan=0.0)
    mapped += np.float32(0.5)  # round to nearest on the cast
    return mapped.astype(np.uint8)


def _generated_color(label: int) -> tuple[int, int, int]:
    """A saturated colour for labels past the table, evenly spread by the golden ratio."""
    hue = (label * 0.6180339887498949) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return round(red * 255), round(green * 255), round(blue * 255)


def _label_table() -> np.ndarray:
    table = np.zeros((256, 3), dtype=np.uint8)
    for label in range(1, 256):
        table[label] = GENERIC_ANATOMY_COLORS.get(label) or _generated_color(label)
    table.setflags(write=False)
    return table


#: Colour of label value `v` is `LABEL_TABLE[label_index(v)]`; entry 0 is label 0 (none).
LABEL_TABLE: np.ndarray = _label_table()


def label_colors(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB (…×3 uint8) and opacity mask (… bool, False for label 0) of label values.

    Labels 1–255 index the table directly; larger or negative labels wrap onto 1–255, so
    every non-zero label gets a colour and only 0 is see-through.
    """
    values = np.asarray(labels)
    if values.dtype.kind == "f":
        values = np.rint(values)
    whole = values.astype(np.int64, copy=False)
    present = whole != 0
    index = np.where(present, (whole - 1) % 255 + 1, 0)
    return LABEL_TABLE[index], present


class VolumeDisplayCache:
    """Per-volume display state computed once and reused until the voxels change.

    Entries are keyed by node id and remember *which* voxel array they were computed from
    (by weak reference: the scene's arrays are read-only and replaced, never edited, when a
    volume changes), so a replaced or reloaded volume is recomputed and a removed one does not
    stay alive through the cache. At most `capacity` volumes are kept, least recent dropped.
    """

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[weakref.ref[np.ndarray], dict[str, Any]]] = (
            OrderedDict()
        )

    def slot(self, volume_id: str, array: np.ndarray) -> dict[str, Any]:
        """The mutable store of computed values for this volume id and voxel array."""
        entry = self._entries.get(volume_id)
        if entry is not None and entry[0]() is array:
            self._entries.move_to_end(volume_id)
            return entry[1]
        store: dict[str, Any] = {}
        self._entries[volume_id] = (weakref.ref(array), store)
        self._entries.move_to_end(volume_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return store

    def window_level(self, volume_id: str, array: np.ndarray) -> WindowLevel:
        store = self.slot(volume_id, array)
        if "window_level" not in store:
            store["window_level"] = auto_window_level(array)
        result: WindowLevel = store["window_level"]
        return result


__all__ = [
    "AUTO_PERCENTILES",
    "GENERIC_ANATOMY_COLORS",
    "LABEL_TABLE",
    "VolumeDisplayCache",
    "WindowLevel",
    "auto_window_level",
    "label_colors",
    "window_to_bytes",
]
