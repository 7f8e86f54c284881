"""Route tables and shared parameter parsing for every HTTP surface.

Each surface (`/slicer`, `/dicom`, `/bridge`) declares one ordered table of `Route`s; a single
dispatcher per table resolves a request to its handler. Slicer's WebServer matched routes by
*prefix*, first match wins, in a fixed order (`/threeDGraphics` before `/threeD`, `/volumes`
before `/volume`), and existing clients rely on that, so prefix matching in table order is
what `RouteTable` does; a route can ask for an exact match instead.

Parameters are parsed in one place (`QueryParams`) with the original's conventions: the
first value of a key, stripped; numbers and booleans converted with a clear 400 naming the
parameter when they do not parse.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from adapters.http.responses import HttpError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY_METHOD: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of a route table: a path (prefix by default), its methods, its handler."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ANY_METHOD
    match: Literal["prefix", "exact"] = "prefix"

    def matches_path(self, path: str) -> bool:
        if self.match == "exact":
            return path == self.path
        return path.startswith(self.path)

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


class RouteTable:
    """An ordered list of routes under one mount point (e.g. `/slicer`)."""

    def __init__(self, mount: str, routes: Sequence[Route]) -> None:
        self.mount = mount.rstrip("/")
        self.routes = tuple(routes)

    def resolve(self, method: str, path: str) -> Route:
        """The first route whose path matches and which allows `method`.

        `path` is the part after the mount point. A path that matches only routes with other
        methods is a 405; a path that matches none is a 404 naming the path.
        """
        path_matched = False
        for route in self.routes:
            if route.matches_path(path):
                path_matched = True
                if route.allows(method):
                    return route
        if path_matched:
            raise HttpError(405, f"method {method} is not allowed for {self.mount}{path}")
        raise HttpError(404, f'unknown command "{self.mount}{path}"')

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(self.mount) :] if request.path.startswith(self.mount) else ""
        route = self.resolve(request.method, path)
        return await route.handler(request)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class QueryParams:
    """Typed access to a request's query string, with errors that name the parameter."""

    def __init__(self, request: web.Request) -> None:
        self._query = request.query

    def __contains__(self, name: str) -> bool:
        return name in self._query

    def names(self) -> list[str]:
        return list(self._query.keys())

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        """First value of `name`, stripped; `default` when absent (400 if `required`)."""
        value = self._query.get(name)
        if value is None:
            if required:
                raise HttpError(400, f"parameter '{name}' is required")
            return default
        return value.strip()

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        for choice in choices:
            if choice.lower() == lowered:
                return choice
        raise HttpError(
            400, f"parameter '{name}' must be one of {', '.join(choices)}, got {value!r}"
        )

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.text(name)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except ValueError:
            raise HttpError(400, f"parameter '{name}' must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise HttpError(400, f"parameter '{name}' must be finite, got {value!r}")
        return number

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.text(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HttpError(400, f"parameter '{name}' must be an integer, got {value!r}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """Slicer's `toBool`: true/1/yes/on, false/0/no/off (any case)."""
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise HttpError(400, f"parameter '{name}' must be true or false, got {value!r}")

    def numbers(self, name: str, count: int | None = None) -> list[float] | None:
        """Comma-separated numbers (`p=1,2,3`); `count` enforces how many."""
        value = self.text(name)
        if value is None:
            return None
        try:
            numbers = [float(part) for part in value.split(",")]
        except ValueError:
            raise HttpError(
                400, f"parameter '{name}' must be comma-separated numbers, got {value!r}"
            ) from None
        if count is not None and len(numbers) != count:
            raise HttpError(400, f"parameter '{name}' needs {count} numbers, got {len(numbers)}")
        if not all(math.isfinite(n) for n in numbers):
            raise HttpError(400, f"parameter '{name}' must be finite numbers, got {value!r}")
        return numbers
