"""The static docroot at `/`: files, index pages, conditional and range requests — safely.

Slicer's static handler joined the raw request target onto the docroot, so `/../../etc/x`
and `//etc/x` read any file on the machine (slicer-webserver-api.md §3, §5 item 12). Here a
path is served only if every one of these holds:

* the percent-decoded path has no `..` segment, no backslash, no NUL, no drive or `//`
  absolute form (aiohttp decodes `%2e%2e` and `%2f` before this sees the path);
* the file, with every symlink resolved, lies inside the resolved docroot;
* it is a regular file (or a folder with `index.html`/`index.htm`, or — only when
  `directory_listing` is on — a folder to list). Hidden names (`.git`, `.env`) are not served.

Anything else is a 404 that says nothing about what exists. Small files (the pages, scripts
and styles) are answered from memory — validated by a `stat` on every request, with
ETag/Last-Modified and 304 — because aiohttp's `FileResponse` hops to a thread several times
per request; large files and `Range` requests go to `FileResponse` (single and multiple
ranges, `If-Range`, sendfile), which uses the same ETag form. Content types come from one
fixed table (charset on text), not from the platform's `mimetypes`. `/browse…` serves
`browse.html` (OHIF's client-side routes), as the original's rewrite rule did, when the
OHIF surface (`adapters.http.ohif`, on with `/dicom`) has not claimed `/browse` first.
This module knows nothing about the API surfaces.
"""

from __future__ import annotations

import html
import mimetypes
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from urllib.parse import quote

from aiohttp import web

from adapters.http.context import SETTINGS
from adapters.http.responses import HttpError

TEXT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".gltf": "model/gltf+json",
    ".svg": "image/svg+xml",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".py": "text/x-python",
}
BINARY_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".glb": "model/gltf-binary",
    ".nrrd": "application/octet-stream",
    ".nii": "application/octet-stream",
    ".gz": "application/gzip",
    ".zip": "application/zip",
    ".mrb": "application/zip",
    ".dcm": "application/dicom",
    ".pdf": "application/pdf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
INDEX_FILES = ("index.html", "index.htm")
BROWSE_REWRITE = re.compile(r"^/browse")


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TEXT_TYPES:
        return TEXT_TYPES[suffix] + "; charset=utf-8"
    if suffix in BINARY_TYPES:
        return BINARY_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        return "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


class NotServed(Exception):
    """The request path does not name something the docroot may serve."""


def safe_parts(url_path: str) -> list[str]:
    """The segments of a decoded URL path, or NotServed when it could leave the docroot."""
    if "\\" in url_path or "\x00" in url_path or not url_path.startswith("/"):
        raise NotServed(url_path)
    if url_path.startswith("//"):
        raise NotServed(url_path)  # the original's os.path.join made this absolute
    parts = [part for part in url_path.split("/") if part]
    for part in parts:
        if part.startswith(".") or ":" in part:  # `.`, `..`, hidden names, drives
            raise NotServed(url_path)
    return parts


_REAL_ROOTS: dict[str, str] = {}


def real_root(docroot: Path | str) -> str:
    """The docroot with symlinks resolved (remembered: it is resolved on every request)."""
    key = os.fspath(docroot)
    root = _REAL_ROOTS.get(key)
    if root is None:
        root = _REAL_ROOTS[key] = os.path.realpath(key)
    return root


def locate(docroot: Path | str, url_path: str) -> tuple[str, os.stat_result]:
    """The real path and stat of what `url_path` names inside `docroot`, or NotServed."""
    # Plain strings, not Path objects: this runs on every static request, and pathlib's
    # resolve() costs several times more than os.path.realpath for the same system calls.
    root = real_root(docroot)
    candidate = os.path.join(root, *safe_parts(url_path))  # noqa: PTH118
    try:
        target = os.path.realpath(candidate, strict=True)
        stat = os.stat(target)  # noqa: PTH116
    except (OSError, RuntimeError):
        raise NotServed(url_path) from None
    inside = root.rstrip(os.sep) + os.sep
    if target != root and not target.startswith(inside):
        raise NotServed(url_path)  # a symlink pointing out of the docroot
    return target, stat


def resolve(docroot: Path | str, url_path: str) -> Path:
    """The existing file or folder `url_path` names inside `docroot`, symlinks resolved."""
    return Path(locate(docroot, url_path)[0])


