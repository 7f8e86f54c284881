"""`/slicer` application routes: exec and repl, version, shutdown, time image, sample data,
unknown routes; the module documentation's curl examples, verbatim."""

from __future__ import annotations

import asyncio
import io
import shlex
import shutil

import numpy as np
import pytest
from PIL import Image

from adapters.http.slicer_system import version_info

JSON = "application/json"
SLICER_VERSION_KEYS = {
    "applicationName", "applicationDisplayName", "applicationVersion", "releaseType",
    "repositoryUrl", "repositoryBranch", "revision", "majorVersion", "minorVersion", "arch",
    "os", "isCustomMainApplication", "mainApplicationName", "mainApplicationRepositoryUrl",
    "mainApplicationRepositoryRevision", "mainApplicationRevision",
    "mainApplicationMajorVersion", "mainApplicationMinorVersion", "mainApplicationPatchVersion",
}  # fmt: skip


@pytest.fixture
async def exec_bridge(start_http_bridge):
    return await start_http_bridge(enable_exec=True)


def drawn_colours(image: Image.Image) -> set[tuple[int, int, int]]:
    pixels = np.asarray(image)
    return {tuple(int(v) for v in pixel[:3]) for pixel in pixels.reshape(-1, 4) if pixel[3]}


async def error_of(response, status: int) -> str:
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"] == JSON
    body = await response.json()
    assert body["success"] is False
    return body["message"]


async def test_exec_is_refused_with_a_reason_when_disabled(http_bridge, http_session):
    async with http_session.post(
        http_bridge.url("/slicer/exec"),
        data="__execResult = 1",
        headers={"Content-Type": "text/plain"},
    ) as response:
        assert "exec is disabled" in await error_of(response, 403)
    async with http_session.get(
        http_bridge.url("/slicer/repl"), params={"source": "1"}
    ) as response:
        assert "--enable-exec" in await error_of(response, 403)


async def test_exec_runs_the_body_in_a_persistent_namespace(exec_bridge, http_session):
    url = exec_bridge.url("/slicer/exec")
    async with http_session.post(url, data="counter = 41") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == JSON
        assert await response.json() == {}  # __execResult was never set
    async with http_session.post(url, data="counter += 1\n__execResult = counter") as response:
        assert await response.json() == 42  # any JSON value, not only a dict
    code = (
        "slices = scene.nodes(class_name='vtkMRMLSliceNode')\n"
        "__execResult = {'nodes': [n.id for n in slices], 'np': numpy.__name__}"
    )
    async with http_session.post(url, data=code.encode()) as response:
        assert await response.json() == {
            "nodes": ["vtkMRMLSliceNodeRed", "vtkMRMLSliceNodeYellow", "vtkMRMLSliceNodeGreen"],
            "np": "numpy",
        }


async def test_exec_takes_source_from_the_query_when_there_is_no_body(exec_bridge, http_session):
    source = "__execResult = {'sum': 1 + 2, 'text': '%41 & é'}"
    async with http_session.get(
        exec_bridge.url("/slicer/exec"), params={"source": source}
    ) as response:
        assert await response.json() == {"sum": 3, "text": "%41 & é"}


async def test_exec_errors_are_500_with_the_exception_text(exec_bridge, http_session):
    url = exec_bridge.url("/slicer/exec")
    async with http_session.post(url, data="raise ValueError('boom here')") as response:
        assert "boom here" in await error_of(response, 500)
    async with http_session.post(url, data="__execResult = object()") as response:
        assert (await error_of(response, 500)).startswith("Server error")
    async with http_session.post(url, data="def broken(:\n  pass") as response:
        assert (
            "SyntaxError" in await error_of(response, 500)
            or "invalid syntax" in (await response.json())["message"]
        )
    async with http_session.post(url) as response:
        assert "needs Python source" in await error_of(response, 400)
    async with http_session.post(url, data=b"\xff\xfe") as response:
        assert "UTF-8" in await error_of(response, 400)
    async with http_session.post(url, data="__execResult = 'still alive'") as response:
        assert await response.json() == "still alive"


