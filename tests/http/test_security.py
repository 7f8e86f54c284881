"""Cross-site protection, DNS-rebinding protection and bearer tokens, over real sockets.

The attacks are what a page in the user's browser can do (slicer-webserver-api.md §5 items
12-13): simple cross-origin requests without a preflight, and a hostile DNS name that
resolves to the loopback address.
"""

from __future__ import annotations

import pytest

from adapters.http.security import split_host

EVIL = "http://evil.example"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_cross_origin_write_is_refused_with_cors_off(
    probe_routes, http_bridge, http_session, method
) -> None:
    headers = {"Origin": EVIL, "Content-Type": "text/plain"}
    async with http_session.request(
        method, http_bridge.url("/bridge/echo"), data=b"print('pwned')", headers=headers
    ) as response:
        assert response.status == 403
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
    assert body["success"] is False and "cross-origin" in body["message"]


async def test_cross_origin_text_plain_post_never_reaches_the_handler(
    probe_routes, http_bridge, http_session
) -> None:
    # The classic drive-by: a form or fetch() in no-cors mode posting Python as text/plain.
    for path in ("/slicer/exec", "/bridge/echo", "/index.html"):
        async with http_session.post(
            http_bridge.url(path), data="x", headers={"Origin": EVIL, "Content-Type": "text/plain"}
        ) as response:
            assert response.status == 403, path
    counters = http_bridge.bridge.bus.stats.total
    assert counters.received == 0


async def test_same_origin_and_originless_writes_are_accepted(
    probe_routes, http_bridge, http_session
) -> None:
    own = f"http://127.0.0.1:{http_bridge.port}"
    for headers in ({"Origin": own}, {}):
        async with http_session.post(
            http_bridge.url("/bridge/echo"), data=b"abc", headers=headers
        ) as response:
            assert response.status == 200, headers


async def test_null_origin_is_cross_origin(probe_routes, http_bridge, http_session) -> None:
    async with http_session.post(
        http_bridge.url("/bridge/echo"), data=b"abc", headers={"Origin": "null"}
    ) as response:
        assert response.status == 403


async def test_cross_origin_of_another_port_is_refused(
    probe_routes, http_bridge, http_session
) -> None:
    other = f"http://127.0.0.1:{http_bridge.port + 1}"
    async with http_session.post(
        http_bridge.url("/bridge/echo"), data=b"abc", headers={"Origin": other}
    ) as response:
        assert response.status == 403


async def test_cross_site_api_read_is_refused_but_static_pages_are_served(
    http_bridge, http_session
) -> None:
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    async with http_session.get(http_bridge.url("/bridge/status"), headers=cross_site) as response:
        assert response.status == 403
    async with http_session.get(http_bridge.url("/"), headers=cross_site) as response:
        assert response.status == 200
    same_site = {"Sec-Fetch-Site": "same-origin"}
    async with http_session.get(http_bridge.url("/bridge/status"), headers=same_site) as response:
        assert response.status == 200


async def test_cors_on_lets_other_origins_write(
    probe_routes, start_http_bridge, http_session
) -> None:
    running = await start_http_bridge(cors=True)
    async with http_session.post(
        running.url("/bridge/echo"), data=b"abc", headers={"Origin": EVIL}
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:2016", "attacker.test.", "127.0.0.1.nip.io:80"],
)
async def test_rebound_dns_name_in_host_is_refused(http_bridge, raw_connect, host) -> None:
    connection = await raw_connect(http_bridge.port)
    for path in (b"/bridge/status", b"/index.html"):
        response = await connection.request(
            b"GET " + path + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
        )
        assert response.status == 403
        assert b"DNS rebinding" in response.body


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}"]
)
async def test_loopback_names_and_addresses_are_accepted_as_host(
    http_bridge, raw_connect, host
) -> None:
    connection = await raw_connect(http_bridge.port)
    header = host.format(port=http_bridge.port).encode()
    response = await connection.request(
        b"GET /bridge/status HTTP/1.1\r\nHost: " + header + b"\r\n\r\n"
    )
    assert response.status == 200


