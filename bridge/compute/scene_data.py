"""Job data ↔ the scene: reading a job's inputs from scene nodes, and the bus commands that
put its outputs back.

Inputs are read when the `RunCompute` command is applied (in bus order, so a job sees every
write submitted before it) and kept as a snapshot: scene arrays are replaced, never changed
in place, so holding them costs no copy. Outputs go back through the bus as ordinary
commands (`PutVolume`, `SetTransform`, `SetMarkupsPoints`), counted and coalesced like any
other write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bridge import commands as c
from bridge.compute.values import Points, Transform, Volume
from bridge.scene.protocol import Scene


def _volume(scene: Scene, ref: str) -> Volume:
    data = scene.volume(ref)
    return Volume(data.array, data.ijk_to_ras, labelmap=data.labelmap)


def _transform(scene: Scene, ref: str) -> Transform:
    return Transform(scene.transform_matrix(ref))


def _points(scene: Scene, ref: str) -> Points:
    markups = scene.markups(ref)
    positions = np.array([point.position for point in markups.points], dtype=np.float64)
    return Points(positions.reshape(-1, 3), tuple(point.label for point in markups.points))


#: Kind → reader of a scene node (by id or name) as that kind.
READERS: dict[str, Callable[[Scene, str], Any]] = {
    "volume": _volume,
    "transform": _transform,
    "points": _points,
}


def read_input(scene: Scene, kind: str, ref: str) -> Any:
    """The value of scene node `ref` as `kind`; the scene's errors (NodeNotFound…) pass."""
    return READERS[kind](scene, ref)


def output_command(kind: str, node: str, value: Any, *, source: str) -> c.Command:
    """The bus command that stores a data output as scene node `node`."""
    if kind == "volume":
        return c.PutVolume(
            node=node,
            array=value.array,
            ijk_to_ras=value.ijk_to_ras,
            labelmap=value.labelmap,
            source=source,
        )
    if kind == "transform":
        return c.SetTransform(node=node, matrix=value.matrix, source=source)
    if kind == "points":
        return c.SetMarkupsPoints(
            node=node, points=value.positions, labels=list(value.labels), source=source
        )
    raise ValueError(f"a {kind} output is not stored in the scene")
