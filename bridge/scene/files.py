"""How the headless scene meets files: Slicer filetype → reader, new node, reload; node kind
and file suffix → writer.

Formats themselves are `bridge.scene.io`'s (NRRD, markups JSON, ITK .tfm, DICOM), imported
inside each function so the scene loads without them and the two stay separately testable.
This module only maps what a reader returns onto nodes and nodes onto what a writer takes;
it keeps no state and never adds anything to a scene.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bridge.scene import checks
from bridge.scene import nodes as n
from bridge.scene.types import MarkupsData, SceneError, VolumeData


def _read_volume(path: Path) -> list[Any]:
    from bridge.scene.io.nrrd_io import read_nrrd

    return [read_nrrd(path)]


def _read_dicom(path: Path) -> list[Any]:
    from bridge.scene.io.dicom_io import read_dicom_series

    return list(read_dicom_series([path]))


def _read_markups(path: Path) -> list[Any]:
    from bridge.scene.io.markups_io import read_markups_json

    return list(read_markups_json(path))


def _read_transform(path: Path) -> list[Any]:
    from bridge.scene.io.transform_io import read_tfm

    return [read_tfm(path)]


def volume_node(data: VolumeData, name: str, props: Mapping[str, str]) -> n.Node:
    """A new scalar volume, or labelmap if the data or the `labelmap` load property says so."""
    labelmap = data.labelmap or checks.truthy(props.get("labelmap"))
    kind = n.LabelMapVolumeNode if labelmap else n.ScalarVolumeNode
    return kind(
        name=name, array=checks.voxels(data.array), ijk_to_ras=checks.ijk_to_ras(data.ijk_to_ras)
    )


def apply_markups(node: n.MarkupsNode, data: MarkupsData) -> None:
    """Copy a file's point list and display settings into `node`."""
    node.points = [replace(point, position=n.frozen_array(point.position)) for point in data.points]
    node.last_used_point_number = len(node.points)
    node.color, node.selected_color = data.color, data.selected_color
    node.glyph_scale, node.locked = data.glyph_scale, data.locked


def _markups_from_file(data: MarkupsData, name: str, props: Mapping[str, str]) -> n.Node:
    node = n.MarkupsFiducialNode(name=name)
    apply_markups(node, data)
    return node


def _transform_from_file(matrix: np.ndarray, name: str, props: Mapping[str, str]) -> n.Node:
    return n.LinearTransformNode(
        name=name, matrix_to_parent=checks.matrix4(matrix, "transform file")
    )


def _reload_volume(node: Any, data: VolumeData) -> str:
    node.array, node.ijk_to_ras = checks.voxels(data.array), checks.ijk_to_ras(data.ijk_to_ras)
    return "volume"


def _reload_markups(node: Any, data: MarkupsData) -> str:
    apply_markups(node, data)
    return "markups"


def _reload_transform(node: Any, matrix: np.ndarray) -> str:
    node.matrix_to_parent = checks.matrix4(matrix, "transform file")
    return "transform"


@dataclass(frozen=True, slots=True)
class FileKind:
    """How one Slicer filetype is read (one payload per node), turned into a new node, and
    read back into the node it made (answering the event aspect)."""

    read: Callable[[Path], list[Any]]
    create: Callable[[Any, str, Mapping[str, str]], n.Node]
    reload: Callable[[Any, Any], str]


FILE_KINDS: dict[str, FileKind] = {
    "VolumeFile": FileKind(_read_volume, volume_node, _reload_volume),
    "DICOM": FileKind(_read_dicom, volume_node, _reload_volume),
    "MarkupsFile": FileKind(_read_markups, _markups_from_file, _reload_markups),
    "TransformFile": FileKind(_read_transform, _transform_from_file, _reload_transform),
}


def payload_name(payload: Any) -> str | None:
    """The name a reader found in the file (markups list name, series description…)."""
    return getattr(payload, "name", None)


def default_name(path: Path) -> str:
    from bridge.scene.io.formats import strip_known_suffix

    return strip_known_suffix(path)


Writer = Callable[[Any, Path, Mapping[str, str], np.ndarray], None]


def _write_volume(node: Any, path: Path, props: Mapping[str, str], world: np.ndarray) -> None:
    from bridge.scene.io.nrrd_io import write_nrrd

    data = VolumeData(
        array=node.array,
        ijk_to_ras=world @ node.ijk_to_ras,
        labelmap=node.is_a(n.LabelMapVolumeNode.class_name),
        name=node.name,
    )
    write_nrrd(path, data, compress=checks.truthy(props.get("useCompression", "1")))


def _write_markups(node: Any, path: Path, props: Mapping[str, str], world: np.ndarray) -> None:
    from bridge.scene.io.markups_io import write_markups_json

    points = tuple(
        replace(point, position=(world @ np.append(point.position, 1.0))[:3])
        for point in node.points
    )
    data = MarkupsData(
        points=points,
        name=node.name,
        color=node.color,
        selected_color=node.selected_color,
        glyph_scale=node.glyph_scale,
        locked=node.locked,
    )
    write_markups_json(path, data)


def _write_transform(node: Any, path: Path, props: Mapping[str, str], world: np.ndarray) -> None:
    from bridge.scene.io.transform_io import write_tfm

    write_tfm(path, world @ node.matrix_to_parent)


#: Node kind → the file suffixes it can be saved as, and the writer. The writer receives the
#: product of the node's parent transforms (identity unless transforms are applied).
WRITERS: tuple[tuple[type[n.Node], tuple[str, ...], Writer], ...] = (
    (n.VolumeNode, (".nrrd", ".nhdr"), _write_volume),
    (n.MarkupsNode, (".mrk.json", ".json"), _write_markups),
    (n.TransformNode, (".tfm", ".txt"), _write_transform),
)


def _format_suffix(file_format: str) -> str:
    """`NRRD (.nrrd)` (Slicer's fileFormat), `.nrrd`, `nrrd` or a file name → its suffix text."""
    text = file_format.strip().lower()
    if "(" in text and text.endswith(")"):
        text = text[text.rindex("(") + 1 : -1].strip()
    return text if "." in text else f".{text}"


def writer_for(node: n.Node, file_format: str) -> Writer:
    """The writer for this node kind and format; SceneError (before any file is touched) if
    the kind cannot be saved in that format."""
    suffix = _format_suffix(file_format)
    for kind, suffixes, writer in WRITERS:
        if isinstance(node, kind) and suffix.endswith(suffixes):
            return writer
    supported = [s for kind, suffixes, _ in WRITERS if isinstance(node, kind) for s in suffixes]
    raise SceneError(
        f"cannot save {node.class_name} {node.id} as {file_format!r}; "
        f"supported: {', '.join(supported) or 'none'}"
    )


__all__ = [
    "FILE_KINDS",
    "WRITERS",
    "FileKind",
    "apply_markups",
    "default_name",
    "payload_name",
    "volume_node",
    "writer_for",
]