async def test_allowed_hosts_adds_names(start_http_bridge, raw_connect) -> None:
    running = await start_http_bridge(allowed_hosts="slicer.lab, other.lab")
    connection = await raw_connect(running.port)
    ok = await connection.request(b"GET /bridge/status HTTP/1.1\r\nHost: slicer.lab:80\r\n\r\n")
    bad = await connection.request(b"GET /bridge/status HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    assert (ok.status, bad.status) == (200, 403)


def test_host_names_are_split_from_ports_and_brackets() -> None:
    assert split_host("Example.COM:8080") == "example.com"
    assert split_host("[::1]:2016") == "::1"
    assert split_host("[::1]") == "::1"
    assert split_host("127.0.0.1") == "127.0.0.1"


# -- tokens --------------------------------------------------------------------------------------
async def test_token_is_required_on_every_surface(start_http_bridge, http_session) -> None:
    running = await start_http_bridge(token="s3cret")
    for path in ("/bridge/status", "/index.html", "/slicer/mrml/ids", "/nothing"):
        async with http_session.get(running.url(path)) as response:
            assert response.status == 401, path
            assert response.headers["Content-Type"] == "application/json"
            assert "token" in (await response.json())["message"]


async def test_bearer_header_or_query_token_is_accepted(start_http_bridge, http_session) -> None:
    running = await start_http_bridge(token="s3cret")
    bearer = {"Authorization": "Bearer s3cret"}
    async with http_session.get(running.url("/bridge/status"), headers=bearer) as response:
        assert response.status == 200
    async with http_session.get(running.url("/bridge/status?token=s3cret")) as response:
        assert response.status == 200
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        async with http_session.get(running.url("/bridge/status"), headers=headers) as response:
            assert response.status == 401
    async with http_session.get(running.url("/bridge/status?token=wrong")) as response:
        assert response.status == 401


async def test_page_opened_with_query_token_sets_a_strict_cookie_for_its_links(
    start_http_bridge, raw_connect
) -> None:
    running = await start_http_bridge(token="s3cret")
    connection = await raw_connect(running.port)
    first = await connection.request(b"GET /?token=s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert first.status == 200
    cookie = first.headers["set-cookie"]
    assert "slicer_bridge_token=s3cret" in cookie
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
    follow = await connection.request(
        b"GET /bridge/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Cookie: slicer_bridge_token=s3cret\r\n\r\n"
    )
    assert follow.status == 200


async def test_expect_without_token_is_refused_before_the_body(
    probe_routes, start_http_bridge, raw_connect
) -> None:
    running = await start_http_bridge(token="s3cret")
    connection = await raw_connect(running.port)
    response = await connection.request(
        b"POST /bridge/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    assert response.status == 401


async def test_drive_by_exec_is_refused_even_with_exec_enabled(
    start_http_bridge, http_session
) -> None:
    running = await start_http_bridge(enable_exec=True)
    code = "__execResult = {'ran': True}"
    drive_by = {"Origin": EVIL, "Content-Type": "text/plain"}
    async with http_session.post(running.url("/slicer/exec"), data=code, headers=drive_by) as r:
        assert r.status == 403
    assert "Exec" not in running.bridge.bus.stats.by_kind
    async with http_session.post(running.url("/slicer/exec"), data=code) as response:
        assert response.status == 200  # a local client (curl, slicerio) sends no Origin
        assert await response.json() == {"ran": True}


async def test_cross_origin_websocket_handshake_is_refused(http_bridge, raw_connect) -> None:
    connection = await raw_connect(http_bridge.port)
    handshake = (
        b"GET /bridge/status HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: " + EVIL.encode() + b"\r\n\r\n"
    )
    response = await connection.request(handshake)
    assert response.status == 403
    assert b"cross-origin WebSocket" in response.body