async def static_handler(request: web.Request) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
    docroot = request.app[SETTINGS].docroot
    url_path = request.path
    if BROWSE_REWRITE.match(url_path):
        url_path = "/browse.html"
    try:
        target, stat = locate(docroot, url_path)
        if S_ISDIR(stat.st_mode):
            return directory_response(request, docroot, Path(target))
        if not S_ISREG(stat.st_mode):
            raise NotServed(url_path)
    except NotServed:
        raise HttpError(404, f"not found: {request.path}") from None
    return file_response(request, target, stat)


SMALL_FILE = 256 * 1024
CACHE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CachedFile:
    mtime_ns: int
    size: int
    body: bytes
    headers: dict[str, str]


class SmallFileCache:
    """Contents and headers of small files by real path, bounded, least recently used out."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._files: OrderedDict[str, CachedFile] = OrderedDict()

    def get(self, path: str, stat: os.stat_result) -> CachedFile:
        cached = self._files.get(path)
        if cached is not None and (cached.mtime_ns, cached.size) == (
            stat.st_mtime_ns,
            stat.st_size,
        ):
            self._files.move_to_end(path)
            return cached
        with open(path, "rb") as stream:  # noqa: PTH123 - small and local: no thread hop
            body = stream.read()
        headers = {
            "Content-Type": content_type(Path(path)),
            "ETag": f'"{stat.st_mtime_ns:x}-{len(body):x}"',
            "Last-Modified": formatdate(stat.st_mtime_ns / 1e9, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        entry = CachedFile(stat.st_mtime_ns, stat.st_size, body, headers)
        self._put(path, entry)
        return entry

    def _put(self, path: str, entry: CachedFile) -> None:
        old = self._files.pop(path, None)
        if old is not None:
            self.bytes -= len(old.body)
        self._files[path] = entry
        self.bytes += len(entry.body)
        while self.bytes > self.max_bytes and len(self._files) > 1:
            _, evicted = self._files.popitem(last=False)
            self.bytes -= len(evicted.body)


FILE_CACHE = SmallFileCache()


def file_response(request: web.Request, target: str, stat: os.stat_result) -> web.StreamResponse:
    if stat.st_size > SMALL_FILE or "Range" in request.headers:
        response = web.FileResponse(target)
        response.headers["Content-Type"] = content_type(Path(target))
        return response
    cached = FILE_CACHE.get(target, stat)
    if not_modified(request, cached.headers["ETag"], stat.st_mtime):
        return web.Response(status=304, headers={"ETag": cached.headers["ETag"]})
    return web.Response(body=cached.body, headers=cached.headers)


def not_modified(request: web.Request, etag: str, mtime: float) -> bool:
    """RFC 9110 §13.1.2-3: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        candidates = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
        return "*" in candidates or etag in candidates
    since = request.if_modified_since
    return since is not None and int(mtime) <= since.timestamp()


def directory_response(
    request: web.Request, docroot: Path | str, folder: Path
) -> web.StreamResponse:
    index = index_file(docroot, request.path.rstrip("/") + "/")
    listing = request.app[SETTINGS].directory_listing
    if index is None and not listing:
        raise NotServed(request.path)
    if not request.path.endswith("/"):
        # Relative links in the index page (and the listing) need the trailing slash.
        location = quote(request.path) + "/"
        if request.query_string:
            location += "?" + request.query_string
        raise web.HTTPMovedPermanently(location)
    if index is not None:
        return file_response(request, *index)
    return listing_response(request, docroot, folder)


def index_file(docroot: Path | str, url_path: str) -> tuple[str, os.stat_result] | None:
    """`index.html`, else `index.htm` (the original let index.htm win when both exist)."""
    for name in INDEX_FILES:
        try:
            target, stat = locate(docroot, url_path + name)
        except NotServed:
            continue
        if S_ISREG(stat.st_mode):
            return target, stat
    return None


def listing_response(request: web.Request, docroot: Path | str, folder: Path) -> web.Response:
    entries = []
    for entry in sorted(folder.iterdir(), key=lambda path: path.name.lower()):
        if entry.name.startswith("."):
            continue
        try:
            resolve(docroot, request.path + entry.name)
        except NotServed:
            continue  # symlinks out of the docroot are not even named
        name = entry.name + ("/" if entry.is_dir() else "")
        entries.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>')
    title = html.escape(request.path)
    body = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><ul>\n" + "\n".join(entries) + "\n</ul></body></html>\n"
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8")
