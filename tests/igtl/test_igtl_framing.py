"""Cutting byte streams into frames: any split, large bodies, and streams that are broken."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.igtl.framing import LARGE_BODY, FrameReader
from adapters.igtl.wire import Frame, FramingError, pack_message

MESSAGES = [
    pack_message("TRANSFORM", "Tool", bytes(48)).to_bytes(),
    pack_message("STRING", "Text", b"\0\x03\0\x02hi", version=2, metadata={"k": "v"}).to_bytes(),
    pack_message("GET_STATUS", "").to_bytes(),
    pack_message("STATUS", "Dev", bytes(31)).to_bytes(),
]


def read_all(reader: FrameReader, limit: int = 1000) -> list[Frame]:
    frames: list[Frame] = []
    while reader.read(limit, frames):
        pass
    return frames


@settings(max_examples=60, deadline=None)
@given(
    order=st.lists(st.integers(0, len(MESSAGES) - 1), min_size=1, max_size=20),
    cuts=st.lists(st.integers(1, 300), max_size=30),
    limit=st.integers(1, 5),
)
def test_any_split_of_the_stream_yields_the_same_frames(order, cuts, limit):
    stream = b"".join(MESSAGES[i] for i in order)
    reader = FrameReader(max_body=1 << 20)
    frames: list[Frame] = []
    position = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[position : position + cut])
        position += cut
        while reader.read(limit, frames):
            pass
        if position >= len(stream):
            break
    assert [f.type for f in frames] == [MESSAGES[i][2:14].rstrip(b"\0").decode() for i in order]
    assert [f.body for f in frames] == [MESSAGES[i][58:] for i in order]
    assert not reader.mid_frame


def test_read_stops_at_its_limit_and_resumes():
    reader = FrameReader(max_body=1024)
    reader.feed(MESSAGES[0] * 5)
    frames: list[Frame] = []
    assert reader.read(2, frames) is True
    assert len(frames) == 2
    assert reader.read(10, frames) is False
    assert len(frames) == 5


def test_a_large_body_is_collected_from_its_chunks_once():
    content = os.urandom(LARGE_BODY + 12345)
    message = pack_message("IMAGE", "US", content).to_bytes() + MESSAGES[0]
    reader = FrameReader(max_body=4 * LARGE_BODY)
    for start in range(0, len(message), 65536):
        reader.feed(message[start : start + 65536])
    frames = read_all(reader)
    assert [f.type for f in frames] == ["IMAGE", "TRANSFORM"]
    assert frames[0].body == content
    assert reader.buffered == 0


def test_a_half_received_frame_is_mid_frame():
    reader = FrameReader(max_body=1024)
    reader.feed(MESSAGES[0][:70])
    assert read_all(reader) == []
    assert reader.mid_frame


@pytest.mark.parametrize("version", [0, 3, 0xFFFF])
def test_an_unknown_header_version_breaks_the_stream(version):
    message = bytearray(MESSAGES[0])
    message[0:2] = version.to_bytes(2, "big")
    reader = FrameReader(max_body=1024)
    reader.feed(bytes(message))
    with pytest.raises(FramingError, match="header version"):
        read_all(reader)


def test_a_body_over_the_limit_breaks_the_stream_before_any_byte_of_it_is_held():
    header = bytearray(MESSAGES[0][:58])
    header[42:50] = (2**64 - 1).to_bytes(8, "big")
    reader = FrameReader(max_body=1024)
    reader.feed(bytes(header))
    with pytest.raises(FramingError, match="over the limit") as raised:
        read_all(reader)
    assert raised.value.code == 8


def test_frames_before_garbage_are_still_delivered():
    reader = FrameReader(max_body=1024)
    reader.feed(MESSAGES[0] + MESSAGES[2] + b"\xde\xad\xbe\xef" * 50)
    frames: list[Frame] = []
    with pytest.raises(FramingError):
        reader.read(100, frames)
    assert [f.type for f in frames] == ["TRANSFORM", "GET_STATUS"]
