"""Samples: the offline phantom, Slicer's catalogue, and downloads (loopback servers only)."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from bridge.scene import samples
from bridge.scene.samples import (
    BUILTIN_SAMPLES,
    REMOTE_SAMPLES,
    SAMPLE_GROUPS,
    RemoteSample,
    SampleUnavailable,
    fetch_sample,
    sample_names,
    shepp_logan_phantom,
)

PAYLOAD = b"NRRD0004\n# a sample served from loopback\n" + bytes(range(256)) * 64
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


# -- the phantom --------------------------------------------------------------------------------


def test_phantom_is_a_ct_like_head():
    volume = BUILTIN_SAMPLES["Phantom"]()

    assert volume.name == "Phantom"
    assert volume.array.shape == (128, 128, 128)
    assert volume.array.dtype == np.int16
    values = set(np.unique(volume.array).tolist())
    assert {-1000, 1000, 20, 0, 30} <= values  # air, skull, brain, ventricles, lesions
    assert volume.array[0, 0, 0] == -1000
    assert volume.array[64, 64, 64] == 20  # brain at the centre
    assert (volume.array == 1000).sum() > 10_000  # a closed skull, not a speck


def test_phantom_is_centred_on_the_ras_origin_with_1mm_voxels():
    volume = shepp_logan_phantom()
    np.testing.assert_array_equal(volume.ijk_to_ras[:3, :3], np.eye(3))
    centre = volume.ijk_to_ras @ np.array([63.5, 63.5, 63.5, 1.0])
    np.testing.assert_array_equal(centre[:3], [0.0, 0.0, 0.0])


def test_phantom_lesions_lie_posterior_and_ellipses_rotate():
    """Small ellipsoids at phantom y ≈ −0.6 are posterior (low j); the ventricles are tilted,
    so the phantom is not mirror-symmetric front to back."""
    array = shepp_logan_phantom(64).array
    middle = array[32]
    posterior, anterior = middle[:20], middle[44:]
    assert (posterior == 30).any()
    assert not np.array_equal(posterior, anterior[::-1])


def test_phantom_size_is_validated():
    with pytest.raises(samples.SceneError):
        shepp_logan_phantom(1)


# -- the catalogue ------------------------------------------------------------------------------


def test_sample_names_put_the_offline_phantom_first():
    names = sample_names()
    assert names[0] == "Phantom"
    for slicer_name in ("MRHead", "CTChest", "CTACardio", "MRBrainTumor1", "MRBrainTumor2"):
        assert slicer_name in names


def test_remote_samples_point_at_slicer_testing_data_by_checksum():
    for name, sample in REMOTE_SAMPLES.items():
        assert re.fullmatch(r"[0-9a-f]{64}", sample.sha256 or ""), name
        assert sample.url.endswith(f"/SHA256/{sample.sha256}"), name
        assert sample.url.startswith("https://github.com/Slicer/SlicerTestingData/"), name
        assert sample.filename.endswith(".nrrd"), name
    assert REMOTE_SAMPLES["MRHead"].filename == "MR-head.nrrd"
    for members in SAMPLE_GROUPS.values():
        assert set(members) <= set(REMOTE_SAMPLES)


# -- downloads ----------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path == "/missing":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving PAYLOAD (404 at /missing); yields base URL, log."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL on which nothing listens (the port was bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/MR-head.nrrd"


def test_fetch_downloads_verifies_and_then_reuses_the_cache(tmp_path, monkeypatch, loopback_server):
    base, requests = loopback_server
    sample = RemoteSample(f"{base}/sample", "Local.nrrd", PAYLOAD_SHA256)
    monkeypatch.setitem(REMOTE_SAMPLES, "Local", sample)
    cache = tmp_path / "cache"

    path = fetch_sample("Local", cache, timeout=5)

    assert path == cache / "Local.nrrd"
    assert path.read_bytes() == PAYLOAD
    assert fetch_sample("Local", cache, timeout=5) == path
    assert requests == ["/sample"]  # the second call used the cache
    assert sorted(p.name for p in cache.iterdir()) == ["Local.nrrd"]  # no temp files


def test_corrupted_cache_file_is_downloaded_again(tmp_path, monkeypatch, loopback_server):
    base, requests = loopback_server
    monkeypatch.setitem(
        REMOTE_SAMPLES, "Local", RemoteSample(f"{base}/s", "L.nrrd", PAYLOAD_SHA256)
    )
    (tmp_path / "L.nrrd").write_bytes(b"half a file")

    assert fetch_sample("Local", tmp_path, timeout=5).read_bytes() == PAYLOAD
    assert requests == ["/s"]


def test_sample_without_checksum_is_accepted(tmp_path, monkeypatch, loopback_server):
    base, _ = loopback_server
    monkeypatch.setitem(REMOTE_SAMPLES, "Any", RemoteSample(f"{base}/any", "any.bin"))
    assert fetch_sample("Any", tmp_path, timeout=5).read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, monkeypatch, loopback_server):
    base, _ = loopback_server
    monkeypatch.setitem(REMOTE_SAMPLES, "Bad", RemoteSample(f"{base}/bad", "bad.nrrd", "0" * 64))

    with pytest.raises(SampleUnavailable, match="failed its checksum"):
        fetch_sample("Bad", tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_reported(tmp_path, monkeypatch, loopback_server):
    base, _ = loopback_server
    monkeypatch.setitem(REMOTE_SAMPLES, "Gone", RemoteSample(f"{base}/missing", "gone.nrrd"))
    with pytest.raises(SampleUnavailable, match="HTTP 404"):
        fetch_sample("Gone", tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_network_points_to_the_offline_phantom(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setitem(REMOTE_SAMPLES, "MRHead", RemoteSample(closed_port_url, "MR-head.nrrd"))

    with pytest.raises(SampleUnavailable) as caught:
        fetch_sample("MRHead", tmp_path, timeout=5)

    message = str(caught.value)
    assert message.startswith("the network is unreachable: ")
    assert message.endswith("; the 'Phantom' sample works offline")
    assert list(tmp_path.iterdir()) == []


def test_unknown_and_builtin_names(tmp_path):
    with pytest.raises(SampleUnavailable, match=r"unknown sample 'Nope'; known: Phantom, MRHead"):
        fetch_sample("Nope", tmp_path)
    with pytest.raises(SampleUnavailable, match="built in"):
        fetch_sample("Phantom", tmp_path)
    assert isinstance(SampleUnavailable("x"), samples.SceneError)
