"""The topic scheme: which topics the bridge listens on and publishes to, in one table.

Everything lives under a root (default `slicer/<instance>`):

    <root>/cmd/<CommandName>        in    JSON command fields
    <root>/transform/<node>/set     in    4×4 matrix, {matrix} or {position, quaternion}
    <root>/markups/<node>/set       in    [[x, y, z], …] or {points, labels}
    <root>/camera/<view>/set        in    {position, focal_point, view_up}
    <root>/state/…                  out   retained scene state (see `adapters.mqtt.state`)
    <root>/status                   out   retained online / offline (Last Will)
    <root>/error                    out   what was rejected or failed, and why

`ROUTES` maps each incoming pattern to its decoder (`adapters.mqtt.payloads`); the patterns
are MQTT topic filters, so the same table yields the subscriptions. This module only names
and matches topics; it decodes nothing and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.mqtt import payloads
from adapters.mqtt.payloads import Decoder

#: Characters a topic *name* (what one publishes to) may not contain.
_NOT_IN_TOPIC_NAMES = frozenset("+#\0")
#: What may not appear in one topic level built from a node name.
_NOT_IN_LEVELS = _NOT_IN_TOPIC_NAMES | {"/"}
#: Topics whose match is remembered; the memory is cleared when it is full.
MATCH_CACHE = 4096


@dataclass(frozen=True)
class Route:
    """One incoming topic pattern (relative to the root; `+` captures a level)."""

    pattern: str
    decode: Decoder
    #: Whether a retained message on this topic is applied when the bridge (re)subscribes.
    #: `…/set` topics carry a latest value, which is worth applying; a retained command
    #: would be replayed at every reconnect (a retained Shutdown would stop every start).
    replay_retained: bool
    levels: tuple[str, ...] = field(init=False)
    #: (position, text) of each literal level after the first, and the `+` positions.
    literals: tuple[tuple[int, str], ...] = field(init=False)
    wildcards: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        levels = tuple(self.pattern.split("/"))
        literals = tuple((i, text) for i, text in enumerate(levels) if i and text != "+")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "literals", literals)
        object.__setattr__(self, "wildcards", tuple(i for i, t in enumerate(levels) if t == "+"))


ROUTES: tuple[Route, ...] = (
    Route("cmd/+", payloads.command, replay_retained=False),
    Route("transform/+/set", payloads.transform, replay_retained=True),
    Route("markups/+/set", payloads.markups, replay_retained=True),
    Route("camera/+/set", payloads.camera, replay_retained=True),
)


def is_topic_name(topic: object) -> bool:
    """True for a topic one may publish to: non-empty text without wildcards or NUL, at most
    65535 bytes."""
    return (
        isinstance(topic, str)
        and 0 < len(topic.encode("utf-8", "surrogatepass")) <= 65535
        and not _NOT_IN_TOPIC_NAMES & set(topic)
    )


def level_for(name: str, fallback: str) -> str:
    """`name` as one topic level, or `fallback` (a node id) if the name cannot be one."""
    if name and not _NOT_IN_LEVELS & set(name):
        return name
    return fallback


class TopicScheme:
    """The concrete topics of one bridge instance."""

    def __init__(self, root: str, routes: tuple[Route, ...] = ROUTES) -> None:
        self.root = root
        self.status = f"{root}/status"
        self.error = f"{root}/error"
        self.state_prefix = f"{root}/state/"
        self.state_filter = f"{root}/state/#"
        self._prefix = f"{root}/"
        self._routes: dict[tuple[str, int], list[Route]] = {}
        for route in routes:
            self._routes.setdefault((route.levels[0], len(route.levels)), []).append(route)
        self._subscriptions = [self._prefix + route.pattern for route in routes]
        self._matched: dict[str, tuple[Route, tuple[str, ...]] | None] = {}

    def subscriptions(self) -> list[str]:
        """The topic filters of every incoming route."""
        return list(self._subscriptions)

    def state(self, *levels: str) -> str:
        return self.state_prefix + "/".join(levels)

    def match(self, topic: str) -> tuple[Route, tuple[str, ...]] | None:
        """The route of an incoming topic and its wildcard levels; None if none matches.
        Streams repeat few topics, so answers are remembered (up to `MATCH_CACHE` topics)."""
        try:
            return self._matched[topic]
        except KeyError:
            pass
        if len(self._matched) >= MATCH_CACHE:
            self._matched.clear()
        found = self._matched[topic] = self._match(topic)
        return found

    def _match(self, topic: str) -> tuple[Route, tuple[str, ...]] | None:
        if not topic.startswith(self._prefix):
            return None
        levels = topic[len(self._prefix) :].split("/")
        for route in self._routes.get((levels[0], len(levels)), ()):
            for position, text in route.literals:
                if levels[position] != text:
                    break
            else:
                return route, tuple(levels[position] for position in route.wildcards)
        return None
