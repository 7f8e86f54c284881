"""The static docroot over real sockets: files, types, caching, ranges, rewrites — and every
way out of the docroot failing (slicer-webserver-api.md §3: the original served
`/../../etc/x` and `//etc/x`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.http.static import NotServed, content_type, resolve

SECRET = b"TOP SECRET: outside the docroot"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def make_docroot(base: Path) -> Path:
    """A docroot with one of everything, beside a secret file it must never serve."""
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "docroot"
    (root / "sub").mkdir(parents=True)
    (root / "both").mkdir()
    (root / "index.html").write_text("<!DOCTYPE html><title>home</title>")
    (root / "browse.html").write_text("<title>OHIF</title>")
    (root / "style.css").write_text("body { color: red }")
    (root / "app.js").write_text("console.log('ü')")
    (root / "data.json").write_text('{"a": 1}')
    (root / "image.png").write_bytes(PNG)
    (root / "volume.nrrd").write_bytes(b"NRRD0004\n")
    (root / "blob.weird-ext").write_bytes(b"\x00\x01")
    (root / "sub" / "a.txt").write_text("alpha")
    (root / "sub" / "<b>tag.txt").write_text("escaped")
    (root / "sub" / ".hidden").write_text("hidden")
    (root / "both" / "index.html").write_text("from index.html")
    (root / "both" / "index.htm").write_text("from index.htm")
    (root / ".env").write_text("SECRET=1")
    (root / "inside-link.html").symlink_to(root / "index.html")
    (root / "escape.txt").symlink_to(base / "secret.txt")
    (root / "escape-dir").symlink_to(base, target_is_directory=True)
    (root / "sub" / "escape.txt").symlink_to(base / "secret.txt")
    return root


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    return make_docroot(tmp_path)


@pytest.fixture
async def static_bridge(start_http_bridge, docroot):
    return await start_http_bridge(docroot=docroot)


async def test_index_page_of_the_project_docroot_is_served(http_bridge, http_session) -> None:
    async with http_session.get(http_bridge.url("/")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page = await response.text()
    assert "SlicerBridge" in page and "bridge/status" in page
    async with http_session.get(http_bridge.url("/stylesheets/application.css")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/image.png", "image/png"),
        ("/volume.nrrd", "application/octet-stream"),
        ("/blob.weird-ext", "application/octet-stream"),
    ],
)
async def test_content_types_come_with_charset_for_text(
    static_bridge, http_session, path, expected
) -> None:
    async with http_session.get(static_bridge.url(path)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == expected


def test_content_type_table_does_not_depend_on_the_platform() -> None:
    assert content_type(Path("x.MJS")) == "text/javascript; charset=utf-8"
    assert content_type(Path("x.glb")) == "model/gltf-binary"
    assert content_type(Path("x.gltf")) == "model/gltf+json; charset=utf-8"


async def test_query_string_does_not_change_the_file(static_bridge, http_session) -> None:
    async with http_session.get(static_bridge.url("/index.html?time=123")) as response:
        assert response.status == 200
        assert "home" in await response.text()


async def test_etag_and_last_modified_answer_304(static_bridge, http_session) -> None:
    url = static_bridge.url("/image.png")
    async with http_session.get(url) as response:
        etag = response.headers["ETag"]
        modified = response.headers["Last-Modified"]
        assert await response.read() == PNG
    async with http_session.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""
    async with http_session.get(url, headers={"If-Modified-Since": modified}) as response:
        assert response.status == 304
    async with http_session.get(url, headers={"If-None-Match": '"other"'}) as response:
        assert response.status == 200


async def test_range_requests_return_the_requested_bytes(static_bridge, http_session) -> None:
    url = static_bridge.url("/image.png")
    async with http_session.get(url, headers={"Range": "bytes=8-15"}) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 8-15/{len(PNG)}"
        assert await response.read() == PNG[8:16]
    async with http_session.get(url, headers={"Range": "bytes=-4"}) as response:
        assert response.status == 206
        assert await response.read() == PNG[-4:]
    async with http_session.get(url, headers={"Range": f"bytes={len(PNG) + 10}-"}) as response:
        assert response.status == 416


async def test_head_gives_the_headers_of_get_without_the_body(static_bridge, raw_connect) -> None:
    connection = await raw_connect(static_bridge.port)
    await connection.send(b"HEAD /image.png HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await connection.response(head=True)
    assert head.status == 200
    assert int(head.headers["content-length"]) == len(PNG)
    assert "etag" in head.headers
    get = await connection.request(b"GET /image.png HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert get.body == PNG  # nothing of a body was left on the connection after HEAD


@pytest.mark.parametrize("path", ["/browse", "/browse/viewer/1.2.840.1", "/browse?study=1"])
async def test_browse_paths_serve_browse_html_without_the_viewer_surface(
    start_http_bridge, docroot, http_session, path
) -> None:
    running = await start_http_bridge(docroot=docroot, dicom=False)  # no /dicom, no /browse
    async with http_session.get(running.url(path)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert await response.text() == "<title>OHIF</title>"


async def test_folder_index_prefers_index_html(static_bridge, http_session) -> None:
    async with http_session.get(static_bridge.url("/both/")) as response:
        assert await response.text() == "from index.html"
    async with http_session.get(static_bridge.url("/both"), allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == "/both/"


async def test_folder_without_index_is_not_listed_by_default(static_bridge, http_session) -> None:
    for path in ("/sub/", "/sub"):
        async with http_session.get(static_bridge.url(path), allow_redirects=False) as response:
            assert response.status == 404


async def test_directory_listing_when_enabled_escapes_names_and_hides_escapes(
    start_http_bridge, docroot, http_session
) -> None:
    running = await start_http_bridge(docroot=docroot, directory_listing=True)
    async with http_session.get(running.url("/sub/")) as response:
        assert response.status == 200
        page = await response.text()
    assert '<a href="a.txt">a.txt</a>' in page
    assert "&lt;b&gt;tag.txt" in page and "<b>tag" not in page
    assert ".hidden" not in page and "escape" not in page
    async with http_session.get(running.url("/sub/a.txt")) as response:
        assert await response.text() == "alpha"


async def test_symlink_inside_the_docroot_is_served(static_bridge, http_session) -> None:
    async with http_session.get(static_bridge.url("/inside-link.html")) as response:
        assert response.status == 200


async def test_writes_to_static_paths_are_405(static_bridge, http_session) -> None:
    async with http_session.put(static_bridge.url("/index.html"), data=b"x") as response:
        assert response.status == 405
        assert response.headers["Content-Type"] == "application/json"


TRAVERSALS = [
    "/../secret.txt",
    "/../../../../../../../../etc/hostname",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/..%2fsecret.txt",
    "/sub/..%2F..%2Fsecret.txt",
    "/..%5csecret.txt",
    "/..\\secret.txt",
    "/%252e%252e/secret.txt",
    "/escape.txt",
    "/sub/escape.txt",
    "/escape-dir/secret.txt",
    "/.env",
    "/sub/.hidden",
    "/./.env",
    "/%2e/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_out_of_the_docroot_fails(
    static_bridge, raw_connect, tmp_path, path
) -> None:
    connection = await raw_connect(static_bridge.port)
    for target in (path, path.replace("secret.txt", "docroot/../secret.txt")):
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        response = await connection.request(request)
        assert response.status in (400, 404), target
        assert SECRET not in response.body
        if response.headers.get("connection", "").lower() == "close":
            connection = await raw_connect(static_bridge.port)


async def test_absolute_paths_in_the_request_target_fail(
    static_bridge, raw_connect, tmp_path
) -> None:
    secret = (tmp_path / "secret.txt").as_posix()
    for target in (
        "/" + secret,  # //tmp/.../secret.txt: the original's os.path.join made it absolute
        "/%2F" + secret.lstrip("/"),
        "//etc/hostname",
        f"http://127.0.0.1:{static_bridge.port}/../secret.txt",
        f"http://127.0.0.1:{static_bridge.port}//{secret}",
    ):
        connection = await raw_connect(static_bridge.port)
        response = await connection.request(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        assert response.status in (400, 404), target
        assert SECRET not in response.body


async def test_nul_in_the_path_fails(static_bridge, raw_connect) -> None:
    connection = await raw_connect(static_bridge.port)
    response = await connection.request(
        b"GET /index.html%00.png HTTP/1.1\r\nHost: x.localhost\r\n\r\n"
    )
    assert response.status in (400, 404)


async def test_curl_path_as_is_cannot_leave_the_docroot(static_bridge) -> None:
    import asyncio
    import shutil

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "//etc/passwd"):
        process = await asyncio.create_subprocess_exec(
            "curl", "-s", "--path-as-is", "-w", "\n%{http_code}", static_bridge.url(path),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, _ = await process.communicate()
        assert output.rsplit(b"\n", 1)[1] == b"404", path
        assert SECRET not in output and b"root:" not in output


# -- property: whatever the path, resolve() stays inside the docroot ---------------------------
_PROPERTY_BASE = Path(tempfile.mkdtemp(prefix="static-property-"))
_PROPERTY_ROOT = make_docroot(_PROPERTY_BASE)
SEGMENTS = st.sampled_from(
    ["..", ".", "", "sub", "escape.txt", "escape-dir", "secret.txt", "index.html", "docroot",
     "..\\..", "a.txt", ".env", "both", "etc", "passwd", "~", "%2e%2e", "\x00"]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SEGMENTS, max_size=8), st.booleans())
def test_no_request_path_resolves_outside_the_docroot(segments, double_slash) -> None:
    path = ("//" if double_slash else "/") + "/".join(segments)
    root = _PROPERTY_ROOT.resolve()
    try:
        target = resolve(_PROPERTY_ROOT, path)
    except NotServed:
        return
    assert target == root or target.is_relative_to(root)
    assert os.path.realpath(target).startswith(str(root))
    assert target.read_bytes() != SECRET if target.is_file() else True


async def test_changed_file_is_served_fresh(static_bridge, docroot, http_session) -> None:
    url = static_bridge.url("/style.css")
    async with http_session.get(url) as response:
        first_etag = response.headers["ETag"]
        assert await response.text() == "body { color: red }"
    (docroot / "style.css").write_text("body { color: blue; }")
    stat = (docroot / "style.css").stat()
    os.utime(docroot / "style.css", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    async with http_session.get(url, headers={"If-None-Match": first_etag}) as response:
        assert response.status == 200
        assert response.headers["ETag"] != first_etag
        assert await response.text() == "body { color: blue; }"


async def test_large_files_keep_etag_304_and_ranges(static_bridge, docroot, http_session) -> None:
    content = bytes(range(256)) * 2048  # 512 KiB: above the in-memory size
    (docroot / "large.bin").write_bytes(content)
    url = static_bridge.url("/large.bin")
    async with http_session.get(url) as response:
        assert await response.read() == content
        etag = response.headers["ETag"]
    async with http_session.get(url, headers={"If-None-Match": f'"x", W/{etag}'}) as response:
        assert response.status == 304
    async with http_session.get(url, headers={"Range": "bytes=1000-1999"}) as response:
        assert response.status == 206
        assert await response.read() == content[1000:2000]
