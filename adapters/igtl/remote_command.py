"""COMMAND text ↔ the bridge's typed commands and their results.

Two forms are accepted, both naming one of the bridge's commands (`bridge.commands`):

* JSON, this bridge's own: `{"command": "SetLayout", "layout": "FourUp"}`; without a
  `"command"` key the COMMAND_NAME field names it (`name="SetLayout"`, text
  `{"layout": "FourUp"}`).
* XML, as PLUS and SlicerOpenIGTLink send it: `<Command Name="SetLayout" layout="FourUp"/>`.
  Each attribute is a field; its value is read as JSON when it parses (numbers, lists,
  `true`) and as a string otherwise. Without a `Name` attribute COMMAND_NAME names it.

The reply (RTS_COMMAND content) uses the request's form: JSON `CommandResult.to_json()`, or
PLUS's `<Command><Result>true|false</Result>…</Command>` with the value or error as a
`Message` element. Parsing never evaluates anything: XML entities are left to expat's limits
and the text is capped at `MAX_COMMAND_TEXT`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from typing import Any
from xml.sax.saxutils import escape

from bridge.bus import CommandResult
from bridge.commands import Command, CommandError

MAX_COMMAND_TEXT = 1 << 20
JSON_FORM, XML_FORM = "json", "xml"


def command_form(text: str) -> str:
    return XML_FORM if text.lstrip().startswith("<") else JSON_FORM


def parse_command(name: str, text: str, *, source: str) -> Command:
    """Build the typed command a COMMAND message names; CommandError if it cannot."""
    if len(text) > MAX_COMMAND_TEXT:
        raise CommandError(f"command text of {len(text)} characters is over {MAX_COMMAND_TEXT}")
    parse = _xml_payload if command_form(text) == XML_FORM else _json_payload
    payload = parse(text)
    if "command" not in payload:
        if not name:
            raise CommandError("the COMMAND names no command (no name field, no 'command' key)")
        payload["command"] = name
    return Command.from_json(payload, source=source)


def _json_payload(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"command text is neither XML nor valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise CommandError("a JSON command must be an object")
    return payload


def _xml_payload(text: str) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise CommandError(f"command XML does not parse: {error}") from None
    payload: dict[str, Any] = {}
    for key, value in root.attrib.items():
        if key == "Name":
            payload["command"] = value
        else:
            payload[key] = _attribute_value(value)
    return payload


def _attribute_value(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def format_reply(result: CommandResult, form: str) -> str:
    if form == JSON_FORM:
        return json.dumps(result.to_json(), default=str)
    message = result.error if not result.ok else json.dumps(result.value, default=str)
    return (
        f"<Command><Result>{'true' if result.ok else 'false'}</Result>"
        f"<Message>{escape(message or '')}</Message></Command>"
    )


def format_error(error: str, form: str) -> str:
    """A reply for a command that never reached the bus (unparsable, unknown)."""
    if form == JSON_FORM:
        return json.dumps({"status": "failed", "error": error})
    return f"<Command><Result>false</Result><Message>{escape(error)}</Message></Command>"
