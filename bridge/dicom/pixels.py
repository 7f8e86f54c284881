"""Pixel data out of indexed files: frames as stored, frames decoded, whole instances in
Explicit VR Little Endian, and rendered images (JPEG/PNG/GIF through Pillow).

Frames *as stored* are byte ranges recorded at import (`PixelLayout`): one `pread` per
fragment, no DICOM parsing. Everything else — decoding compressed frames, transcoding an
instance, rendering — goes through pydicom (with its Pillow and RLE decoders) and raises
`Unsupported` when no decoder can do it, so the caller can answer 406.

This module reads files only; it knows no SQL and no HTTP.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from bridge.dicom.types import (
    Fragment,
    InstanceFile,
    NotFound,
    PixelLayout,
    QueryError,
    Unsupported,
)

#: Syntaxes whose pixel data bytes are the same as Explicit VR Little Endian's.
LITTLE_ENDIAN_NATIVE = frozenset({str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)})
NATIVE = LITTLE_ENDIAN_NATIVE | {str(ExplicitVRBigEndian), str(DeflatedExplicitVRLittleEndian)}
OCTET_STREAM = "application/octet-stream"

#: PS3.18 Table 8.7.3-5: the media type of a frame in each compressed transfer syntax.
FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.4.110": "image/jxl",
    "1.2.840.10008.1.2.4.111": "image/jxl",
    "1.2.840.10008.1.2.4.112": "image/jxl",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg2",
    "1.2.840.10008.1.2.4.101": "video/mpeg2",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
    "1.2.840.10008.1.2.4.104": "video/mp4",
    "1.2.840.10008.1.2.4.105": "video/mp4",
    "1.2.840.10008.1.2.4.106": "video/mp4",
    "1.2.840.10008.1.2.4.107": "video/H265",
    "1.2.840.10008.1.2.4.108": "video/H265",
}


def frame_media_type(transfer_syntax: str) -> str:
    """The media type of a frame stored in `transfer_syntax` (octet-stream when native)."""
    return FRAME_MEDIA_TYPES.get(transfer_syntax, OCTET_STREAM)


def is_native(transfer_syntax: str) -> bool:
    return transfer_syntax in NATIVE


def can_decode(transfer_syntax: str) -> bool:
    """Whether frames stored in `transfer_syntax` can be turned into native pixels here."""
    if is_native(transfer_syntax):
        return True
    from pydicom.pixels.decoders.base import get_decoder

    try:
        return get_decoder(UID(transfer_syntax)).is_available
    except NotImplementedError:
        return False


class FrameOutOfRange(QueryError):
    """A frame number below 1 or above the instance's NumberOfFrames."""


def check_frames(instance: InstanceFile, numbers: Sequence[int]) -> PixelLayout:
    layout = instance.pixels
    if layout is None:
        raise NotFound(f"instance {instance.sop_uid} has no pixel data")
    for number in numbers:
        if not 1 <= number <= layout.number_of_frames:
            raise FrameOutOfRange(
                f"frame {number} is out of range: instance {instance.sop_uid} has "
                f"{layout.number_of_frames} frame(s)"
            )
    return layout


# -- frames as stored -------------------------------------------------------------------------


def frame_ranges(instance: InstanceFile, numbers: Sequence[int]) -> list[list[Fragment]] | None:
    """Where each frame lies in the file, when its stored bytes can be sent as they are
    (native little endian, or encapsulated with known frame boundaries); else None."""
    layout = check_frames(instance, numbers)
    if instance.transfer_syntax in LITTLE_ENDIAN_NATIVE and layout.frame_size is not None:
        size = layout.frame_size
        return [[Fragment(layout.offset + (n - 1) * size, size)] for n in numbers]
    if layout.encapsulated and layout.frames is not None:
        return [list(layout.frames[n - 1]) for n in numbers]
    return None


def stored_frames(instance: InstanceFile, numbers: Sequence[int]) -> list[bytes]:
    """The frames' bytes exactly as stored (compressed stays compressed). For native data in
    a big-endian or deflated syntax the bytes are converted to little endian."""
    layout = check_frames(instance, numbers)
    syntax = instance.transfer_syntax
    if syntax in LITTLE_ENDIAN_NATIVE and layout.frame_size is not None:
        return _read_native(instance.path, layout, numbers)
    if layout.encapsulated and layout.frames is not None:
        return _read_encapsulated(instance.path, layout, numbers)
    if is_native(syntax):
        return decoded_frames(instance, numbers)
    return _encapsulated_via_pydicom(instance, numbers)


def _read_native(path: str, layout: PixelLayout, numbers: Sequence[int]) -> list[bytes]:
    size = layout.frame_size or 0
    fd = os.open(path, os.O_RDONLY)
    try:
        frames = [os.pread(fd, size, layout.offset + (n - 1) * size) for n in numbers]
    finally:
        os.close(fd)
    if any(len(frame) != size for frame in frames):
        raise Unsupported(f"{path} is shorter than its pixel data says (truncated file)")
    return frames


def _read_encapsulated(path: str, layout: PixelLayout, numbers: Sequence[int]) -> list[bytes]:
    assert layout.frames is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        frames = []
        for number in numbers:
            parts = [os.pread(fd, f.length, f.offset) for f in layout.frames[number - 1]]
            frames.append(parts[0] if len(parts) == 1 else b"".join(parts))
    finally:
        os.close(fd)
    return frames


