"""Benchmark: this bridge's DICOMweb server (`/dicom`) against Orthanc + its DICOMweb plugin,
on the same generated data, with the same requests, in the same run.

Data (generated with pydicom): `--studies` small studies (2 series × 2 slices, 64², varied
names such as `Smith^John17` and `Müller^Hans2`, dates 2010-2023) plus one CT study of
3 series × `--slices` slices of 512² int16 (the OHIF-sized case).

Figures, for each server:

* `import_per_s` — instances indexed per second (`slicer-bridge dicom import`, every core;
  Orthanc: REST `POST /instances`, 4 concurrent uploads);
* `studylist_rps`, `studylist_p99_ms` — OHIF's study list request (`limit=101`, its
  `includefield`) at 10 concurrent clients for `--seconds`; `smith_*` the same with
  `PatientName=*smith*`;
* `series_metadata_ms` — median latency of `…/series/{R}/metadata` (100 instances), one client;
* `frame_ms`, `frames_mb_s` — one 512 KiB frame with OHIF's Accept: median latency with one
  client, and throughput with 6 (a browser's connections);
* `ohif_replay_ms` — median wall time of OHIF's study-open sequence (study list, expand,
  series search, 3 series metadata, every frame) over 6 connections, 5 runs.

Both servers run as their own processes on loopback and share the machine's cores with this
client. Orthanc is started only when Debian's `orthanc` and `orthanc-dicomweb` are installed
(`/usr/sbin/Orthanc`); it listens on all interfaces (1.10 has no bind option) with remote
access refused. Prints one JSON line, last on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Run as `python bench/dicomweb.py`, this folder comes first on sys.path, where `bench/http.py`
# would shadow the standard library's `http` (which aiohttp imports); the project root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid  # noqa: E402

ORTHANC = Path("/usr/sbin/Orthanc")
ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
JSON_ACCEPT = {"Accept": "application/dicom+json"}
FRAME_ACCEPT = {"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"}
OHIF_INCLUDE = "includefield=00081030%2C00080060%2C00080090%2C00100030"
STUDY_LIST = f"/studies?limit=101&offset=0&fuzzymatching=false&{OHIF_INCLUDE}"
SMITH_LIST = f"/studies?PatientName=*smith*&limit=101&offset=0&fuzzymatching=false&{OHIF_INCLUDE}"
NAMES = ["Smith^John", "Doe^Jane", "Müller^Hans", "Nguyen^Anh", "Garcia^Maria", "Tanaka^Yuki"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------


def _slice(study: dict, series: dict, index: int, size: int, rng, folder: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    for keyword, value in study["tags"].items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID = study["uid"]
    ds.SeriesInstanceUID, ds.SeriesNumber = series["uid"], series["number"]
    ds.SeriesDescription, ds.Modality = series["description"], "CT"
    ds.FrameOfReferenceUID = study["frame"]
    ds.InstanceNumber = index + 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [-250.0, -250.0, -index * series["thickness"]]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceThickness = series["thickness"]
    ds.PixelSpacing = [500 / size, 500 / size]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    yy, xx = np.mgrid[0:size, 0:size]
    radius = np.hypot(yy - size / 2, xx - size / 2)
    image = np.where(radius < size * 0.45, 1064, 0).astype(np.int16)
    image += (rng.standard_normal((size, size)) * 20).astype(np.int16)
    ds.PixelData = image.tobytes()
    ds.save_as(folder / f"{series['number']:03d}_{index + 1:04d}.dcm", enforce_file_format=True)


def make_study(folder: Path, *, series: int, slices: int, size: int, number: int) -> str:
    rng = np.random.default_rng(number)
    folder.mkdir(parents=True, exist_ok=True)
    name = NAMES[number % len(NAMES)] + str(number)
    study = {
        "uid": generate_uid(),
        "frame": generate_uid(),
        "tags": {
            "PatientName": name,
            "PatientID": f"PID{number:04d}",
            "PatientBirthDate": "19700101",
            "PatientSex": "O",
            "StudyDate": f"20{10 + number % 14:02d}{1 + number % 12:02d}{1 + number % 28:02d}",
            "StudyTime": "101500",
            "AccessionNumber": f"ACC{number:04d}",
            "StudyID": "1",
            "StudyDescription": "CT CHEST ABDOMEN",
            "ReferringPhysicianName": "Ref^Doc",
        },
    }
    for index in range(series):
        description = ["AXIAL 5mm", "AXIAL 1mm", "SOFT TISSUE"][index % 3]
        entry = {
            "uid": generate_uid(),
            "number": index + 1,
            "description": description,
            "thickness": [5.0, 1.0, 2.5][index % 3],
        }
        for slice_index in range(slices):
            _slice(study, entry, slice_index, size, rng, folder)
    return study["uid"]


def generate(root: Path, studies: int, slices: int) -> str:
    for number in range(studies):
        make_study(root / f"s{number:04d}", series=2, slices=2, size=64, number=number)
    return make_study(root / "big", series=3, slices=slices, size=512, number=9999)


# -- load -------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    sizes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def mb_s(self) -> float:
        return self.sizes / self.wall / 1e6 if self.wall else 0.0


async def load(
    urls: list[str], headers: dict, concurrency: int, seconds: float, limit: int = 10**9
) -> Load:
    """Issue the URLs round-robin from `concurrency` clients for `seconds` (or `limit`)."""
    result = Load()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        async with session.get(urls[0], headers=headers) as response:  # warm-up
            await response.read()
        deadline = time.perf_counter() + seconds
        counter = iter(range(limit))

        async def client() -> None:
            for number in counter:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                async with session.get(urls[number % len(urls)], headers=headers) as response:
                    body = await response.read()
                result.latencies.append(time.perf_counter() - started)
                result.sizes += len(body)
                result.statuses[response.status] = result.statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.wall = time.perf_counter() - started
    return result


async def ohif_replay(base: str, study: str, connections: int = 6) -> float:
    """OHIF v3's request sequence when a user lists studies and opens one (wadors, lazy)."""
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str, headers: dict) -> bytes:
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                if response.status not in (200, 204):
                    raise RuntimeError(f"{response.status} for {url}")
                return body

        await get(base + STUDY_LIST, JSON_ACCEPT)
        await get(f"{base}/studies/{study}/series?includefield=0008103E%2C00080021", JSON_ACCEPT)
        series = json.loads(await get(f"{base}/studies/{study}/series", JSON_ACCEPT))
        uids = [row["0020000E"]["Value"][0] for row in series]
        metadata = await asyncio.gather(
            *(get(f"{base}/studies/{study}/series/{uid}/metadata", JSON_ACCEPT) for uid in uids)
        )
        frames = []
        for uid, body in zip(uids, metadata, strict=True):
            for instance in json.loads(body):
                count = int((instance.get("00280008", {}).get("Value") or [1])[0])
                sop = instance["00080018"]["Value"][0]
                frames += [
                    f"{base}/studies/{study}/series/{uid}/instances/{sop}/frames/{k}"
                    for k in range(1, count + 1)
                ]
        await asyncio.gather(*(get(url, FRAME_ACCEPT) for url in frames))
    return (time.perf_counter() - started) * 1000


