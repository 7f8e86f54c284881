"""The docroot demo pages in a real browser (Debian Chromium, driven by Playwright): each page
opens and works against a running bridge; screenshots are kept in the test's tmp folder."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat

from bridge import commands as c

# Every test here drives the browser: give the suite's slowest machines room, once.
PAGE_TIMEOUT_MS = 15_000


async def open_page(browser: Any, url: str) -> Any:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # checked at the end of each test
    await page.goto(url)
    return page


async def shot(page: Any, folder: Path, name: str, selector: str | None = None) -> Image.Image:
    """Screenshot the page (or one element) into `folder`; also return it as an image."""
    folder.mkdir(parents=True, exist_ok=True)
    target = page.locator(selector) if selector else page
    data = await target.screenshot(path=str(folder / f"{name}.png"))
    return Image.open(io.BytesIO(data)).convert("RGB")


def changed_fraction(before: Image.Image, after: Image.Image) -> float:
    """Fraction of pixels that differ by more than a little between two screenshots."""
    difference = np.asarray(ImageChops.difference(before, after).convert("L"))
    return float(np.mean(difference > 24))


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path / "screenshots"


# -- index ---------------------------------------------------------------------------------------
async def test_index_shows_live_status_and_its_local_links_answer(
    volume_bridge, browser, http_session, screenshots
):
    page = await open_page(browser, volume_bridge.url("/"))
    await page.wait_for_selector("#channel[data-status=open]")
    await page.wait_for_function("document.getElementById('bus').textContent.includes('applied')")
    assert await page.text_content("#volume-count") == "1"
    await volume_bridge.bridge.bus.submit(c.SetTransform(node="Probe", matrix=np.eye(4)))
    await page.wait_for_function("document.getElementById('transform-count').textContent === '1'")
    await shot(page, screenshots, "index")

    hrefs = await page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))"
    )
    local = [
        href
        for href in hrefs
        if not re.match(r"^[a-z]+:", href)
        and not href.startswith(("browse", "dicom/"))  # OHIF and DICOMweb: their own tests
        and "MRHead" not in href  # a download from the internet
    ]
    assert {"tracking.html", "remote.html", "timecube.html", "bridge/status"} <= set(local)
    for href in local:
        async with http_session.get(volume_bridge.url("/" + href)) as response:
            assert response.status == 200, (href, await response.text())
    assert page.errors == []


# -- live tracking ------------------------------------------------------------------------------
async def follow_the_tracker(
    page: Any, screenshots: Path, tool: str, move: Callable[[float], Awaitable[None]]
) -> None:
    """Move `tool` along R in 20 steps with `move(x)`; the page must follow it."""
    await page.wait_for_function("window.liveTracking && window.liveTracking.status === 'open'")
    await move(0.0)
    await page.wait_for_function(f"window.liveTracking.tools[{tool!r}] !== undefined")
    before = await shot(page, screenshots, f"tracking-{tool}-before", "#view")
    updates = await page.evaluate("window.liveTracking.updates")
    for step in range(1, 21):
        await move(step * 6.0)
        await asyncio.sleep(0.02)
    await page.wait_for_function(f"Math.abs(window.liveTracking.tools[{tool!r}][0] - 120) < 1e-6")
    after = await shot(page, screenshots, f"tracking-{tool}-after", "#view")
    assert await page.evaluate("window.liveTracking.updates") > updates
    assert changed_fraction(before, after) > 0.002  # the tool moved on the canvas
    row = await page.text_content("#tools tbody")
    assert tool in row and "120.0" in row


async def test_tracking_page_follows_the_rest_tracker_and_shows_markups(
    http_bridge, browser, http_session, screenshots
):
    page = await open_page(browser, http_bridge.url("/tracking.html"))

    async def move(x: float) -> None:
        async with http_session.put(http_bridge.url(f"/slicer/tracking?p={x},20,30")) as response:
            assert response.status == 200, await response.text()

    await follow_the_tracker(page, screenshots, "tracker", move)
    await http_bridge.bridge.bus.submit(
        c.SetMarkupsPoints(node="Targets", points=[[0, 0, 0], [50, 50, 50], [-60, 30, 10]])
    )
    await page.wait_for_function("window.liveTracking.markups.Targets === 3")
    await shot(page, screenshots, "tracking-markups")
    assert page.errors == []


async def test_tracking_page_follows_a_pyigtl_tracker(start_http_bridge, browser, screenshots):
    pyigtl = pytest.importorskip("pyigtl")
    if importlib.util.find_spec("adapters.igtl") is None:
        pytest.skip("the OpenIGTLink adapter is not in this tree")
    running = await start_http_bridge(igtl=True, igtl_port=0)
    igtl = next((a for a in running.bridge.adapters if a.name == "igtl"), None)
    if igtl is None or getattr(igtl, "address", None) is None:
        pytest.skip("the OpenIGTLink adapter did not start")
    client = pyigtl.OpenIGTLinkClient(host="127.0.0.1", port=igtl.address[1])
    try:
        assert await eventually(lambda: asyncio.sleep(0, client.is_connected()), 10.0)
        page = await open_page(browser, running.url("/tracking.html"))

        async def move(x: float) -> None:
            matrix = np.eye(4)
            matrix[:3, 3] = (x, -10.0, 40.0)
            client.send_message(pyigtl.TransformMessage(matrix, device_name="Stylus"), wait=False)

        await follow_the_tracker(page, screenshots, "Stylus", move)
        assert page.errors == []
    finally:
        await asyncio.to_thread(client.stop)


# -- remote view --------------------------------------------------------------------------------
def assert_not_blank(image: Image.Image, what: str) -> None:
    stats = ImageStat.Stat(image.convert("L"))
    assert stats.stddev[0] > 8, f"{what} looks blank (stddev {stats.stddev[0]:.1f})"


async def test_remote_view_streams_frames_and_a_drag_moves_the_camera(
    volume_bridge, browser, screenshots
):
    scene = volume_bridge.bridge.scene
    page = await open_page(browser, volume_bridge.url("/remote.html"))
    await page.wait_for_function(
        "window.remoteView.frames.red >= 1 && window.remoteView.frames['3d'] >= 1"
        " && window.remoteView.camera !== null && window.remoteView.slice !== null"
    )
    await asyncio.sleep(0.2)  # let the canvases paint
    red = await shot(page, screenshots, "remote-red", "#view-red")
    threed = await shot(page, screenshots, "remote-3d-before", "#view-3d")
    assert_not_blank(red, "the red slice view")
    assert_not_blank(threed, "the 3D view")

    camera_before = scene.camera("3d").position.copy()
    frames_before = await page.evaluate("window.remoteView.frames['3d']")
    box = await page.locator("#view-3d").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + 120, y + 40, steps=12)
    await page.mouse.up()
    await page.wait_for_function(
        f"window.remoteView.frames['3d'] > {frames_before}"
        " && window.remoteView.latencies['3d'].length > 0"
    )
    assert await eventually(
        lambda: asyncio.sleep(0, not np.allclose(scene.camera("3d").position, camera_before))
    ), "the drag did not move the camera"
    assert await page.evaluate("window.remoteView.commands") >= 1
    await asyncio.sleep(0.3)
    moved = await shot(page, screenshots, "remote-3d-after", "#view-3d")
    assert changed_fraction(threed, moved) > 0.01

    offset_before = scene.slice_view("red").offset
    red_box = await page.locator("#view-red").bounding_box()
    await page.mouse.move(red_box["x"] + 100, red_box["y"] + 100)
    for _ in range(5):
        await page.mouse.wheel(0, -100)
        await asyncio.sleep(0.05)
    assert await eventually(
        lambda: asyncio.sleep(0, scene.slice_view("red").offset > offset_before)
    ), "the wheel did not scroll the slice"
    assert page.errors == []


# -- time cube ----------------------------------------------------------------------------------
async def test_timecube_counts_round_trips_over_rest_and_websocket(
    http_bridge, browser, screenshots
):
    page = await open_page(browser, http_bridge.url("/timecube.html"))
    await page.wait_for_function("window.timecube.roundTrips >= 5")
    await shot(page, screenshots, "timecube-rest")
    rest_trips = await page.evaluate("window.timecube.roundTrips")
    await page.check("input[value=ws]")
    await page.wait_for_function(
        f"window.timecube.mode === 'ws' && window.timecube.roundTrips >= {rest_trips + 5}"
        " && window.timecube.latencies.length >= 5"
    )
    await shot(page, screenshots, "timecube-ws")
    text = await page.text_content("#rate")
    assert float(text) >= 0
    assert page.errors == []
