"""The query family (`query.md`): GET_<type> (empty body), STT_<type> / STP_<type> (start,
stop a stream; STT_TDATA/QTDATA carry a body, see `tracking`), RTS_<type> (a STATUS byte:
0 success, 1 error), and CAPABILITY (`capability.md`: N × char[12] type names).

Type names are cut to 12 characters on the wire, so `GET_TRANSFOR` is a query for TRANSFORM;
the reference library registers `GET_TRANS`. `query_target` maps every such spelling to the
full type name by prefix, and replies use the suffix the peer sent, so a peer can match them.
"""

from __future__ import annotations

import struct

from adapters.igtl.wire import TYPE_SIZE, FramingError, MessageError, decode_type, encode_name

QUERY_PREFIXES = ("GET_", "STT_", "STP_", "RTS_")
RTS_STATUS = struct.Struct(">B")
RTS_OK, RTS_ERROR = 0, 1


def query_target(suffix: str, known_types: tuple[str, ...]) -> str | None:
    """The full type name a (possibly truncated) query suffix stands for, or None."""
    if suffix in known_types:
        return suffix
    if len(suffix) >= 5:  # "TRANS" and longer prefixes are unambiguous among known types
        matches = [name for name in known_types if name.startswith(suffix)]
        if len(matches) == 1:
            return matches[0]
    return None


def encode_rts(ok: bool) -> bytes:
    return RTS_STATUS.pack(RTS_OK if ok else RTS_ERROR)


def decode_rts(content: bytes | memoryview) -> bool:
    """True for success; an empty RTS body is read as success."""
    return len(content) == 0 or content[0] == RTS_OK


def encode_capability(types: list[str] | tuple[str, ...]) -> bytes:
    return b"".join(encode_name(name, TYPE_SIZE) for name in types)


def decode_capability(content: bytes | memoryview) -> list[str]:
    if len(content) % TYPE_SIZE:
        raise MessageError("CAPABILITY content is not a multiple of 12 bytes")
    try:
        return [
            decode_type(bytes(content[offset : offset + TYPE_SIZE]))
            for offset in range(0, len(content), TYPE_SIZE)
        ]
    except FramingError as error:
        raise MessageError(str(error)) from None
