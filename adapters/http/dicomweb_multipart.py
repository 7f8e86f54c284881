"""multipart/related bodies for DICOMweb: writing them (small ones in one buffer, large ones
streamed from disk) and reading STOW-RS requests part by part into files.

Written bodies follow what the strictest readers expect (dicomweb.md §1.3): the body starts
with `--boundary` (no preamble), each part's headers start exactly `Content-Type:`, stay far
below 1000 bytes, and the body ends `--boundary--` + CRLF. Reading relies on aiohttp's
`MultipartReader`, which tolerates a leading CRLF, quoted boundaries, a missing final CRLF and
chunked requests; a body that ends before its closing delimiter is a `TruncatedBody`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

#: Bytes read from disk per write when streaming a file into a response.
STREAM_CHUNK = 1 << 20


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_type(related_type: str, boundary: str) -> str:
    return f'multipart/related; type="{related_type}"; boundary={boundary}'


def part_head(boundary: str, content_type: str, length: int | None = None) -> bytes:
    head = f"--{boundary}\r\nContent-Type: {content_type}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def multipart_body(parts: Sequence[bytes], content_types: Sequence[str], boundary: str) -> bytes:
    """A whole multipart body in one buffer (frames, small bulk data)."""
    pieces: list[bytes] = []
    for data, content_type in zip(parts, content_types, strict=True):
        pieces.append(part_head(boundary, content_type, len(data)))
        pieces.append(data)
        pieces.append(b"\r\n")
    pieces.append(closing(boundary))
    return b"".join(pieces)


async def stream_file(response: web.StreamResponse, path: str) -> None:
    """Copy a file into a prepared response, chunk by chunk, reading off the event loop."""
    loop = asyncio.get_running_loop()
    with open(path, "rb") as stream:  # noqa: PTH123 - reads happen in the executor
        while chunk := await loop.run_in_executor(None, stream.read, STREAM_CHUNK):
            await response.write(chunk)


@dataclass(frozen=True, slots=True)
class FileRange:
    """Bytes of a file that go into a response as they are (sent with `sendfile`)."""

    path: str
    offset: int
    count: int


Piece = bytes | FileRange


def piece_length(piece: Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece.count


def multipart_pieces(parts: Sequence[tuple[str, Sequence[Piece]]], boundary: str) -> list[Piece]:
    """The pieces of a multipart body whose parts are (content type, pieces of its data)."""
    pieces: list[Piece] = []
    for content_type, data in parts:
        pieces.append(part_head(boundary, content_type, sum(map(piece_length, data))))
        pieces.extend(data)
        pieces.append(b"\r\n")
    pieces.append(closing(boundary))
    return pieces


class _CoalescedResponse(web.StreamResponse):
    """Sends its headers with the first bytes of the body (one segment less per reply)."""

    _send_headers_immediately = False


async def send_pieces(
    request: web.Request, headers: dict[str, str], pieces: Sequence[Piece]
) -> web.StreamResponse:
    """A response of known length made of bytes and file ranges: the ranges go from the page
    cache to the socket without being copied through Python (`loop.sendfile`; asyncio falls
    back to reading where sendfile cannot be used, e.g. over TLS)."""
    # Headers wait for the first bytes written; sendfile bypasses the writer, so a body that
    # starts with a file range needs them sent at once.
    starts_with_bytes = bool(pieces) and isinstance(pieces[0], bytes)
    kind = _CoalescedResponse if starts_with_bytes else web.StreamResponse
    response = kind(headers=headers)
    response.content_length = sum(map(piece_length, pieces))
    opened: tuple[str, BinaryIO] | None = None
    try:
        first_file = next((p for p in pieces if isinstance(p, FileRange)), None)
        if first_file is not None:  # a missing file fails before the status line goes out
            opened = (first_file.path, open(first_file.path, "rb"))  # noqa: PTH123, SIM115
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        loop = asyncio.get_running_loop()
        pending = bytearray()
        for piece in pieces:
            if isinstance(piece, bytes):
                pending += piece
                continue
            if pending:
                await response.write(bytes(pending))
                pending.clear()
            if opened is None or opened[0] != piece.path:  # one file open at a time
                if opened is not None:
                    opened[1].close()
                opened = (piece.path, open(piece.path, "rb"))  # noqa: PTH123, SIM115
            if piece.count:
                transport = request.transport
                if transport is None:
                    raise ConnectionResetError("the client went away")
                sent = await loop.sendfile(transport, opened[1], piece.offset, piece.count)
                if sent != piece.count:  # the file shrank since it was indexed
                    transport.close()
                    raise ConnectionResetError(f"{piece.path} is shorter than indexed")
        await response.write_eof(bytes(pending))
    finally:
        if opened is not None:
            opened[1].close()
    return response


# -- reading STOW-RS requests ---------------------------------------------------------------


class TruncatedBody(ValueError):
    """The request body ended before the multipart closing delimiter."""


class BodyTooLarge(ValueError):
    """The request body exceeded the configured limit."""


@dataclass(frozen=True, slots=True)
class ReceivedPart:
    """One part of a STOW-RS request, saved to a file."""

    content_type: str
    path: str
    size: int


@contextlib.asynccontextmanager
async def received_parts(
    request: web.Request, directory: Path, limit: int
) -> AsyncIterator[list[ReceivedPart]]:
    """Save every part of a multipart request to its own file under `directory`; the files
    are deleted on exit unless the caller moved them. Raises TruncatedBody, BodyTooLarge."""
    directory.mkdir(parents=True, exist_ok=True)
    parts: list[ReceivedPart] = []
    try:
        reader = await request.multipart()
        total = 0
        while True:
            try:
                part = await reader.next()
            except ValueError as error:
                raise TruncatedBody(f"malformed or truncated multipart body: {error}") from None
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise TruncatedBody("nested multipart parts are not supported")
            descriptor, name = tempfile.mkstemp(dir=directory, suffix=".part")
            size = 0
            with os.fdopen(descriptor, "wb") as stream:
                parts.append(ReceivedPart(part.headers.get("Content-Type", ""), name, 0))
                while True:
                    try:
                        chunk = await part.read_chunk(STREAM_CHUNK)
                    except ValueError as error:
                        raise TruncatedBody(
                            f"malformed or truncated multipart body: {error}"
                        ) from None
                    if not chunk:
                        break
                    size += len(chunk)
                    total += len(chunk)
                    if total > limit:
                        raise BodyTooLarge(f"request body too large: the limit is {limit} bytes")
                    stream.write(chunk)
            parts[-1] = ReceivedPart(parts[-1].content_type, name, size)
        yield parts
    finally:
        for received in parts:
            with contextlib.suppress(FileNotFoundError):
                Path(received.path).unlink()


@contextlib.asynccontextmanager
async def received_body(
    request: web.Request, directory: Path, limit: int
) -> AsyncIterator[list[ReceivedPart]]:
    """A single-part `application/dicom` request body as one received part."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=directory, suffix=".part")
    size = 0
    try:
        with os.fdopen(descriptor, "wb") as stream:
            async for chunk in request.content.iter_chunked(STREAM_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"request body too large: the limit is {limit} bytes")
                stream.write(chunk)
        yield [ReceivedPart(request.headers.get("Content-Type", ""), name, size)]
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()
