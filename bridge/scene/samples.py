"""Sample data: a built-in offline phantom and Slicer's downloadable SampleData volumes.

`Phantom` is generated here (no file, no network), so a standalone bridge always has something
to show and tests never need the internet. The remote samples are the single-file scalar NRRD
volumes of Slicer's SampleData module (`Modules/Scripted/SampleData/SampleData.py`), with the
same names, file names, URLs and SHA-256 checksums. Slicer's multi-volume samples are listed
per volume under their node names, and `SAMPLE_GROUPS` maps the Slicer sample name to them.
Left out: DTIBrain/DTIVolume/DWIVolume (diffusion, not scalar), CBCTDentalSurgery (GIPL) and the
CT cardio sequences (4-D), which the NRRD reader refuses.

`fetch_sample` blocks (urllib); callers on the event loop run it in an executor. It must never
be called from tests against a real remote address: tests serve files on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.geometry import ijk_to_ras_matrix
from bridge.scene.types import SceneError, VolumeData

log = logging.getLogger(__name__)

PHANTOM = "Phantom"
_TESTING_DATA_URL = "https://github.com/Slicer/SlicerTestingData/releases/download/SHA256/"
_CHUNK = 1 << 20


class SampleUnavailable(SceneError):
    """A sample that cannot be had: unknown name, no network, bad download."""


@dataclass(frozen=True, slots=True)
class RemoteSample:
    """Where a downloadable sample lives and what its bytes must hash to (None: unchecked)."""

    url: str
    filename: str
    sha256: str | None = None


# -- the built-in phantom -----------------------------------------------------------------------

#: The 3-D Shepp–Logan head phantom: ten ellipsoids, each (density, semi-axes a, b, c, centre
#: x0, y0, z0, rotation about the z axis in degrees), in a [-1, 1]³ frame. Geometry is the
#: Kak & Slaney 3-D table; densities are Shepp and Logan's originals, which become CT numbers
#: under HU = 1000·density − 1000: air −1000, skull +1000, brain +20, ventricles 0, lesions +30.
SHEPP_LOGAN_ELLIPSOIDS: tuple[tuple[float, ...], ...] = (
    (2.00, 0.6900, 0.920, 0.810, 0.00, 0.000, 0.00, 0.0),
    (-0.98, 0.6624, 0.874, 0.780, 0.00, -0.0184, 0.00, 0.0),
    (-0.02, 0.1100, 0.310, 0.220, 0.22, 0.000, 0.00, -18.0),
    (-0.02, 0.1600, 0.410, 0.280, -0.22, 0.000, 0.00, 18.0),
    (0.01, 0.2100, 0.250, 0.410, 0.00, 0.350, -0.15, 0.0),
    (0.01, 0.0460, 0.046, 0.050, 0.00, 0.100, 0.25, 0.0),
    (0.01, 0.0460, 0.046, 0.050, 0.00, -0.100, 0.25, 0.0),
    (0.01, 0.0460, 0.023, 0.050, -0.08, -0.605, 0.00, 0.0),
    (0.01, 0.0230, 0.023, 0.020, 0.00, -0.606, 0.00, 0.0),
    (0.01, 0.0230, 0.046, 0.020, 0.06, -0.605, 0.00, 0.0),
)  # fmt: skip


def shepp_logan_phantom(size: int = 128, spacing: float = 1.0) -> VolumeData:
    """A `size`³ int16 CT-like Shepp–Logan head, `spacing` mm voxels, centred on the RAS origin.

    The phantom's x, y, z axes are R, A, S (its small "tumours" at y ≈ −0.6 lie posterior),
    and the volume's I, J, K axes run along R, A, S.
    """
    if size < 2:
        raise SceneError(f"phantom size must be at least 2, got {size}")
    # normalised voxel-centre coordinates, as open grids broadcasting to (k, j, i)
    half_extent = size * spacing / 2.0
    centres = (np.arange(size) - (size - 1) / 2.0) * spacing / half_extent
    x, y, z = centres[None, None, :], centres[None, :, None], centres[:, None, None]
    density = np.zeros((size, size, size))
    for value, a, b, c, x0, y0, z0, degrees in SHEPP_LOGAN_ELLIPSOIDS:
        angle = np.deg2rad(degrees)
        dx, dy, dz = x - x0, y - y0, z - z0
        u = np.cos(angle) * dx + np.sin(angle) * dy
        v = -np.sin(angle) * dx + np.cos(angle) * dy
        density += value * ((u / a) ** 2 + (v / b) ** 2 + (dz / c) ** 2 <= 1.0)
    hounsfield = np.round(1000.0 * density - 1000.0).astype(np.int16)
    origin = np.full(3, -(size - 1) / 2.0 * spacing)
    return VolumeData(
        array=hounsfield, ijk_to_ras=ijk_to_ras_matrix([spacing] * 3, origin), name=PHANTOM
    )


BUILTIN_SAMPLES: dict[str, Callable[[], VolumeData]] = {PHANTOM: shepp_logan_phantom}


# -- Slicer's downloadable samples --------------------------------------------------------------


def _slicer_sample(filename: str, sha256: str) -> RemoteSample:
    """Slicer's testing-data store addresses each file by its SHA-256."""
    return RemoteSample(url=_TESTING_DATA_URL + sha256, filename=filename, sha256=sha256)


