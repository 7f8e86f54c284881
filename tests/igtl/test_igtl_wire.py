"""The wire layer: header, extended header and metadata, CRC-64, names and timestamps."""

from __future__ import annotations

import os
import time

import numpy as np
import pyigtl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.igtl.wire import (
    EXTENDED_HEADER,
    HEADER,
    Frame,
    FramingError,
    MessageError,
    crc64,
    crc64_off_loop,
    decode_name,
    decode_type,
    encode_name,
    pack_message,
    pack_message_off_loop,
    parse_metadata,
    timestamp_from_wire,
    timestamp_to_wire,
)


def frame_of(message: bytes) -> Frame:
    version, type_raw, device_raw, seconds, fraction, _size, crc = HEADER.unpack(message[:58])
    frame = Frame(
        version,
        decode_type(type_raw),
        decode_name(device_raw),
        timestamp_from_wire(seconds, fraction),
        message[58:],
        crc,
        0.0,
    )
    frame.locate_content()
    return frame


def test_crc64_is_ecma_182_as_openigtlink_computes_it():
    assert crc64(b"123456789") == 0x6C40DF5F0B497347


async def test_crc_of_a_big_body_off_the_loop_equals_the_inline_crc():
    body = os.urandom(3 * 1024 * 1024 + 17)
    assert await crc64_off_loop(body[:1000], body[1000:]) == crc64(body)


def test_a_packed_message_is_what_pyigtl_packs():
    matrix = np.arange(16, dtype=np.float64).reshape(4, 4)
    matrix[3] = (0, 0, 0, 1)
    ours = pyigtl.TransformMessage(matrix, timestamp=1700000000.5, device_name="Tool")
    theirs = pack_message(
        "TRANSFORM", "Tool", ours._pack_content(), timestamp=1700000000.5
    ).to_bytes()
    assert theirs == ours.pack()


def test_metadata_and_message_id_round_trip_through_pyigtl():
    message = pyigtl.StringMessage("hello", device_name="Text")
    message.header_version = 2
    message.message_id = 42
    message.metadata = {"Status": "OK", "Unit": "mm"}
    frame = frame_of(message.pack())
    assert frame.message_id == 42
    assert frame.metadata() == {"Status": "OK", "Unit": "mm"}
    assert bytes(frame.content) == message._pack_content()

    packed = pack_message(
        "STRING", "Text", bytes(frame.content), version=2, metadata={"Key": "välue"}, message_id=7
    ).to_bytes()
    header = pyigtl.MessageBase.parse_header(packed[:58])
    decoded = pyigtl.StringMessage()
    decoded.unpack(header, packed[58:])
    assert (decoded.string, decoded.message_id, decoded.metadata) == ("hello", 7, {"Key": "välue"})


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\0\x0c" + bytes(8), "no extended header"),
        ((3).to_bytes(2, "big") + bytes(10), "impossible"),
        (EXTENDED_HEADER.pack(12, 2, 99, 0), "does not fit"),
        (EXTENDED_HEADER.pack(12, 5, 0, 0) + bytes(5), "is not 2"),
    ],
)  # fmt: skip
def test_an_impossible_extended_header_is_a_message_error_not_a_framing_error(body, problem):
    frame = Frame(2, "STRING", "x", 0.0, body, crc64(body), 0.0)
    with pytest.raises(MessageError, match=problem):
        frame.locate_content()


def test_metadata_running_past_its_block_is_refused():
    with pytest.raises(MessageError):
        parse_metadata(b"\0\x01" + (5).to_bytes(2, "big") + (3).to_bytes(2, "big") + bytes(4))


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Tool\0\0\0", "Tool"),
        (b"Tool\0garbage", "Tool"),
        (b"caf\xc3\xa9", "café"),
        (b"bad\xff\xfe", "bad\ufffd\ufffd"),
        (b"new\nline\x07", "new\ufffdline\ufffd"),
        (b"  padded  ", "padded"),
    ],
)
def test_device_names_are_decoded_safely(raw, text):
    assert decode_name(raw) == text


def test_encoded_names_are_cut_at_a_character_boundary():
    field = encode_name("é" * 15, 20)
    assert len(field) == 20
    assert decode_name(field) == "é" * 10


@pytest.mark.parametrize("raw", [b"\0" * 12, b"TRANS FORM\0\0", b"\xff\xfeABCDEFGHIJ"])
def test_a_type_field_that_is_not_ascii_text_is_a_framing_error(raw):
    with pytest.raises(FramingError):
        decode_type(raw)


@given(st.floats(min_value=1.0, max_value=4e9, allow_nan=False))
def test_timestamps_round_trip_to_a_nanosecond(seconds):
    assert abs(timestamp_from_wire(*timestamp_to_wire(seconds)) - seconds) < 1e-6


def test_pyigtl_reads_our_timestamps():
    now = time.time()
    packed = pack_message("STRING", "t", b"\0\x03\0\0", timestamp=now).to_bytes()
    assert abs(pyigtl.MessageBase.parse_header(packed[:58])["timestamp"] - now) < 1e-6


async def test_a_message_packed_off_the_loop_matches_the_inline_packing():
    content = os.urandom(600_000)
    inline = pack_message("IMAGE", "v", content, timestamp=5.0, version=2, metadata={"a": "b"})
    off = await pack_message_off_loop(
        "IMAGE", "v", (content[:72], memoryview(content)[72:]), timestamp=5.0, version=2,
        metadata={"a": "b"},
    )  # fmt: skip
    assert off.to_bytes() == inline.to_bytes()
