"""Helpers for the OpenIGTLink tests: polling, a raw loopback peer, and sample poses,
volumes and surfaces.

`RawPeer` is an asyncio client that writes exact bytes and reads whole messages back, so
tests see the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from adapters.igtl import IgtlAdapter
from adapters.igtl.codecs import tracking
from adapters.igtl.wire import HEADER, HEADER_SIZE, Frame, pack_message
from bridge import geometry


async def eventually(
    predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01
) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (LookupError, ValueError):
            value = None
        ready = value.size > 0 if isinstance(value, np.ndarray) else bool(value)
        if ready:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(interval)


class RawPeer:
    """A loopback OpenIGTLink peer that sends exact bytes and reads whole messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, adapter: IgtlAdapter) -> RawPeer:
        assert adapter.address is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", adapter.address[1])
        return cls(reader, writer)

    async def send(self, *messages: bytes | Any) -> None:
        for message in messages:
            self.writer.write(message if isinstance(message, bytes) else message.to_bytes())
        await self.writer.drain()

    async def send_message(self, type: str, device: str, content: bytes = b"", **kw: Any) -> None:
        await self.send(pack_message(type, device, content, **kw).to_bytes())

    async def receive(self, timeout: float = 5.0) -> Frame:
        header = await asyncio.wait_for(self.reader.readexactly(HEADER_SIZE), timeout)
        version, type_raw, device_raw, seconds, fraction, size, crc = HEADER.unpack(header)
        body = await asyncio.wait_for(self.reader.readexactly(size), timeout)
        frame = Frame(
            version,
            type_raw.split(b"\0")[0].decode(),
            device_raw.split(b"\0")[0].decode(),
            seconds + fraction / 2**32,
            body,
            crc,
            time.monotonic(),
        )
        frame.locate_content()
        return frame

    async def receive_type(self, type_name: str, timeout: float = 5.0) -> Frame:
        """The next message of `type_name`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.receive(max(deadline - time.monotonic(), 0.01))
            if frame.type == type_name:
                return frame

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True once the server has closed this connection (reads drain until EOF)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


# -- sample data ---------------------------------------------------------------------------------


def rigid(
    angle: float, axis: tuple[float, float, float], position: tuple[float, ...]
) -> np.ndarray:
    axis_array = np.asarray(axis) / np.linalg.norm(axis)
    w = math.cos(angle / 2)
    x, y, z = axis_array * math.sin(angle / 2)
    return geometry.pose_matrix(geometry.quaternion_to_rotation(w, x, y, z), position)


POSE = rigid(0.7, (1, 2, 3), (10.0, -20.0, 30.5))
IJK_TO_RAS = geometry.ijk_to_ras_matrix((0.5, 0.7, 2.0), (10.0, -20.0, 5.0), np.eye(3))
CUBE_POINTS = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=np.float64
)


def translation(x: float, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    return geometry.pose_matrix(None, (x, y, z))


def volume(dtype: str = "<i2", shape: tuple[int, int, int] = (3, 4, 5)) -> np.ndarray:
    return np.arange(np.prod(shape)).reshape(shape).astype(dtype)


def transform_message(device: str, matrix: np.ndarray, **options: Any) -> bytes:
    return pack_message(
        "TRANSFORM", device, tracking.encode_transform(matrix), **options
    ).to_bytes()
