"""What each command does to a scene: one small function per kind, looked up in a table.

The bus calls an `Applier` with each command it applies. Scene commands are handled here;
commands that need more than a scene (`Exec`, `Shutdown`, `RunCompute`) get their handlers
from the composition root (`bridge/app.py`), which registers them only when that capability
exists and is enabled — an unregistered kind fails with a message saying so.

Handlers return JSON-friendly values (they become the command's result); slow work (a
sample download) returns an awaitable so the loop keeps serving while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge import commands as c
from bridge.scene.protocol import Scene
from bridge.scene.types import GridTransformData, ModelData, NodeNotFound

Handler = Callable[[c.Command], Any]

#: The colour of a model `PutModel` creates without one: SlicerOpenIGTLink's for the models
#: POLYDATA messages create.
NEW_MODEL_COLOR: tuple[float, float, float] = (0.5, 0.5, 1.0)


class UnsupportedCommand(RuntimeError):
    """This bridge has no handler for a command kind (disabled or not built)."""


class Applier:
    """Dispatches commands to handlers by type."""

    def __init__(self, scene: Scene, *, data_dir: Path | None = None) -> None:
        self.scene = scene
        self.data_dir = data_dir
        self._handlers: dict[type[c.Command], Handler] = {
            kind: _bind(handler, self) for kind, handler in _SCENE_HANDLERS.items()
        }

    def register(self, kind: type[c.Command], handler: Handler) -> None:
        """Add or replace the handler of one command kind."""
        self._handlers[kind] = handler

    def handles(self, kind: type[c.Command]) -> bool:
        return kind in self._handlers

    def __call__(self, command: c.Command) -> Any:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise UnsupportedCommand(f"{command.kind} is not available in this bridge")
        return handler(command)


def _bind(handler: Callable[[Applier, Any], Any], applier: Applier) -> Handler:
    return lambda command: handler(applier, command)


# -- scene handlers ----------------------------------------------------------------------------


def _set_transform(applier: Applier, cmd: c.SetTransform) -> dict[str, str]:
    return {"node": applier.scene.set_transform(cmd.node, cmd.matrix).id}


def _set_tracking_pose(applier: Applier, cmd: c.SetTrackingPose) -> dict[str, str]:
    return {"node": applier.scene.set_tracking_pose(cmd.rotation, cmd.position).id}


def _set_camera(applier: Applier, cmd: c.SetCamera) -> None:
    applier.scene.set_camera(cmd.view, cmd.position, cmd.focal_point, cmd.view_up)


def _set_slice_offset(applier: Applier, cmd: c.SetSliceOffset) -> None:
    applier.scene.set_slice_offset(cmd.view, cmd.offset)


def _set_slice_orientation(applier: Applier, cmd: c.SetSliceOrientation) -> None:
    applier.scene.set_slice_orientation(cmd.view, cmd.orientation)


def _set_markups_points(applier: Applier, cmd: c.SetMarkupsPoints) -> dict[str, str]:
    return {"node": applier.scene.set_markups_points(cmd.node, cmd.points, cmd.labels).id}


def _set_control_point(applier: Applier, cmd: c.SetControlPoint) -> dict[str, str]:
    return {"node": applier.scene.set_control_point(cmd.node, cmd.index, cmd.position).id}


def _put_volume(applier: Applier, cmd: c.PutVolume) -> dict[str, str]:
    node = applier.scene.set_volume(cmd.node, cmd.array, cmd.ijk_to_ras, labelmap=cmd.labelmap)
    return {"node": node.id}


def _set_grid_transform(applier: Applier, cmd: c.SetGridTransform) -> dict[str, str]:
    data = GridTransformData(displacements=cmd.displacements, ijk_to_ras=cmd.ijk_to_ras)
    return {"node": applier.scene.set_grid_transform(cmd.node, data).id}


def _put_model(applier: Applier, cmd: c.PutModel) -> dict[str, str]:
    """Without a colour, an existing model keeps its own and a new one gets the default."""
    color = cmd.color
    if color is None:
        try:
            color = applier.scene.model(cmd.node).color
        except NodeNotFound:
            color = NEW_MODEL_COLOR
    data = ModelData(
        vertices=cmd.vertices, triangles=cmd.triangles, color=color, normals=cmd.normals
    )
    return {"node": applier.scene.set_model(cmd.node, data).id}


def _set_text(applier: Applier, cmd: c.SetText) -> dict[str, str]:
    return {"node": applier.scene.set_text(cmd.node, cmd.text).id}


def _set_slice_geometry(applier: Applier, cmd: c.SetSliceGeometry) -> None:
    applier.scene.set_slice_geometry(cmd.view, cmd.slice_to_ras, cmd.field_of_view)


def _load_file(applier: Applier, cmd: c.LoadFile) -> dict[str, list[str]]:
    ids = applier.scene.load_file(Path(cmd.path), cmd.filetype, cmd.properties)
    return {"loadedNodeIDs": ids}


def _save_node(applier: Applier, cmd: c.SaveNode) -> dict[str, bool]:
    saved = applier.scene.save_node(
        cmd.node, Path(cmd.path), cmd.properties, apply_transforms=cmd.apply_transforms
    )
    return {"success": saved}


def _delete_nodes(applier: Applier, cmd: c.DeleteNodes) -> dict[str, list[str]]:
    if cmd.all:
        applier.scene.clear()
        return {"removedNodeIDs": []}
    return {"removedNodeIDs": applier.scene.remove(cmd.nodes)}


def _reload_nodes(applier: Applier, cmd: c.ReloadNodes) -> dict[str, list[str]]:
    return {"reloadedNodeIDs": applier.scene.reload(cmd.nodes or None)}


def _set_layout(applier: Applier, cmd: c.SetLayout) -> dict[str, str]:
    applier.scene.set_layout(cmd.layout)
    return {"layout": applier.scene.layout}


def _select_volume(applier: Applier, cmd: c.SelectVolume) -> dict[str, str]:
    step = 0 if cmd.node is not None else cmd.step
    return {"node": applier.scene.select_volume(cmd.node, step=step).id}


def _load_sample_data(applier: Applier, cmd: c.LoadSampleData) -> Any:
    """Built-in samples load at once; remote ones download off the loop, then load."""
    from bridge.scene import samples

    builtin = samples.BUILTIN_SAMPLES.get(cmd.name)
    if builtin is not None:
        return {"loadedNodeIDs": [applier.scene.add_volume_data(builtin(), cmd.name).id]}
    cache = (applier.data_dir or Path.home() / ".cache" / "slicer-bridge") / "samples"

    async def download_then_load() -> dict[str, list[str]]:
        path = await asyncio.get_running_loop().run_in_executor(
            None, samples.fetch_sample, cmd.name, cache
        )
        return {"loadedNodeIDs": applier.scene.load_file(path, None, {"name": cmd.name})}

    return download_then_load()


_SCENE_HANDLERS: dict[type[c.Command], Callable[[Applier, Any], Any]] = {
    c.SetTransform: _set_transform,
    c.SetTrackingPose: _set_tracking_pose,
    c.SetCamera: _set_camera,
    c.SetSliceOffset: _set_slice_offset,
    c.SetSliceOrientation: _set_slice_orientation,
    c.SetSliceGeometry: _set_slice_geometry,
    c.SetMarkupsPoints: _set_markups_points,
    c.SetControlPoint: _set_control_point,
    c.PutVolume: _put_volume,
    c.SetGridTransform: _set_grid_transform,
    c.PutModel: _put_model,
    c.SetText: _set_text,
    c.LoadFile: _load_file,
    c.SaveNode: _save_node,
    c.DeleteNodes: _delete_nodes,
    c.ReloadNodes: _reload_nodes,
    c.SetLayout: _set_layout,
    c.SelectVolume: _select_volume,
    c.LoadSampleData: _load_sample_data,
}
