"""The `/slicer` surface under bad input and concurrency: well-behaved clients keep getting
correct answers while other connections send garbage, stall mid-upload or post broken NRRDs."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
from slicer_testdata import nrrd_bytes, sample_voxels

GARBAGE = bytes(range(256)) * 4


async def test_clients_are_served_while_others_send_garbage(http_bridge, raw_connect):
    port = http_bridge.port

    async def stalled_upload() -> None:
        connection = await raw_connect(port)
        await connection.send(
            b"POST /slicer/volume?id=Stalled HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 1000000\r\n\r\nNRRD0004\ntype: short\n"
        )  # and never the rest

    async def noise(rounds: int) -> None:
        for _ in range(rounds):
            connection = await raw_connect(port)
            await connection.send(GARBAGE)
            await connection.close()

    async def broken_uploads(session: aiohttp.ClientSession, rounds: int) -> list[int]:
        statuses = []
        good = nrrd_bytes(sample_voxels())
        for index in range(rounds):
            body = good[: len(good) // 2] if index % 2 else b"NRRD0004\ntype: nonsense\n\n"
            async with session.post(
                http_bridge.url("/slicer/volume"), params={"id": "Broken"}, data=body
            ) as response:
                statuses.append(response.status)
        return statuses

    async def honest_client(session: aiohttp.ClientSession, number: int, rounds: int) -> None:
        for round_ in range(rounds):
            voxels = sample_voxels() + number * 100 + round_
            async with session.post(
                http_bridge.url("/slicer/volume"),
                params={"id": f"Client{number}"},
                data=nrrd_bytes(voxels),
            ) as response:
                assert response.status == 200
            async with session.get(
                http_bridge.url("/slicer/volume"), params={"id": f"Client{number}"}
            ) as response:
                assert response.status == 200
                data = await response.read()
            stored = np.frombuffer(data.partition(b"\n\n")[2], dtype="<i2").reshape(voxels.shape)
            assert np.array_equal(stored, voxels)
            async with session.get(http_bridge.url("/slicer/mrml/names")) as response:
                assert f"Client{number}" in await response.json()

    async with aiohttp.ClientSession() as session:
        await stalled_upload()
        results = await asyncio.wait_for(
            asyncio.gather(
                noise(10),
                broken_uploads(session, 10),
                *(honest_client(session, number, 8) for number in range(5)),
            ),
            timeout=60,
        )
        assert set(results[1]) == {400}
        async with session.get(http_bridge.url("/slicer/volumes")) as response:
            names = {volume["name"] for volume in await response.json()}
    assert names == {f"Client{number}" for number in range(5)}


async def test_head_never_changes_the_scene(http_bridge, tmp_path):
    async with aiohttp.ClientSession() as session:
        for path, query in (
            ("/slicer/tracking", {"p": "1,2,3"}),
            (
                "/slicer/mrml/file",
                {"localfile": str(tmp_path / "x.nrrd"), "id": "vtkMRMLSliceNodeRed"},
            ),
            ("/slicer/slice", {"offset": "5"}),
            ("/slicer/threeD", {"lookFromAxis": "left"}),
            ("/slicer/gui", {"viewersLayout": "FourUp"}),
        ):
            async with session.head(http_bridge.url(path), params=query) as response:
                assert response.status == 405, path
        async with session.head(http_bridge.url("/slicer/mrml/ids")) as response:
            assert response.status == 200
        async with session.get(http_bridge.url("/slicer/mrml/properties")) as response:
            properties = await response.json()
    assert "tracker" not in {node["Name"] for node in properties.values()}
    assert properties["vtkMRMLSliceNodeRed"]["SliceOffset"] == 0
    assert properties["vtkMRMLLayoutNodevtkMRMLLayoutNode"]["ViewArrangement"] == "Conventional"
    assert not (tmp_path / "x.nrrd").exists()


async def test_volume_upload_to_a_node_that_is_not_a_volume_is_refused(http_bridge):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            http_bridge.url("/slicer/volume"),
            params={"id": "vtkMRMLSliceNodeRed"},
            data=nrrd_bytes(sample_voxels()),
        ) as response:
            assert response.status == 400
            assert "is not a volume" in (await response.json())["message"]
        async with session.get(http_bridge.url("/slicer/volumes")) as response:
            assert await response.json() == []


async def test_an_oversized_upload_is_413_and_the_scene_is_unchanged(start_http_bridge):
    running = await start_http_bridge(max_body_size=4096)
    body = nrrd_bytes(np.zeros((16, 16, 16), dtype=np.int16), encoding="raw")
    async with aiohttp.ClientSession() as session:
        async with session.post(running.url("/slicer/volume"), data=body) as response:
            assert response.status == 413
            assert response.headers["Content-Type"] == "application/json"
        async with session.get(running.url("/slicer/volumes")) as response:
            assert await response.json() == []
