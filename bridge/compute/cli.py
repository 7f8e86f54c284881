"""`slicer-bridge node …`: run a compute node from a Python file, or describe what it offers.

    slicer-bridge node run examples/nodes/threshold.py --bridge 127.0.0.1:18944
    slicer-bridge node describe examples/nodes/threshold.py

Registered by `bridge.cli` through `add_node_commands(subparsers)`. Also runnable on its own
as `python -m bridge.compute.cli node run …`, which is how a node starts in an environment
that has only the SDK's dependencies (numpy, pyigtl): nothing here imports the bridge's
server side.

The file is executed as a module (not as `__main__`), and the `ComputeNode` it defines is
served; a file defining several names the one to use with `--node`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import runpy
import signal
import sys
from pathlib import Path

from bridge.compute.node import ComputeNode
from bridge.compute.transport import RegistrationRefused, bridge_address


class NodeFileError(Exception):
    """The file cannot be loaded, or does not define exactly the node asked for."""


def add_node_commands(subparsers: argparse._SubParsersAction) -> None:
    node = subparsers.add_parser(
        "node",
        help="run a compute node (an external process serving operations to a bridge)",
        description="Run a compute node defined in a Python file: it connects to a bridge "
        "over OpenIGTLink, registers its operations and runs the jobs it is sent.",
    )
    commands = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)

    run = commands.add_parser(
        "run",
        help="connect a node to one or more bridges and serve jobs until interrupted",
        description="Load FILE, connect its ComputeNode to each --bridge (OpenIGTLink), "
        "register and serve jobs; reconnects when a bridge goes away. Stops on Ctrl-C.",
    )
    run.add_argument("file", type=Path, metavar="FILE", help="Python file defining a ComputeNode")
    run.add_argument(
        "--bridge",
        action="append",
        metavar="HOST:PORT",
        help="bridge to serve (repeatable; default 127.0.0.1:18944)",
    )
    _node_options(run)
    run.add_argument("--name", help="node name to register (default: the file's)")
    run.add_argument("--concurrency", type=int, help="jobs run at once (default: the file's)")
    run.add_argument("--heartbeat", type=float, help="seconds between heartbeats")
    run.add_argument(
        "--no-crc",
        action="store_true",
        help="send and accept job data without CRC-64 (fast trusted links: same host, LAN)",
    )
    run.add_argument(
        "--once", action="store_true", help="exit when the connection ends (no reconnect)"
    )
    run.add_argument("--log-level", default="info", help="debug, info, warning or error")
    run.set_defaults(run=_run)

    describe = commands.add_parser(
        "describe",
        help="print the node's capability document (operations and schemas) as JSON",
    )
    describe.add_argument("file", type=Path, metavar="FILE")
    _node_options(describe)
    describe.set_defaults(run=_describe)


def _node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", metavar="NAME", help="variable holding the node, if several")


def load_node(path: Path, variable: str | None = None) -> ComputeNode:
    """The ComputeNode defined in a Python file."""
    if not path.is_file():
        raise NodeFileError(f"{path}: no such file")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the file may import its neighbours
    try:
        namespace = runpy.run_path(str(path), run_name="__slicer_bridge_node__")
    except Exception as error:
        raise NodeFileError(f"{path}: {type(error).__name__}: {error}") from error
    nodes = {name: value for name, value in namespace.items() if isinstance(value, ComputeNode)}
    if variable is not None:
        if variable not in nodes:
            raise NodeFileError(f"{path} defines no ComputeNode named {variable!r}")
        return nodes[variable]
    if len(nodes) != 1:
        found = ", ".join(sorted(nodes)) or "none"
        raise NodeFileError(
            f"{path} must define exactly one ComputeNode (found: {found}); choose one with --node"
        )
    return next(iter(nodes.values()))


def _run(arguments: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(arguments.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        node = load_node(arguments.file, arguments.node)
        bridges = [bridge_address(text) for text in arguments.bridge or ["127.0.0.1:18944"]]
    except (NodeFileError, ValueError) as error:
        print(f"slicer-bridge node: {error}", file=sys.stderr)
        return 2
    if arguments.name:
        node.name = arguments.name
    if arguments.concurrency:
        node.concurrency = max(1, arguments.concurrency)
    if arguments.heartbeat:
        node.heartbeat = arguments.heartbeat
    if arguments.no_crc:
        node.crc = False
    try:
        asyncio.run(_serve(node, bridges, reconnect=not arguments.once))
    except KeyboardInterrupt:
        return 0
    except RegistrationRefused as error:
        print(f"slicer-bridge node: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"slicer-bridge node: {error}", file=sys.stderr)
        return 1
    return 0


async def _serve(node: ComputeNode, bridges: list[tuple[str, int]], *, reconnect: bool) -> None:
    """Serve until the connections end, or until SIGTERM / Ctrl-C (a clean exit)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, threads
            loop.add_signal_handler(signum, task.cancel)
    try:
        await node.serve_async(*bridges, reconnect=reconnect)
    except asyncio.CancelledError:
        logging.getLogger("slicer_bridge.compute.node").info("node %s: stopping", node.name)


def _describe(arguments: argparse.Namespace) -> int:
    try:
        node = load_node(arguments.file, arguments.node)
    except NodeFileError as error:
        print(f"slicer-bridge node: {error}", file=sys.stderr)
        return 2
    print(json.dumps(node.capability().to_json(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="slicer-bridge", description="Compute nodes for SlicerBridge."
    )
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    add_node_commands(commands)
    arguments = parser.parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
