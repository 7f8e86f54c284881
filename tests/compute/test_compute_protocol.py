"""The job protocol at its edges: nodes that misbehave, registrations that are refused,
queues nobody serves — and the bridge goes on serving through all of it. `FakeNode` speaks
the protocol byte by byte; real nodes run as processes or, where a test needs its outcome,
in this process (`ComputeNode.serve_async`)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from compute_peers import (
    FakeNode,
    capability,
    eventually,
    get_job,
    node_id,
    post_job,
    put_volume,
    sample_volume,
    start_compute_bridge,
    wait_for_job,
)

from adapters.igtl.codecs import job_data
from adapters.igtl.codecs.status import OK, Status, encode_status
from adapters.igtl.wire import pack_message
from bridge.compute import ComputeNode, Parameter, Volume
from bridge.compute import protocol as p
from bridge.compute.transport import RegistrationRefused

IDENTITY = {
    "name": "identity",
    "inputs": [{"name": "volume", "type": "volume"}],
    "outputs": [{"name": "volume", "type": "volume"}],
}


async def fake_identity_node(compute_bridge, name: str = "fake") -> FakeNode:
    fake = await FakeNode.connect(compute_bridge.igtl_port)
    reply = await fake.register(capability(name, IDENTITY))
    assert reply["status"] == "registered", reply
    return fake


async def test_malformed_results_fail_the_job_with_a_reason_and_the_bridge_keeps_serving(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base = compute_bridge.bridge, compute_bridge.base_url
    await put_volume(bridge, "input", sample_volume())
    fake = await fake_identity_node(compute_bridge)
    answers = {
        "truncated image": lambda job, cid: [
            pack_message("IMAGE", "volume", b"\0" * 40, version=2,
                         metadata={p.META_JOB: job, p.META_OUTPUT: "volume"}),
            ("report", {"job": job, "status": "done", "outputs": {"volume": "volume"}}),
        ],
        "transform instead of volume": lambda job, cid: [
            pack_message("TRANSFORM", "volume", bytes(48), version=2,
                         metadata={p.META_JOB: job, p.META_OUTPUT: "volume"}),
            ("report", {"job": job, "status": "done", "outputs": {"volume": "transform"}}),
        ],
        "no output at all": lambda job, cid: [
            ("report", {"job": job, "status": "done"}),
        ],
        "report that is not JSON": lambda job, cid: [
            pack_message("RTS_COMMAND", p.DEVICE, _command(cid, "{not json"), version=2),
        ],
        "report of another job": lambda job, cid: [
            ("report", {"job": "someone-else", "status": "done"}),
        ],
        "unknown status": lambda job, cid: [
            ("report", {"job": job, "status": "finished"}),
        ],
    }  # fmt: skip
    reasons = {}
    for case, answer in answers.items():
        _, reply = await post_job(http_session, base, "identity", inputs={"volume": "input"})
        command_id, request = await fake.next_job()
        assert request["job"] == reply["job"] and request["operation"] == "identity"
        inputs = await fake.next_frame("IMAGE")
        assert inputs.metadata() == {p.META_JOB: reply["job"], p.META_INPUT: "volume"}
        for message in answer(reply["job"], command_id):
            if isinstance(message, tuple):
                fake.report(command_id, message[1])
            else:
                fake.send(message)
        failed = await wait_for_job(http_session, base, reply["job"])
        assert failed["state"] == "failed", (case, failed)
        reasons[case] = failed["error"]

    node = node_id(compute_bridge.registry, "fake")
    assert reasons["truncated image"].startswith(
        f"malformed result from node {node}: output 'volume': IMAGE content of 40 bytes"
    )
    assert reasons["transform instead of volume"] == (
        f"malformed result from node {node}: output 'volume' must be a volume, got a transform"
    )
    assert reasons["no output at all"] == (
        f"malformed result from node {node}: output 'volume' (volume) never arrived"
    )
    assert reasons["report that is not JSON"].startswith(
        f"malformed result from node {node}: job report: Expecting property name"
    )
    assert reasons["report of another job"] == (
        f"malformed result from node {node}: job report: it names job 'someone-else'"
    )
    assert "status 'finished' is not one of done, failed, cancelled" in reasons["unknown status"]

    # the fake is still connected and registered; a real node next to it does real work
    assert node in compute_bridge.registry.nodes
    await fake.close()
    await eventually(lambda: node not in compute_bridge.registry.nodes, 5.0, "fake gone")
    await start_node("ops", name="ops")
    _, reply = await post_job(http_session, base, "identity", inputs={"volume": "input"})
    done = await wait_for_job(http_session, base, reply["job"])
    assert done["state"] == "done"
    result = bridge.scene.volume(done["outputs"]["volume"]["node"]).array
    assert np.array_equal(result, sample_volume())


def _command(command_id: int, text: str) -> bytes:
    from adapters.igtl.codecs.command import encode_command

    return encode_command(command_id, "", text)


async def test_a_well_behaved_fake_node_shows_the_wire_protocol(
    compute_bridge, http_session
) -> None:
    """The messages of one job, as a node in any language would see and send them."""
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    voxels = sample_volume()
    await put_volume(bridge, "input", voxels)
    fake = await fake_identity_node(compute_bridge)
    _, reply = await post_job(
        http_session, base, "identity", inputs={"volume": "input"}, outputs={"volume": "echo"}
    )
    command_id, request = await fake.next_job()
    assert request == {
        "job": reply["job"],
        "operation": "identity",
        "parameters": {},
        "inputs": {"volume": "volume"},
        "outputs": [],
        "timeout": 600.0,
    }
    frame = await fake.next_frame("IMAGE")
    received = job_data.decode(frame, frame.metadata())
    assert np.array_equal(received.array, voxels)

    progress = Status(OK, 0, "Progress", "halfway")
    tags = {p.META_JOB: reply["job"], p.META_PROGRESS: "0.5"}
    fake.send(pack_message("STATUS", p.DEVICE, encode_status(progress), version=2, metadata=tags))
    await eventually(lambda: registry.job(reply["job"]).progress == 0.5, 5.0, "progress")
    assert (await get_job(http_session, base, reply["job"]))["message"] == "halfway"

    metadata = {p.META_JOB: reply["job"], p.META_OUTPUT: "volume"}
    fake.send(job_data.pack(Volume(voxels[::-1].copy(), received.ijk_to_ras), "volume", metadata))
    fake.report(
        command_id, {"job": reply["job"], "status": "done", "outputs": {"volume": "volume"}}
    )
    done = await wait_for_job(http_session, base, reply["job"])
    assert done["outputs"] == {
        "volume": {"node": done["outputs"]["volume"]["node"], "name": "echo"}
    }
    assert np.array_equal(bridge.scene.volume("echo").array, voxels[::-1])
    await fake.close()


async def test_registrations_that_cannot_be_served_are_refused_with_the_reason(
    compute_bridge, start_node
) -> None:
    fake = await FakeNode.connect(compute_bridge.igtl_port)
    refusals = [
        await fake.register({"protocol": 2, "node": "x", "operations": [IDENTITY]}),
        await fake.register({"protocol": 1, "node": "x", "operations": []}),
        await fake.register({"protocol": 1, "node": "x", "operations": [{"name": "bad name"}]}),
    ]
    assert [reply["status"] for reply in refusals] == ["refused"] * 3
    assert "protocol version 2 is not supported" in refusals[0]["error"]
    assert "at least one operation" in refusals[1]["error"]
    assert "operation name 'bad name' must start with a letter" in refusals[2]["error"]
    assert (await fake.register(capability("x", IDENTITY)))["status"] == "registered"
    again = await fake.register(capability("x", IDENTITY))
    assert again == {"status": "refused", "error": "this connection is already a registered node"}
    await fake.close()

    # the same operation with another schema: the node is told why and exits
    await start_node("ops", name="ops")
    other = ComputeNode("other")
    other.operation(
        "identity",
        parameters=[Parameter("scale", float, default=1.0)],
        inputs={"volume": Volume},
        outputs={"volume": Volume},
    )(lambda job: job.inputs["volume"])
    address = ("127.0.0.1", compute_bridge.igtl_port)
    with pytest.raises(RegistrationRefused) as refused:
        await asyncio.wait_for(other.serve_async(address, reconnect=False), 10)
    assert "operation 'identity' is already offered with another schema: parameters differ" in str(
        refused.value
    )


async def test_queued_jobs_fail_when_no_node_serves_their_operation_in_time(
    compute_bridge, start_node, http_session
) -> None:
    bridge, base, registry = compute_bridge.bridge, compute_bridge.base_url, compute_bridge.registry
    await put_volume(bridge, "input", sample_volume())
    registry.queue_timeout = 0.5
    only = await start_node("ops", name="only")
    _, running = await post_job(
        http_session, base, "slow", inputs={"volume": "input"}, parameters={"seconds": 30}
    )
    await wait_for_job(http_session, base, running["job"], ("running",))
    only.kill()  # re-dispatched once: back to the queue, but nobody offers "slow" now
    failed = await wait_for_job(http_session, base, running["job"], timeout=10)
    assert failed["state"] == "failed"
    assert (
        "waited" in failed["error"] and "no compute node offers 'slow' any more" in failed["error"]
    )
    assert "the last one, only@" in failed["error"] and "was lost" in failed["error"]


async def test_a_node_serves_two_bridges_at_once(compute_bridge, tmp_path, http_session) -> None:

    second = await start_compute_bridge(tmp_path / "second")
    node = ComputeNode("shared")
    node.operation("increment", inputs={"volume": Volume}, outputs={"volume": Volume})(
        lambda job: job.inputs["volume"].like(job.inputs["volume"].array + 1)
    )
    serving = asyncio.ensure_future(
        node.serve_async(("127.0.0.1", compute_bridge.igtl_port), ("127.0.0.1", second.igtl_port))
    )
    try:
        for running in (compute_bridge, second):
            await put_volume(running.bridge, "input", sample_volume())
            await eventually(lambda r=running: r.registry.nodes, 10.0, "registered")
            _, reply = await post_job(
                http_session, running.base_url, "increment", inputs={"volume": "input"}
            )
            done = await wait_for_job(http_session, running.base_url, reply["job"])
            assert done["state"] == "done", done
            result = running.bridge.scene.volume(done["outputs"]["volume"]["node"]).array
            assert np.array_equal(result, sample_volume() + 1)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await second.bridge.stop()
