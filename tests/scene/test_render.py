"""Rendering the headless scene to PNG: slice views, the 3D view and the layout screenshot.

Images are decoded with Pillow and checked against geometry computed here from the view's
SliceToRAS, field of view and the volume's IJK→RAS (not from the renderer's internals), or
against what a viewer must show (patient right on the left of an axial view, the tracking
cube moving when the tracker moves, four different quadrants in FourUp).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from bridge.scene import display, resample
from bridge.scene.headless import HeadlessScene
from bridge.scene.render import (
    DEFAULT_SCREENSHOT_SIZE,
    DEFAULT_THREED_SIZE,
    THREED_BACKGROUND_BOTTOM,
    THREED_BACKGROUND_TOP,
)
from bridge.scene.samples import shepp_logan_phantom
from bridge.scene.types import GridTransformData, SceneError

# -- helpers -------------------------------------------------------------------------------------


def decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(decode(png))


def grey(png: bytes) -> np.ndarray:
    """A slice view showing only grey layers: an 8-bit greyscale PNG."""
    image = decode(png)
    assert image.mode == "L"
    return np.asarray(image)


def rgb(png: bytes) -> np.ndarray:
    """Any PNG as height×width×3 RGB."""
    return np.asarray(decode(png).convert("RGB"))


#: An LPS-style volume: I runs to the right→left (−R), J anterior→posterior (−A), K up (+S),
#: anisotropic voxels, origin away from zero.
CUBE_SHAPE = (20, 24, 16)  # (k, j, i)
CUBE_IJK_TO_RAS = np.array(
    [
        [-2.0, 0.0, 0.0, 30.0],
        [0.0, -1.5, 0.0, 40.0],
        [0.0, 0.0, 2.5, -20.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
#: The bright cube's voxel index ranges (inclusive) along i, j, k.
CUBE_LOW = np.array([4, 6, 10])
CUBE_HIGH = np.array([7, 11, 13])


def cube_volume() -> np.ndarray:
    array = np.zeros(CUBE_SHAPE, dtype=np.int16)
    (i0, j0, k0), (i1, j1, k1) = CUBE_LOW, CUBE_HIGH
    array[k0 : k1 + 1, j0 : j1 + 1, i0 : i1 + 1] = 1000
    return array


def pixel_ras(scene: HeadlessScene, view: str, width: int, height: int) -> np.ndarray:
    """RAS of every pixel centre (height×width×3), from the view's public geometry: the
    field of view fitted into the image with square pixels, SliceToRAS at the image centre."""
    state = scene.slice_view(view)
    field_x, field_y = state.field_of_view
    spacing = max(field_x / width, field_y / height)
    columns = (np.arange(width) + 0.5 - width / 2.0) * spacing
    rows = (height / 2.0 - np.arange(height) - 0.5) * spacing
    x, y = np.meshgrid(columns, rows)
    slice_points = np.stack([x, y, np.zeros_like(x), np.ones_like(x)], axis=-1)
    return (slice_points @ state.slice_to_ras.T)[..., :3]


def to_ijk(ras: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    ras_to_ijk = np.linalg.inv(ijk_to_ras)
    return ras @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3]


@pytest.fixture
def scene() -> HeadlessScene:
    return HeadlessScene()


@pytest.fixture
def phantom_scene(scene: HeadlessScene) -> HeadlessScene:
    scene.add_volume_data(shepp_logan_phantom(64, spacing=2.0))
    return scene


# -- slice views: geometry ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "orientation"),
    [
        ("red", "axial"),
        ("yellow", "sagittal"),
        ("green", "coronal"),
        ("red", "sagittal"),
        ("vtkMRMLSliceNodeGreen", "axial"),
    ],
)
def test_bright_cube_appears_where_the_slice_geometry_puts_it(
    scene: HeadlessScene, view: str, orientation: str
) -> None:
    scene.set_volume("Cube", cube_volume(), CUBE_IJK_TO_RAS)
    scene.set_slice_orientation(view, orientation)
    center_ras = (CUBE_IJK_TO_RAS @ [*((CUBE_LOW + CUBE_HIGH) / 2.0), 1.0])[:3]
    normal = scene.slice_view(view).slice_to_ras[:3, 2]
    scene.set_slice_offset(view, float(center_ras @ normal))

    image = grey(scene.render_slice(view, 160))
    assert image.shape == (160, 160)

    ijk = to_ijk(pixel_ras(scene, view, 160, 160), CUBE_IJK_TO_RAS)
    deep = ((ijk >= CUBE_LOW + 0.5) & (ijk <= CUBE_HIGH - 0.5)).all(axis=-1)
    away = ((ijk < CUBE_LOW - 1.5) | (ijk > CUBE_HIGH + 1.5)).any(axis=-1)
    assert deep.sum() > 20
    assert (image[deep] == 255).all()
    assert (image[away] == 0).all()
    # the bright region's centre is the cube's centre, projected into the image
    bright = np.argwhere(image > 127)
    predicted = np.argwhere(((ijk >= CUBE_LOW - 0.5) & (ijk <= CUBE_HIGH + 0.5)).all(axis=-1))
    np.testing.assert_allclose(bright.mean(axis=0), predicted.mean(axis=0), atol=1.0)


@pytest.mark.parametrize(
    ("view", "blob_ras", "quadrant"),
    [
        # axial: patient right on the image's left, anterior up (radiological convention)
        ("red", (30.0, 30.0, 0.0), "top-left"),
        # sagittal: anterior on the left, superior up
        ("yellow", (0.0, 30.0, 30.0), "top-left"),
        # coronal: patient right on the left, superior up
        ("green", (30.0, 0.0, -30.0), "bottom-left"),
    ],
)
def test_slice_views_show_patient_directions_as_slicer_does(
    scene: HeadlessScene, view: str, blob_ras: tuple[float, float, float], quadrant: str
) -> None:
    array = np.zeros((100, 100, 100), dtype=np.int16)  # RAS-aligned, 1 mm, centred
    centre = np.array(blob_ras) + 49.5
    i, j, k = (round(c) for c in centre)
    array[k - 5 : k + 5, j - 5 : j + 5, i - 5 : i + 5] = 500
    scene.set_volume(
        "Blob",
        array,
        np.array([[1, 0, 0, -49.5], [0, 1, 0, -49.5], [0, 0, 1, -49.5], [0, 0, 0, 1]]),
    )
    normal = scene.slice_view(view).slice_to_ras[:3, 2]
    scene.set_slice_offset(view, float(np.dot(blob_ras, normal)))
    image = grey(scene.render_slice(view, 100))
    row, column = np.argwhere(image > 127).mean(axis=0)
    vertical, horizontal = quadrant.split("-")
    assert (row < 50) == (vertical == "top")
    assert (column < 50) == (horizontal == "left")


def test_oblique_volume_is_resliced_through_its_rotated_geometry(scene: HeadlessScene) -> None:
    """A volume turned 30° about S (and mirrored like LPS) makes the axial view oblique to
    its voxel grid; nearest sampling of a labelmap must still land on the predicted voxels."""
    angle = math.radians(30.0)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = rotation @ np.diag([-1.5, -1.0, 2.0])
    ijk_to_ras[:3, 3] = (5.0, -7.0, 3.0)
    labels = (np.arange(24 * 30 * 12).reshape(12, 30, 24) % 7 + 1).astype(np.uint8)
    scene.set_volume("Labels", labels, ijk_to_ras, labelmap=True)
    scene.set_slice_offset("red", 3.0 + 2.0 * 6)  # through voxel centres of k = 6
    image = decode(scene.render_slice("red", 120))
    assert image.mode == "RGB"  # a labelmap shows colour
    image = np.asarray(image)

    ijk = to_ijk(pixel_ras(scene, "red", 120, 120), ijk_to_ras)
    nearest = np.floor(ijk + 0.5).astype(int)
    fraction = np.abs(ijk - np.round(ijk))
    clear = (fraction[..., :2] < 0.45).all(axis=-1)  # not on a voxel boundary
    inside = ((nearest >= 0) & (nearest < [24, 30, 12])).all(axis=-1)
    chosen = clear & inside
    assert chosen.sum() > 1000
    expected_labels = labels[nearest[chosen][:, 2], nearest[chosen][:, 1], nearest[chosen][:, 0]]
    expected_colors = display.LABEL_TABLE[expected_labels]
    np.testing.assert_array_equal(image[chosen], expected_colors)
    outside = ((nearest < -1) | (nearest > [25, 31, 13])).any(axis=-1)
    assert (image[outside] == 0).all()


@pytest.mark.parametrize(
    "pixel_to_ijk",
    [
        np.array([[0.7, 0, 0, -3.2], [0, 0, -1.3, 20.4], [0, 0.9, 0, 2.0], [0, 0, 0, 1]]),
        np.array([[0, -0.8, 0, 17.5], [1.1, 0, 0, -1.0], [0, 0, 1, 5.5], [0, 0, 0, 1]]),
        np.array([[0, 0, 0.5, 9.0], [0, 0.6, 0, 1.0], [-0.4, 0, 0, 6.3], [0, 0, 0, 1]]),
    ],
)
@pytest.mark.parametrize("linear", [True, False])
def test_axis_aligned_fast_path_equals_general_sampling(
    pixel_to_ijk: np.ndarray, linear: bool
) -> None:
    volume = np.random.default_rng(7).normal(size=(9, 22, 19)).astype(np.float32)
    fast = resample.resample_plane(volume, pixel_to_ijk, 31, 27, linear=linear)
    general = resample.resample_plane(volume, pixel_to_ijk, 31, 27, linear=linear, fast=False)
    np.testing.assert_array_equal(fast[1], general[1])
    np.testing.assert_allclose(fast[0][fast[1]], general[0][general[1]], rtol=1e-5, atol=1e-5)


# -- slice views: display --------------------------------------------------------------------------


def test_auto_window_level_is_slicers_percentile_range() -> None:
    values = np.arange(100_001, dtype=np.float64).reshape(1, 1, -1)
    window_level = display.auto_window_level(values)
    assert window_level.lower == pytest.approx(100.0)
    assert window_level.upper == pytest.approx(99_900.0)
    assert window_level.level == pytest.approx(50_000.0)


def test_window_level_maps_voxel_values_linearly_onto_grey(scene: HeadlessScene) -> None:
    ramp = np.broadcast_to(np.arange(0, 1010, 10, dtype=np.int16), (3, 3, 101)).copy()
    scene.set_volume("Ramp", ramp, np.diag([1.0, 1.0, 1.0, 1.0]))
    window_level = display.auto_window_level(ramp)
    lower, upper = np.percentile(ramp, [0.1, 99.9])
    assert (window_level.lower, window_level.upper) == pytest.approx((lower, upper))
    # field of view 101 mm over 101 pixels: pixel centres on voxel centres
    image = grey(scene.render_slice("red", 101))
    middle = image[50]
    mapped = (np.arange(0, 1010, 10) - lower) / (upper - lower) * 255
    expected = np.floor(np.clip(mapped, 0, 255) + 0.5)  # rounded half up
    np.testing.assert_array_equal(np.sort(middle), np.sort(expected))
    # axial views show patient right on the left: the ramp rises along R, so it falls here
    assert middle[0] == 255 and middle[-1] == 0


def test_window_level_follows_a_replaced_volume(scene: HeadlessScene) -> None:
    scene.set_volume("Cube", cube_volume(), CUBE_IJK_TO_RAS)
    before = pixels(scene.render_slice("red"))
    # ten times brighter: a stale window would saturate; a fresh one gives the same picture
    scene.set_volume("Cube", cube_volume() * 10 - 300, CUBE_IJK_TO_RAS)
    after = pixels(scene.render_slice("red"))
    np.testing.assert_array_equal(before, after)
    renderer = scene._renderer
    assert renderer.display.window_level(
        "vtkMRMLScalarVolumeNode1", scene.volume("Cube").array
    ).upper == pytest.approx(9700)


def test_float_volume_with_nan_voxels_renders_them_black(scene: HeadlessScene) -> None:
    values = np.broadcast_to(np.linspace(0.0, 1.0, 40, dtype=np.float32), (3, 40, 40)).copy()
    values[:, :20, :] = np.nan  # posterior half
    scene.set_volume("Float", values, np.eye(4))
    scene.set_slice_offset("red", 1.0)
    image = grey(scene.render_slice("red", 40))
    assert not image[20:].any()  # posterior rows at the bottom
    assert image[:20].max() == 255 and image[:20].min() == 0


def test_labelmap_background_is_drawn_with_its_colour_table(scene: HeadlessScene) -> None:
    labels = np.zeros((4, 30, 30), dtype=np.int16)
    labels[:, :, :10] = 1
    labels[:, :, 10:20] = 2
    labels[:, :, 20:] = 0
    scene.set_volume("Seg", labels, np.eye(4), labelmap=True)
    scene.set_slice_offset("red", 1.0)
    image = pixels(scene.render_slice("red", 30))
    colours = {tuple(int(c) for c in pixel) for pixel in image.reshape(-1, 3)}
    assert colours == {(128, 174, 128), (241, 214, 145), (0, 0, 0)}
    # label 1 lies at low I = patient right → image left in an axial view
    assert tuple(image[15, 2]) == (0, 0, 0)
    assert tuple(image[15, 27]) == (128, 174, 128)


def test_label_layer_and_foreground_blend_over_the_background(scene: HeadlessScene) -> None:
    background = np.full((4, 20, 20), 100, dtype=np.int16)
    background[:, :, :10] = 0
    scene.set_volume("Grey", background, np.eye(4))
    overlay = np.zeros((4, 20, 20), dtype=np.int16)
    overlay[:, :5, :] = 5
    label = scene.set_volume("Mask", overlay, np.eye(4), labelmap=True)
    foreground = scene.set_volume("Other", np.full((4, 20, 20), 7, np.int16), np.eye(4))
    red = scene._slice_node("red")  # layers have no protocol setter yet
    red.background_volume_id = scene.find("Grey").id
    red.label_volume_id = label.id
    scene.set_slice_offset("red", 1.0)
    image = pixels(scene.render_slice("red", 20))
    assert tuple(image[19, 10]) == display.GENERIC_ANATOMY_COLORS[5]  # label on posterior rows
    assert tuple(image[5, 2]) == (255, 255, 255)  # R half bright
    assert tuple(image[5, 17]) == (0, 0, 0)
    # a constant foreground (its window centred on its value: mid grey) at half opacity
    red.foreground_volume_id, red.foreground_opacity = foreground.id, 0.5
    blended = pixels(scene.render_slice("red", 20))
    assert tuple(blended[5, 17]) == (64, 64, 64)
    assert tuple(blended[5, 2]) == (192, 192, 192)
    assert tuple(blended[19, 10]) == display.GENERIC_ANATOMY_COLORS[5]


def test_view_without_volume_is_black_at_the_view_size(scene: HeadlessScene) -> None:
    image = decode(scene.render_slice("yellow"))
    assert image.mode == "L" and image.size == (256, 256)
    assert not np.asarray(image).any()


def test_volume_under_a_grid_transform_is_left_out_not_drawn_unwarped(
    scene: HeadlessScene,
) -> None:
    """The renderer cannot warp through a displacement field; drawing the volume unwarped
    would show it where it is not, so the view shows nothing for it (and does not fail)."""
    scene.set_volume("Cube", cube_volume(), CUBE_IJK_TO_RAS)
    center = (CUBE_IJK_TO_RAS @ [*((CUBE_LOW + CUBE_HIGH) / 2.0), 1.0])[:3]
    scene.set_slice_offset("red", float(center[2]))
    assert grey(scene.render_slice("red")).any()
    warp = GridTransformData(np.zeros((2, 2, 2, 3)), np.diag([50.0, 50.0, 50.0, 1.0]))
    scene.set_grid_transform("Warp", warp)
    scene.set_parent_transform("Cube", "Warp")
    assert not grey(scene.render_slice("red")).any()
    assert decode(scene.screenshot(200)).size == (200, 150)


def test_models_under_a_grid_transform_are_left_out_of_3d_and_gltf(scene: HeadlessScene) -> None:
    scene.set_tracking_pose(position=np.zeros(3))
    assert len(scene.gltf()["nodes"]) == 1
    scene.set_grid_transform("Warp", GridTransformData(np.zeros((2, 2, 2, 3)), np.eye(4)))
    scene.set_parent_transform("tracker", "Warp")
    assert "nodes" not in scene.gltf()
    assert decode(scene.render_threed(size=64)).size == (64, 64)


# -- slice views: size ----------------------------------------------------------------------------


def test_size_resamples_the_slice_keeping_the_field_of_view(scene: HeadlessScene) -> None:
    scene.set_volume("Cube", cube_volume(), CUBE_IJK_TO_RAS)
    center = (CUBE_IJK_TO_RAS @ [*((CUBE_LOW + CUBE_HIGH) / 2.0), 1.0])[:3]
    scene.set_slice_offset("red", float(center[2]))
    native = decode(scene.render_slice("red"))
    assert native.size == (256, 256)  # the 32 mm field at 1.5 mm voxels, raised to 256
    for size, expected in [(64, (64, 64)), (300, (300, 300)), ((200, 100), (200, 100))]:
        image = grey(scene.render_slice("red", size))
        assert image.shape == expected[::-1]
        bright = np.argwhere(image > 127).mean(axis=0)
        predicted_ras = pixel_ras(scene, "red", *expected)
        ijk = to_ijk(predicted_ras, CUBE_IJK_TO_RAS)
        inside = np.argwhere(((ijk >= CUBE_LOW - 0.5) & (ijk <= CUBE_HIGH + 0.5)).all(axis=-1))
        np.testing.assert_allclose(bright, inside.mean(axis=0), atol=1.0)


@pytest.mark.parametrize("size", [0, -5, 5000, (10,), (10, 0), "big", 2.5, True])
def test_impossible_sizes_are_refused(scene: HeadlessScene, size: object) -> None:
    with pytest.raises(SceneError):
        scene.render_slice("red", size)  # type: ignore[arg-type]


def test_unknown_or_wrong_views_are_refused(scene: HeadlessScene) -> None:
    with pytest.raises(SceneError):
        scene.render_slice("blue")
    with pytest.raises(SceneError):
        scene.render_slice("3d")
    with pytest.raises(SceneError):
        scene.render_threed("red")
    with pytest.raises(SceneError):
        scene.gltf("green")


# -- the 3D view -----------------------------------------------------------------------------------


def background_at(row: int, height: int) -> np.ndarray:
    t = (row + 0.5) / height
    top, bottom = np.array(THREED_BACKGROUND_TOP), np.array(THREED_BACKGROUND_BOTTOM)
    return np.round(((1 - t) * top + t * bottom) * 255)


def test_empty_3d_view_is_slicers_background_gradient(scene: HeadlessScene) -> None:
    image = decode(scene.render_threed())
    assert image.mode == "RGB" and image.size == DEFAULT_THREED_SIZE
    array = np.asarray(image).astype(int)
    height = image.size[1]
    np.testing.assert_allclose(array[0, 10], background_at(0, height), atol=1)
    np.testing.assert_allclose(array[-1, 10], background_at(height - 1, height), atol=1)
    assert array[0, :, 2].mean() < array[-1, :, 2].mean()  # darker lavender on top


def test_phantom_is_drawn_and_the_picture_follows_the_camera(phantom_scene: HeadlessScene) -> None:
    front = pixels(phantom_scene.render_threed(size=160)).astype(int)
    assert front.shape == (160, 160, 3)
    centre = front[80, 80]
    assert np.abs(centre - background_at(80, 160)).max() > 40  # the head, not background
    corner = front[2, 2]
    np.testing.assert_allclose(corner, background_at(2, 160), atol=1)
    phantom_scene.set_camera("3d", [0.0, 150.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    closer = pixels(phantom_scene.render_threed(size=160)).astype(int)
    background = np.stack([background_at(row, 160) for row in range(160)])[:, None, :]

    def covered(image: np.ndarray) -> int:
        return int((np.abs(image - background).max(axis=-1) > 30).sum())

    assert covered(front) > 1000
    assert covered(closer) > 2 * covered(front)  # nearer camera: the head fills more


def yellow_mask(image: np.ndarray) -> np.ndarray:
    red, green, blue = (image[..., c].astype(int) for c in range(3))
    return (red > 120) & (green > 120) & (blue < 60)


def test_tracking_cube_is_drawn_where_the_tracker_puts_it(scene: HeadlessScene) -> None:
    scene.set_tracking_pose(position=np.zeros(3))
    centred = yellow_mask(pixels(scene.render_threed(size=200)))
    assert centred.sum() > 50
    row, column = np.argwhere(centred).mean(axis=0)
    assert abs(row - 100) < 2 and abs(column - 100) < 2
    # the default camera looks from anterior: patient right (+R) is on the image's left
    scene.set_tracking_pose(position=np.array([60.0, 0.0, 0.0]))
    moved = yellow_mask(pixels(scene.render_threed(size=200)))
    moved_row, moved_column = np.argwhere(moved).mean(axis=0)
    assert moved_column < column - 20 and abs(moved_row - row) < 2
    # turned 90° about R, the 5 mm thin cube shows its 70 mm side to the camera
    scene.set_tracking_pose(rotation=np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]))
    turned = yellow_mask(pixels(scene.render_threed(size=200)))
    assert turned.sum() > 5 * moved.sum()


def test_markups_points_are_drawn_as_spheres(scene: HeadlessScene) -> None:
    scene.set_markups_points("F", np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 60.0]]))
    image = pixels(scene.render_threed(size=200)).astype(int)
    for row in (100, 100 - round(60 * 100 / (500 * math.tan(math.radians(15))))):
        red, green, blue = image[row, 100]
        assert red > green + 40 and red > blue + 40  # the (1, .5, .5) glyph, lit


def test_faint_tissue_without_a_surface_glows_as_a_maximum_intensity_projection(
    scene: HeadlessScene,
) -> None:
    volume = np.zeros((40, 40, 40), dtype=np.int16)
    volume[15:25, 15:25, 15:25] = 450  # above the glow floor, below the surface level
    volume[:5, :5, :5] = 1000  # sets the window's top, far off in a corner
    scene.set_volume(
        "Faint", volume, np.array([[1, 0, 0, -20], [0, 1, 0, -20], [0, 0, 1, -20], [0, 0, 0, 1.0]])
    )
    image = pixels(scene.render_threed(size=100)).astype(int)
    centre, edge = image[50, 50], image[50, 2]
    assert (centre > edge).all() and centre[0] >= edge[0] + 20  # whitened by the glow
    assert centre[2] > centre[0]  # still see-through: the lavender background shows


def test_models_hide_behind_the_volume_surface(scene: HeadlessScene) -> None:
    scene.add_volume_data(shepp_logan_phantom(64, spacing=2.0))
    scene.set_tracking_pose(position=np.array([0.0, 0.0, 0.0]))  # inside the head
    assert yellow_mask(pixels(scene.render_threed(size=160))).sum() == 0
    scene.set_tracking_pose(position=np.array([0.0, 120.0, 0.0]))  # in front of the face
    assert yellow_mask(pixels(scene.render_threed(size=160))).sum() > 20


@pytest.mark.parametrize(
    ("axis", "direction", "view_up"),
    [
        ("left", (-1, 0, 0), (0, 0, 1)),
        ("R", (1, 0, 0), (0, 0, 1)),
        ("posterior", (0, -1, 0), (0, 0, 1)),
        ("a", (0, 1, 0), (0, 0, 1)),
        ("Superior", (0, 0, 1), (0, 1, 0)),
        ("i", (0, 0, -1), (0, 1, 0)),
    ],
)
def test_look_from_axis_moves_the_camera_keeping_focal_point_and_distance(
    scene: HeadlessScene, axis: str, direction: tuple[int, int, int], view_up: tuple[int, ...]
) -> None:
    scene.set_camera("3d", [10.0, 300.0, 40.0], [10.0, 0.0, 40.0], [0.0, 0.0, 1.0])
    scene.render_threed(size=32, look_from_axis=axis)
    camera = scene.camera()
    np.testing.assert_allclose(camera.focal_point, [10.0, 0.0, 40.0])
    np.testing.assert_allclose(
        camera.position, np.array([10.0, 0.0, 40.0]) + 300.0 * np.array(direction)
    )
    np.testing.assert_allclose(camera.view_up, view_up)


def test_look_from_axis_changes_the_picture(phantom_scene: HeadlessScene) -> None:
    phantom_scene.set_tracking_pose(position=np.array([0.0, 100.0, 0.0]))
    front = pixels(phantom_scene.render_threed(size=96))
    side = pixels(phantom_scene.render_threed(size=96, look_from_axis="left"))
    assert np.abs(front.astype(int) - side).max() > 50


def test_unknown_axis_is_refused_and_the_camera_stays(scene: HeadlessScene) -> None:
    before = scene.camera()
    with pytest.raises(SceneError):
        scene.render_threed(look_from_axis="x")
    np.testing.assert_array_equal(scene.camera().position, before.position)


def test_3d_size_is_honoured(scene: HeadlessScene) -> None:
    assert decode(scene.render_threed(size=(320, 200))).size == (320, 200)
    assert decode(scene.render_threed(size=100)).size == (100, 100)


# -- the layout -----------------------------------------------------------------------------------

RED, YELLOW, GREEN, BLUE = (
    (0xF3, 0x4A, 0x33),
    (0xED, 0xD5, 0x4C),
    (0x6E, 0xB0, 0x4B),
    (0x74, 0x83, 0xE9),
)


def test_four_up_screenshot_tiles_red_3d_green_yellow(phantom_scene: HeadlessScene) -> None:
    phantom_scene.set_layout("FourUp")
    image = decode(phantom_scene.screenshot())
    assert image.mode == "RGB" and image.size == DEFAULT_SCREENSHOT_SIZE
    array = np.asarray(image)
    assert tuple(array[0, 0]) == RED
    assert tuple(array[0, -1]) == BLUE
    assert tuple(array[-1, 0]) == GREEN
    assert tuple(array[-1, -1]) == YELLOW
    quadrants = [array[:384, :512], array[:384, 512:], array[384:, :512], array[384:, 512:]]
    insides = [quadrant[4:-4, 4:-4].astype(int) for quadrant in quadrants]
    for first in range(4):
        for second in range(first + 1, 4):
            assert np.abs(insides[first] - insides[second]).sum() > 1000
    # the 3D quadrant is the 3D view at its size; the red one the red slice view at its size
    threed = pixels(phantom_scene.render_threed(size=(512, 384)))
    np.testing.assert_array_equal(quadrants[1][2:-2, 2:-2], threed[2:-2, 2:-2])
    red = rgb(phantom_scene.render_slice("red", (512, 384)))
    np.testing.assert_array_equal(quadrants[0][2:-2, 2:-2], red[2:-2, 2:-2])


def test_conventional_screenshot_has_3d_above_three_slices(phantom_scene: HeadlessScene) -> None:
    assert phantom_scene.layout == "Conventional"
    array = pixels(phantom_scene.screenshot(size=(600, 400)))
    assert array.shape == (400, 600, 3)
    assert tuple(array[0, 300]) == BLUE
    assert tuple(array[399, 100]) == RED
    assert tuple(array[399, 300]) == GREEN
    assert tuple(array[399, 500]) == YELLOW
    threed = pixels(phantom_scene.render_threed(size=(600, 200)))
    np.testing.assert_array_equal(array[2:198, 2:-2], threed[2:-2, 2:-2])


@pytest.mark.parametrize(
    ("layout", "view", "colour"),
    [("OneUp3D", "3d", BLUE), ("OneUpRedSlice", "red", RED), ("oneupgreenslice", "green", GREEN)],
)
def test_one_up_screenshot_is_the_single_view(
    phantom_scene: HeadlessScene, layout: str, view: str, colour: tuple[int, int, int]
) -> None:
    phantom_scene.set_layout(layout)
    array = pixels(phantom_scene.screenshot(size=200))
    assert array.shape == (150, 200, 3)  # an int sets the longer side, 4:3 kept
    assert tuple(array[0, 0]) == colour
    if view == "3d":
        alone = pixels(phantom_scene.render_threed(size=(200, 150)))
    else:
        alone = rgb(phantom_scene.render_slice(view, (200, 150)))
    np.testing.assert_array_equal(array[2:-2, 2:-2], alone[2:-2, 2:-2])


def test_screenshot_does_not_move_the_camera(phantom_scene: HeadlessScene) -> None:
    before = phantom_scene.camera().position
    phantom_scene.screenshot(size=64)
    np.testing.assert_array_equal(phantom_scene.camera().position, before)