async def measure(base: str, study: str, seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/studies/{study}/series", headers=JSON_ACCEPT) as response,
    ):
        series = [row["0020000E"]["Value"][0] for row in await response.json(content_type=None)]
    series_url = f"{base}/studies/{study}/series/{series[0]}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{series_url}/instances", headers=JSON_ACCEPT) as response,
    ):
        sops = [row["00080018"]["Value"][0] for row in await response.json(content_type=None)]
    frame_urls = [f"{series_url}/instances/{sop}/frames/1" for sop in sops]

    studylist = await load([base + STUDY_LIST], JSON_ACCEPT, 10, seconds)
    figures["studylist_rps"] = studylist.rps
    figures["studylist_p99_ms"] = studylist.percentile(0.99)
    smith = await load([base + SMITH_LIST], JSON_ACCEPT, 10, seconds)
    figures["smith_rps"] = smith.rps
    figures["smith_p99_ms"] = smith.percentile(0.99)
    metadata = await load([f"{series_url}/metadata"], JSON_ACCEPT, 1, seconds / 2, limit=200)
    figures["series_metadata_ms"] = metadata.median_ms
    single = await load(frame_urls, FRAME_ACCEPT, 1, seconds / 2, limit=500)
    figures["frame_ms"] = single.median_ms
    frames = await load(frame_urls, FRAME_ACCEPT, 6, seconds)
    figures["frames_mb_s"] = frames.mb_s
    runs = [await ohif_replay(base, study) for _ in range(6)]
    figures["ohif_replay_ms"] = statistics.median(runs[1:])  # the first run warms caches
    for name, result in (("studylist", studylist), ("frames", frames)):
        bad = {status: n for status, n in result.statuses.items() if status != 200}
        if bad:
            raise RuntimeError(f"{base}: {name} answered {bad}")
    return {name: round(value, 2) for name, value in figures.items()}


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def import_into_bridge(data_dir: Path, source: Path) -> tuple[int, float]:
    from bridge.dicom import store_path
    from bridge.dicom.importer import import_paths
    from bridge.dicom.sqlite_store import SqliteStore

    store = SqliteStore(store_path(data_dir))
    try:
        report = import_paths(store, [source])
    finally:
        store.close()
    return report.added, report.seconds


