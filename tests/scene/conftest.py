"""Fixtures for the Scene contract suite (`test_scene_contract.py`).

`scene` is parametrised over every Scene implementation that can run in this process. In CI
that is the `HeadlessScene` only; inside Slicer the same suite runs against the MRML-backed
scene: `SLICER_BRIDGE_SCENES=mrml` (what `tests/slicer/run_in_slicer.py` sets) chooses the
implementations by name from `SCENE_FACTORIES` and `OPTIONAL_FACTORIES`. Contract tests must
therefore use only the Scene protocol and must not assume what only a fresh headless scene
guarantees (id counters starting at 1, no extra MRML helper nodes); such checks live in
`test_headless_scene.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bridge.scene.headless import HeadlessScene
from bridge.scene.protocol import Scene
from bridge.scene.types import SceneEvent


def _mrml_scene(data_dir: Path) -> Scene:
    from bridge.scene.mrml import MrmlScene

    return MrmlScene(data_dir=data_dir)


#: Implementation name → factory taking a data folder.
SCENE_FACTORIES: dict[str, Callable[[Path], Scene]] = {
    "headless": lambda data_dir: HeadlessScene(data_dir=data_dir),
}
#: Implementations that only run in some processes (MRML: inside 3D Slicer).
OPTIONAL_FACTORIES: dict[str, Callable[[Path], Scene]] = {"mrml": _mrml_scene}
if os.environ.get("SLICER_BRIDGE_SCENES"):
    _known = {**SCENE_FACTORIES, **OPTIONAL_FACTORIES}
    SCENE_FACTORIES = {
        name.strip(): _known[name.strip()]
        for name in os.environ["SLICER_BRIDGE_SCENES"].split(",")
        if name.strip()
    }


@pytest.fixture(params=sorted(SCENE_FACTORIES))
def scene(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scene]:
    """A cleared scene of each implementation; cleared again afterwards (MRML is shared)."""
    instance = SCENE_FACTORIES[request.param](tmp_path)
    instance.clear()
    yield instance
    instance.clear()
    close = getattr(instance, "close", None)  # the MRML scene stops observing Slicer's
    if close is not None:
        close()


@pytest.fixture
def events(scene: Scene) -> Iterator[list[SceneEvent]]:
    """Every event the scene emits from now on, in order."""
    received: list[SceneEvent] = []
    unsubscribe = scene.subscribe(received.append)
    yield received
    unsubscribe()


@pytest.fixture
def voxels() -> np.ndarray:
    """A small int16 volume, 4 (k) × 3 (j) × 2 (i), distinct values."""
    return np.arange(24, dtype=np.int16).reshape(4, 3, 2)


@pytest.fixture
def ijk_to_ras() -> np.ndarray:
    """Spacing 1, 2, 3 mm, origin (10, 20, 30), axes along R, A, S."""
    return np.array(
        [
            [1.0, 0.0, 0.0, 10.0],
            [0.0, 2.0, 0.0, 20.0],
            [0.0, 0.0, 3.0, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
