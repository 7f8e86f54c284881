"""Surfaces of binary labelmaps: a segment's closed surface, and segments as glTF 2.0.

Slicer makes a segment's "Closed surface" representation from its binary labelmap with
flying edges (marching cubes), then smooths it. Here, with numpy only, the surface is the
voxel-face boundary of the labelmap (every face between a voxel inside and one outside, as
two triangles facing out), which is closed, exact and as fast as array operations get, then
smoothed with *constrained* Laplacian passes (in voxel coordinates, each vertex kept within
a quarter voxel of the voxel corner it started at), which round the staircase the way
Slicer's smoothing does but, unlike Taubin or windowed-sinc smoothing, never push the surface
out: every vertex stays inside the labelmap's outer voxel edges and at most a quarter voxel
within them. Flat faces stay flat and in place, so a box-shaped segment keeps its exact
bounds: the outer voxel edges, half a voxel beyond the outermost voxel centres — where
Slicer's surface lies too.

Pure: arrays in, `meshes.WorldMesh` or a glTF dict out; nothing reads a scene.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bridge.scene import gltf, meshes
from bridge.scene.types import SceneError, SegmentationData

#: Each smoothing pass moves a vertex this fraction of the way to its neighbours' mean.
SMOOTHING_FACTOR = 0.5
DEFAULT_SMOOTHING_PASSES = 10
#: How far (in voxels, per axis) smoothing may move a vertex from its voxel corner.
SMOOTHING_LIMIT = 0.25

#: The two in-face axes of a face across `axis`, ordered so that u × w points along +axis:
#: corners (0,0), (1,0), (1,1), (0,1) in (u, w) are then counter-clockwise seen from outside.
_FACE_AXES = {0: (1, 2), 1: (2, 0), 2: (0, 1)}
_QUAD = np.array([(0, 0), (1, 0), (1, 1), (0, 1)])


def labelmap_surface(
    mask: np.ndarray,
    ijk_to_world: np.ndarray,
    smoothing_passes: int = DEFAULT_SMOOTHING_PASSES,
) -> meshes.WorldMesh:
    """The closed surface around the True voxels of `mask` (numpy k, j, i) in world
    coordinates (`ijk_to_world` places voxel centres), triangles facing outwards, vertices
    shared, with smooth (area-weighted) vertex normals as Slicer's surface conversion
    computes them without splitting. An empty mask gives an empty mesh."""
    inside = np.asarray(mask, dtype=bool)
    if inside.ndim != 3:
        raise SceneError(f"a labelmap surface needs a 3-D mask, got shape {inside.shape}")
    corners_ijk, quads = _boundary_faces(inside.transpose(2, 1, 0))
    if len(quads) == 0:
        empty = np.zeros((0, 3))
        return meshes.WorldMesh(empty, empty, np.zeros((0, 3), dtype=np.int64))
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    corners_ijk = constrained_smoothed(corners_ijk, triangles, smoothing_passes)
    matrix = np.asarray(ijk_to_world, dtype=np.float64)
    positions = (corners_ijk - 0.5) @ matrix[:3, :3].T + matrix[:3, 3]
    if np.linalg.det(matrix[:3, :3]) < 0:  # a mirroring grid turns outward faces inward
        triangles = triangles[:, ::-1]
    triangles = np.ascontiguousarray(triangles)
    return meshes.WorldMesh(positions, smooth_normals(positions, triangles), triangles)


def smooth_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit vertex normals: the area-weighted sum of the normals of the faces around each
    vertex (counter-clockwise faces, so they point outwards)."""
    faces = meshes.face_normals(vertices, triangles)
    summed = np.zeros_like(vertices)
    for corner in range(3):
        for axis in range(3):
            summed[:, axis] += np.bincount(
                triangles[:, corner], weights=faces[:, axis], minlength=len(vertices)
            )
    return meshes.unit(summed)


