"""Rendering a scene's views to images: slice views, the 3D view, the whole layout, and the 3D
view's content as glTF — what `/slicer/slice`, `/threeD`, `/screenshot` and `/threeDGraphics`
answer when no Slicer application draws them.

`SceneRenderer` reads a scene only through the `Scene` protocol (views, camera, layout,
volumes, models, markups, world transforms) and draws with numpy: reslicing and projection in
`resample`, buffers and PNG in `raster`, colours in `display`, geometry in `meshes`, `camera`
and `layouts`, documents in `gltf`. Its only state is a cache of per-volume display values
(auto window/level, the ray-casting volume), recomputed whenever a volume's voxels change.

What a slice view shows (Slicer's slice logic blend, without annotations): the background
volume resliced at the view's plane, window/levelled (labelmaps through their colour table),
the foreground blended at the view's foreground opacity, and the label layer on top (label 0
see-through); outside every volume it is black. Pixel (column, row) centres sit at
((column + ½ − width/2)·s, (height/2 − row − ½)·s) in slice coordinates, s = field of view /
pixels, so the view's SliceToRAS origin is the image centre and slice +y is up.

What the 3D view shows: Slicer's default background gradient; the active volume ray cast as
its surface at the window's level (shaded from the depth map), with its maximum-intensity
projection glowing where rays find no surface; the visible models lit by a headlight; the
visible markups control points as spheres — surface, models and points depth-tested together.

Nodes under a grid (displacement field) transform are left out of every view and of the
glTF export: the renderer cannot warp them, and drawing them unwarped would show them where
they are not (their `world_matrix` raises `NonLinearTransformError`).

It changes the scene only where Slicer's routes do: `lookFromAxis` moves the camera (callers
that route writes through the bus build that move with `camera_axes.look_from_axis`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from bridge.scene import camera as cameras
from bridge.scene import camera_axes, display, gltf, layouts, meshes, raster, resample, views
from bridge.scene.protocol import Scene
from bridge.scene.types import (
    SLICE_VIEWS,
    CameraState,
    NodeNotFound,
    NonLinearTransformError,
    SceneError,
    SliceViewState,
    VolumeData,
    canonical_view,
)

ImageSize = int | tuple[int, int] | None

#: Largest width or height an image may be asked for.
MAX_IMAGE_SIDE = 4096
#: Slice views default to one pixel per voxel of the shown volume, within these bounds, and
#: to the smallest when they show nothing.
SLICE_SIDE_RANGE: tuple[int, int] = (256, 1024)
DEFAULT_THREED_SIZE: tuple[int, int] = (512, 512)
DEFAULT_SCREENSHOT_SIZE: tuple[int, int] = (1024, 768)
#: vtkMRMLViewNode's default gradient: BackgroundColor2 at the top, BackgroundColor below.
THREED_BACKGROUND_TOP: tuple[float, float, float] = (0.4549, 0.4706, 0.7451)
THREED_BACKGROUND_BOTTOM: tuple[float, float, float] = (0.7569, 0.7647, 0.9098)
#: The volume is ray cast at most this many rays across, then scaled to the image.
RAYS_ACROSS = 256
#: Rays sample a copy of the volume block-max-pooled to at most this many voxels per axis.
RAY_VOXELS_ACROSS = 128
#: The volume's surface is where the windowed intensity reaches the level (0..255 scale).
SURFACE_THRESHOLD = 128
SURFACE_COLOR: tuple[float, float, float] = (0.95, 0.92, 0.84)
#: Surface depths are averaged over (2·this+1)² rays before shading.
DEPTH_SMOOTHING = 2
#: Opacity of the maximum-intensity glow where a ray finds no surface, at full intensity;
#: intensities below the floor (noise in air, 0..1 of the window) do not glow at all.
GLOW_OPACITY = 0.9
GLOW_FLOOR = 0.15
#: Width of the view-colour frame around each view of a screenshot.
BORDER_PIXELS = 2

MODEL_CLASS = "vtkMRMLModelNode"
MARKUPS_CLASS = "vtkMRMLMarkupsNode"


class SceneRenderer:
    """Draws `scene`'s views. One per scene: it caches per-volume display values."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.display = display.VolumeDisplayCache()

    # -- PNG and glTF, as the Scene protocol answers them --------------------------------------
    def slice_png(self, view: str, size: ImageSize = None) -> bytes:
        return raster.encode_png(self.slice_image(view, size))

    def threed_png(
        self, view: str = "3d", size: ImageSize = None, look_from_axis: str | None = None
    ) -> bytes:
        if look_from_axis is not None and str(look_from_axis).strip():
            self.look_from_axis(view, look_from_axis)
        return raster.encode_png(self.threed_image(view, size))

    def screenshot_png(self, size: ImageSize = None) -> bytes:
        return raster.encode_png(self.screenshot_image(size))

    def look_from_axis(self, view: str, axis: str) -> None:
        """Move the 3D view's camera onto `axis` (Slicer's `lookFromAxis`)."""
        _check_threed(view)
        moved = camera_axes.look_from_axis(self.scene.camera(view), axis)
        self.scene.set_camera(view, moved.position, moved.focal_point, moved.view_up)

    # -- slice views ---------------------------------------------------------------------------
    def slice_image(self, view: str, size: ImageSize = None) -> np.ndarray:
        """The slice view as uint8 pixels: height×width grey while every layer shown is grey,
        height×width×3 RGB once a labelmap or label layer adds colour."""
        state = self.scene.slice_view(view)
        background = self._volume(state.background_volume_id)
        width, height, field = _slice_grid(state, size, background)
        pixel_to_ras = state.slice_to_ras @ _pixel_to_slice(width, height, field)
        image = np.zeros((height, width), dtype=np.uint8)
        if background is not None:
            colors, inside = self._layer(
                state.background_volume_id, background, pixel_to_ras, width, height
            )
            image = np.where(_under(inside, colors), colors, 0).astype(np.uint8)
        foreground = self._volume(state.foreground_volume_id)
        opacity = min(max(float(state.foreground_opacity), 0.0), 1.0)
        if foreground is not None and opacity > 0.0:
            colors, inside = self._layer(
                state.foreground_volume_id, foreground, pixel_to_ras, width, height
            )
            if colors.ndim != image.ndim:
                image, colors = _rgb(image), _rgb(colors)
            weight = _under(inside * np.float32(opacity), colors)
            blended = image * (1.0 - weight) + colors * weight
            image = (blended + 0.5).astype(np.uint8)
        labels = self._volume(state.label_volume_id)
        if labels is not None:
            colors, present = self._layer(
                state.label_volume_id, labels, pixel_to_ras, width, height
            )
            image = np.where(present[..., None], _rgb(colors), _rgb(image))
        return image

    def _volume(self, volume_id: str | None) -> tuple[VolumeData, np.ndarray] | None:
        """A shown volume and its IJK→world matrix; None for no or a vanished volume."""
        if volume_id is None:
            return None
        try:
            data = self.scene.volume(volume_id)
            world = self.scene.world_matrix(volume_id)
        except (NodeNotFound, NonLinearTransformError):
            return None
        return data, world @ data.ijk_to_ras

    def _layer(
        self,
        volume_id: str,
        volume: tuple[VolumeData, np.ndarray],
        pixel_to_ras: np.ndarray,
        width: int,
        height: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One layer's colours (grey height×width, or RGB ×3) and where it is opaque."""
        data, ijk_to_world = volume
        pixel_to_ijk = np.linalg.inv(ijk_to_world) @ pixel_to_ras
        values, inside = resample.resample_plane(
            data.array, pixel_to_ijk, width, height, linear=not data.labelmap
        )
        if data.labelmap:
            colors, present = display.label_colors(values)
            return colors, inside & present
        window_level = self.display.window_level(volume_id, data.array)
        return display.window_to_bytes(values, window_level), inside

    # -- the 3D view ---------------------------------------------------------------------------
    def threed_image(self, view: str = "3d", size: ImageSize = None) -> np.ndarray:
        """The 3D view as height×width×3 RGB uint8."""
        _check_threed(view)
        width, height = image_size(size, DEFAULT_THREED_SIZE)
        camera = self.scene.camera(view)
        projection = cameras.projection(camera, width, height)
        frame = raster.Frame(
            raster.vertical_gradient(
                width,
                height,
                np.asarray(THREED_BACKGROUND_TOP),
                np.asarray(THREED_BACKGROUND_BOTTOM),
            )
        )
        self._draw_volume(frame, camera)
        self._draw_models(frame, projection)
        self._draw_markups(frame, projection)
        return frame.to_bytes()

    def _draw_volume(self, frame: raster.Frame, camera: CameraState) -> None:
        """The active volume as its surface at the window's level, shaded, in the depth
        buffer; where rays find no surface, its maximum-intensity projection glows white
        (opacity = windowed intensity)."""
        active = self.scene.active_volume()
        if active is None or not self._visible(active.id):
            return
        volume = self._volume(active.id)
        if volume is None or volume[0].labelmap:
            return
        data, ijk_to_world = volume
        ray_volume = self._ray_volume(active.id, data)
        if ray_volume is None:  # nothing in it would show
            return
        padded, pooled_to_ijk = ray_volume
        ras_to_pooled = np.linalg.inv(ijk_to_world @ pooled_to_ijk)
        scale = min(1.0, RAYS_ACROSS / max(frame.width, frame.height))
        rays = cameras.projection(
            camera, max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
        )
        eye = ras_to_pooled[:3, :3] @ rays.eye + ras_to_pooled[:3, 3]
        directions = rays.pixel_directions() @ ras_to_pooled[:3, :3].T
        cast = resample.cast_rays(padded, eye, directions, cameras.NEAR_DEPTH, SURFACE_THRESHOLD)
        hit = np.isfinite(cast.surface_depth)
        color = np.ones((rays.height, rays.width, 3), dtype=np.float32)
        if hit.any():
            cosine = _depth_map_cosines(cast.surface_depth, rays)
            color[hit] = raster.shade(np.asarray(SURFACE_COLOR, np.float32), cosine[hit])
        glow = np.clip((cast.maximum / 255.0 - GLOW_FLOOR) / (1.0 - GLOW_FLOOR), 0.0, 1.0)
        opacity = np.where(hit, 1.0, glow * GLOW_OPACITY)
        depth = np.where(hit, cast.surface_depth, np.inf).astype(np.float32)
        if (rays.width, rays.height) != (frame.width, frame.height):
            color, opacity, depth = _upscale(color, opacity, depth, frame.width, frame.height)
        rows = np.flatnonzero(opacity.any(axis=1))
        columns = np.flatnonzero(opacity.any(axis=0))
        if rows.size == 0:
            return
        box = np.s_[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        weight = opacity[box][..., None].astype(np.float32)
        frame.color[box] *= 1.0 - weight
        frame.color[box] += weight * color[box]
        solid = (opacity > 0.5) & np.isfinite(depth)
        frame.inverse_depth[solid] = 1.0 / depth[solid]

    def _ray_volume(self, volume_id: str, data: VolumeData) -> tuple[np.ndarray, np.ndarray] | None:
        """What rays sample, cached per voxel array: the volume block-max-pooled (window/level
        is monotonic, so pooling first keeps the maxima), window/levelled to uint8, with what
        would not show (below the glow floor) zeroed, cropped to what is left and padded; and
        the matrix from its IJK to the volume's. None when nothing would show."""
        store = self.display.slot(volume_id, data.array)
        if "rays" not in store:
            window_level = self.display.window_level(volume_id, data.array)
            pooled, pooled_to_ijk = resample.max_pool(data.array, RAY_VOXELS_ACROSS)
            windowed = display.window_to_bytes(pooled, window_level)
            windowed[windowed < round(GLOW_FLOOR * 255)] = 0
            cropped = resample.crop_to_content(windowed)
            store["rays"] = (
                None
                if cropped is None
                else (resample.pad_for_projection(cropped[0]), pooled_to_ijk @ cropped[1])
            )
        result: tuple[np.ndarray, np.ndarray] | None = store["rays"]
        return result

    def _draw_models(self, frame: raster.Frame, projection: cameras.Projection) -> None:
        for _node_id, mesh, color in self._model_meshes():
            points = projection.to_camera(mesh.positions)
            corners = points[mesh.triangles]  # T×3×3 camera space
            in_front = (corners[:, :, 2] > cameras.NEAR_DEPTH).all(axis=1)
            corners = corners[in_front]
            if len(corners) == 0:
                continue
            normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            centroid = corners.mean(axis=1)
            cosine = (meshes.unit(normal) * meshes.unit(centroid)).sum(axis=1)
            colors = raster.shade(np.broadcast_to(color, (len(corners), 3)), cosine)
            pixels = projection.to_pixels(corners.reshape(-1, 3)).reshape(-1, 3, 2)
            raster.draw_triangles(frame, pixels, corners[:, :, 2], colors)

    def _draw_markups(self, frame: raster.Frame, projection: cameras.Projection) -> None:
        for _node_id, _name, centers, color, glyph_scale in self._markups_points():
            points = projection.to_camera(centers)
            radius_px = glyph_scale / 100.0 * frame.height / 2.0
            radii = radius_px * points[:, 2] / projection.focal_px
            in_front = points[:, 2] - radii > cameras.NEAR_DEPTH
            points, radii = points[in_front], radii[in_front]
            if len(points) == 0:
                continue
            raster.draw_spheres(
                frame,
                projection.to_pixels(points),
                points[:, 2],
                np.full(len(points), radius_px),
                radii,
                np.broadcast_to(np.asarray(color, np.float32), (len(points), 3)),
            )

    # -- what the 3D view holds ----------------------------------------------------------------
    def _linear_world(self, node_id: str) -> np.ndarray | None:
        """The node's world matrix; None under a non-linear transform (not drawn)."""
        try:
            return self.scene.world_matrix(node_id)
        except NonLinearTransformError:
            return None

    def _visible(self, node_id: str) -> bool:
        return bool(self.scene.node_properties(node_id).get("Visibility", True))

    def _model_meshes(self) -> Iterator[tuple[str, meshes.WorldMesh, tuple[float, float, float]]]:
        """Every visible model in world RAS, with its colour."""
        for info in self.scene.nodes(class_name=MODEL_CLASS):
            if not self._visible(info.id):
                continue
            model = self.scene.model(info.id)
            if len(model.triangles) == 0:
                continue
            world = self._linear_world(info.id)
            if world is None:
                continue
            mesh = meshes.model_mesh(model.vertices, model.triangles, model.normals, world)
            yield info.id, mesh, tuple(float(c) for c in model.color)  # type: ignore[misc]

    def _markups_points(
        self,
    ) -> Iterator[tuple[str, str, np.ndarray, tuple[float, float, float], float]]:
        """Per visible markups node with visible points: id, name, world positions (N×3), the
        colour they show in (selected colour, as new points are selected) and glyph scale."""
        for info in self.scene.nodes(class_name=MARKUPS_CLASS):
            if not self._visible(info.id):
                continue
            data = self.scene.markups(info.id)
            shown = [point for point in data.points if point.visible]
            if not shown:
                continue
            world = self._linear_world(info.id)
            if world is None:
                continue
            local = np.array([point.position for point in shown], dtype=np.float64)
            centers = local @ world[:3, :3].T + world[:3, 3]
            selected = all(point.selected for point in shown)
            color = data.selected_color if selected else data.color
            yield info.id, info.name, centers, color, float(data.glyph_scale)

    # -- the layout ----------------------------------------------------------------------------
    def screenshot_image(self, size: ImageSize = None) -> np.ndarray:
        """The current layout's views tiled as Slicer arranges them, each framed in its view
        colour: height×width×3 RGB uint8."""
        width, height = image_size(size, DEFAULT_SCREENSHOT_SIZE)
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        for panel in layouts.panels(self.scene.layout):
            left, top, right, bottom = layouts.pixel_box(panel, width, height)
            if right <= left or bottom <= top:
                continue
            panel_size = (right - left, bottom - top)
            if panel.view == "3d":
                picture = self.threed_image("3d", panel_size)
            else:
                picture = _rgb(self.slice_image(panel.view, panel_size))
            canvas[top:bottom, left:right] = picture
            _frame(canvas[top:bottom, left:right], layouts.VIEW_COLORS[panel.view])
        return canvas

    # -- glTF ----------------------------------------------------------------------------------
    def gltf(self, view: str = "3d", box_visible: bool = False) -> dict[str, Any]:
        """The 3D view's models and markups (and optionally the box around the volume) as a
        glTF 2.0 document in world RAS millimetres."""
        _check_threed(view)
        items: list[gltf.GltfItem] = []
        for node_id, mesh, color in self._model_meshes():
            info = self.scene.find(node_id)
            items.append(
                gltf.GltfItem(
                    name=info.name,
                    positions=mesh.positions,
                    normals=mesh.normals,
                    indices=mesh.triangles,
                    color=color,
                    extras={"id": node_id, "class": info.class_name},
                )
            )
        camera = self.scene.camera(view)
        distance = float(np.linalg.norm(np.asarray(camera.position) - camera.focal_point))
        half_height = distance * math.tan(math.radians(camera.view_angle) / 2.0)
        for node_id, name, centers, color, glyph_scale in self._markups_points():
            # the glyph's size as the 3D view shows it at the focal point
            spheres = meshes.spheres(centers, glyph_scale / 100.0 * half_height)
            items.append(
                gltf.GltfItem(
                    name=name,
                    positions=spheres.positions,
                    normals=spheres.normals,
                    indices=spheres.triangles,
                    color=color,
                    extras={"id": node_id, "class": self.scene.find(node_id).class_name},
                )
            )
        if box_visible:
            bounds = self._box_bounds(items)
            if bounds is not None:
                items.append(
                    gltf.GltfItem(
                        name="Box",
                        positions=meshes.box_corners(*bounds),
                        indices=meshes.BOX_EDGES,
                        color=(1.0, 1.0, 1.0),
                        mode=gltf.LINES,
                    )
                )
        return gltf.document(items, scene_name=canonical_view(view))

    def _box_bounds(self, items: list[gltf.GltfItem]) -> tuple[np.ndarray, np.ndarray] | None:
        """The RAS bounds of the active volume, else of everything exported; None if empty."""
        active = self.scene.active_volume()
        volume = None if active is None else self._volume(active.id)
        if volume is not None:
            corners = views.volume_corners(volume[1], volume[0].array.shape)
        elif items:
            corners = np.concatenate([np.asarray(item.positions) for item in items])
        else:
            return None
        return corners.min(axis=0), corners.max(axis=0)


# -- sizes and grids ---------------------------------------------------------------------------
def image_size(size: ImageSize, default: tuple[int, int]) -> tuple[int, int]:
    """(width, height) asked for: None → `default`; an int → the longer side, keeping the
    default's aspect ratio; (width, height) → as given. Each side 1..MAX_IMAGE_SIDE."""
    if size is None:
        return default
    if isinstance(size, tuple | list):
        if len(size) != 2:
            raise SceneError(f"image size must be one number or (width, height), got {size!r}")
        width, height = (_side(value) for value in size)
        return width, height
    side = _side(size)
    longest = max(default)
    return (
        max(1, round(default[0] * side / longest)),
        max(1, round(default[1] * side / longest)),
    )


def _side(value: object) -> int:
    if isinstance(value, bool):
        raise SceneError(f"image size must be a whole number of pixels, got {value!r}")
    try:
        side = operator.index(value)  # type: ignore[call-overload]
    except TypeError:
        raise SceneError(f"image size must be a whole number of pixels, got {value!r}") from None
    if not 1 <= side <= MAX_IMAGE_SIDE:
        raise SceneError(f"image size must be 1..{MAX_IMAGE_SIDE} pixels, got {side}")
    return int(side)


def _slice_grid(
    state: SliceViewState, size: ImageSize, background: tuple[VolumeData, np.ndarray] | None
) -> tuple[int, int, tuple[float, float]]:
    """Pixels across and down, and the field of view they cover (square pixels).

    A requested (width, height) keeps the whole field of view in sight, widening it along the
    other direction; otherwise the image has the field of view's aspect ratio.
    """
    field_x, field_y = (max(float(side), 1e-6) for side in state.field_of_view)
    if size is None:
        side = SLICE_SIDE_RANGE[0]
        if background is not None:
            spacing = float(np.linalg.norm(background[1][:3, :3], axis=0).min())
            native = math.ceil(max(field_x, field_y) / spacing - 1e-6)
            side = min(max(native, SLICE_SIDE_RANGE[0]), SLICE_SIDE_RANGE[1])
        size = side
    if isinstance(size, tuple | list):
        width, height = image_size(size, (1, 1))
        spacing = max(field_x / width, field_y / height)
        return width, height, (width * spacing, height * spacing)
    side = _side(size)
    if field_x >= field_y:
        width, height = side, max(1, round(side * field_y / field_x))
    else:
        width, height = max(1, round(side * field_x / field_y)), side
    return width, height, (field_x, field_y)


def _pixel_to_slice(width: int, height: int, field: tuple[float, float]) -> np.ndarray:
    """(column, row, 0, 1) → slice coordinates (mm), image centre at the origin, +y up."""
    spacing_x, spacing_y = field[0] / width, field[1] / height
    return np.array(
        [
            [spacing_x, 0.0, 0.0, (0.5 - width / 2.0) * spacing_x],
            [0.0, -spacing_y, 0.0, (height / 2.0 - 0.5) * spacing_y],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def _depth_map_cosines(depth: np.ndarray, rays: cameras.Projection) -> np.ndarray:
    """|cos| between the view ray and the surface normal of a depth map (inf: no surface).

    The normal comes from the depth map's slopes (averaged over nearby surface pixels
    against the voxel terraces of nearest sampling), taken as locally orthographic: one pixel spans
    depth/focal length of surface. Silhouette pixels, whose slope is unknown, face the eye.
    """
    hit = np.isfinite(depth)
    height, width = depth.shape
    total = _box_sum(np.where(hit, depth, 0.0).astype(np.float32), DEPTH_SMOOTHING)
    count = _box_sum(hit.astype(np.float32), DEPTH_SMOOTHING)
    smooth = np.where(hit, total / np.maximum(count, 1.0), np.nan)
    flat = np.zeros_like(smooth)
    slope_x = np.gradient(smooth, axis=1) if width > 1 else flat
    slope_y = -np.gradient(smooth, axis=0) if height > 1 else flat  # rows grow downwards
    scale = rays.focal_px / np.where(hit, smooth, 1.0)
    normal_x, normal_y = -slope_x * scale, -slope_y * scale
    view_x = ((np.arange(width) + 0.5 - width / 2.0) / rays.focal_px)[None, :]
    view_y = ((height / 2.0 - np.arange(height) - 0.5) / rays.focal_px)[:, None]
    with np.errstate(invalid="ignore"):
        dot = normal_x * view_x + normal_y * view_y + 1.0
        lengths = np.sqrt(normal_x**2 + normal_y**2 + 1.0) * np.sqrt(view_x**2 + view_y**2 + 1.0)
        cosine = np.abs(dot / lengths)
    return np.where(np.isfinite(cosine), cosine, 1.0)


def _box_sum(image: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2·radius+1)² square around each pixel (zeros beyond the edges)."""
    height, width = image.shape
    padded = np.pad(image, radius)
    rows = sum(padded[offset : offset + height, :] for offset in range(2 * radius + 1))
    return sum(rows[:, offset : offset + width] for offset in range(2 * radius + 1))


def _upscale(
    color: np.ndarray, opacity: np.ndarray, depth: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-grid colour and opacity scaled bilinearly, depth by nearest pixel, to the image."""
    rgba = np.concatenate([color, opacity[..., None]], axis=-1)
    rgba_bytes = (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    scaled = np.asarray(
        Image.fromarray(rgba_bytes).resize((width, height), Image.Resampling.BILINEAR),
        dtype=np.float32,
    ) / np.float32(255.0)
    scaled_depth = np.asarray(
        Image.fromarray(depth.astype(np.float32)).resize((width, height), Image.Resampling.NEAREST)
    )
    return scaled[..., :3], scaled[..., 3], scaled_depth


def _rgb(image: np.ndarray) -> np.ndarray:
    """Grey pixels (height×width) as RGB; RGB as it is."""
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)


def _under(mask: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """A per-pixel mask or weight shaped to broadcast against `colors` (grey or RGB)."""
    return mask if colors.ndim == 2 else mask[..., None]


def _check_threed(view: str) -> None:
    if canonical_view(view) in SLICE_VIEWS:
        raise SceneError(f"{view!r} is a slice view, not a 3D view")


def _frame(picture: np.ndarray, color: tuple[int, int, int]) -> None:
    """Paint a thin frame in `color` along the edges of `picture` (in place)."""
    height, width = picture.shape[:2]
    border = min(BORDER_PIXELS, width // 4, height // 4)
    if border <= 0:
        return
    picture[:border] = color
    picture[-border:] = color
    picture[:, :border] = color
    picture[:, -border:] = color


__all__ = [
    "DEFAULT_SCREENSHOT_SIZE",
    "DEFAULT_THREED_SIZE",
    "MAX_IMAGE_SIDE",
    "SLICE_SIDE_RANGE",
    "THREED_BACKGROUND_BOTTOM",
    "THREED_BACKGROUND_TOP",
    "SceneRenderer",
    "image_size",
]
