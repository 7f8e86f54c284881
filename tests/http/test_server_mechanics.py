"""Server mechanics over real sockets: ports, IPv6, HTTP versions, Expect, chunked bodies,
body limits, error shapes, OPTIONS, surface switches, access log, TLS."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from adapters.http.server import bind_listeners


def hold_port() -> socket.socket:
    """A listening socket on a free loopback port, as another server would hold it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- ports -------------------------------------------------------------------------------------
async def test_taken_port_makes_the_server_scan_to_the_next_free_one(
    start_http_bridge, http_session, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="slicer_bridge")
    held = hold_port()
    taken = held.getsockname()[1]
    try:
        running = await start_http_bridge(http_port=taken)
    finally:
        held.close()
    assert running.port != taken
    assert taken < running.port < taken + 100
    assert f"port {taken} is taken" in caplog.text
    assert f"(port {running.port})" in caplog.text
    async with http_session.get(running.url("/bridge/status")) as response:
        status = (await response.json())["adapters"]["http"]
    assert status["port"] == running.port
    assert status["configured_port"] == taken
    assert f"127.0.0.1:{running.port}" in status["addresses"]


def test_scan_binds_each_candidate_and_skips_every_taken_one() -> None:
    first = hold_port()
    base = first.getsockname()[1]
    held = [first]
    try:
        for port in (base + 1, base + 2):  # take the next two as well, when they are free
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                held.append(sock)
            except OSError:
                sock.close()
        port, sockets, taken = bind_listeners("127.0.0.1", base)
        try:
            assert port not in {sock.getsockname()[1] for sock in held}
            assert taken[0] == base and port > base
            assert all(sock.getsockname()[1] == port for sock in sockets)
        finally:
            for sock in sockets:
                sock.close()
    finally:
        for sock in held:
            sock.close()


def test_scan_gives_up_with_a_clear_error_when_every_port_is_taken() -> None:
    held = hold_port()
    try:
        with pytest.raises(OSError, match="no free port"):
            bind_listeners("127.0.0.1", held.getsockname()[1], scan=1)
    finally:
        held.close()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback_is_served_on_the_same_port(http_bridge, http_session) -> None:
    async with http_session.get(f"http://[::1]:{http_bridge.port}/bridge/status") as response:
        assert response.status == 200
        status = (await response.json())["adapters"]["http"]
    assert f"[::1]:{http_bridge.port}" in status["addresses"]


