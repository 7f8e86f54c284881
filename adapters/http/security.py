"""Who may talk to the HTTP server, and from where: CORS, cross-site protection, tokens.

What this module guards against (slicer-webserver-api.md §5 items 2, 3, 11-13):

* **Cross-site requests with CORS off.** A page on another site can still send "simple"
  requests without a preflight — a `text/plain` POST to `/slicer/exec`, an `<img>` GET of
  `/slicer/mrml/file?localfile=...` (which writes a file). Writes (POST/PUT/DELETE/PATCH)
  and WebSocket handshakes whose `Origin` is not the server's own are refused (403), and so
  is any API request a browser labels `Sec-Fetch-Site: cross-site`. With CORS on,
  cross-origin use is what the operator asked for, and only the token (if any) stands in
  the way.
* **DNS rebinding.** A hostile name that resolves to 127.0.0.1 makes the browser treat the
  server as same-origin. The `Host` header then carries that name, so requests whose Host is
  not an IP literal, `localhost`, a name the server was bound to, or an allowed host are
  refused (403).
* **Tokens.** With `token` set, every request needs `Authorization: Bearer <token>`, or
  `?token=<token>` (for `<img src>` links and first page loads), or the cookie a `?token=`
  page load sets (SameSite=Strict, so other sites never send it); otherwise 401.

OPTIONS is answered 204 before any of this, as the original did, with the CORS preflight
headers when CORS is on (allowing `Content-Type` and `Authorization`, which the original
did not). This module never routes or builds API replies.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from adapters.http.responses import HttpError, error_response
from bridge.config import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "slicer_bridge_token"
API_PREFIXES = ("/slicer", "/dicom", "/bridge")

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Content-Type, Authorization, Range",
    "Access-Control-Max-Age": "86400",
}
RESPONSE_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, ETag, Last-Modified",
}


#: Largest request body accepted when the settings do not say (413 beyond).
DEFAULT_MAX_BODY_SIZE = 1 << 30


def max_body_size(settings: Settings) -> int:
    return settings.max_body_size


class RequestPolicy:
    """What the settings allow, computed once per application; host verdicts are cached."""

    def __init__(self, settings: Settings) -> None:
        self.cors = settings.cors
        self.token: str | None = settings.token or None
        self.max_body_size = max_body_size(settings)
        host = settings.host.lower()
        names = {host}
        extra = settings.allowed_hosts or ""
        names.update(part.strip().lower().rstrip(".") for part in extra.split(",") if part.strip())
        if host in ("0.0.0.0", "::", ""):
            names.update(_machine_names())
        self.host_names = frozenset(names)
        self._host_verdicts: dict[str, bool] = {}

    def host_allowed(self, host: str) -> bool:
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            verdict = self._judge_host(host)
            if len(self._host_verdicts) < 1024:  # bounded: Host is chosen by the client
                self._host_verdicts[host] = verdict
        return verdict

    def _judge_host(self, host: str) -> bool:
        name = split_host(host).rstrip(".")
        if not name or is_ip_literal(name):
            return True  # rebinding needs a DNS name; an address literal is what it says
        if name == "localhost" or name.endswith(".localhost"):
            return True
        return name in self.host_names


POLICY: web.AppKey[RequestPolicy] = web.AppKey("request_policy", RequestPolicy)


def install(app: web.Application, settings: Settings) -> None:
    """Put the policy for `settings` into `app` (before it starts)."""
    app[POLICY] = RequestPolicy(settings)


def _machine_names() -> set[str]:
    names = {socket.gethostname().lower()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    return names


# -- CORS and OPTIONS --------------------------------------------------------------------------
@web.middleware
async def cors_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    cors = request.app[POLICY].cors
    if request.method == "OPTIONS":
        response = web.Response(status=204)
        if cors:
            response.headers.update(PREFLIGHT_HEADERS)
        return response
    response = await handler(request)
    if cors and not response.prepared:
        response.headers.update(RESPONSE_CORS_HEADERS)
    return response


# -- the guard: Host, Origin, token, body size ------------------------------------------------
@web.middleware
async def guard_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    refusal = check_request(request)
    if refusal is not None:
        raise refusal
    response = await handler(request)
    token = request.app[POLICY].token
    if token and _matches(request.query.get("token"), token) and not response.prepared:
        # A page opened with ?token=...: its own links and scripts then work without it.
        response.set_cookie(
            TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure
        )
    return response


def check_request(request: web.Request) -> HttpError | None:
    """Why `request` must be refused (an HttpError to raise or send), or None."""
    policy = request.app[POLICY]
    headers = request.headers
    host = headers.get("Host")
    if host is not None and not policy.host_allowed(host):
        return HttpError(403, f"host {host!r} is not served here (DNS rebinding protection)")
    if not policy.cors and ("Origin" in headers or "Sec-Fetch-Site" in headers):
        origin_error = check_origin(request)
        if origin_error is not None:
            return origin_error
    if policy.token and not token_ok(request, policy.token):
        return HttpError(401, "a valid token is required (Authorization: Bearer <token>)")
    length = request.content_length
    if length is not None and length > policy.max_body_size:
        return HttpError(
            413, f"request body too large: {length} bytes, the limit is {policy.max_body_size}"
        )
    return None


def check_origin(request: web.Request) -> HttpError | None:
    origin = request.headers.get("Origin")
    # A WebSocket handshake is a GET, but it opens a channel that writes: treat it as one.
    writes = (
        request.method not in SAFE_METHODS
        or request.headers.get("Upgrade", "").lower() == "websocket"
    )
    if writes and origin is not None:
        if not same_origin(origin, request):
            what = "WebSocket" if request.method in SAFE_METHODS else request.method
            return HttpError(403, f"cross-origin {what} from {origin} refused (CORS is off)")
        return None
    if request.headers.get("Sec-Fetch-Site") == "cross-site" and request.path.startswith(
        API_PREFIXES
    ):
        return HttpError(403, "cross-site request refused (CORS is off)")
    return None


def same_origin(origin: str, request: web.Request) -> bool:
    """Whether a browser's `Origin` is this server as the request addressed it."""
    if origin == "null":
        return False
    parts = urlsplit(origin)
    scheme = "https" if request.secure else "http"
    return parts.scheme == scheme and parts.netloc.lower() == request.host.lower()


def split_host(host: str) -> str:
    """The name of a Host header, without port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _matches(candidate: str | None, token: str) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), token.encode())


def token_ok(request: web.Request, token: str) -> bool:
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and _matches(credentials.strip(), token):
        return True
    return _matches(request.query.get("token"), token) or _matches(
        request.cookies.get(TOKEN_COOKIE), token
    )


# -- Expect: 100-continue ----------------------------------------------------------------------
async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """Answer `Expect: 100-continue` only for a request that will be accepted.

    aiohttp calls this before any middleware, so the checks a client is waiting on run here
    too: a body over the size limit gets its 413, a refused request its 401/403, and the
    client never sends the body.
    """
    expect = request.headers.get("Expect", "")
    if expect.lower() != "100-continue":
        return error_response(417, f"unsupported Expect: {expect}")
    refusal = check_request(request)
    if refusal is not None:
        response = error_response(refusal.status, refusal.message)
        response.force_close()  # the client holds its body back; do not wait for it
        return response
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    return None
