"""COMMAND and RTS_COMMAND (`command.md`, protocol 3): COMMAND_ID uint32, COMMAND_NAME
char[128] (`IGTL_COMMAND_NAME_SIZE` in the reference library; the document leaves it open),
ENCODING uint16, LENGTH uint32, then the command text — 138 fixed bytes.

RTS_COMMAND has the same layout; the reference library's `RTSCommandMessage` (and PLUS)
use the name field for the error string, empty on success. pyigtl has neither type.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from adapters.igtl.wire import MessageError, decode_name, decode_text, encode_name, encode_text

COMMAND_HEADER = struct.Struct(">I128sHI")  # 138 bytes
NAME_SIZE = 128


@dataclass(frozen=True, slots=True)
class CommandMessage:
    command_id: int
    name: str
    text: str


def decode_command(content: bytes | memoryview) -> CommandMessage:
    if len(content) < COMMAND_HEADER.size:
        raise MessageError(f"COMMAND content of {len(content)} bytes is shorter than 138")
    command_id, name, encoding, length = COMMAND_HEADER.unpack_from(content)
    start = COMMAND_HEADER.size
    if start + length > len(content):
        raise MessageError(f"COMMAND announces {length} bytes of text, has {len(content) - start}")
    text = decode_text(content[start : start + length], encoding)
    return CommandMessage(command_id, decode_name(name), text)


def encode_command(command_id: int, name: str, text: str) -> bytes:
    raw, encoding = encode_text(text)
    return COMMAND_HEADER.pack(command_id, encode_name(name, NAME_SIZE), encoding, len(raw)) + raw
