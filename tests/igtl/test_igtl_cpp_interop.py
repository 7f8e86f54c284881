"""Interoperability with the reference C++ library (Debian's libopenigtlink-dev 1.11, header
v1 only): a peer written in `cpp/igtl_peer.cxx`, compiled here with g++, sends TRANSFORM,
POSITION, IMAGE, TDATA, QTDATA, POINT, STRING, STATUS and POLYDATA with CRCs, starts a TDATA
stream, asks GET_STATUS and GET_POLYDATA, and receives RTS_TDATA, TDATA, STATUS, POLYDATA and
a pushed TRANSFORM and STRING back, each unpacked by the library with its CRC checked.

`scripts/system-packages.txt` lists `libopenigtlink-dev` and `g++`; on a machine without
them this test is skipped with the reason, never silently passed.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from igtl_peers import eventually

from bridge import geometry
from bridge.commands import SetText, SetTransform

SOURCE = Path(__file__).parent / "cpp" / "igtl_peer.cxx"
INCLUDE = Path("/usr/include/openigtlink")


@pytest.fixture(scope="module")
def cpp_peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("g++")
    if compiler is None or not (INCLUDE / "igtlClientSocket.h").exists():
        pytest.skip("needs g++ and libopenigtlink-dev (scripts/system-packages.txt)")
    binary = tmp_path_factory.mktemp("cpp") / "igtl_peer"
    command = [compiler, "-O1", "-std=c++11", f"-I{INCLUDE}", str(SOURCE), "-o", str(binary)]
    subprocess.run([*command, "-lOpenIGTLink"], check=True, capture_output=True, timeout=120)
    return binary


async def test_the_cpp_library_peer_sends_and_receives(
    bridge, start_adapter, cpp_peer, scene_texts, caplog
):
    pushed = geometry.pose_matrix(np.diag([1.0, -1.0, -1.0]), (7.0, 8.0, 9.0))
    bridge.bus.submit(SetTransform(node="Needle", matrix=pushed))
    bridge.bus.submit(SetText(node="Memo", text="from the bridge"))
    adapter = await start_adapter(push=("Needle", "Memo"))
    process = await asyncio.create_subprocess_exec(
        str(cpp_peer), "127.0.0.1", str(adapter.address[1]), "Needle",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, output.decode() + errors.decode()
    lines = output.decode().splitlines()
    received = {line.split()[1]: line.split()[2:] for line in lines if line.startswith("received")}

    name, crc, *values = received["TRANSFORM"]
    assert (name, crc) == ("Needle", "crc-ok")
    assert np.allclose(np.array(values, dtype=float).reshape(3, 4), pushed[:3], atol=1e-5)
    assert received["RTS_TDATA"] == ["0"]
    assert {"Needle", "CppTool", "Stylus", "Ref", "Probe"} <= set(received["TDATA"][1:])
    assert received["STATUS"][0] == "1" and "slicer-bridge" in " ".join(received["STATUS"])
    assert received["STRING"] == ["Memo", "crc-ok", "from", "the", "bridge"]
    name, crc, *numbers = received["POLYDATA"]  # GET_POLYDATA: the model as the bridge holds it
    assert (name, crc) == ("Surface", "crc-ok")
    corners = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert [float(x) for x in numbers[1:13]] == [float(x) for xyz in corners for x in xyz]
    assert numbers[0] == "4" and numbers[13:] == ["2", "3", "0", "1", "2", "3", "0", "2", "3"]

    scene = bridge.scene
    await eventually(lambda: scene.model("Surface"))
    expected_tool = np.array([[0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1.0]])
    assert np.allclose(scene.transform_matrix("CppTool"), expected_tool, atol=1e-6)
    half = math.sqrt(0.5)
    quarter_turn = geometry.quaternion_to_rotation(half, 0.0, 0.0, half)
    assert np.allclose(
        scene.transform_matrix("CppPos"), geometry.pose_matrix(quarter_turn, (4, 5, 6)), atol=1e-5
    )
    assert np.allclose(scene.transform_matrix("Stylus")[:3, 3], (11, 12, 13))
    assert np.allclose(scene.transform_matrix("Ref"), np.eye(4))
    assert np.allclose(
        scene.transform_matrix("Probe"), geometry.pose_matrix(quarter_turn, (21, 22, 23)), atol=1e-5
    )
    targets = scene.markups("Targets")
    assert [p.label for p in targets.points] == ["T-1", "T-2"]
    assert np.allclose([p.position for p in targets.points], [[1, 2, 3], [4, 5, 6]])
    assert scene_texts == [("Memo", "from the bridge"), ("Note", "hello from C++")]
    assert scene.text("Note") == "hello from C++"
    assert adapter.stats.for_type("STATUS").received == 1
    assert "STATUS Laser" in caplog.text and "Device not ready: Warming: not ready" in caplog.text
    surface = scene.model("Surface")
    assert scene.find("Surface").class_name == "vtkMRMLModelNode"
    assert surface.triangles.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert surface.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]

    data = scene.volume("CppImage")
    k, j, i = np.indices((2, 3, 4))
    assert np.array_equal(data.array, i + 10 * j + 100 * k)
    spacing, origin, _directions = geometry.decompose_ijk_to_ras(data.ijk_to_ras)
    assert np.allclose(spacing, (0.5, 1.0, 2.0))
    centre = np.array([10.0, 20.0, 30.0])
    assert np.allclose(origin, centre - spacing * (np.array([4, 3, 2]) - 1) / 2)
    assert sum(c.rejected + c.failed for c in adapter.stats.by_type.values()) == 0
