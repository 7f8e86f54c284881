"""STRING (`string.md`): ENCODING uint16 (IANA MIBenum), LENGTH uint16, then the bytes.

Written here because pyigtl's `StringMessage` raises on any non-ASCII text it sends (it
catches `UnicodeDecodeError` where `UnicodeEncodeError` is raised) and raises `TypeError`
for an encoding it does not know.
"""

from __future__ import annotations

import struct

from adapters.igtl.wire import MessageError, decode_text, encode_text

STRING_HEADER = struct.Struct(">HH")
MAX_STRING_BYTES = 0xFFFF


def decode_string(content: bytes | memoryview) -> str:
    if len(content) < STRING_HEADER.size:
        raise MessageError(f"STRING content of {len(content)} bytes has no length field")
    encoding, length = STRING_HEADER.unpack_from(content)
    if STRING_HEADER.size + length > len(content):
        raise MessageError(
            f"STRING announces {length} bytes, has {len(content) - STRING_HEADER.size}"
        )
    return decode_text(content[STRING_HEADER.size : STRING_HEADER.size + length], encoding)


def encode_string(text: str) -> bytes:
    raw, encoding = encode_text(text)
    if len(raw) > MAX_STRING_BYTES:
        raise MessageError(f"STRING holds at most 65535 bytes, this text has {len(raw)}")
    return STRING_HEADER.pack(encoding, len(raw)) + raw
