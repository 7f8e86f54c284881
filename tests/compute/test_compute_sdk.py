"""The node SDK on its own: what it imports, how it declares and checks operations, how it
runs a job, and its command line — no bridge needed, except where a test says so."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from compute_peers import EXAMPLES, NODES, ROOT

from bridge.compute import ComputeNode, JobCancelled, Parameter, Points, Transform, Volume
from bridge.compute.cli import NodeFileError, load_node, main
from bridge.compute.protocol import Capability, JobRequest, ProtocolError
from bridge.compute.schema import OperationSpec, ParameterError, SchemaError

#: Modules a node must never need: the bridge's server side and its dependencies.
SERVER_SIDE = (
    "aiohttp",
    "paho",
    "pydicom",
    "orjson",
    "PIL",
    "nrrd",
    "dicomweb_client",
    "bridge.scene",
    "bridge.bus",
    "bridge.commands",
    "bridge.app",
    "bridge.compute.registry",
    "adapters.http",
    "adapters.mqtt",
    "adapters.igtl.adapter",
    "adapters.igtl.session",
    "adapters.igtl.mapping",
)

BLOCKING_IMPORTS = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"{{name}} is blocked: the SDK must not need it")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def run_python(code: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_sdk_imports_and_runs_a_job_with_the_server_side_blocked() -> None:
    code = BLOCKING_IMPORTS.format(blocked=SERVER_SIDE) + textwrap.dedent(
        f"""
        import numpy as np
        from bridge.compute import ComputeNode, Volume
        from bridge.compute.cli import load_node
        from bridge.compute.protocol import JobRequest
        import bridge.compute.transport, adapters.igtl.codecs.job_data

        node = load_node(__import__("pathlib").Path({str(EXAMPLES / "threshold.py")!r}))
        request = JobRequest("j1", "threshold", {{"lower": 1, "upper": 2}}, {{"volume": "volume"}})
        outcome = node.run_job(request, {{"volume": Volume(np.arange(8).reshape(2, 2, 2))}})
        assert outcome.report.status == "done", outcome.report
        print(outcome.data["mask"].array.ravel().tolist())
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("bridge", "adapters")))
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    voxels, modules = result.stdout.splitlines()
    assert voxels == "[0, 1, 1, 0, 0, 0, 0, 0]"
    assert "bridge.compute.node" in modules and "adapters.igtl.wire" in modules


def test_the_blocker_really_blocks() -> None:
    result = run_python(BLOCKING_IMPORTS.format(blocked=SERVER_SIDE) + "import bridge.app")
    assert result.returncode != 0 and "is blocked" in result.stderr


def test_the_sdk_virtualenv_has_the_sdk_and_nothing_of_the_server(sdk_python: str) -> None:
    result = run_python("import bridge.compute, bridge.compute.transport; print('ok')", sdk_python)
    assert result.stdout.strip() == "ok", result.stderr
    for module in ("aiohttp", "paho", "pydicom", "orjson"):
        missing = run_python(f"import {module}", sdk_python)
        assert missing.returncode != 0 and "ModuleNotFoundError" in missing.stderr


# -- declaring operations -----------------------------------------------------------------------


def test_parameters_are_typed_defaulted_and_range_checked() -> None:
    spec = OperationSpec(
        "op",
        parameters=(
            Parameter("ratio", float, default=0.5, minimum=0, maximum=1),
            Parameter("count", int),
            Parameter("mode", str, default="fast", choices=("fast", "exact")),
            Parameter("flip", bool, default=False),
        ),
    )
    assert spec.validate_parameters({"count": 3.0}) == {
        "ratio": 0.5,
        "count": 3,
        "mode": "fast",
        "flip": False,
    }
    failures = {
        "parameter 'count': is required": {},
        "parameter 'ratio': 2.0 is above the maximum 1": {"count": 1, "ratio": 2},
        "parameter 'count': expected an integer, got True": {"count": True},
        "parameter 'mode': 'slow' is not one of 'fast', 'exact'": {"count": 1, "mode": "slow"},
        "parameter 'flip': expected a boolean, got 1": {"count": 1, "flip": 1},
        "parameter 'ratio': nan is not a finite number": {"count": 1, "ratio": float("nan")},
        "unknown parameter(s) size for 'op'; parameters: ratio, count, mode, flip": {"size": 1},
    }
    for message, given in failures.items():
        with pytest.raises(ParameterError) as error:
            spec.validate_parameters(given)
        assert str(error.value) == message


def test_bad_declarations_are_refused_when_the_node_file_loads() -> None:
    with pytest.raises(SchemaError, match="default of parameter 'x': 5.0 is above the maximum"):
        Parameter("x", float, default=5, maximum=1)
    with pytest.raises(SchemaError, match="type 'complex' is not one of"):
        Parameter("x", "complex")
    with pytest.raises(SchemaError, match="operation name 'two words' must start"):
        OperationSpec("two words")
    with pytest.raises(SchemaError, match="unknown data kind 'mesh'"):
        ComputeNode("n").operation(inputs={"surface": "mesh"})(lambda job: None)
    node = ComputeNode("n")
    node.operation("twice")(lambda job: None)
    with pytest.raises(SchemaError, match="declared twice"):
        node.operation("twice")(lambda job: None)


