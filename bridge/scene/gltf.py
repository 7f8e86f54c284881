"""glTF 2.0 documents from world-space meshes: what `/slicer/threeDGraphics` answers.

Slicer's route runs `vtkGLTFExporter` (inline base64 data, normals on) over the 3D view's
render window. This module writes the same kind of document from `meshes.WorldMesh` items:
one scene, one node and mesh per item, POSITION + NORMAL + indices for triangles (or
POSITION + indices for lines), a material per item from its colour, and all binary data in
one buffer embedded as a base64 data URI. Coordinates stay in RAS millimetres, as the
exporter leaves them (clients place `/slicer/fiducials` positions in the same frame).

Pure: JSON-ready dicts out, nothing read from a scene.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GENERATOR = "SlicerBridge headless scene"

#: glTF enumerations used here.
FLOAT = 5126
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
LINES = 1
TRIANGLES = 4


@dataclass(slots=True, eq=False)
class GltfItem:
    """One drawable: positions (N×3), optional unit normals (N×3), indices (T×3 triangles, or
    E×2 with `mode` LINES), an RGB colour 0..1, a name and extra fields for its node (e.g. the
    MRML id)."""

    name: str
    positions: np.ndarray
    indices: np.ndarray
    color: tuple[float, float, float]
    normals: np.ndarray | None = None
    mode: int = TRIANGLES
    extras: dict[str, Any] = field(default_factory=dict)


class _Buffer:
    """Binary chunks appended 4-byte aligned, each with its bufferView and accessor."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, array: np.ndarray, *, kind: str, target: int, bounds: bool = False) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        self.views.append(
            {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(blob), "target": target}
        )
        self.data.extend(blob)
        component = {
            np.dtype(np.float32): FLOAT,
            np.dtype(np.uint16): UNSIGNED_SHORT,
            np.dtype(np.uint32): UNSIGNED_INT,
        }[array.dtype]
        accessor: dict[str, Any] = {
            "bufferView": len(self.views) - 1,
            "componentType": component,
            "count": int(array.shape[0]),
            "type": kind,
        }
        if bounds:
            accessor["min"] = array.min(axis=0).tolist() if array.ndim > 1 else [array.min().item()]
            accessor["max"] = array.max(axis=0).tolist() if array.ndim > 1 else [array.max().item()]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def document(items: list[GltfItem], scene_name: str = "3d") -> dict[str, Any]:
    """A glTF 2.0 document (a JSON-ready dict) holding `items`; empty items are skipped."""
    buffer = _Buffer()
    nodes: list[dict[str, Any]] = []
    meshes: list[dict[str, Any]] = []
    materials: list[dict[str, Any]] = []
    for item in items:
        positions = np.asarray(item.positions, dtype=np.float32).reshape(-1, 3)
        indices = np.asarray(item.indices).reshape(-1)
        if positions.size == 0 or indices.size == 0:
            continue
        index_type = np.uint16 if len(positions) <= 0xFFFF else np.uint32
        attributes = {
            "POSITION": buffer.add(positions, kind="VEC3", target=ARRAY_BUFFER, bounds=True)
        }
        if item.normals is not None:
            normals = np.asarray(item.normals, dtype=np.float32).reshape(-1, 3)
            attributes["NORMAL"] = buffer.add(normals, kind="VEC3", target=ARRAY_BUFFER)
        index_accessor = buffer.add(
            indices.astype(index_type), kind="SCALAR", target=ELEMENT_ARRAY_BUFFER
        )
        materials.append(
            {
                "name": item.name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [*(float(c) for c in item.color), 1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.6,
                },
                "doubleSided": True,
            }
        )
        meshes.append(
            {
                "name": item.name,
                "primitives": [
                    {
                        "attributes": attributes,
                        "indices": index_accessor,
                        "material": len(materials) - 1,
                        "mode": item.mode,
                    }
                ],
            }
        )
        node: dict[str, Any] = {"name": item.name, "mesh": len(meshes) - 1}
        if item.extras:
            node["extras"] = dict(item.extras)
        nodes.append(node)

    scene: dict[str, Any] = {"name": scene_name}
    result: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [scene],
    }
    if not nodes:  # glTF forbids empty arrays: an empty scene has no nodes key at all
        return result
    scene["nodes"] = list(range(len(nodes)))
    uri = "data:application/octet-stream;base64," + base64.b64encode(buffer.data).decode("ascii")
    result.update(
        nodes=nodes,
        meshes=meshes,
        materials=materials,
        accessors=buffer.accessors,
        bufferViews=buffer.views,
        buffers=[{"byteLength": len(buffer.data), "uri": uri}],
    )
    return result


__all__ = ["GENERATOR", "LINES", "TRIANGLES", "GltfItem", "document"]
