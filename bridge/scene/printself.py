"""Slicer's PrintSelf text (`str(node)`) → the nested dict `GET /slicer/mrml/properties` answers.

Slicer's WebServer builds node properties by parsing the text VTK and MRML print for a node;
clients (slicerio, mcp-slicer) read keys such as `ClassName`, `ImageData → Extent` and
`Segmentation → Segments → <id> → Name`. This is that parser, written from the rules the
WebServer follows, so the MRML scene answers the same shapes:

* the first line (`vtkMRMLScalarVolumeNode (0x…)`) and every other line at indent 0 are
  skipped (matrix rows printed without indentation are lost, as in Slicer);
* indentation builds the nesting: a line without `:` names a group, and a `Key:` line
  followed by deeper `Key: value` lines becomes a nested dict (its own value, if any, is
  dropped — e.g. `Segmentation:    Debug: Off`); deeper lines without a colon (matrix rows)
  nest nothing; indents below 2 count as 2;
* `Key: value` splits at the first colon; values become Python data by `parse_value`, and a
  `(none)` value leaves the key out.

One deliberate difference: numbers in exponent notation (`1e-05`) become floats; Slicer's
parser leaves them as strings. Pure: text in, JSON-ready data out, nothing imported from
Slicer.
"""

from __future__ import annotations

import re
from typing import Any

Properties = dict[str, Any]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_LIST_RE = re.compile(rf"^{_NUMBER}(?:\s*,\s*|\s+)(?:{_NUMBER}(?:\s*,\s*|\s+))*{_NUMBER}$")
_BRACKETS = {"(": ")", "[": "]"}
_WORDS: dict[str, bool | None] = {
    "(none)": None,
    "true": True,
    "false": False,
    "on": True,
    "off": False,
}


def _number(text: str, floating: bool) -> int | float:
    return float(text) if floating else int(text)


def parse_value(text: str) -> Any:
    """One printed value as data: `(none)` → None; true/false/on/off → bool; numbers (a `.`
    or an exponent makes every number of a value a float) → int/float; `(1, 2, 3)`,
    `[1 2 3]`, `1, 2, 3` and `1 2 3` → lists; anything else stays the text."""
    value = text.strip()
    lowered = value.lower()
    if lowered in _WORDS:
        return _WORDS[lowered]
    inner = value
    if value[:1] in _BRACKETS and value.endswith(_BRACKETS[value[:1]]):
        inner = value[1:-1].strip()
    floating = "." in inner or "e" in inner.lower()
    if inner and _NUMBER_RE.match(inner):
        number = _number(inner, floating)
        return [number] if inner is not value else number
    if inner and _LIST_RE.match(inner):
        return [_number(part, floating) for part in re.split(r"\s*,\s*|\s+", inner)]
    return value


def parse_printself(text: str) -> Properties:
    """The nested properties of one node's PrintSelf text (see the module docstring)."""
    root: Properties = {}
    indents = [2]  # the indentation of each open level; the top level is at 2
    path: list[str] = []  # the key each level below the top nests under
    last_key: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or indent == 0:
            continue
        indent = max(indent, 2)
        if indent > indents[-1] and last_key is not None:
            indents.append(indent)
            path.append(last_key)
        while len(indents) > 1 and indent < indents[-1]:
            indents.pop()
            path.pop()
        key, colon, value = stripped.partition(":")
        if not colon:  # a group name: it appears only if a `Key: value` line nests under it
            last_key = stripped
            continue
        parsed = parse_value(value)
        if parsed is not None:
            _level(root, path)[key.strip()] = parsed
        last_key = key.strip()
    return root


def _level(root: Properties, path: list[str]) -> Properties:
    """The dict `path` leads to, made on the way; a value found where a block nests (e.g.
    `Segmentation:    Debug: Off`) is replaced by the block."""
    level = root
    for key in path:
        child = level.get(key)
        if not isinstance(child, dict):
            child = level[key] = {}
        level = child
    return level


__all__ = ["parse_printself", "parse_value"]
