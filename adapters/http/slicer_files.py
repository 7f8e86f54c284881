"""Where `/slicer/mrml` may read and write files: `localfile`, `url=file:`, `url=http(s):`.

* **File roots.** By default any path the bridge process can read or write is allowed, as in
  Slicer's WebServer (slicerio relies on it). The `file_roots` setting (`--file-roots`, paths
  separated by the OS path separator) restricts `localfile` and `file:` URLs to those folders;
  a path is checked after resolving `..` and symlinks, and a path outside every root is a 403.
* **Relative paths** are taken relative to the bridge's data folder (the headless scene does
  the same), so the check and the read see one path.
* **Downloads** (`url=http://…`) are fetched with aiohttp into `<data_dir>/downloads/<uuid>/`
  under the URL's file name (so the file type and the node name follow from it), without
  blocking the loop; a failed download is a 502 naming the URL and the remote status.

This module decides paths only; loading and saving are commands.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import aiohttp
from aiohttp import web

from adapters.http.context import bridge_of
from adapters.http.responses import HttpError

DOWNLOAD_TIMEOUT_S = 300.0
_CHUNK = 1 << 20


class FileRoots:
    """The folders file paths must lie in; no roots means any path (Slicer's behaviour)."""

    def __init__(self, roots: Sequence[Path | str] = ()) -> None:
        self.roots = tuple(Path(root).expanduser().resolve() for root in roots)

    @classmethod
    def from_setting(cls, value: object) -> FileRoots:
        """`None`/empty → unrestricted; a string → `os.pathsep`-separated folders; a sequence
        of paths as given."""
        if value is None or value == "":
            return cls()
        if isinstance(value, str | Path):
            parts = str(value).split(os.pathsep)
            return cls([part for part in parts if part.strip()])
        return cls(list(value))  # type: ignore[call-overload]

    @property
    def restricted(self) -> bool:
        return bool(self.roots)

    def check(self, path: Path) -> Path:
        """`path` as the scene should use it; 403 if it lies outside every root.

        With roots, the resolved path is returned, so a symlink swapped in after the check
        cannot redirect the read or write elsewhere.
        """
        if not self.restricted:
            return path
        resolved = path.resolve(strict=False)
        if any(resolved.is_relative_to(root) for root in self.roots):
            return resolved
        allowed = ", ".join(str(root) for root in self.roots)
        raise HttpError(403, f"path {str(path)!r} is outside the allowed file roots ({allowed})")


def file_roots(request: web.Request) -> FileRoots:
    return FileRoots.from_setting(getattr(bridge_of(request).settings, "file_roots", None))


def data_dir(request: web.Request) -> Path:
    return Path(bridge_of(request).settings.data_dir)


def local_path(request: web.Request, text: str) -> Path:
    """A `localfile` value as an absolute path checked against the file roots."""
    if not text:
        raise HttpError(400, "the file path is empty")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = data_dir(request) / path
    return file_roots(request).check(path)


def file_url_path(request: web.Request, url: str) -> Path:
    """`file:///tmp/a.nrrd` (or `file://localhost/...`) → the checked local path."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise HttpError(400, f"file URL {url!r} names another host ({parts.netloc}); only local")
    return local_path(request, url2pathname(parts.path))


def is_local_path(url: str) -> bool:
    """A `url` value that is really a plain path (`/tmp/a.nrrd`, `c:/data/a.nrrd`)."""
    scheme = urlsplit(url).scheme
    return len(scheme) <= 1


async def download(request: web.Request, url: str) -> Path:
    """Fetch `url` into a fresh folder under the data folder; returns the file's path."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if name in ("", ".", ".."):
        name = "download"
    folder = data_dir(request) / "downloads" / uuid.uuid4().hex
    target = folder / name
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url) as response,
        ):
            if response.status >= 400:
                raise HttpError(
                    502,
                    f"downloading {url} failed: the server answered "
                    f"{response.status} {response.reason or ''}".rstrip(),
                )
            with target.open("wb") as stream:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    stream.write(chunk)
    except HttpError:
        raise
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise HttpError(502, f"downloading {url} failed: {error or type(error).__name__}") from None
    except OSError as error:
        raise HttpError(500, f"cannot store the download of {url}: {error}") from None
    return target
