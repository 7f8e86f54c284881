"""Content negotiation for DICOMweb: the Accept header → what to send, or 406.

`parse_accept` is deliberately lenient, because clients disagree on the syntax (reference
dicomweb.md §1.3, §3.2, §4.4): quoted or unquoted parameters (`type="application/octet-stream"`
and `type=application/octet-stream`), `transfer-syntax=*` quoted or not, the transfer syntax
nested inside the quoted `type` (Orthanc's style), `type="*/*"` (dicomweb-client's default),
several comma-separated alternatives with q-values, and no Accept at all.

Each `negotiate_*` function walks the alternatives in preference order and returns the first
representation this server can produce for the stored data, or raises `NotAcceptable`. A
missing Accept header (or `*/*`) means "as stored". Knows nothing of files or the store
beyond transfer syntax UIDs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from adapters.http.responses import HttpError
from bridge.dicom.pixels import (
    FRAME_MEDIA_TYPES,
    LITTLE_ENDIAN_NATIVE,
    OCTET_STREAM,
    RENDER_FORMATS,
    can_decode,
    can_transcode,
    is_native,
)

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
MULTIPART = "multipart/related"
ANY = ("*/*", "*")


class NotAcceptable(HttpError):
    def __init__(self, message: str) -> None:
        super().__init__(406, message)


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One alternative of an Accept header: media type, parameters (names lower case, values
    unquoted), quality."""

    media_type: str
    params: Mapping[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def related_type(self) -> str | None:
        value = self.params.get("type")
        return value.lower() if value else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax") or None

    def __str__(self) -> str:
        params = "".join(f"; {k}={v}" for k, v in self.params.items())
        return f"{self.media_type}{params}"


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_accept(header: str | None) -> list[MediaRange]:
    """The alternatives of an Accept header, most preferred first (q=0 ones dropped)."""
    if not header:
        return []
    return list(_parse_accept(header))


@functools.lru_cache(maxsize=256)
def _parse_accept(header: str) -> tuple[MediaRange, ...]:
    ranges: list[tuple[float, int, MediaRange]] = []
    for order, item in enumerate(_split_outside_quotes(header, ",")):
        pieces = [piece.strip() for piece in _split_outside_quotes(item, ";")]
        media_type = pieces[0].lower()
        if not media_type:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"').strip()
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 1.0
            elif name == "type" and ";" in value:
                # type="application/octet-stream; transfer-syntax=…" (Orthanc's placement)
                inner = [part.strip() for part in value.split(";")]
                params["type"] = inner[0]
                for extra in inner[1:]:
                    extra_name, _, extra_value = extra.partition("=")
                    params[extra_name.strip().lower()] = extra_value.strip().strip('"')
            elif name:
                params[name] = value
        if q > 0:
            ranges.append((q, order, MediaRange(media_type, params, q)))
    ranges.sort(key=lambda entry: (-entry[0], entry[1]))
    return tuple(entry[2] for entry in ranges)


def describe(ranges: Iterable[MediaRange]) -> str:
    return ", ".join(map(str, ranges)) or "(none)"


# -- JSON (QIDO, metadata) --------------------------------------------------------------------


def negotiate_json(ranges: list[MediaRange]) -> str:
    """`application/dicom+json`, or `application/json` when only that is acceptable."""
    if not ranges:
        return DICOM_JSON
    for candidate in ranges:
        if candidate.media_type in (DICOM_JSON, "application/*", *ANY):
            return DICOM_JSON
        if candidate.media_type == JSON:
            return JSON
    raise NotAcceptable(
        f"this resource is available as {DICOM_JSON} (or {JSON}); Accept asked for "
        f"{describe(ranges)}"
    )


# -- DICOM instances (retrieve study, series, instance) ----------------------------------------


@dataclass(frozen=True, slots=True)
class DicomRepresentation:
    """How to send instances: multipart or one single part, in which transfer syntax (None:
    as stored); `pixel_data`: the instance's pixel data instead (OHIF's single-frame URL)."""

    multipart: bool = True
    transfer_syntax: str | None = None
    pixel_data: bool = False


def transfer_syntax_possible(target: str | None, stored: str) -> bool:
    """Whether an instance stored in `stored` can be sent in `target` (None: as stored)."""
    if target is None or target == stored:
        return True
    if target == EXPLICIT_VR_LITTLE_ENDIAN:
        return can_transcode(stored)
    return False


def _requested_syntax(candidate: MediaRange) -> str | None:
    """The transfer syntax a range asks for: `*` → None (as stored); absent → Explicit VR LE."""
    syntax = candidate.transfer_syntax
    if syntax == "*":
        return None
    return syntax or EXPLICIT_VR_LITTLE_ENDIAN


def negotiate_dicom(
    ranges: list[MediaRange], stored: set[str], *, single: bool, instance_level: bool
) -> DicomRepresentation:
    if not ranges:
        return DicomRepresentation()
    for candidate in ranges:
        media, related = candidate.media_type, candidate.related_type
        if media in (*ANY, "multipart/*", "application/*"):
            return DicomRepresentation(multipart=not (media == "application/*" and single))
        if media == MULTIPART and related in (None, DICOM, *ANY):
            syntax = (
                None
                if related in ANY and not candidate.transfer_syntax
                else (_requested_syntax(candidate))
            )
            if all(transfer_syntax_possible(syntax, s) for s in stored):
                return DicomRepresentation(multipart=True, transfer_syntax=syntax)
        elif media == DICOM and single:
            syntax = _requested_syntax(candidate) if candidate.transfer_syntax else None
            if all(transfer_syntax_possible(syntax, s) for s in stored):
                return DicomRepresentation(multipart=False, transfer_syntax=syntax)
        elif instance_level and media == MULTIPART and related == OCTET_STREAM:
            return DicomRepresentation(pixel_data=True)
    raise NotAcceptable(
        f"cannot send instances stored as {', '.join(sorted(stored))} as "
        f'{describe(ranges)}: available are multipart/related; type="{DICOM}" with '
        f"transfer-syntax=* (as stored) or {EXPLICIT_VR_LITTLE_ENDIAN} (uncompressed or "
        f"decodable data){' and single-part ' + DICOM if single else ''}"
    )


# -- frames and pixel bulk data ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameRepresentation:
    """How to send frames: multipart or single part; as stored, or decoded to native."""

    multipart: bool = True
    decode: bool = False


def negotiate_frames(ranges: list[MediaRange], stored: str, count: int) -> FrameRepresentation:
    """Frames of an instance stored in `stored`: as stored when the client accepts that
    (`transfer-syntax=*`, `type="*/*"`, the stored image type, or native data), decoded to
    Explicit VR Little Endian when it asks for octet-stream without `*` and a decoder exists."""
    if not ranges:
        return FrameRepresentation()
    native = is_native(stored)
    stored_type = FRAME_MEDIA_TYPES.get(stored, OCTET_STREAM)
    for candidate in ranges:
        media = candidate.media_type
        multipart = media == MULTIPART
        kind = (candidate.related_type or OCTET_STREAM) if multipart else media
        if media in (*ANY, "multipart/*"):
            return FrameRepresentation()
        if not multipart and count != 1:
            continue  # a single part holds one frame
        choice = _frame_choice(kind, candidate.transfer_syntax, stored, native, stored_type)
        if choice is not None:
            return FrameRepresentation(multipart=multipart, decode=choice)
    raise NotAcceptable(
        f"frames stored as {stored} ({stored_type}) cannot be sent as {describe(ranges)}: "
        f'ask for multipart/related; type="{stored_type}"; transfer-syntax=*'
        + (f' or type="{OCTET_STREAM}" (decoded)' if not native and can_decode(stored) else "")
    )


def _frame_choice(
    kind: str, syntax: str | None, stored: str, native: bool, stored_type: str
) -> bool | None:
    """For one acceptable frame type: False = send as stored, True = decode, None = cannot."""
    if kind in ANY:
        if syntax in (None, "*", stored) or (native and syntax in LITTLE_ENDIAN_NATIVE):
            return False
        return True if syntax == EXPLICIT_VR_LITTLE_ENDIAN and can_decode(stored) else None
    if kind == OCTET_STREAM:
        if syntax == "*" or native:
            if syntax in (None, "*", stored) or syntax in LITTLE_ENDIAN_NATIVE:
                return False
            return None
        if syntax in (None, EXPLICIT_VR_LITTLE_ENDIAN) and can_decode(stored):
            return True
        return False if syntax == stored else None
    if kind == stored_type and syntax in (None, "*", stored):
        return False
    return None


# -- rendered images --------------------------------------------------------------------------


def negotiate_image(ranges: list[MediaRange]) -> str:
    """`image/jpeg` (default), `image/png` or `image/gif`. A multipart Accept (OHIF asks for
    thumbnails as `multipart/related; type="application/octet-stream"`) gets a single JPEG,
    which OHIF and dicomweb-client both accept."""
    if not ranges:
        return "image/jpeg"
    for candidate in ranges:
        media = candidate.media_type
        if media in RENDER_FORMATS:
            return media
        if media in (*ANY, "image/*"):
            return "image/jpeg"
        if media == MULTIPART:
            related = candidate.related_type
            return related if related in RENDER_FORMATS else "image/jpeg"
    raise NotAcceptable(
        f"rendered images are available as {', '.join(RENDER_FORMATS)}; Accept asked for "
        f"{describe(ranges)}"
    )


# -- other bulk data --------------------------------------------------------------------------


def negotiate_bulk(ranges: list[MediaRange]) -> bool:
    """Whether to send a (non-pixel) bulk data value as multipart (True) or single part."""
    if not ranges:
        return True
    for candidate in ranges:
        media = candidate.media_type
        if media in (*ANY, "multipart/*"):
            return True
        if media == MULTIPART and candidate.related_type in (None, OCTET_STREAM, *ANY):
            return True
        if media == OCTET_STREAM:
            return False
    raise NotAcceptable(
        f"bulk data is available as {OCTET_STREAM} (multipart or single part); Accept asked "
        f"for {describe(ranges)}"
    )
