"""`/slicer` view routes: layout, slice and 3D view changes, and the pictures they answer.

View changes (orientation, offset, scrollTo, copySliceGeometryFrom, lookFromAxis, layout) are
commands and are checked through `/mrml/properties`, apart from the pictures. The pictures
come from the scene's renderer and are decoded and checked here; a scene without a renderer
answers 501 (checked only when the scene in use has none).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from slicer_testdata import nrrd_bytes, sample_voxels


async def properties(session, running, node_id: str) -> dict:
    async with session.get(
        running.url("/slicer/mrml/properties"), params={"id": node_id}
    ) as response:
        assert response.status == 200
        return (await response.json())[node_id]


async def status_and_json(response) -> tuple[int, dict | None]:
    if response.headers["Content-Type"] == "application/json":
        return response.status, await response.json()
    return response.status, None


@pytest.fixture
async def with_volume(http_bridge, http_session):
    """A 3 × 4 × 5 volume, 1 × 1 × 10 mm voxels along R, A, S, origin 0: in the Red (axial)
    view its slices span S = -5 … 45 mm (voxel edges)."""
    header = {
        "space": "right-anterior-superior",
        "space directions": np.diag([1.0, 1.0, 10.0]),
        "space origin": np.zeros(3),
    }
    async with http_session.post(
        http_bridge.url("/slicer/volume"),
        params={"id": "Vol"},
        data=nrrd_bytes(sample_voxels(), header),
    ) as response:
        assert response.status == 200
    return http_bridge


async def test_gui_sets_the_layout_and_checks_contents(http_bridge, http_session):
    for query, layout in (
        ({"contents": "viewers", "viewersLayout": "FourUp"}, "FourUp"),
        ({"contents": "full", "viewersLayout": "oneup3d"}, "OneUp3D"),
        ({"viewersLayout": "CONVENTIONAL"}, "Conventional"),
    ):
        async with http_session.get(http_bridge.url("/slicer/gui"), params=query) as response:
            assert await response.json() == {"success": True}
        layout_node = await properties(
            http_session, http_bridge, "vtkMRMLLayoutNodevtkMRMLLayoutNode"
        )
        assert layout_node["ViewArrangement"] == layout
    async with http_session.put(
        http_bridge.url("/slicer/gui"), params={"contents": "everything"}
    ) as response:
        assert response.status == 400
        assert "contents must be 'viewers' or 'full'" in (await response.json())["message"]
    async with http_session.get(
        http_bridge.url("/slicer/gui"), params={"viewersLayout": "Kaleidoscope"}
    ) as response:
        assert response.status == 400
        assert "unknown layout name" in (await response.json())["message"]


async def test_slice_orientation_and_absolute_offset_change_the_view(http_bridge, http_session):
    async with http_session.get(
        http_bridge.url("/slicer/slice"), params={"view": "yellow", "orientation": "axial"}
    ) as response:
        assert response.status in (200, 501)
    yellow = await properties(http_session, http_bridge, "vtkMRMLSliceNodeYellow")
    assert yellow["Orientation"] == "Axial"
    for offset in ("12.5", "0", "-3"):
        async with http_session.get(
            http_bridge.url("/slicer/slice"), params={"view": "Yellow", "offset": offset}
        ) as response:
            assert response.status in (200, 501)
        yellow = await properties(http_session, http_bridge, "vtkMRMLSliceNodeYellow")
        assert yellow["SliceOffset"] == pytest.approx(float(offset))


async def test_scroll_to_moves_through_the_background_volume(with_volume, http_session):
    for fraction, expected in (("0", -5.0), (".3", 10.0), ("1", 45.0)):
        async with http_session.get(
            with_volume.url("/slicer/slice"), params={"scrollTo": fraction}
        ) as response:
            assert response.status in (200, 501)
        red = await properties(http_session, with_volume, "vtkMRMLSliceNodeRed")
        assert red["SliceOffset"] == pytest.approx(expected)


async def test_copy_slice_geometry_takes_the_other_views_orientation_and_offset(
    with_volume, http_session
):
    async with http_session.get(
        with_volume.url("/slicer/slice"), params={"view": "yellow", "offset": "1.5"}
    ):
        pass
    async with http_session.get(
        with_volume.url("/slicer/slice"), params={"view": "red", "copySliceGeometryFrom": "yellow"}
    ) as response:
        assert response.status in (200, 501)
    red = await properties(http_session, with_volume, "vtkMRMLSliceNodeRed")
    assert red["Orientation"] == "Sagittal"
    assert red["SliceOffset"] == pytest.approx(1.5)


async def test_copy_slice_geometry_copies_slice_to_ras_and_matches_the_width(
    http_bridge, http_session
):
    """As the original: SliceToRAS deep-copied (in-plane centre included), the field of view
    as wide as the other view's with this view's aspect ratio kept."""
    scene = http_bridge.bridge.scene
    angle = np.deg2rad(25)
    oblique = np.eye(4)
    oblique[:3, :3] = [
        [np.cos(angle), 0.0, np.sin(angle)],
        [0.0, 1.0, 0.0],
        [-np.sin(angle), 0.0, np.cos(angle)],
    ]
    oblique[:3, 3] = [3.0, -7.5, 12.25]
    scene.set_slice_geometry("green", oblique, (120.0, 90.0))
    scene.set_slice_geometry("red", np.array(scene.slice_view("red").slice_to_ras), (200.0, 100.0))
    async with http_session.get(
        http_bridge.url("/slicer/slice"), params={"view": "red", "copySliceGeometryFrom": "Green"}
    ) as response:
        assert response.status in (200, 501)
    red = await properties(http_session, http_bridge, "vtkMRMLSliceNodeRed")
    assert red["SliceToRAS"] == oblique.ravel().tolist()
    assert red["FieldOfView"] == [120.0, 60.0]  # green's width, red's 2:1 aspect
    assert red["Orientation"] == "Reformat"
    green = await properties(http_session, http_bridge, "vtkMRMLSliceNodeGreen")
    assert green["FieldOfView"] == [120.0, 90.0]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"view": "purple"}, "unknown view"),
        ({"view": "3d"}, "not a slice view"),
        ({"orientation": "oblique"}, "orientation"),
        ({"offset": "far"}, "offset"),
        ({"offset": "nan"}, "finite"),
        ({"scrollTo": "1.5"}, "0..1"),
        ({"scrollTo": "0.5"}, "needs a volume"),
        ({"size": "0"}, "size"),
        ({"size": "99999"}, "size"),
        ({"size": "big"}, "size"),
        ({"copySliceGeometryFrom": "blue"}, "unknown view"),
    ],
)
async def test_bad_slice_parameters_are_400(http_bridge, http_session, query, fragment):
    async with http_session.get(http_bridge.url("/slicer/slice"), params=query) as response:
        status, body = await status_and_json(response)
        assert status == 400 and fragment in body["message"]


async def test_look_from_axis_turns_the_camera_and_keeps_its_distance(http_bridge, http_session):
    camera = await properties(http_session, http_bridge, "vtkMRMLCameraNode1")
    distance = np.linalg.norm(np.subtract(camera["Position"], camera["FocalPoint"]))
    for axis, direction, view_up in (
        ("left", [-1, 0, 0], [0, 0, 1]),
        ("A", [0, 1, 0], [0, 0, 1]),
        ("inferior", [0, 0, -1], [0, 1, 0]),
        ("s", [0, 0, 1], [0, 1, 0]),
    ):
        async with http_session.get(
            http_bridge.url("/slicer/threeD"), params={"lookFromAxis": axis}
        ) as response:
            assert response.status in (200, 501)
        camera = await properties(http_session, http_bridge, "vtkMRMLCameraNode1")
        assert np.allclose(
            np.subtract(camera["Position"], camera["FocalPoint"]), np.multiply(direction, distance)
        )
        assert camera["ViewUp"] == pytest.approx(view_up)
    for query in ({"lookFromAxis": "x"}, {"view": "red"}, {"size": "-1"}):
        async with http_session.get(http_bridge.url("/slicer/threeD"), params=query) as response:
            assert response.status == 400


async def test_three_d_graphics_parameters(http_bridge, http_session):
    async with http_session.get(
        http_bridge.url("/slicer/threeDGraphics"), params={"format": "obj"}
    ) as response:
        assert response.status == 400
        assert "format obj not supported" in (await response.json())["message"]
    async with http_session.get(
        http_bridge.url("/slicer/threeDGraphics"), params={"widgetIndex": "1"}
    ) as response:
        assert response.status == 404
    async with http_session.get(
        http_bridge.url("/slicer/threeDGraphics"), params={"format": "glTF"}
    ) as response:
        assert response.status in (200, 501)  # the original refused its own format name


async def test_pictures_without_a_renderer_are_501_with_a_reason(http_bridge, http_session):
    if hasattr(http_bridge.bridge.scene, "render_slice"):
        pytest.skip("this scene renders")
    for path in ("/slicer/slice", "/slicer/threeD", "/slicer/screenshot", "/slicer/threeDGraphics"):
        async with http_session.get(http_bridge.url(path)) as response:
            status, body = await status_and_json(response)
            assert status == 501 and "not available" in body["message"]


# -- the pictures themselves (need the renderer) --------------------------------------------------


async def png_of(response) -> Image.Image:
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(await response.read()))


async def test_slice_png_honours_size_and_shows_the_volume(with_volume, http_session):
    async with http_session.get(
        with_volume.url("/slicer/slice"), params={"view": "red", "scrollTo": "0.5", "size": "200"}
    ) as response:
        image = await png_of(response)
    assert max(image.size) == 200
    assert np.asarray(image.convert("L")).std() > 0
    async with http_session.get(
        with_volume.url("/slicer/slice"), params={"size": "320x200"}
    ) as response:
        assert (await png_of(response)).size == (320, 200)


async def test_three_d_png_and_screenshot(with_volume, http_session):
    async with http_session.get(
        with_volume.url("/slicer/threeD"), params={"lookFromAxis": "anterior", "size": "128"}
    ) as response:
        image = await png_of(response)
    assert max(image.size) == 128
    async with http_session.get(with_volume.url("/slicer/screenshot")) as response:
        screenshot = await png_of(response)
    assert screenshot.size[0] > 0 and np.asarray(screenshot.convert("L")).std() > 0


async def test_three_d_graphics_is_gltf_a_viewer_loads(http_bridge, http_session):
    pygltflib = pytest.importorskip("pygltflib")
    async with http_session.put(
        http_bridge.url("/slicer/tracking"), params={"p": "10,20,30"}
    ) as response:
        assert response.status == 200
    async with http_session.get(http_bridge.url("/slicer/threeDGraphics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        text = await response.text()
    document = pygltflib.GLTF2.from_json(text)
    assert document.asset.version == "2.0"
    assert document.meshes and document.accessors


@pytest.mark.parametrize(
    "link",
    [
        "slicer/gui?contents=viewers&viewersLayout=FourUp",
        "slicer/gui?contents=full&viewersLayout=OneUp3D",
        "slicer/slice",
        "slicer/slice?orientation=sagittal",
        "slicer/slice?orientation=axial&scrollTo=.3",
        "slicer/slice?orientation=axial&scrollTo=.6",
        "slicer/threeD",
        "slicer/threeD?lookFromAxis=left",
        "slicer/threeD?lookFromAxis=anterior",
        "slicer/threeD?lookFromAxis=inferior",
        "slicer/screenshot",
        "slicer/timeimage",
        "slicer/timeimage?color=ff0",
        "slicer/volume",
        "slicer/sampledata?name=Phantom",
    ],
)
async def test_index_page_links_answer(with_volume, http_session, link):
    """The links of the original docroot's index page (MRHead swapped for the offline
    Phantom): each is answered."""
    async with http_session.get(with_volume.url("/" + link)) as response:
        assert response.status == 200, await response.text()
