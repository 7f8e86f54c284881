"""`RunCompute` over MQTT: the generic command path (`<root>/cmd/RunCompute`, MQTT 5
request/response) reaches the compute registry like any other command — a real Mosquitto,
`mosquitto_rr` as the requester, a real node process."""

from __future__ import annotations

import asyncio
import json
import subprocess

import numpy as np
import pytest
from compute_peers import eventually, put_volume, sample_volume, start_compute_bridge

from adapters.mqtt.testing import LocalMosquitto, mosquitto_available

pytestmark = pytest.mark.skipif(not mosquitto_available(), reason="mosquitto is not installed")

INSTANCE = "compute-test"


async def mosquitto_rr(port: int, topic: str, response_topic: str, message: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "mosquitto_rr", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-e", response_topic,
        "-m", message, "-W", "10",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, f"mosquitto_rr failed: {err.decode()}"
    return out.strip()


async def test_run_compute_over_mqtt_answers_the_job_id_and_the_job_runs(
    start_node, tmp_path
) -> None:
    with LocalMosquitto() as broker:
        running = await start_compute_bridge(
            tmp_path / "mqtt", mqtt=True, mqtt_url=broker.url, instance=INSTANCE
        )
        try:
            mqtt = next(adapter for adapter in running.bridge.adapters if adapter.name == "mqtt")
            await eventually(lambda: mqtt.status()["connected"], 10.0, "bridge on the broker")
            voxels = sample_volume()
            await put_volume(running.bridge, "CT", voxels)
            await start_node("threshold", name="thresholder", bridge=running)

            request = {
                "inputs": {"volume": "CT"},
                "parameters": {"lower": 0, "upper": 100},
                "outputs": {"mask": "mqtt mask"},
            }
            reply = json.loads(
                await mosquitto_rr(
                    broker.port,
                    f"slicer/{INSTANCE}/cmd/RunCompute",
                    "requester/replies",
                    json.dumps({"operation": "threshold", **request}),
                )
            )
            assert reply["command"] == "RunCompute" and reply["status"] == "applied", reply
            job = running.registry.job(reply["value"]["job"])
            await asyncio.wait_for(job.finished.wait(), 20)
            assert job.state == "done", job.error
            mask = running.bridge.scene.volume("mqtt mask").array
            assert np.array_equal(mask, ((voxels >= 0) & (voxels <= 100)).astype(np.uint8))

            refused = json.loads(
                await mosquitto_rr(
                    broker.port,
                    f"slicer/{INSTANCE}/cmd/RunCompute",
                    "requester/replies",
                    json.dumps({"operation": "threshold", "parameters": {"lower": "x"}}),
                )
            )
            assert refused["status"] == "failed"
            assert "parameter 'lower': expected a number, got 'x'" in refused["error"]
        finally:
            await running.bridge.stop()
