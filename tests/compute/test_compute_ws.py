"""`RunCompute` over the WebSocket channel: the generic command path of `/bridge/ws` reaches
the compute registry — a real browser-style WebSocket client, a real node process."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
from compute_peers import put_volume, sample_volume


async def receive_result(socket: aiohttp.ClientWebSocketResponse, command_id: str) -> dict:
    """The result message of command `command_id` (other messages, e.g. hello, skipped)."""
    while True:
        message = await asyncio.wait_for(socket.receive_json(), 20)
        if message.get("type") == "result" and message.get("id") == command_id:
            return message


async def test_run_compute_over_the_websocket_returns_the_job_and_the_job_runs(
    compute_bridge, start_node, http_session
) -> None:
    voxels = sample_volume()
    await put_volume(compute_bridge.bridge, "CT", voxels)
    await start_node("threshold", name="thresholder", bridge=compute_bridge)

    async with http_session.ws_connect(compute_bridge.base_url + "/bridge/ws") as socket:
        await socket.send_json(
            {
                "command": "RunCompute",
                "id": "job-1",
                "operation": "threshold",
                "inputs": {"volume": "CT"},
                "parameters": {"lower": 0, "upper": 100},
                "outputs": {"mask": "ws mask"},
            }
        )
        result = await receive_result(socket, "job-1")
        assert result["status"] == "applied", result
        job = compute_bridge.registry.job(result["value"]["job"])
        await asyncio.wait_for(job.finished.wait(), 20)
        assert job.state == "done", job.error
        mask = compute_bridge.bridge.scene.volume("ws mask").array
        assert np.array_equal(mask, ((voxels >= 0) & (voxels <= 100)).astype(np.uint8))

        await socket.send_json(
            {"command": "RunCompute", "id": "bad", "operation": "threshold",
             "parameters": {"lower": "x"}}
        )  # fmt: skip
        refused = await receive_result(socket, "bad")
        assert refused["status"] == "failed"
        assert "parameter 'lower': expected a number, got 'x'" in refused["error"]
