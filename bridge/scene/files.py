"""How the headless scene meets files: Slicer filetype → reader, new node, reload; node kind
and file suffix → writer.

Formats themselves are `bridge.scene.io`'s (NRRD, markups JSON, ITK .tfm, displacement-field
NRRD, `.seg.nrrd`, DICOM), imported inside each function so the scene loads without them and
the two stay separately testable. This module only maps what a reader returns onto nodes and
nodes onto what a writer takes; it keeps no state and never adds anything to a scene.

A `TransformFile` is a linear ITK transform file or, for an image suffix (`.nrrd`, `.nhdr`),
a displacement field, as Slicer's transform storage node tells them apart; the first makes a
linear transform node, the second a grid transform node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bridge.scene import checks
from bridge.scene import nodes as n
from bridge.scene.types import (
    GridTransformData,
    MarkupsData,
    SceneError,
    SegmentationData,
    VolumeData,
)


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
    from bridge.scene.io.formats import is_transform_image

    if is_transform_image(path):
        from bridge.scene.io.grid_transform_nrrd import read_grid_transform_nrrd

        return [read_grid_transform_nrrd(path)]
    from bridge.scene.io.transform_io import read_tfm

    return [read_tfm(path)]


def _read_segmentation(path: Path) -> list[Any]:
    from bridge.scene.io.segmentation_nrrd import read_segmentation_nrrd

    return [read_segmentation_nrrd(path)]


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


def _transform_from_file(payload: Any, name: str, props: Mapping[str, str]) -> n.Node:
    if isinstance(payload, GridTransformData):
        return grid_transform_node(payload, name)
    return n.LinearTransformNode(
        name=name, matrix_to_parent=checks.matrix4(payload, "transform file")
    )


def grid_transform_node(data: GridTransformData, name: str) -> n.GridTransformNode:
    """A new grid transform node holding a checked copy of the field."""
    return n.GridTransformNode(
        name=name,
        displacements=checks.displacement_field(data.displacements),
        grid_ijk_to_ras=checks.ijk_to_ras(data.ijk_to_ras),
    )


def apply_grid(node: n.GridTransformNode, data: GridTransformData) -> None:
    """Replace a grid transform node's field with a checked copy of `data`'s."""
    field = checks.displacement_field(data.displacements)
    node.displacements, node.grid_ijk_to_ras = field, checks.ijk_to_ras(data.ijk_to_ras)


def _segmentation_from_file(data: SegmentationData, name: str, props: Mapping[str, str]) -> n.Node:
    node = n.SegmentationNode(name=name)
    apply_segmentation(node, data)
    return node


def apply_segmentation(node: n.SegmentationNode, data: SegmentationData) -> None:
    """Copy a segmentation's segments, grid and file metadata into `node`, checked."""
    shape = checks.grid_shape(data.shape)
    node.segments = checks.segments(data.segments, shape)
    node.ijk_to_ras, node.shape = checks.ijk_to_ras(data.ijk_to_ras), shape
    node.reference_extent_offset = tuple(int(n) for n in data.reference_extent_offset)  # type: ignore[assignment]
    node.metadata = {str(key): str(value) for key, value in data.metadata.items()}


def _reload_volume(node: Any, data: VolumeData) -> str:
    node.array, node.ijk_to_ras = checks.voxels(data.array), checks.ijk_to_ras(data.ijk_to_ras)
    return "volume"


def _reload_markups(node: Any, data: MarkupsData) -> str:
    apply_markups(node, data)
    return "markups"


def _reload_transform(node: Any, payload: Any) -> str:
    grid = isinstance(payload, GridTransformData)
    if grid != isinstance(node, n.GridTransformNode):
        kind = "a displacement field" if grid else "a linear transform"
        raise SceneError(f"{node.id} cannot be reloaded: its file now holds {kind}")
    if grid:
        apply_grid(node, payload)
    else:
        node.matrix_to_parent = checks.matrix4(payload, "transform file")
    return "transform"


def _reload_segmentation(node: Any, data: SegmentationData) -> str:
    apply_segmentation(node, data)
    return "segmentation"


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
    "SegmentationFile": FileKind(_read_segmentation, _segmentation_from_file, _reload_segmentation),
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


