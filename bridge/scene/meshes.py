"""Surface meshes the renderers draw and export: transforming a model into world RAS, vertex
normals with sharp edges kept sharp, the sphere glyph of a markups control point, and a box's
edges.

Pure numpy; meshes are `ModelData`-like (vertices N×3, triangles T×3). Used by both the 3D view
(`render`) and the glTF export (`gltf`), so both show the same geometry.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: vtkPolyDataNormals' default feature angle: edges sharper than this stay sharp.
FEATURE_ANGLE_DEGREES = 30.0


@dataclass(frozen=True, slots=True, eq=False)
class WorldMesh:
    """A triangle mesh in world RAS with unit vertex normals, ready to draw or export."""

    positions: np.ndarray  # N×3 float64
    normals: np.ndarray  # N×3 float64, unit length
    triangles: np.ndarray  # T×3 int64


def face_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (length = twice the triangle's area), counter-clockwise."""
    corners = vertices[triangles]
    return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


def unit(vectors: np.ndarray, fallback: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Rows scaled to unit length; zero rows become `fallback`."""
    vectors = np.asarray(vectors, dtype=np.float64)
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    safe = np.where(length > 0, length, 1.0)
    return np.where(length > 0, vectors / safe, np.asarray(fallback))


def crease_normals(
    vertices: np.ndarray, triangles: np.ndarray, feature_angle: float = FEATURE_ANGLE_DEGREES
) -> WorldMesh:
    """Vertex normals as vtkPolyDataNormals computes them with splitting on: each corner of a
    triangle averages the (area-weighted) normals of the triangles around its vertex that lie
    within `feature_angle` of its own, and a vertex is split where its corners disagree.

    A box keeps flat faces (8 corners become 24 vertices); a finely tessellated sphere stays
    smooth with shared vertices.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    if len(triangles) == 0:
        return WorldMesh(vertices[:0], vertices[:0], triangles.reshape(0, 3))
    raw = face_normals(vertices, triangles)
    directions = unit(raw)
    corner_vertex = triangles.reshape(-1)
    corner_face = np.repeat(np.arange(len(triangles)), 3)
    # every pair of corners sharing a vertex, found through the corners sorted by vertex
    order = np.argsort(corner_vertex, kind="stable")
    counts = np.bincount(corner_vertex, minlength=len(vertices))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    group = counts[corner_vertex[order]]
    first = np.repeat(np.arange(order.size), group)
    position_in_group = np.arange(first.size) - np.repeat(np.cumsum(group) - group, group)
    second = starts[corner_vertex[order]][first] + position_in_group
    a_corner, b_corner = order[first], order[second]
    a_face, b_face = corner_face[a_corner], corner_face[b_corner]
    similar = (directions[a_face] * directions[b_face]).sum(axis=1) >= math.cos(
        math.radians(feature_angle)
    )
    corner_normal = np.zeros((corner_vertex.size, 3))
    for axis in range(3):
        corner_normal[:, axis] = np.bincount(
            a_corner[similar],
            weights=raw[b_face[similar], axis],
            minlength=corner_vertex.size,
        )
    corner_normal = unit(corner_normal)
    # corners of one vertex with the same normal share one output vertex
    keys = np.concatenate([corner_vertex[:, None], np.round(corner_normal * 1e6)], axis=1)
    unique_keys, first_corner, inverse = np.unique(
        keys, axis=0, return_index=True, return_inverse=True
    )
    del unique_keys
    return WorldMesh(
        positions=vertices[corner_vertex[first_corner]],
        normals=corner_normal[first_corner],
        triangles=inverse.reshape(-1, 3).astype(np.int64),
    )


def transformed(mesh: WorldMesh, matrix: np.ndarray) -> WorldMesh:
    """`mesh` moved by the 4×4 `matrix`; normals by its inverse transpose; a mirroring
    matrix reverses the triangles' winding so they keep facing outwards."""
    matrix = np.asarray(matrix, dtype=np.float64)
    linear = matrix[:3, :3]
    positions = mesh.positions @ linear.T + matrix[:3, 3]
    try:
        normal_matrix = np.linalg.inv(linear).T
    except np.linalg.LinAlgError:
        normal_matrix = linear
    normals = unit(mesh.normals @ normal_matrix.T)
    triangles = mesh.triangles[:, ::-1] if np.linalg.det(linear) < 0 else mesh.triangles
    return WorldMesh(positions, normals, np.ascontiguousarray(triangles))


def model_mesh(
    vertices: np.ndarray, triangles: np.ndarray, normals: np.ndarray | None, world: np.ndarray
) -> WorldMesh:
    """A model's mesh in world RAS: its own normals if it has them, else crease normals."""
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if normals is not None and len(normals) == len(vertices):
        local = WorldMesh(vertices, unit(np.asarray(normals, dtype=np.float64)), triangles)
    else:
        local = crease_normals(vertices, triangles)
    return transformed(local, world)


@functools.cache
def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """A unit icosphere: 12 vertices and 20 faces, each subdivision ×4 faces."""
    golden = (1.0 + math.sqrt(5.0)) / 2.0
    vertices = [
        (-1, golden, 0), (1, golden, 0), (-1, -golden, 0), (1, -golden, 0),
        (0, -1, golden), (0, 1, golden), (0, -1, -golden), (0, 1, -golden),
        (golden, 0, -1), (golden, 0, 1), (-golden, 0, -1), (-golden, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11),
        (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6), (7, 1, 8),
        (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9),
        (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    points = [np.array(v, dtype=np.float64) / np.linalg.norm(v) for v in vertices]
    for _ in range(subdivisions):
        faces = _subdivided(faces, points)
    sphere_vertices = np.array(points)
    sphere_faces = np.array(faces, dtype=np.int64)
    sphere_vertices.setflags(write=False)
    sphere_faces.setflags(write=False)
    return sphere_vertices, sphere_faces


def _subdivided(
    faces: list[tuple[int, int, int]], points: list[np.ndarray]
) -> list[tuple[int, int, int]]:
    """Each face split in four at its edge midpoints, pushed onto the unit sphere (new
    points are appended to `points`; a shared edge gets one midpoint)."""
    midpoints: dict[tuple[int, int], int] = {}

    def midpoint(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in midpoints:
            middle = points[a] + points[b]
            points.append(middle / np.linalg.norm(middle))
            midpoints[key] = len(points) - 1
        return midpoints[key]

    refined: list[tuple[int, int, int]] = []
    for a, b, c in faces:
        ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
        refined += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
    return refined


def spheres(centers: np.ndarray, radius: float, subdivisions: int = 1) -> WorldMesh:
    """One icosphere of `radius` around each centre (42 vertices, 80 triangles each at one
    subdivision), merged into one mesh; normals point radially."""
    unit_vertices, unit_faces = _icosphere(subdivisions)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    count = len(centers)
    positions = (centers[:, None, :] + radius * unit_vertices[None, :, :]).reshape(-1, 3)
    normals = np.tile(unit_vertices, (count, 1))
    offsets = (np.arange(count) * len(unit_vertices))[:, None, None]
    triangles = (unit_faces[None, :, :] + offsets).reshape(-1, 3)
    return WorldMesh(positions, normals, triangles)


#: The 12 edges of a box whose corners are numbered 4·x + 2·y + z (x, y, z ∈ {0, 1}).
BOX_EDGES: np.ndarray = np.array(
    [(0, 1), (2, 3), (4, 5), (6, 7),  # along z
     (0, 2), (1, 3), (4, 6), (5, 7),  # along y
     (0, 4), (1, 5), (2, 6), (3, 7)],  # along x
    dtype=np.int64,
)  # fmt: skip


def box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The 8 corners of an axis-aligned box, numbered as `BOX_EDGES` expects."""
    return np.array(
        [[(low, high)[x][0], (low, high)[y][1], (low, high)[z][2]]
         for x in (0, 1) for y in (0, 1) for z in (0, 1)],
        dtype=np.float64,
    )  # fmt: skip


__all__ = [
    "BOX_EDGES",
    "FEATURE_ANGLE_DEGREES",
    "WorldMesh",
    "box_corners",
    "crease_normals",
    "face_normals",
    "model_mesh",
    "spheres",
    "transformed",
    "unit",
]
