"""Where each view sits in a layout: what a "screenshot" of the viewers shows.

Each of Slicer's layouts (`vtkMRMLLayoutLogic`'s XML descriptions) becomes a list of panels,
a view name and its box as fractions of the window. The headless scene has the views red,
yellow, green and one 3D view, so layouts built around other views (a second 3D view, the
"+" compare slices, tables, plots, lightboxes) show the nearest arrangement of those four.
Also the view colours Slicer frames its views with. Pure data and lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.scene.types import canonical_layout


@dataclass(frozen=True, slots=True)
class Panel:
    """A view and its box (left, top, right, bottom) as fractions of the window."""

    view: str
    box: tuple[float, float, float, float]


def _row(views: tuple[str, ...], top: float = 0.0, bottom: float = 1.0) -> tuple[Panel, ...]:
    count = len(views)
    return tuple(
        Panel(view, (index / count, top, (index + 1) / count, bottom))
        for index, view in enumerate(views)
    )


def _column(views: tuple[str, ...], left: float, right: float) -> tuple[Panel, ...]:
    count = len(views)
    return tuple(
        Panel(view, (left, index / count, right, (index + 1) / count))
        for index, view in enumerate(views)
    )


ONE_UP_3D = (Panel("3d", (0.0, 0.0, 1.0, 1.0)),)
#: 3D view on top, Red | Green | Yellow below, equal heights (splitSize 500/500).
CONVENTIONAL = (Panel("3d", (0.0, 0.0, 1.0, 0.5)), *_row(("red", "green", "yellow"), 0.5, 1.0))
#: Red | 3D over Green | Yellow.
FOUR_UP = (*_row(("red", "3d"), 0.0, 0.5), *_row(("green", "yellow"), 0.5, 1.0))
#: 3D view on the left (5/8), the slices stacked on the right (splitSize 500/300).
CONVENTIONAL_WIDESCREEN = (
    Panel("3d", (0.0, 0.0, 0.625, 1.0)),
    *_column(("red", "green", "yellow"), 0.625, 1.0),
)
SLICE_ROW = _row(("red", "green", "yellow"))

LAYOUT_PANELS: dict[str, tuple[Panel, ...]] = {
    "Initial": CONVENTIONAL,
    "Default": CONVENTIONAL,
    "Conventional": CONVENTIONAL,
    "ConventionalPlot": CONVENTIONAL,
    "Dual3D": CONVENTIONAL,
    "Compare": CONVENTIONAL,
    "FourUp": FOUR_UP,
    "TwoOverTwo": FOUR_UP,
    "FourUpTable": FOUR_UP,
    "FourUpPlot": FOUR_UP,
    "FourUpPlotTable": FOUR_UP,
    "OneUp3D": ONE_UP_3D,
    "Tabbed3D": ONE_UP_3D,
    "Triple3DEndoscopy": ONE_UP_3D,
    "3DTable": ONE_UP_3D,
    "OneUpPlot": ONE_UP_3D,
    "DicomBrowser": ONE_UP_3D,
    "OneUpRedSlice": (Panel("red", (0.0, 0.0, 1.0, 1.0)),),
    "OneUpYellowSlice": (Panel("yellow", (0.0, 0.0, 1.0, 1.0)),),
    "OneUpGreenSlice": (Panel("green", (0.0, 0.0, 1.0, 1.0)),),
    "TabbedSlice": (Panel("red", (0.0, 0.0, 1.0, 1.0)),),
    "ConventionalWidescreen": CONVENTIONAL_WIDESCREEN,
    "CompareWidescreen": CONVENTIONAL_WIDESCREEN,
    "SideBySide": _row(("red", "yellow")),
    "FourOverFour": _row(("3d", "red", "green", "yellow")),
    "ThreeOverThree": SLICE_ROW,
    "ThreeOverThreePlot": SLICE_ROW,
    "CompareGrid": SLICE_ROW,
    "SideBySideLightbox": SLICE_ROW,
    "FourByThreeSlice": SLICE_ROW,
    "FourByTwoSlice": SLICE_ROW,
    "FiveByTwoSlice": SLICE_ROW,
    "ThreeByThreeSlice": SLICE_ROW,
}

#: The colours Slicer frames views with (layout `viewcolor`, and the 3D view's blue).
VIEW_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (0xF3, 0x4A, 0x33),
    "yellow": (0xED, 0xD5, 0x4C),
    "green": (0x6E, 0xB0, 0x4B),
    "3d": (0x74, 0x83, 0xE9),
}


def panels(layout: str) -> tuple[Panel, ...]:
    """The panels of a layout name (any case); unknown arrangements show Conventional's."""
    return LAYOUT_PANELS.get(canonical_layout(layout), CONVENTIONAL)


def pixel_box(panel: Panel, width: int, height: int) -> tuple[int, int, int, int]:
    """A panel's box in whole pixels of a `width`×`height` window; neighbours share edges."""
    left, top, right, bottom = panel.box
    return (round(left * width), round(top * height), round(right * width), round(bottom * height))


__all__ = [
    "CONVENTIONAL",
    "FOUR_UP",
    "LAYOUT_PANELS",
    "VIEW_COLORS",
    "Panel",
    "panels",
    "pixel_box",
]