def _write_grid_transform(
    node: Any, path: Path, props: Mapping[str, str], world: np.ndarray
) -> None:
    """The field as it is (`writer_for` refuses hardening a parent into it beforehand)."""
    from bridge.scene.io.grid_transform_nrrd import write_grid_transform_nrrd

    data = GridTransformData(
        displacements=node.displacements, ijk_to_ras=node.grid_ijk_to_ras, name=node.name
    )
    write_grid_transform_nrrd(path, data, compress=checks.truthy(props.get("useCompression", "1")))


def _write_segmentation(node: Any, path: Path, props: Mapping[str, str], world: np.ndarray) -> None:
    from bridge.scene.io.segmentation_nrrd import write_segmentation_nrrd

    write_segmentation_nrrd(
        path,
        segmentation_data(node, world),
        compress=checks.truthy(props.get("useCompression", "1")),
    )


def segmentation_data(
    node: n.SegmentationNode, world: np.ndarray | None = None
) -> SegmentationData:
    """What a segmentation node holds, its grid moved by `world` (identity when None)."""
    matrix = node.ijk_to_ras if world is None else world @ node.ijk_to_ras
    return SegmentationData(
        segments=tuple(node.segments),
        ijk_to_ras=np.array(matrix),
        shape=node.shape,
        name=node.name,
        reference_extent_offset=node.reference_extent_offset,
        metadata=dict(node.metadata),
    )


#: Node kind → the file suffixes it can be saved as, and the writer. The writer receives the
#: product of the node's parent transforms (identity unless transforms are applied). A grid
#: transform saves as a displacement-field image, a linear one as an ITK text file.
WRITERS: tuple[tuple[type[n.Node], tuple[str, ...], Writer], ...] = (
    (n.VolumeNode, (".nrrd", ".nhdr"), _write_volume),
    (n.MarkupsNode, (".mrk.json", ".json"), _write_markups),
    (n.LinearTransformNode, (".tfm", ".txt"), _write_transform),
    (n.GridTransformNode, (".nrrd", ".nhdr"), _write_grid_transform),
    (n.SegmentationNode, (".seg.nrrd", ".seg.nhdr", ".nrrd", ".nhdr"), _write_segmentation),
)


def _format_suffix(file_format: str) -> str:
    """`NRRD (.nrrd)` (Slicer's fileFormat), `.nrrd`, `nrrd` or a file name → its suffix text."""
    text = file_format.strip().lower()
    if "(" in text and text.endswith(")"):
        text = text[text.rindex("(") + 1 : -1].strip()
    return text if "." in text else f".{text}"


def save_suffix(
    is_a: Callable[[str], bool], label: str, file_format: str, *, hardened: bool = False
) -> str:
    """Check that a node of this kind (`is_a(class_name)`, MRML inheritance) can be saved in
    `file_format` (a suffix, a file name or Slicer's `NRRD (.nrrd)`), and — `hardened`: its
    parent transforms applied — that they can be applied to it (not to a displacement field).
    Returns the suffix; SceneError naming `label` and what is supported otherwise. Shared by
    the headless scene (which then writes) and the MRML scene (which then exports)."""
    if hardened and is_a(n.GridTransformNode.class_name):
        raise SceneError(
            f"cannot save {label} with transforms applied: hardening a parent transform "
            "into a displacement field is not supported; save it without applytransforms"
        )
    suffix = _format_suffix(file_format)
    if any(is_a(kind.class_name) and suffix.endswith(suffixes) for kind, suffixes, _ in WRITERS):
        return suffix
    supported = [s for kind, suffixes, _ in WRITERS if is_a(kind.class_name) for s in suffixes]
    raise SceneError(
        f"cannot save {label} as {file_format!r}; supported: {', '.join(supported) or 'none'}"
    )


def writer_for(node: n.Node, file_format: str, *, hardened: bool = False) -> Writer:
    """The writer for this node kind and format; SceneError (before any file is touched) if
    the kind cannot be saved in that format, or — `hardened`: parent transforms are to be
    applied — if they cannot be applied to this kind (a displacement field)."""
    suffix = save_suffix(node.is_a, f"{node.class_name} {node.id}", file_format, hardened=hardened)
    for kind, suffixes, writer in WRITERS:
        if isinstance(node, kind) and suffix.endswith(suffixes):
            return writer
    raise AssertionError("save_suffix accepted a format no writer takes")  # pragma: no cover


__all__ = [
    "FILE_KINDS",
    "WRITERS",
    "FileKind",
    "apply_grid",
    "apply_markups",
    "apply_segmentation",
    "default_name",
    "grid_transform_node",
    "payload_name",
    "save_suffix",
    "segmentation_data",
    "volume_node",
    "writer_for",
]
