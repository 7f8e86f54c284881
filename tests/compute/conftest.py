"""Fixtures for the compute tests: a real bridge (HTTP and OpenIGTLink on free loopback
ports, the compute registry on) and real node processes connected to it.

* `compute_bridge` — the running bridge: `.bridge`, `.registry`, `.base_url`, `.igtl_port`;
  a silent node is dropped after 1 s (`compute_heartbeat_timeout`);
* `start_node` — `await start_node("ops", name="a")` starts `tests/compute/nodes/ops.py` (or
  an `examples/nodes/` file, or any path) as a node process with 0.2 s heartbeats and waits
  until the bridge registered it; `python=` runs it with another interpreter, `options=`
  adds `node run` flags (`("--no-crc",)`). Every node is
  stopped after the test, and its log printed (pytest shows it when the test fails);
* `sdk_python` — the Python of a virtualenv holding only numpy, pyigtl and crcmod (built
  once per session);
* `http_session` — an aiohttp client session.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from compute_peers import (
    EXAMPLES,
    NODES,
    ComputeBridge,
    NodeProcess,
    eventually,
    make_sdk_venv,
    start_compute_bridge,
)


@pytest.fixture(scope="session")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_sdk_venv(tmp_path_factory.mktemp("sdk") / "venv"))


@pytest.fixture
async def compute_bridge(tmp_path: Path) -> AsyncIterator[ComputeBridge]:
    running = await start_compute_bridge(tmp_path / "data")
    yield running
    await running.bridge.stop()


@pytest.fixture
async def start_node(
    compute_bridge: ComputeBridge, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[NodeProcess]]]:
    nodes: list[NodeProcess] = []

    async def start(
        file: str | Path = "ops",
        *,
        name: str,
        python: str = sys.executable,
        heartbeat: float = 0.2,
        concurrency: int = 1,
        wait: bool = True,
        bridge: ComputeBridge | None = None,
        options: tuple[str, ...] = (),
    ) -> NodeProcess:
        target = bridge or compute_bridge
        if isinstance(file, Path):
            path = file
        elif (NODES / f"{file}.py").exists():
            path = NODES / f"{file}.py"
        else:
            path = EXAMPLES / f"{file}.py"
        arguments = ("--heartbeat", str(heartbeat), "--concurrency", str(concurrency), *options)
        node = NodeProcess(
            path,
            target.igtl_port,
            tmp_path / f"node-{name}.log",
            python=python,
            name=name,
            arguments=arguments,
        )
        nodes.append(node)
        if wait:
            registry = target.registry

            def registered() -> bool:
                assert node.running, f"node {name} exited:\n{node.log()}"
                return any(record.name == name for record in registry.nodes.values())

            await eventually(registered, 20.0, f"node {name} registered")
        return node

    yield start
    for node in nodes:
        node.stop()
        print(f"--- log of node {node.name} ---\n{node.log()}")


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