def test_a_capability_document_survives_the_round_trip_and_is_checked() -> None:
    node = load_node(NODES / "ops.py")
    document = json.loads(json.dumps(node.capability().to_json()))
    again = Capability.from_json(document)
    assert again.to_json() == document
    assert [operation.name for operation in again.operations] == [
        "identity",
        "slow",
        "explode",
        "centroid",
    ]
    for broken, message in (
        ({**document, "protocol": 9}, "protocol version 9 is not supported"),
        ({**document, "operations": []}, "at least one operation"),
        ({**document, "concurrency": 0}, "concurrency must be a positive integer"),
        ({**document, "operations": [{"name": "x", "inputs": [{"name": "v", "type": "mesh"}]}]},
         "unknown data kind 'mesh'"),
    ):  # fmt: skip
        with pytest.raises(ProtocolError, match=message):
            Capability.from_json(broken)


# -- running a job without a bridge ---------------------------------------------------------------


def volume() -> Volume:
    geometry = np.diag([0.5, 0.5, 2.0, 1.0])
    geometry[:3, 3] = [1, 2, 3]
    return Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), geometry)


def test_run_job_fills_defaults_and_returns_outputs_with_the_input_geometry() -> None:
    node = load_node(EXAMPLES / "threshold.py")
    outcome = node.run_job(
        JobRequest("j", "threshold", {"upper": 10}, {"volume": "volume"}), {"volume": volume()}
    )
    assert outcome.report.to_json() == {"job": "j", "status": "done", "outputs": {"mask": "volume"}}
    mask = outcome.data["mask"]
    assert mask.labelmap and np.array_equal(mask.ijk_to_ras, volume().ijk_to_ras)
    assert mask.array.sum() == 11  # values 0…10


def test_run_job_turns_every_failure_into_a_report_with_a_reason() -> None:
    node = ComputeNode("n")

    @node.operation(inputs={"volume": Volume}, outputs={"mask": Volume, "count": "value"})
    def partial(job):
        return {"count": 3}

    @node.operation(outputs={"moved": Transform})
    def wrong_kind(job):
        return Points([[0, 0, 0]])

    @node.operation(parameters=[Parameter("steps", int, default=3)])
    def cancellable(job):
        for step in range(job.parameters["steps"]):
            job.progress(step / 3)

    requests = {
        "partial": (JobRequest("a", "partial", {}, {"volume": "volume"}), {"volume": volume()}),
        "wrong_kind": (JobRequest("b", "wrong_kind"), {}),
        "missing": (JobRequest("c", "missing"), {}),
        "bad parameter": (JobRequest("d", "cancellable", {"steps": "x"}), {}),
    }
    errors = {
        name: node.run_job(request, inputs).report.error
        for name, (request, inputs) in requests.items()
    }
    assert errors == {
        "partial": "the handler returned no 'mask' output",
        "wrong_kind": "output 'moved' must be a Transform, got Points",
        "missing": "this node has no operation 'missing'",
        "bad parameter": "parameter 'steps': expected an integer, got 'x'",
    }
    cancel = threading.Event()
    cancel.set()
    report = node.run_job(JobRequest("e", "cancellable"), {}, cancel=cancel).report
    assert (report.status, report.error) == ("cancelled", "cancelled")


def test_job_progress_raises_once_cancelled() -> None:
    from bridge.compute.node import Job

    reported: list[float] = []
    job = Job("j", "op", {}, {}, _report=lambda fraction, message: reported.append(fraction))
    job.progress(1.5)
    job._cancel.set()
    with pytest.raises(JobCancelled):
        job.progress(0.6)
    assert reported == [1.0]


# -- the command line -----------------------------------------------------------------------------


def test_node_describe_prints_the_capability_document(capsys: pytest.CaptureFixture) -> None:
    assert main(["node", "describe", str(EXAMPLES / "gaussian.py")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["node"] == "gaussian" and document["protocol"] == 1
    sigma = document["operations"][0]["parameters"][0]
    assert sigma == {"name": "sigma", "type": "number", "required": False, "default": 1.0,
                     "minimum": 0.01, "maximum": 50.0,
                     "description": "standard deviation in millimetres"}  # fmt: skip


def test_a_node_file_must_define_exactly_the_node_to_serve(tmp_path: Path) -> None:
    two = tmp_path / "two.py"
    two.write_text(
        "from bridge.compute import ComputeNode\na = ComputeNode('a')\nb = ComputeNode('b')\n"
    )
    with pytest.raises(NodeFileError, match=r"exactly one ComputeNode \(found: a, b\)"):
        load_node(two)
    assert load_node(two, "b").name == "b"
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no')\n")
    with pytest.raises(NodeFileError, match="RuntimeError: no"):
        load_node(broken)
    assert main(["node", "run", str(tmp_path / "absent.py")]) == 2


def test_the_node_command_runs_as_a_module_and_exits_when_the_bridge_is_unreachable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge.compute.cli", "node", "run", str(EXAMPLES / "threshold.py"),
         "--bridge", "127.0.0.1:9", "--once"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "slicer-bridge node:" in result.stderr and "9" in result.stderr
