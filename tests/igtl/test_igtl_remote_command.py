"""COMMAND text → typed commands (JSON and PLUS-style XML) and RTS_COMMAND reply texts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.igtl.remote_command import (
    command_form,
    format_error,
    format_reply,
    parse_command,
)
from bridge.bus import CommandResult, Outcome
from bridge.commands import CommandError, SetLayout, SetSliceOffset, SetTransform


def test_a_json_command_names_itself():
    command = parse_command("", '{"command": "SetLayout", "layout": "fourup"}', source="igtl:x")
    assert isinstance(command, SetLayout)
    assert command.layout == "FourUp"
    assert command.source == "igtl:x"


def test_without_a_command_key_the_name_field_names_it():
    command = parse_command("SetSliceOffset", '{"view": "Red", "offset": 12.5}', source="s")
    assert isinstance(command, SetSliceOffset)
    assert (command.view, command.offset) == ("red", 12.5)


def test_plus_style_xml_attributes_become_typed_fields():
    matrix = np.eye(4)
    matrix[0, 3] = 7
    xml = f'<Command Name="SetTransform" node="Needle" matrix="{matrix.tolist()}" />'
    command = parse_command("CMD", xml, source="s")
    assert isinstance(command, SetTransform)
    assert command.node == "Needle"
    assert np.allclose(command.matrix, matrix)
    assert command_form(xml) == "xml"


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("", "{}", "names no command"),
        ("Nope", "{}", "unknown command"),
        ("SetLayout", "{not json", "neither XML nor valid JSON"),
        ("SetLayout", "[1, 2]", "must be an object"),
        ("", "<Command Name='SetLayout'", "does not parse"),
        ("SetLayout", '{"layout": "NoSuchLayout"}', "unknown layout"),
        ("StartRecording", '<Command Name="StartRecording" />', "unknown command"),
    ],
)
def test_commands_that_cannot_be_built_say_why(name, text, problem):
    with pytest.raises(CommandError, match=problem):
        parse_command(name, text, source="s")


def test_replies_take_the_form_of_the_request():
    applied = CommandResult(Outcome.APPLIED, "SetLayout", None, {"layout": "FourUp"})
    failed = CommandResult(Outcome.FAILED, "SetLayout", None, None, "no <such> layout")
    assert json.loads(format_reply(applied, "json"))["value"] == {"layout": "FourUp"}
    assert json.loads(format_reply(failed, "json"))["error"] == "no <such> layout"
    assert format_reply(applied, "xml").startswith("<Command><Result>true</Result>")
    assert "no &lt;such&gt; layout" in format_reply(failed, "xml")
    assert "<Result>false</Result>" in format_error("bad", "xml")
    assert json.loads(format_error("bad", "json")) == {"status": "failed", "error": "bad"}
