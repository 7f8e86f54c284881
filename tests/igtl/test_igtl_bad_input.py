"""Bad peers cannot disturb good ones: garbage, impossible sizes, bad CRCs, slow-loris,
NaN matrices, broken content, and a thousand peers connecting and dropping — while a
well-behaved tracker keeps streaming and every one of its updates is applied or superseded."""

from __future__ import annotations

import asyncio
import os

import numpy as np
from igtl_peers import RawPeer, eventually, transform_message, translation

from adapters.igtl.codecs import image, status, tracking
from adapters.igtl.wire import HEADER, pack_message


def decode_status(frame) -> status.Status:
    return status.decode_status(frame.content)


async def test_random_bytes_close_that_connection_only(bridge, adapter, connect):
    good, bad = await connect(), await connect()
    await bad.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
    assert await bad.closed_by_server()
    await good.send(transform_message("Tool", translation(1)))
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 1)
    assert adapter.stats.closed_reasons["garbage header"] == 1


async def test_a_header_announcing_2_64_minus_1_bytes_is_told_overflow_and_closed(adapter, connect):
    peer = await connect()
    header = HEADER.pack(1, b"IMAGE", b"huge", 0, 0, 2**64 - 1, 0)
    await peer.send(header + b"\0" * 100)
    reply = await peer.receive_type("STATUS")
    assert decode_status(reply).code == 8  # overflow
    assert await peer.closed_by_server()


async def test_a_bad_crc_is_answered_with_a_checksum_error_and_the_stream_goes_on(
    bridge, adapter, connect
):
    peer = await connect()
    damaged = bytearray(transform_message("Tool", translation(7)))
    damaged[-1] ^= 0xFF
    await peer.send(bytes(damaged), transform_message("Tool", translation(8)))
    reply = await peer.receive_type("STATUS")
    assert decode_status(reply).code == status.CHECKSUM_ERROR
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 8)
    assert adapter.stats.for_type("TRANSFORM").rejected == 1


async def test_crc_checking_can_be_switched_off(bridge, start_adapter):
    adapter = await start_adapter(check_crc=False)
    peer = await RawPeer.connect(adapter)
    damaged = bytearray(transform_message("Tool", translation(3)))
    damaged[50:58] = bytes(8)  # CRC field zeroed, as some peers send it
    await peer.send(bytes(damaged))
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 3)
    await peer.close()


async def test_a_truncated_body_then_silence_is_closed_by_the_read_timeout(bridge, start_adapter):
    adapter = await start_adapter(read_timeout=0.3)
    loris, good = await RawPeer.connect(adapter), await RawPeer.connect(adapter)
    await loris.send(transform_message("Tool", translation(1))[:80])
    await good.send(transform_message("Good", translation(2)))
    await eventually(lambda: bridge.scene.transform_matrix("Good")[0, 3] == 2)
    assert await loris.closed_by_server(timeout=3)
    assert adapter.stats.closed_reasons["read timeout"] == 1
    await good.send(transform_message("Good", translation(3)))
    await eventually(lambda: bridge.scene.transform_matrix("Good")[0, 3] == 3)
    for peer in (loris, good):
        await peer.close()


async def test_an_idle_peer_between_messages_is_not_timed_out(bridge, start_adapter):
    adapter = await start_adapter(read_timeout=0.2)
    peer = await RawPeer.connect(adapter)
    await peer.send(transform_message("Tool", translation(1)))
    await asyncio.sleep(0.5)
    await peer.send(transform_message("Tool", translation(2)))
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 2)
    await peer.close()


async def test_a_nan_matrix_fails_alone_and_is_answered_with_a_status_error(
    bridge, adapter, connect
):
    peer = await connect()
    nan = np.full((4, 4), np.nan)
    await peer.send_message("TRANSFORM", "Bad", tracking.encode_transform(nan))
    await peer.send(transform_message("Good", translation(4)))
    reply = await peer.receive_type("STATUS")
    assert reply.device == "Bad"
    assert "NaN" in decode_status(reply).message
    await eventually(lambda: bridge.scene.transform_matrix("Good")[0, 3] == 4)
    assert adapter.stats.for_type("TRANSFORM").failed == 1