REMOTE_SAMPLES: dict[str, RemoteSample] = {
    "MRHead": _slicer_sample(
        "MR-head.nrrd", "cc211f0dfd9a05ca3841ce1141b292898b2dd2d3f08286affadf823a7e58df93"
    ),
    "CTChest": _slicer_sample(
        "CT-chest.nrrd", "4507b664690840abb6cb9af2d919377ffc4ef75b167cb6fd0f747befdb12e38e"
    ),
    "CTACardio": _slicer_sample(
        "CTA-cardio.nrrd", "3b0d4eb1a7d8ebb0c5a89cc0504640f76a030b4e869e33ff34c564c3d3b88ad2"
    ),
    "MRBrainTumor1": _slicer_sample(
        "RegLib_C01_1.nrrd", "998cb522173839c78657f4bc0ea907cea09fd04e44601f17c82ea27927937b95"
    ),
    "MRBrainTumor2": _slicer_sample(
        "RegLib_C01_2.nrrd", "1a64f3f422eb3d1c9b093d1a18da354b13bcf307907c66317e2463ee530b7a97"
    ),
    "BaselineVolume": _slicer_sample(
        "BaselineVolume.nrrd", "dff28a7711d20b6e16d5416535f6010eb99fd0c8468aaa39be4e39da78e93ec2"
    ),
    "CTAAbdomenPanoramix": _slicer_sample(
        "Panoramix-cropped.nrrd",
        "146af87511520c500a3706b7b2bfb545f40d5d04dd180be3a7a2c6940e447433",
    ),
    "CTLiver": _slicer_sample(
        "CTLiver.nrrd", "e16eae0ae6fefa858c5c11e58f0f1bb81834d81b7102e021571056324ef6f37e"
    ),
    "CTBrain": _slicer_sample(
        "CT-brain.nrrd", "6a5b6caccb76576a863beb095e3bfb910c50ca78f4c9bf043aa42f976cfa53d1"
    ),
    "MRBrainT1": _slicer_sample(
        "MR-brain-T1.nrrd", "2da3f655ed20356ee8cdf32aa0f8f9420385de4b6e407d28e67f9974d7ce1593"
    ),
    "MRBrainT2": _slicer_sample(
        "MR-brain-T2.nrrd", "fa1fe5910a69182f2b03c0150d8151ac6c75df986449fb5a6c5ae67141e0f5e7"
    ),
    "DZ-CBCT": _slicer_sample(
        "DZ-CBCT.nrrd", "4ce7aa75278b5a7b757ed0c8d7a6b3caccfc3e2973b020532456dbc8f3def7db"
    ),
    "DZ-MR": _slicer_sample(
        "DZ-MR.nrrd", "b5e9f8afac58d6eb0e0d63d059616c25a98e0beb80f3108410b15260a6817842"
    ),
    "MRProstate": _slicer_sample(
        "Case10-MR.nrrd", "4843cdc9ea5d7bcce61650d1492ce01035727c892019339dca726380496896aa"
    ),
    "USProstate": _slicer_sample(
        "case10_US_resampled.nrrd",
        "34decf58b1e6794069acbe947b460252262fe95b6858c5e320aeab03bc82ebb2",
    ),
}

#: Slicer sample names that load several volumes → the REMOTE_SAMPLES names of those volumes.
SAMPLE_GROUPS: dict[str, tuple[str, ...]] = {
    "CTMRBrain": ("CTBrain", "MRBrainT1", "MRBrainT2"),
    "CBCTMRHead": ("DZ-CBCT", "DZ-MR"),
    "MRUSProstate": ("MRProstate", "USProstate"),
}


def sample_names() -> list[str]:
    """Every sample `fetch_sample` or `BUILTIN_SAMPLES` can provide, built-in ones first."""
    return [*BUILTIN_SAMPLES, *REMOTE_SAMPLES]


def fetch_sample(name: str, cache_dir: Path, *, timeout: float = 30) -> Path:
    """The local path of remote sample `name`, downloading it into `cache_dir` if needed.

    A cached file is reused when its checksum matches (or none is known). Downloads go to a
    temporary file in `cache_dir` that is renamed into place only once complete and verified,
    so an interrupted download never leaves a half file under the real name. Blocking.
    """
    sample = _remote_sample(name)
    cache_dir = Path(cache_dir)
    target = cache_dir / sample.filename
    if target.is_file():
        if sample.sha256 is None or _sha256(target) == sample.sha256:
            return target
        log.warning("cached sample %s has a wrong checksum; downloading it again", target)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SampleUnavailable(f"cannot create sample cache {cache_dir}: {error}") from None
    _download(name, sample, target, timeout)
    return target


def _remote_sample(name: str) -> RemoteSample:
    if name in BUILTIN_SAMPLES:
        raise SampleUnavailable(f"sample {name!r} is built in; it needs no download")
    sample = REMOTE_SAMPLES.get(name)
    if sample is None:
        raise SampleUnavailable(f"unknown sample {name!r}; known: {', '.join(sample_names())}")
    return sample


def _download(name: str, sample: RemoteSample, target: Path, timeout: float) -> None:
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            digest = _copy_url(name, sample.url, stream, timeout)
        if sample.sha256 is not None and digest != sample.sha256:
            raise SampleUnavailable(
                f"sample {name!r} from {sample.url} failed its checksum "
                f"(SHA-256 {digest}, expected {sample.sha256})"
            )
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)


def _copy_url(name: str, url: str, stream: object, timeout: float) -> str:
    """Stream `url` into `stream`, returning the SHA-256 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": "slicer-bridge"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                stream.write(chunk)  # type: ignore[attr-defined]
    except urllib.error.HTTPError as error:
        raise SampleUnavailable(
            f"download of sample {name!r} from {url} failed: HTTP {error.code} {error.reason}"
        ) from None
    except urllib.error.URLError as error:
        raise SampleUnavailable(_offline_message(error.reason)) from None
    except (TimeoutError, ConnectionError, OSError) as error:
        raise SampleUnavailable(_offline_message(error)) from None
    return digest.hexdigest()


def _offline_message(reason: object) -> str:
    return f"the network is unreachable: {reason}; the {PHANTOM!r} sample works offline"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
