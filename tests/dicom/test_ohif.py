"""The OHIF Viewer at `/browse` (`adapters.http.ohif`): its generated configuration, SPA
routing, the page shown when it is not installed, and the real viewer in headless Chromium
on the test data — the study list shows the patients, a study opens and renders, and the
browser sees no failed request.

The viewer tests need the viewer installed (`scripts/install-ohif.sh`, which `make test`
runs) and skip, saying so, when it is not; the browser test also needs Debian's `chromium`
and the Playwright package (never Playwright's own browser download).
"""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import orjson
import pytest

from adapters.http.ohif import installed_version
from bridge.config import Settings

OHIF_DIR = Settings().ohif_dir
needs_ohif = pytest.mark.skipif(
    installed_version(OHIF_DIR) is None,
    reason=f"the OHIF viewer is not installed in {OHIF_DIR}: run scripts/install-ohif.sh",
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How OHIF's study list writes the fixture's patient names (`formatPN`).
PATIENTS = ("Müller, Hans", "Smith, John", "Tanaka, Yuki")


def window_config(body: bytes) -> dict:
    prefix, _, rest = body.partition(b"window.config = ")
    assert prefix.startswith(b"/**") and rest.endswith(b";\n")
    return orjson.loads(rest[:-2])


@needs_ohif
async def test_app_config_points_the_viewer_at_this_servers_dicomweb(
    dicom_server, http_session
) -> None:
    async with http_session.get(dicom_server.running.url("/browse/app-config.js")) as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
        config = window_config(await response.read())
    assert config["routerBasename"] == "/browse"
    (source,) = config["dataSources"]
    assert source["sourceName"] == config["defaultDataSourceName"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    settings = source["configuration"]
    for root in ("qidoRoot", "wadoRoot", "wadoUriRoot"):
        assert settings[root] == dicom_server.base
    assert settings["imageRendering"] == settings["thumbnailRendering"] == "wadors"
    for flag in ("qidoSupportsIncludeField", "supportsFuzzyMatching", "supportsWildcard",
                 "enableStudyLazyLoad"):  # fmt: skip
        assert settings[flag] is True, flag


@needs_ohif
async def test_every_browse_path_that_is_not_a_file_is_the_viewer_page(
    start_http_bridge, http_session
) -> None:
    http_bridge = await start_http_bridge()
    index = (OHIF_DIR / "index.html").read_bytes()
    assert b'window.PUBLIC_URL="/browse/"' in index  # installed for /browse/
    for path in ("/browse", "/browse/", "/browse/viewer?StudyInstanceUIDs=1.2.3",
                 "/browse/segmentation/dicomweb", "/browse/.slicer-bridge-ohif.json",
                 "/browse/assets"):  # fmt: skip
        async with http_session.get(http_bridge.url(path)) as response:
            assert response.status == 200, path
            assert response.content_type == "text/html", path
            assert await response.read() == index, path
    async with http_session.get(http_bridge.url("/browse/manifest.json")) as response:
        assert response.status == 200
        assert (await response.json())["name"] == "OHIF Viewer"
    async with http_session.head(http_bridge.url("/browse/app-config.js")) as response:
        assert response.status == 200


async def test_browse_says_how_to_install_the_viewer_when_it_is_missing(
    start_http_bridge, http_session, tmp_path: Path
) -> None:
    running = await start_http_bridge(ohif_dir=tmp_path / "no-ohif")
    for path in ("/browse", "/browse/viewer", "/browse/app-config.js"):
        async with http_session.get(running.url(path)) as response:
            assert response.status == 404
            assert response.content_type == "text/html"
            assert "scripts/install-ohif.sh" in await response.text()


async def test_browse_is_off_with_dicomweb(start_http_bridge, http_session) -> None:
    running = await start_http_bridge(dicom=False)
    async with http_session.get(running.url("/bridge/status")) as response:
        surfaces = (await response.json())["adapters"]["http"]["surfaces"]
    assert "ohif" not in surfaces and "dicom" not in surfaces
    async with http_session.get(running.url("/browse/app-config.js")) as response:
        assert b"window.config" not in await response.read()  # the static docroot's answer


# -- the viewer in Chromium -----------------------------------------------------------------
class BrowserLog:
    """What went wrong in the browser: failed requests and error responses from our server."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problems: list[str] = []
        self.requests: list[str] = []

    def attach(self, page) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _failed(self, request) -> None:
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.status >= 400 and response.url.startswith(self.origin):
            self.problems.append(f"{response.status} for {response.url}")

    def dicom_requests(self, part: str) -> list[str]:
        return [
            url for url in self.requests if url.startswith(self.origin + "/dicom") and part in url
        ]


@pytest.fixture
async def browser():
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the Playwright package is not installed"
    )
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def dismiss(page, name: str) -> None:
    """Click OHIF's button `name` (onboarding tour, investigational-use notice) if shown."""
    button = page.get_by_role("button", name=name)
    if await button.count():
        await button.first.click()


def non_blank(png: bytes) -> tuple[bool, str]:
    """Whether a screenshot shows an image: enough lit pixels, with contrast."""
    from PIL import Image, ImageStat

    grey = Image.open(io.BytesIO(png)).convert("L")
    histogram = grey.histogram()
    lit = sum(histogram[48:]) / (grey.width * grey.height)
    spread = ImageStat.Stat(grey).stddev[0]
    return lit > 0.05 and spread > 20, f"{lit:.1%} lit, stddev {spread:.1f}"


@needs_ohif
async def test_ohif_lists_the_patients_and_renders_a_study(dicom_server, browser) -> None:
    origin = dicom_server.running.base_url
    log = BrowserLog(origin)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    log.attach(page)

    await page.goto(origin + "/browse/")
    for name in PATIENTS:
        await page.get_by_text(name).first.wait_for(timeout=30_000)
    assert await page.get_by_text("CT CHEST ABDOMEN").count() == 1
    assert log.dicom_requests("/dicom/studies?"), "the study list came from /dicom"
    await page.wait_for_load_state("networkidle")

    study = dicom_server.data.study("ct")
    await page.goto(f"{origin}/browse/viewer?StudyInstanceUIDs={study.uid}")
    viewport = page.locator(".cornerstone-canvas").first
    await viewport.wait_for(timeout=30_000)
    await dismiss(page, "Skip all")
    await dismiss(page, "Confirm and hide")
    verdict = (False, "never drawn")
    for _ in range(100):
        verdict = non_blank(await viewport.screenshot())
        if verdict[0]:
            break
        await asyncio.sleep(0.2)
    assert verdict[0], f"the viewport stays blank: {verdict[1]}"
    await page.wait_for_load_state("networkidle")
    assert log.dicom_requests("/frames/"), "pixels came as WADO-RS frames"
    assert log.dicom_requests("/metadata"), "instances came from series metadata"
    assert log.problems == []
    await page.close()