def _encapsulated_via_pydicom(instance: InstanceFile, numbers: Sequence[int]) -> list[bytes]:
    from pydicom.encaps import get_frame

    dataset = _read_full(instance.path)
    count = instance.pixels.number_of_frames if instance.pixels else 1
    return [get_frame(dataset.PixelData, n - 1, number_of_frames=count) for n in numbers]


# -- decoded frames ---------------------------------------------------------------------------


def decoded_frames(instance: InstanceFile, numbers: Sequence[int]) -> list[bytes]:
    """The frames as native little-endian pixels (colour as RGB, interleaved)."""
    check_frames(instance, numbers)
    syntax = instance.transfer_syntax
    if not can_decode(syntax):
        raise Unsupported(f"no decoder here for transfer syntax {syntax}")
    frames = []
    for number in numbers:
        array = _frame_array(instance.path, number, syntax)
        frames.append(_little_endian(array).tobytes())
    return frames


def _frame_array(path: str, number: int, syntax: str = "") -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # pixel_array reads only the frame asked for, but cannot inflate deflated files.
            source = _read_full(path) if syntax == str(DeflatedExplicitVRLittleEndian) else path
            return pixel_array(source, index=number - 1)
    except Exception as error:
        raise Unsupported(f"cannot decode frame {number} of {path}: {error}") from None


def _little_endian(array: np.ndarray) -> np.ndarray:
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and not _LITTLE_HOST):
        return array.astype(array.dtype.newbyteorder("<"))
    return array


_LITTLE_HOST = np.little_endian


# -- whole instances --------------------------------------------------------------------------


def _read_full(path: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def can_transcode(transfer_syntax: str) -> bool:
    """Whether a whole instance stored in `transfer_syntax` can be rewritten in Explicit VR
    Little Endian here. Big endian is not offered: pydicom would keep the byte order of its
    OW values."""
    return transfer_syntax != str(ExplicitVRBigEndian) and can_decode(transfer_syntax)


def explicit_little_endian(instance: InstanceFile) -> bytes:
    """The instance as a Part 10 file in Explicit VR Little Endian (decompressed if need be)."""
    syntax = instance.transfer_syntax
    if not can_transcode(syntax):
        raise Unsupported(f"cannot transcode {syntax} to Explicit VR Little Endian here")
    try:
        dataset = _read_full(instance.path)
        if "PixelData" in dataset and not is_native(syntax):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset.decompress(generate_instance_uid=False)
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = io.BytesIO()
        dataset.save_as(buffer, implicit_vr=False, little_endian=True, enforce_file_format=True)
    except Exception as error:
        raise Unsupported(f"cannot transcode {instance.sop_uid}: {error}") from None
    return buffer.getvalue()


# -- rendering --------------------------------------------------------------------------------

RENDER_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}
THUMBNAIL_SIZE = 128


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """PS3.18 §8.3.5.1 rendering parameters: `window=center,width[,function]`,
    `viewport=width,height`, `quality` (1-100, JPEG only)."""

    media_type: str = "image/jpeg"
    window: tuple[float, float] | None = None
    viewport: tuple[int, int] | None = None
    quality: int = 90


def render(instance: InstanceFile, frame: int, options: RenderOptions) -> bytes:
    """One frame as an 8-bit image: modality LUT, then the requested window (else the
    instance's first WindowCenter/Width, else the frame's range); MONOCHROME1 inverted."""
    from PIL import Image

    check_frames(instance, [frame])
    if not can_decode(instance.transfer_syntax):
        raise Unsupported(f"no decoder here for transfer syntax {instance.transfer_syntax}")
    header = _read_header(instance.path)
    array = _frame_array(instance.path, frame, instance.transfer_syntax)
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if array.ndim == 3 and photometric.startswith("MONO"):
        array = array[..., 0]
    if array.ndim == 2:
        image = Image.fromarray(_grey_levels(array, header, options.window, photometric))
    else:
        image = Image.fromarray(_colour_levels(array), mode="RGB")
    if options.viewport is not None:
        image.thumbnail(options.viewport)
    buffer = io.BytesIO()
    kind = RENDER_FORMATS[options.media_type]
    if kind == "JPEG":
        image.save(buffer, kind, quality=options.quality)
    else:
        image.save(buffer, kind)
    return buffer.getvalue()


def _read_header(path: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def _first_number(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, list | tuple | pydicom.multival.MultiValue):
            value = value[0]
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None


def _grey_levels(
    array: np.ndarray, header: Dataset, window: tuple[float, float] | None, photometric: str
) -> np.ndarray:
    values = array.astype(np.float64)
    slope = _first_number(header.get("RescaleSlope")) or 1.0
    intercept = _first_number(header.get("RescaleIntercept")) or 0.0
    values = values * slope + intercept
    if window is None:
        center = _first_number(header.get("WindowCenter"))
        width = _first_number(header.get("WindowWidth"))
        if center is not None and width is not None and width > 0:
            window = (center, width)
    if window is None:
        low, high = float(values.min()), float(values.max())
    else:
        center, width = window
        low, high = center - width / 2.0, center + width / 2.0
    span = max(high - low, 1e-9)
    levels = np.clip((values - low) / span * 255.0, 0.0, 255.0).astype(np.uint8)
    if photometric == "MONOCHROME1":
        levels = 255 - levels
    return levels


def _colour_levels(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array[..., :3])
    values = array.astype(np.float64)
    high = float(values.max()) or 1.0
    return np.clip(values / high * 255.0, 0, 255).astype(np.uint8)[..., :3]