# -- HTTP versions and connections ---------------------------------------------------------------
async def test_keep_alive_serves_several_requests_on_one_connection(
    http_bridge, raw_connect
) -> None:
    connection = await raw_connect(http_bridge.port)
    request = b"GET /bridge/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for _ in range(3):
        response = await connection.request(request)
        assert response.status == 200
        assert response.headers["content-type"] == "application/json"
    # pipelined: two requests in one write, two answers in order
    await connection.send(request + b"GET /bridge/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await connection.response()).status == 200
    assert (await connection.response()).status == 404


async def test_http_1_0_request_is_answered_and_the_connection_closed(
    http_bridge, raw_connect
) -> None:
    connection = await raw_connect(http_bridge.port)
    response = await connection.request(b"GET /bridge/status HTTP/1.0\r\n\r\n")
    assert response.status == 200
    assert b'"version"' in response.body
    assert await connection.closed_by_peer()


async def test_http_1_0_keep_alive_is_honoured(http_bridge, raw_connect) -> None:
    connection = await raw_connect(http_bridge.port)
    request = b"GET /bridge/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    assert (await connection.request(request)).status == 200
    assert (await connection.request(request)).status == 200


async def test_malformed_request_gets_400_and_the_server_keeps_serving(
    http_bridge, raw_connect, http_session
) -> None:
    garbage = await raw_connect(http_bridge.port)
    response = await garbage.request(b"THIS IS NOT HTTP\r\n\r\n")
    assert response.status == 400
    bad_header = await raw_connect(http_bridge.port)
    response = await bad_header.request(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert response.status == 400
    async with http_session.get(http_bridge.url("/bridge/status")) as response:
        assert response.status == 200


async def test_clients_keep_being_served_while_one_sends_garbage(
    http_bridge, raw_connect, http_session
) -> None:
    stalled = await raw_connect(http_bridge.port)
    await stalled.send(b"POST /bridge/status HTTP/1.1\r\nContent-Length: 1000\r\n\r\npartial")

    async def fetch() -> int:
        async with http_session.get(http_bridge.url("/bridge/status")) as response:
            await response.read()
            return response.status

    assert await asyncio.gather(*(fetch() for _ in range(20))) == [200] * 20


# -- bodies: Expect, chunked, limit --------------------------------------------------------------
async def test_expect_100_continue_is_answered_before_the_body_is_sent(
    probe_routes, http_bridge, raw_connect
) -> None:
    connection = await raw_connect(http_bridge.port)
    body = b"x" * 5000
    await connection.send(
        b"POST /bridge/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    interim = await connection.response(timeout=2)
    assert interim.status == 100
    response = await connection.request(body)
    assert response.status == 200
    assert b'"length":5000' in response.body


async def test_expect_with_a_body_over_the_limit_gets_413_without_continue(
    probe_routes, start_http_bridge, raw_connect
) -> None:
    running = await start_http_bridge(max_body_size=1000)
    connection = await raw_connect(running.port)
    response = await connection.request(
        b"PUT /bridge/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    assert response.status == 413
    assert response.headers["content-type"] == "application/json"
    assert b"limit is 1000" in response.body


async def test_unknown_expectation_is_417(http_bridge, raw_connect) -> None:
    connection = await raw_connect(http_bridge.port)
    response = await connection.request(
        b"POST /bridge/status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n"
        b"Expect: magic\r\n\r\n"
    )
    assert response.status == 417


async def test_chunked_upload_is_received_whole(probe_routes, http_bridge, raw_connect) -> None:
    import hashlib

    parts = [b"a" * 10, b"b" * 4096, b"c" * 3]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    connection = await raw_connect(http_bridge.port)
    response = await connection.request(
        b"POST /bridge/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
    )
    assert response.status == 200
    digest = hashlib.sha256(b"".join(parts)).hexdigest().encode()
    assert b'"length":4109' in response.body and digest in response.body


async def test_body_over_the_limit_is_413_with_a_json_message(
    probe_routes, start_http_bridge, http_session
) -> None:
    running = await start_http_bridge(max_body_size=1000)
    async with http_session.post(running.url("/bridge/echo"), data=b"y" * 999) as response:
        assert response.status == 200
    async with http_session.post(running.url("/bridge/echo"), data=b"y" * 5000) as response:
        assert response.status == 413
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
    assert body["success"] is False and "limit is 1000" in body["message"]


async def test_chunked_body_over_the_limit_is_413(
    probe_routes, start_http_bridge, raw_connect
) -> None:
    running = await start_http_bridge(max_body_size=1000)
    connection = await raw_connect(running.port)
    chunk = b"z" * 600
    response = await connection.request(
        b"POST /bridge/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 3
        + b"0\r\n\r\n"
    )
    assert response.status == 413
    assert response.headers["content-type"] == "application/json"


# -- reply shapes --------------------------------------------------------------------------------
async def test_unexpected_exception_is_a_500_server_error_in_json(
    probe_routes, http_bridge, http_session
) -> None:
    async with http_session.get(http_bridge.url("/bridge/boom")) as response:
        assert response.status == 500
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == {
            "success": False,
            "message": "Server error: the probe failed on purpose",
        }
    async with http_session.get(http_bridge.url("/bridge/status")) as response:
        assert response.status == 200  # the fault stayed with its request


async def test_caller_mistakes_are_4xx_in_the_same_json_shape(
    probe_routes, http_bridge, http_session
) -> None:
    cases = {
        "/bridge/refuse": (404, "no such probe"),
        "/bridge/unknown": (404, 'unknown command "/bridge/unknown"'),
    }
    for path, (status, message) in cases.items():
        async with http_session.get(http_bridge.url(path)) as response:
            assert response.status == status
            assert response.headers["Content-Type"] == "application/json"
            assert await response.json() == {"success": False, "message": message}
    async with http_session.delete(http_bridge.url("/bridge/status")) as response:
        assert response.status == 405
        assert response.headers["Content-Type"] == "application/json"


async def test_api_replies_say_no_cache(http_bridge, http_session) -> None:
    for path in ("/bridge/status", "/bridge/metrics", "/bridge/nothing"):
        async with http_session.get(http_bridge.url(path)) as response:
            assert response.headers["Cache-Control"] == "no-cache"


async def test_head_of_an_api_route_has_headers_and_no_body(http_bridge, raw_connect) -> None:
    connection = await raw_connect(http_bridge.port)
    await connection.send(b"HEAD /bridge/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = await connection.response(head=True)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    # the connection is still in sync: no stray body bytes before the next reply
    assert (
        await connection.request(b"GET /bridge/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
    ).status == 200


async def test_options_is_204_with_no_cors_headers_by_default(http_bridge, http_session) -> None:
    for path in ("/slicer/exec", "/bridge/status", "/index.html"):
        async with http_session.options(http_bridge.url(path)) as response:
            assert response.status == 204
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_on_answers_preflights_for_content_type_and_authorization(
    start_http_bridge, http_session
) -> None:
    running = await start_http_bridge(cors=True, token="s3cret")
    preflight = {
        "Origin": "https://viewer.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    async with http_session.options(running.url("/slicer/mrml"), headers=preflight) as response:
        assert response.status == 204  # no token needed: browsers never send it on preflights
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "content-type" in allowed and "authorization" in allowed
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    headers = {"Origin": "https://viewer.example", "Authorization": "Bearer s3cret"}
    async with http_session.get(running.url("/bridge/status"), headers=headers) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    async with http_session.get(running.url("/bridge/status")) as response:
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == "*"  # readable by the page


# -- switches ------------------------------------------------------------------------------------
async def test_surfaces_can_be_switched_off(start_http_bridge, http_session) -> None:
    running = await start_http_bridge(static=False, slicer_api=False, dicom=False)
    async with http_session.get(running.url("/bridge/status")) as response:
        surfaces = (await response.json())["adapters"]["http"]["surfaces"]
    assert surfaces == ["bridge"]
    for path in ("/", "/index.html", "/slicer/mrml/ids", "/dicom/studies"):
        async with http_session.get(running.url(path)) as response:
            assert response.status == 404, path
            assert response.headers["Content-Type"] == "application/json"


async def test_access_log_is_written_only_when_switched_on(
    start_http_bridge, http_session, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="slicer_bridge.http.access")
    quiet = await start_http_bridge()
    async with http_session.get(quiet.url("/bridge/status?quiet")) as response:
        await response.read()
    logged = await start_http_bridge(access_log=True)
    async with http_session.get(logged.url("/bridge/status?logged")) as response:
        await response.read()
    await asyncio.sleep(0.05)
    access = [r.getMessage() for r in caplog.records if r.name == "slicer_bridge.http.access"]
    assert any("GET /bridge/status?logged HTTP/1.1" in line and " 200 " in line for line in access)
    assert not any("quiet" in line for line in access)


# -- TLS -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(keyfile), "-out", str(certfile),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return certfile, keyfile


async def test_tls_serves_https_with_the_given_certificate(
    start_http_bridge, self_signed, http_session
) -> None:
    certfile, keyfile = self_signed
    running = await start_http_bridge(certfile=certfile, keyfile=keyfile)
    assert running.base_url.startswith("https://")
    trust = ssl.create_default_context(cafile=str(certfile))
    async with http_session.get(running.url("/bridge/status"), ssl=trust) as response:
        assert response.status == 200
        status = (await response.json())["adapters"]["http"]
    assert status["tls"] is True
    assert all(url.startswith("https://") for url in status["urls"])
    with pytest.raises(aiohttp.ClientError):  # plain HTTP to the TLS port is not answered
        async with http_session.get(f"http://127.0.0.1:{running.port}/bridge/status") as reply:
            await reply.read()
