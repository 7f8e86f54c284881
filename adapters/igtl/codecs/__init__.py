"""Content codecs: one module per family of OpenIGTLink message types.

Each codec turns the *content* of a message (the body without extended header and metadata,
see `adapters.igtl.wire`) into plain values and back, and raises `MessageError` for content
it cannot read. Codecs know nothing of commands, sessions or the scene.

pyigtl's message classes decode TRANSFORM and IMAGE, where they are right. Everything else is
written here from `openigtlink/OpenIGTLink:Documents/Protocol/*.md`, because pyigtl gets it
wrong (POSITION: 152 bytes per element instead of 28; POLYDATA: vertices packed
little-endian, no decoder; non-ASCII STRING raises), trips over numpy (POINT's `if not x`)
or lacks it (STATUS, COMMAND/RTS_COMMAND, TDATA, QTDATA, GET_/STT_/STP_/RTS_, CAPABILITY).
"""