async def test_repl_answers_repl_result(exec_bridge, http_session):
    async with http_session.post(
        exec_bridge.url("/slicer/repl"), data="x = 5\n__replResult = {'x': x}"
    ) as response:
        assert await response.json() == {"x": 5}
    async with http_session.get(
        exec_bridge.url("/slicer/repl"), params={"source": "y = 1"}
    ) as response:
        assert await response.json() == {}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "documented",
    [
        """curl -X POST localhost:2016/slicer/exec --data "import SampleData; volumeNode = SampleData.SampleDataLogic().downloadMRHead(); slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView); __execResult = {'volumeNodeID': volumeNode.GetID()}\"""",  # noqa: E501
        """curl -X POST localhost:2016/slicer/exec --data "slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView)\"""",  # noqa: E501
    ],
    ids=["download-MRHead", "set-layout"],
)
async def test_documented_curl_exec_examples_verbatim(exec_bridge, documented):
    """The docs' examples call Slicer's own Python API (`slicer`, `SampleData`), which exists
    only inside Slicer: standalone they reach the bridge, run, and fail as a 500 whose message
    names what is missing, exactly as such code fails in Slicer without those modules."""
    command = documented.replace("localhost:2016", f"127.0.0.1:{exec_bridge.port}")
    process = await asyncio.create_subprocess_exec(
        *shlex.split(command), "-s", "-w", "\n%{http_code} %{content_type}",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await process.communicate()
    body, status_line = output.decode().rsplit("\n", 1)
    assert status_line == "500 application/json"
    assert "No module named 'SampleData'" in body or "name 'slicer' is not defined" in body


async def test_version_has_slicers_keys_describing_this_application(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/system/version")) as response:
        assert response.headers["Content-Type"] == JSON
        info = await response.json()
    assert set(info) == SLICER_VERSION_KEYS
    assert info["applicationName"] == "SlicerBridge"
    assert info == version_info()
    async with http_session.get(http_bridge.url("/slicer/system")) as response:
        assert "system/version" in await error_of(response, 404)


async def test_delete_system_replies_then_shuts_the_bridge_down(http_bridge, http_session):
    async with http_session.delete(http_bridge.url("/slicer/system")) as response:
        assert response.status == 200
        assert await response.json() == {"success": True}
    await asyncio.wait_for(http_bridge.bridge.wait_for_shutdown(), 5)


async def test_time_image_is_a_128x32_png_with_the_asked_colour(http_bridge, http_session):
    async with http_session.get(
        http_bridge.url("/slicer/timeimage"), params={"color": "ff0"}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(await response.read()))
    assert image.size == (128, 32) and image.mode == "RGBA"
    colours = drawn_colours(image)
    assert image.getpixel((6, 16))[3] == 0  # transparent between border and text
    assert (255, 255, 0) in colours and (0x33, 0x33, 0x33) in colours  # border and text
    async with http_session.get(http_bridge.url("/slicer/timeimage")) as response:
        default = Image.open(io.BytesIO(await response.read()))
    assert (0x33, 0x33, 0x00) in drawn_colours(default)
    async with http_session.get(
        http_bridge.url("/slicer/timeimage"), params={"color": "not-a-colour"}
    ) as response:
        assert "color" in await error_of(response, 400)


async def test_sampledata_loads_the_offline_phantom(http_bridge, http_session):
    async with http_session.get(
        http_bridge.url("/slicer/sampledata"), params={"name": "Phantom"}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert await response.text() == "Sample data Phantom loaded"
    async with http_session.get(http_bridge.url("/slicer/volumes")) as response:
        assert await response.json() == [{"name": "Phantom", "id": "vtkMRMLScalarVolumeNode1"}]
    async with http_session.get(http_bridge.url("/slicer/sampledata")) as response:
        assert "not specified" in await error_of(response, 400)
    async with http_session.get(
        http_bridge.url("/slicer/sampledata"), params={"name": "NoSuchSample"}
    ) as response:
        assert "NoSuchSample" in await error_of(response, 400)


@pytest.mark.parametrize("path", ["/slicer/nothing", "/slicer/", "/slicer", "/slicer/Exec"])
async def test_unknown_routes_are_404_unknown_command(http_bridge, http_session, path):
    async with http_session.get(http_bridge.url(path)) as response:
        assert "unknown command" in await error_of(response, 404)


async def test_routes_match_by_prefix_as_in_the_original(http_bridge, http_session):
    async with http_session.get(http_bridge.url("/slicer/volumesXYZ")) as response:
        assert await response.json() == []  # /volumes
    async with http_session.get(
        http_bridge.url("/slicer/timeimage.png"), params={"color": "0f0"}
    ) as response:
        assert response.headers["Content-Type"] == "image/png"
