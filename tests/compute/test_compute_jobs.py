"""Jobs end to end: real node processes, a real bridge, the REST job API.

Each test starts the nodes it needs (`tests/compute/nodes/ops.py`, `examples/nodes/*.py`)
as separate processes connected over OpenIGTLink on loopback, submits jobs with
`POST /bridge/compute/<operation>` and follows them with `GET /bridge/jobs/<id>`.
"""

from __future__ import annotations

import asyncio

import numpy as np
from compute_peers import (
    GEOMETRY,
    eventually,
    get_job,
    node_id,
    post_job,
    put_volume,
    sample_volume,
    start_compute_bridge,
    wait_for_job,
)

from bridge import commands as c


async def test_threshold_node_in_an_sdk_only_virtualenv_thresholds_a_volume_voxel_by_voxel(
    compute_bridge, start_node, sdk_python, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    voxels = sample_volume()
    await put_volume(bridge, "CT", voxels)
    node = await start_node("threshold", name="thresholder", python=sdk_python)

    status, reply = await post_job(
        http_session,
        base,
        "threshold",
        inputs={"volume": "CT"},
        parameters={"lower": 100, "upper": 300},
        outputs={"mask": "CT mask"},
    )
    assert status == 202, reply
    done = await wait_for_job(http_session, base, reply["job"])

    assert done["state"] == "done", done
    assert done["progress"] == 1.0 and done["error"] is None
    assert done["node"] == node_id(compute_bridge.registry, "thresholder")
    output = done["outputs"]["mask"]
    assert output["name"] == "CT mask"
    mask = bridge.scene.volume(output["node"])
    expected = ((voxels >= 100) & (voxels <= 300)).astype(np.uint8)
    assert mask.array.dtype == np.uint8 and np.array_equal(mask.array, expected)
    np.testing.assert_allclose(mask.ijk_to_ras, GEOMETRY, atol=1e-5)  # IMAGE carries float32
    assert mask.labelmap and output["node"].startswith("vtkMRMLLabelMapVolumeNode")
    # the node really ran without the bridge's server-side packages
    assert "aiohttp" not in node.log() and node.running


async def test_a_node_may_negotiate_job_data_without_crc(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    voxels = sample_volume(shape=(40, 64, 64))
    await put_volume(bridge, "CT", voxels)
    await start_node("ops", name="fast", options=("--no-crc",))
    assert not registry.nodes[node_id(registry, "fast")].capability.crc
    igtl = next(adapter for adapter in bridge.adapters if adapter.name == "igtl")
    (session,) = [s for s in igtl.sessions if s.compute_link is not None]
    assert session.check_crc is False
    _, reply = await post_job(http_session, base, "identity", inputs={"volume": "CT"})
    done = await wait_for_job(http_session, base, reply["job"])
    assert done["state"] == "done"
    assert np.array_equal(bridge.scene.volume(done["outputs"]["volume"]["node"]).array, voxels)


async def test_operations_are_listed_with_their_schemas_and_nodes(
    compute_bridge, start_node, http_session
) -> None:
    await start_node("ops", name="ops-a")
    await start_node("ops", name="ops-b")
    async with http_session.get(f"{compute_bridge.base_url}/bridge/compute") as response:
        assert response.status == 200
        listing = await response.json()
    operations = {operation["name"]: operation for operation in listing["operations"]}
    assert set(operations) == {"identity", "slow", "explode", "centroid"}
    slow = operations["slow"]
    assert slow["parameters"] == [
        {"name": "seconds", "type": "number", "required": False, "default": 1.0,
         "minimum": 0.0, "maximum": 60.0},
        {"name": "steps", "type": "integer", "required": False, "default": 10,
         "minimum": 1, "maximum": 1000},
    ]  # fmt: skip
    assert slow["inputs"] == [{"name": "volume", "type": "volume"}]
    assert slow["outputs"] == [{"name": "volume", "type": "volume"}]
    assert len(slow["nodes"]) == 2 and slow["queued"] == 0
    assert {node["name"] for node in listing["nodes"]} == {"ops-a", "ops-b"}
    assert all(node["concurrency"] == 1 for node in listing["nodes"])


async def test_progress_is_reported_while_a_job_runs(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops")
    _, reply = await post_job(
        http_session, base, "slow", inputs={"volume": "input"}, parameters={"seconds": 1.5}
    )
    seen: list[tuple[float, str]] = []
    while True:
        state = await get_job(http_session, base, reply["job"])
        if state["state"] == "running" and 0 < state["progress"] < 1:
            seen.append((state["progress"], state["message"]))
        if state["state"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert state["state"] == "done", state
    assert len(seen) >= 3, seen
    progress = [fraction for fraction, _ in seen]
    assert progress == sorted(progress)
    assert seen[-1][1].startswith("step ") and " of 10" in seen[-1][1]


async def test_two_nodes_offering_an_operation_share_a_batch_of_jobs(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops-a")
    await start_node("ops", name="ops-b")
    jobs = []
    for index in range(6):
        status, reply = await post_job(
            http_session,
            base,
            "slow",
            inputs={"volume": "input"},
            parameters={"seconds": 0.3, "steps": 2},
            outputs={"volume": f"out{index}"},
        )
        assert status == 202
        jobs.append(reply["job"])
    # queued per operation: at most one job runs per node (concurrency 1)
    listing = compute_bridge.registry.operations_json()[0]
    assert listing["running"] <= 2
    results = [await wait_for_job(http_session, base, job) for job in jobs]
    assert [result["state"] for result in results] == ["done"] * 6
    by_node: dict[str, int] = {}
    for result in results:
        by_node[result["node"]] = by_node.get(result["node"], 0) + 1
    assert len(by_node) == 2 and min(by_node.values()) >= 2, by_node
    names = bridge.scene.nodes(class_name="vtkMRMLScalarVolumeNode")
    assert {f"out{index}" for index in range(6)} <= {node.name for node in names}


async def test_a_killed_node_has_its_job_redispatched_once_then_failed_with_the_reason(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    first = await start_node("ops", name="first")
    second = await start_node("ops", name="second")
    _, reply = await post_job(
        http_session, base, "slow", inputs={"volume": "input"}, parameters={"seconds": 30}
    )
    job = reply["job"]
    running = await wait_for_job(http_session, base, job, ("running",))
    processes = {node_id(registry, "first"): first, node_id(registry, "second"): second}
    initial = running["node"]
    processes[initial].kill()

    moved = await eventually(
        lambda: registry.job(job).attempts == 2 and registry.job(job).node != initial,
        10.0,
        "job re-dispatched",
    )
    assert moved
    state = await get_job(http_session, base, job)
    assert state["state"] == "running" and state["attempts"] == 2
    assert state["history"] and "was lost" in state["history"][0]
    assert initial in state["history"][0] and "re-dispatched" in state["history"][0]

    processes[state["node"]].kill()
    failed = await wait_for_job(http_session, base, job)
    assert failed["state"] == "failed"
    assert "was lost while running it" in failed["error"]
    assert "already been re-dispatched once" in failed["error"]
    assert registry.nodes == {}


async def test_a_silent_node_is_dropped_after_missed_heartbeats_and_its_job_moves(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    frozen = await start_node("ops", name="frozen")
    _, reply = await post_job(
        http_session, base, "slow", inputs={"volume": "input"}, parameters={"seconds": 0.6}
    )
    job = reply["job"]
    await wait_for_job(http_session, base, job, ("running",))
    frozen.pause()  # socket open, nothing sent: only the heartbeat watch can notice
    await eventually(lambda: not registry.nodes, 5.0, "silent node dropped")
    state = await get_job(http_session, base, job)
    assert state["state"] == "queued" and "no heartbeat" in state["history"][0]

    await start_node("ops", name="healthy")
    done = await wait_for_job(http_session, base, job)
    assert done["state"] == "done" and done["attempts"] == 2
    assert done["node"] == node_id(registry, "healthy")


async def test_a_job_that_runs_too_long_times_out_and_the_node_is_free_again(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops")
    _, slow = await post_job(
        http_session,
        base,
        "slow",
        inputs={"volume": "input"},
        parameters={"seconds": 20, "steps": 200},
        timeout=0.5,
    )
    _, quick = await post_job(http_session, base, "identity", inputs={"volume": "input"})
    failed = await wait_for_job(http_session, base, slow["job"])
    assert failed["state"] == "failed"
    assert failed["error"].startswith("timed out after 0.5 s on node ops@")
    # the node was told to stop: it reports the cancellation and takes the next job
    done = await wait_for_job(http_session, base, quick["job"], timeout=10)
    assert done["state"] == "done"
    assert len(registry.nodes) == 1


async def test_queued_and_running_jobs_can_be_cancelled(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops")
    body = {"inputs": {"volume": "input"}, "parameters": {"seconds": 20, "steps": 400}}
    _, running = await post_job(http_session, base, "slow", **body)
    _, queued = await post_job(http_session, base, "slow", **body)
    await wait_for_job(http_session, base, running["job"], ("running",))
    assert (await get_job(http_session, base, queued["job"]))["state"] == "queued"

    for job in (queued["job"], running["job"]):
        async with http_session.delete(f"{base}/bridge/jobs/{job}") as response:
            assert response.status == 200
            assert (await response.json())["state"] == "cancelled"
    async with http_session.delete(f"{base}/bridge/jobs/{running['job']}") as response:
        assert response.status == 409
        assert "already ended (cancelled)" in (await response.json())["message"]
    async with http_session.delete(f"{base}/bridge/jobs/nosuchjob") as response:
        assert response.status == 404

    # the node stops the cancelled job and serves the next one
    _, quick = await post_job(http_session, base, "identity", inputs={"volume": "input"})
    assert (await wait_for_job(http_session, base, quick["job"], timeout=10))["state"] == "done"
    assert registry.status()["cancelled"] == 2


async def test_bad_requests_are_refused_before_queueing_with_a_clear_error(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops")
    cases = [
        ("slow", {"inputs": {"volume": "input"}, "parameters": {"seconds": "soon"}}, 400,
         "parameter 'seconds': expected a number, got 'soon'"),
        ("slow", {"inputs": {"volume": "input"}, "parameters": {"seconds": 100}}, 400,
         "parameter 'seconds': 100.0 is above the maximum 60.0"),
        ("slow", {"inputs": {"volume": "input"}, "parameters": {"steps": 2.5}}, 400,
         "parameter 'steps': expected an integer, got 2.5"),
        ("slow", {"inputs": {"volume": "input"}, "parameters": {"speed": 1}}, 400,
         "unknown parameter(s) speed for 'slow'; parameters: seconds, steps"),
        ("slow", {"parameters": {}}, 400, "input(s) volume of 'slow' are required"),
        ("slow", {"inputs": {"volume": "input", "mask": "input"}}, 400, "unknown input(s) mask"),
        ("slow", {"inputs": {"volume": "nowhere"}}, 404, "nowhere"),
        ("slow", {"inputs": {"volume": "input"}, "outputs": {"mask": "x"}}, 400,
         "unknown output(s) mask for 'slow'"),
        ("slow", {"inputs": {"volume": "input"}, "timeout": -1}, 400,
         "RunCompute.timeout: expected a positive number of seconds"),
        ("slow", {"inputs": {"volume": "input"}, "colour": "red"}, 400, "unknown field(s) colour"),
        ("nosuch", {}, 404, "no compute node offers 'nosuch'; operations: centroid, explode"),
    ]  # fmt: skip
    for operation, body, status, message in cases:
        got_status, reply = await post_job(http_session, base, operation, **body)
        assert (got_status, message in reply.get("message", "")) == (status, True), reply
    assert registry.jobs == {}  # nothing was queued


async def test_a_failing_operation_fails_its_job_with_the_node_reason(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    await put_volume(bridge, "input", sample_volume())
    await start_node("ops", name="ops")
    _, reply = await post_job(http_session, base, "explode", inputs={"volume": "input"})
    failed = await get_job(http_session, base, reply["job"], wait=10)  # a long poll
    assert failed["state"] == "failed"
    assert failed["error"].endswith("RuntimeError: the operation failed on purpose")
    assert failed["error"].startswith("node ops@")


async def test_transforms_points_and_values_travel_both_ways(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    points = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, 6.0], [4.0, 8.0, 0.0]])
    await bridge.bus.submit(
        c.SetMarkupsPoints(node="landmarks", points=points, labels=["a", "b", "c"])
    )
    offset = np.eye(4)
    offset[:3, 3] = [10.0, 0.0, -5.0]
    await bridge.bus.submit(c.SetTransform(node="offset", matrix=offset))
    await start_node("ops", name="ops")
    _, reply = await post_job(
        http_session,
        base,
        "centroid",
        inputs={"points": "landmarks", "offset": "offset"},
        outputs={"centroid": "middle", "shift": "to middle"},
    )
    done = await wait_for_job(http_session, base, reply["job"])
    assert done["state"] == "done", done
    assert done["outputs"]["count"] == {"value": 3}
    expected = points.mean(axis=0) + np.array([10.0, 0.0, -5.0])
    middle = bridge.scene.markups("middle")
    np.testing.assert_allclose(middle.points[0].position, expected, atol=1e-5)
    assert middle.points[0].label == "centroid"
    np.testing.assert_allclose(
        bridge.scene.transform_matrix("to middle")[:3, 3], expected, atol=1e-5
    )


async def test_the_example_nodes_compute_what_numpy_computes(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    spacing = np.diag([0.5, 0.5, 2.0, 1.0])
    field = np.zeros((8, 24, 24), dtype=np.int16)
    field[2:6, 3:9, 3:9] = 100  # a box of 4×6×6 = 144 voxels
    field[1:3, 15:17, 15:20] = 50  # a slab of 2×2×5 = 20 voxels
    await put_volume(bridge, "field", field, spacing)
    moved = np.roll(field, (1, 2, 3), axis=(0, 1, 2))
    await put_volume(bridge, "moved", moved, spacing)
    await asyncio.gather(
        start_node("gaussian", name="gaussian"),
        start_node("components", name="components"),
        start_node("centroid_alignment", name="alignment"),
    )
    _, smooth = await post_job(
        http_session, base, "gaussian", inputs={"volume": "field"}, parameters={"sigma": 1.0}
    )
    _, parts = await post_job(http_session, base, "components", inputs={"mask": "field"})
    _, align = await post_job(
        http_session, base, "centroid_alignment", inputs={"fixed": "field", "moving": "moved"}
    )
    smoothed, labelled, aligned = [
        await wait_for_job(http_session, base, job["job"]) for job in (smooth, parts, align)
    ]
    assert [smoothed["state"], labelled["state"], aligned["state"]] == ["done"] * 3

    result = bridge.scene.volume(smoothed["outputs"]["smoothed"]["node"]).array
    assert result.dtype == np.float32 and result.shape == field.shape
    assert abs(result.sum() - field.sum()) / field.sum() < 0.02  # smoothing keeps the mass
    assert result.max() < 100 and result[4, 6, 6] > result[4, 3, 3]

    labels = bridge.scene.volume(labelled["outputs"]["labels"]["node"]).array
    assert labelled["outputs"]["sizes"] == {"value": [144, 20]}
    assert np.array_equal(labels == 1, field == 100) and np.array_equal(labels == 2, field == 50)

    shift = bridge.scene.transform_matrix(aligned["outputs"]["transform"]["name"])[:3, 3]
    np.testing.assert_allclose(shift, -(spacing[:3, :3] @ [3.0, 2.0, 1.0]), atol=1e-4)


async def test_a_bridge_without_compute_says_so(http_session, tmp_path) -> None:
    running = await start_compute_bridge(tmp_path / "off", compute=False)
    try:
        async with http_session.get(f"{running.base_url}/bridge/compute") as response:
            assert response.status == 501
        result = await running.bridge.bus.submit(c.RunCompute(operation="threshold"))
        assert not result.ok and "RunCompute is not available" in result.error
    finally:
        await running.bridge.stop()