def _boundary_faces(inside_ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique voxel corners (as integer IJK + ½ positions, i.e. corner c is at c − ½) and
    the quads (4 corner indices, counter-clockwise from outside) between inside and outside
    voxels of a mask indexed [i, j, k]."""
    padded = np.pad(inside_ijk, 1)
    quads: list[np.ndarray] = []
    for axis, (u, w) in _FACE_AXES.items():
        for direction in (1, -1):
            # a face where the voxel is inside and its neighbour along `direction` is not
            neighbour = np.roll(padded, -direction, axis=axis)
            voxels = np.argwhere(padded & ~neighbour) - 1  # back to unpadded IJK
            if len(voxels) == 0:
                continue
            corners = np.repeat(voxels[:, None, :], 4, axis=1)
            corners[:, :, axis] += 1 if direction > 0 else 0
            order = _QUAD if direction > 0 else _QUAD[::-1]
            corners[:, :, u] += order[:, 0]
            corners[:, :, w] += order[:, 1]
            quads.append(corners)
    if not quads:
        return np.zeros((0, 3)), np.zeros((0, 4), dtype=np.int64)
    all_corners = np.concatenate(quads).reshape(-1, 3).astype(np.int64)
    # one integer key per corner (corners run 0..size), much faster to unique than rows
    span = np.array(inside_ijk.shape, dtype=np.int64) + 1
    keys = all_corners[:, 0] + span[0] * (all_corners[:, 1] + span[1] * all_corners[:, 2])
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    i = unique_keys % span[0]
    j = (unique_keys // span[0]) % span[1]
    k = unique_keys // (span[0] * span[1])
    corners = np.stack([i, j, k], axis=1).astype(np.float64)
    return corners, inverse.reshape(-1, 4).astype(np.int64)


def constrained_smoothed(
    vertices: np.ndarray,
    triangles: np.ndarray,
    passes: int,
    limit: float = SMOOTHING_LIMIT,
) -> np.ndarray:
    """`vertices` after `passes` Laplacian passes over the mesh's edge neighbours, each
    vertex clamped to within `limit` (per axis) of where it started. Every pass is a convex
    combination followed by a clamp towards the start, so no vertex ever leaves the mesh's
    original bounding box."""
    if passes <= 0 or len(triangles) == 0:
        return vertices
    pairs = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    count = np.int64(len(vertices))
    keys = np.unique(pairs.min(axis=1) * count + pairs.max(axis=1))  # each edge once
    first, second = keys // count, keys % count
    source = np.concatenate([first, second])
    target = np.concatenate([second, first])
    degree = np.bincount(source, minlength=len(vertices)).astype(np.float64)
    degree[degree == 0] = 1.0
    start = np.asarray(vertices, dtype=np.float64)
    low, high = start - limit, start + limit
    smoothed = start.copy()
    for _ in range(passes):
        mean = (
            np.stack(
                [
                    np.bincount(source, weights=smoothed[target, axis], minlength=len(vertices))
                    for axis in range(3)
                ],
                axis=1,
            )
            / degree[:, None]
        )
        smoothed += SMOOTHING_FACTOR * (mean - smoothed)
        np.clip(smoothed, low, high, out=smoothed)
    return smoothed


def segments_gltf(
    segmentation: SegmentationData,
    segment_ids: list[str] | None,
    world: np.ndarray,
    *,
    node_id: str | None = None,
) -> dict[str, Any]:
    """A glTF 2.0 document of the chosen segments' surfaces (all when `segment_ids` is None)
    in world RAS millimetres, one glTF node per segment in its colour, named after it, with
    its segment id (and the segmentation's node id) in `extras`. Unknown ids: NodeNotFound."""
    chosen = (
        list(segmentation.segments)
        if segment_ids is None
        else [segmentation.segment(segment_id) for segment_id in segment_ids]
    )
    ijk_to_world = np.asarray(world, dtype=np.float64) @ segmentation.ijk_to_ras
    items: list[gltf.GltfItem] = []
    for segment in chosen:
        surface = labelmap_surface(segment.mask, ijk_to_world)
        extras: dict[str, Any] = {"segmentID": segment.id}
        if node_id is not None:
            extras["segmentationID"] = node_id
        items.append(
            gltf.GltfItem(
                name=segment.name,
                positions=surface.positions,
                normals=surface.normals,
                indices=surface.triangles,
                color=segment.color,
                extras=extras,
            )
        )
    return gltf.document(items, scene_name=segmentation.name or "Segmentation")


__all__ = [
    "DEFAULT_SMOOTHING_PASSES",
    "constrained_smoothed",
    "labelmap_surface",
    "segments_gltf",
    "smooth_normals",
]