async def test_malformed_content_is_answered_and_the_connection_stays_up(bridge, adapter, connect):
    peer = await connect()
    broken = [
        pack_message("POSITION", "P", bytes(13)),  # no POSITION layout is 13 bytes
        pack_message("TDATA", "T", bytes(71)),  # not a whole number of elements
        pack_message("STRING", "S", b"\0\x03\0\x50abc"),  # announces 80 bytes, has 3
        pack_message("POINT", "Tool*", bytes(136)),  # a pattern as device name
    ]
    await peer.send(*broken)
    codes = [decode_status(await peer.receive_type("STATUS")) for _ in range(len(broken))]
    assert all(not report.ok for report in codes)
    await peer.send(transform_message("Tool", translation(5)))
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 5)


async def test_an_impossible_extended_header_loses_only_that_message(bridge, adapter, connect):
    peer = await connect()
    message = bytearray(pack_message("STRING", "S", b"\0\x03\0\x01x", version=2).to_bytes())
    message[58:60] = (500).to_bytes(2, "big")  # extended header larger than the body
    from adapters.igtl.wire import crc64

    message[50:58] = crc64(bytes(message[58:])).to_bytes(8, "big")
    await peer.send(bytes(message), transform_message("After", translation(6), version=2))
    assert "impossible" in decode_status(await peer.receive_type("STATUS")).message
    await eventually(lambda: bridge.scene.transform_matrix("After")[0, 3] == 6)


async def test_unknown_types_are_skipped_counted_and_the_stream_stays_in_sync(
    bridge, adapter, connect
):
    peer = await connect()
    await peer.send(
        pack_message("NDARRAY", "x", bytes(40)).to_bytes(),
        pack_message("VIDEO", "y", bytes(1000)).to_bytes(),
        transform_message("Tool", translation(9)),
    )
    await eventually(lambda: bridge.scene.transform_matrix("Tool")[0, 3] == 9)
    assert dict(adapter.stats.unknown_types) == {"NDARRAY": 1, "VIDEO": 1}


async def test_peers_beyond_the_limit_are_refused(start_adapter):
    adapter = await start_adapter(max_peers=2)
    peers = [await RawPeer.connect(adapter) for _ in range(3)]
    assert await peers[2].closed_by_server()
    assert adapter.stats.connections_refused == 1
    for peer in peers:
        await peer.close()


async def test_a_thousand_peers_connecting_and_dropping_do_not_disturb_a_tracker(bridge, adapter):
    tracker = await RawPeer.connect(adapter)
    sent = 0
    stop = asyncio.Event()

    async def stream() -> None:
        nonlocal sent
        while not stop.is_set():
            await tracker.send(
                *(transform_message("Tracker", translation(sent + i)) for i in range(20))
            )
            sent += 20
            await asyncio.sleep(0.001)

    async def churn(count: int) -> None:
        assert adapter.address is not None
        for index in range(count):
            _reader, writer = await asyncio.open_connection(*adapter.address)
            if index % 3 == 0:
                writer.write(os.urandom(100))  # some say garbage before they go
            elif index % 3 == 1:
                writer.write(transform_message("Drive-by", translation(index))[:30])
            writer.close()

    streaming = asyncio.create_task(stream())
    await asyncio.gather(*(churn(100) for _ in range(10)))
    stop.set()
    await streaming
    assert sent >= 200  # the tracker streamed all along
    last = sent - 1
    await eventually(lambda: bridge.scene.transform_matrix("Tracker")[0, 3] == last)
    port = tracker.writer.get_extra_info("sockname")[1]
    session = next(s for s in adapter.sessions if s.peer.endswith(f":{port}"))
    await eventually(lambda: session.stats.applied + session.stats.superseded == sent)
    assert session.stats.failed == session.stats.rejected == 0
    assert adapter.stats.connections_opened >= 1001
    await eventually(lambda: len(adapter.sessions) == 1)
    await tracker.close()


async def test_big_bodies_are_crc_checked_off_the_loop_and_keep_their_order(
    bridge, adapter, connect
):
    peer = await connect()
    big = np.arange(64 * 128 * 128, dtype=np.int16).reshape(64, 128, 128)  # 2 MiB
    good = pack_message("IMAGE", "Big", image.encode_image(big, np.eye(4))).to_bytes()
    damaged = bytearray(
        pack_message("IMAGE", "Big", image.encode_image(big + 1, np.eye(4))).to_bytes()
    )
    damaged[-1] ^= 0xFF
    await peer.send(good, bytes(damaged), transform_message("After", translation(1)))
    report = decode_status(await peer.receive_type("STATUS"))
    assert report.code == status.CHECKSUM_ERROR
    await eventually(lambda: bridge.scene.transform_matrix("After")[0, 3] == 1)
    assert np.array_equal(bridge.scene.volume("Big").array, big)  # the damaged one never applied
