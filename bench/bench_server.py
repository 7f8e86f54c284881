"""A bridge in a child process serving one bench volume over HTTP, for client-side benchmarks.

`bench/http.py` and `bench/ws.py` measure a server from the outside: the bridge must not share
the client's process (nor its GIL). The script calls `serve_volume` when started with
`--serve`; the parent starts it with `bench_server(script)`, which waits for its
`READY <port> <volume id>` line and stops it (stdin EOF) afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOLUME_SHAPE = (130, 256, 256)  # (k, j, i): 130 slices of 256×256
VOLUME_NODE = "BenchVolume"


def bench_voxels() -> np.ndarray:
    """An int16 volume with structure in every direction (so PNGs do not compress to nothing)."""
    k, j, i = np.indices(VOLUME_SHAPE, dtype=np.int32)
    return ((i + j) % 512 - 256 + 4 * k).astype(np.int16)


async def serve_volume(ijk_to_ras: np.ndarray, prefix: str) -> None:
    """Run the bridge, put the bench volume, print `READY <port> <volume id>`, stop on stdin
    EOF. Runs in the child process."""
    from bridge import commands as c
    from bridge.app import Bridge
    from bridge.config import Settings

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        settings = Settings(http_port=0, igtl=False, mqtt=False, data_dir=Path(data_dir))
        bridge = Bridge(settings)
        await bridge.start()
        try:
            result = await bridge.bus.submit(
                c.PutVolume(
                    node=VOLUME_NODE, array=bench_voxels(), ijk_to_ras=ijk_to_ras, source="bench"
                )
            )
            if not result.ok:
                raise RuntimeError(f"PutVolume failed: {result.error}")
            port = next(a for a in bridge.adapters if a.name == "http").port
            print(f"READY {port} {result.value['node']}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        finally:
            await bridge.stop()


@dataclass(frozen=True)
class BenchServer:
    process: asyncio.subprocess.Process
    port: int
    volume_id: str


@asynccontextmanager
async def bench_server(script: Path) -> AsyncIterator[BenchServer]:
    """Start `script --serve` in a child process; yield it once it is ready; stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--serve",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        cwd=script.resolve().parent.parent,
    )  # fmt: skip
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode().split()
        if len(line) != 3 or line[0] != "READY":
            raise RuntimeError(f"the bench server did not start: {line}")
        yield BenchServer(process, int(line[1]), line[2])
    finally:
        if process.returncode is None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