def start_bridge(data_dir: Path, port: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "bridge.cli", "serve", "--host", "127.0.0.1",
        "--http-port", str(port), "--no-igtl", "--no-mqtt", "--data-dir", str(data_dir),
        "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def start_orthanc(folder: Path, port: int) -> subprocess.Popen:
    config = {
        "Name": "BenchOrthanc",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "Plugins": [str(ORTHANC_PLUGIN)],
        "HttpServerEnabled": True,
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "HttpCompressionEnabled": False,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "HttpThreadsCount": 50,
        "DicomServerEnabled": False,
        "SaveJobs": False,
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }
    (folder / "db").mkdir(parents=True, exist_ok=True)
    (folder / "orthanc.json").write_text(json.dumps(config))
    command = [str(ORTHANC), f"--logfile={folder / 'orthanc.log'}", str(folder / "orthanc.json")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def upload_to_orthanc(base: str, source: Path, concurrency: int = 4) -> tuple[int, float]:
    files = sorted(path for path in source.rglob("*.dcm"))
    queue = iter(files)
    started = time.perf_counter()
    stored = 0
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal stored
            for path in queue:
                headers = {"Content-Type": "application/dicom"}
                async with session.post(
                    f"{base}/instances", data=path.read_bytes(), headers=headers
                ) as response:
                    await response.read()
                    stored += response.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stored, time.perf_counter() - started


# -- main -------------------------------------------------------------------------------------


async def run(arguments: argparse.Namespace, work: Path) -> dict:
    source = work / "data"
    described = source / "dataset.json"
    wanted = {"studies": arguments.studies, "slices": arguments.slices}
    if described.exists() and json.loads(described.read_text())["params"] == wanted:
        study = json.loads(described.read_text())["study"]  # --keep: the same data again
    else:
        shutil.rmtree(source, ignore_errors=True)
        log(f"generating {arguments.studies} small studies and a 3×{arguments.slices} CT study…")
        study = generate(source, arguments.studies, arguments.slices)
        described.write_text(json.dumps({"params": wanted, "study": study}))
    result: dict = {"bench": "dicomweb", "seconds": arguments.seconds}
    result["load_average_at_start"] = round(os.getloadavg()[0], 2)  # other work on the machine

    log("importing into the bridge's store…")
    shutil.rmtree(work / "bridge", ignore_errors=True)
    shutil.rmtree(work / "orthanc", ignore_errors=True)
    added, seconds = import_into_bridge(work / "bridge", source)
    bridge_figures: dict[str, float] = {"import_per_s": round(added / seconds, 1)}
    port = free_port()
    bridge = start_bridge(work / "bridge", port)
    try:
        base = f"http://127.0.0.1:{port}/dicom"
        await wait_for(base + "/studies?limit=1")
        log("measuring the bridge…")
        bridge_figures.update(await measure(base, study, arguments.seconds))
    finally:
        stop(bridge)
    result["bridge"] = bridge_figures
    result["instances"] = added

    if arguments.no_orthanc or not (ORTHANC.exists() and ORTHANC_PLUGIN.exists()):
        result["orthanc"] = None
        return result
    port = free_port()
    orthanc = start_orthanc(work / "orthanc", port)
    try:
        root = f"http://127.0.0.1:{port}"
        await wait_for(root + "/system")
        log("uploading into Orthanc…")
        stored, seconds = await upload_to_orthanc(root, source)
        orthanc_figures: dict[str, float] = {"import_per_s": round(stored / seconds, 1)}
        async with aiohttp.ClientSession() as session, session.get(root + "/system") as response:
            version = (await response.json())["Version"]
        log(f"measuring Orthanc {version}…")
        orthanc_figures.update(await measure(root + "/dicom-web", study, arguments.seconds))
    finally:
        stop(orthanc)
    result["orthanc"] = orthanc_figures
    result["orthanc_version"] = version
    higher_is_better = ("import_per_s", "studylist_rps", "smith_rps", "frames_mb_s")
    result["ratio"] = {
        name: round(
            bridge_figures[name] / orthanc_figures[name]
            if name in higher_is_better
            else orthanc_figures[name] / bridge_figures[name],
            2,
        )
        for name in bridge_figures
    }
    result["ratio_note"] = "bridge ÷ Orthanc for rates, Orthanc ÷ bridge for times: >1 = faster"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load phase")
    parser.add_argument("--studies", type=int, default=200, help="small studies to generate")
    parser.add_argument("--slices", type=int, default=100, help="slices per series of the CT")
    parser.add_argument("--no-orthanc", action="store_true", help="measure the bridge only")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    arguments = parser.parse_args()
    work = arguments.keep or Path(tempfile.mkdtemp(prefix="bench-dicomweb-"))
    try:
        result = asyncio.run(run(arguments, work))
    finally:
        if arguments.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    result["cpus"] = os.cpu_count()
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
