"""The `slicer-bridge` command line: `serve` runs the bridge, `commands` documents the bus.

Flags for `serve` are generated from `bridge.config.Settings`, so `--help` lists every setting
with its default and every setting has exactly one flag; only the flags actually given
override the TOML file and the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.compute.cli import add_node_commands
from bridge.config import ENV_PREFIX, ConfigError, Settings, load_settings, setting_types
from bridge.dicom.cli import add_dicom_commands

log = logging.getLogger("slicer_bridge")

EPILOG = f"""\
Settings come from, lowest precedence first: defaults < TOML file (--config, or
{ENV_PREFIX}CONFIG) < environment variables {ENV_PREFIX}<NAME> (e.g. {ENV_PREFIX}HTTP_PORT=2017)
< these flags. A TOML file uses the setting names, at top level or under [bridge]:
    http_port = 2017
    enable_exec = false
"""


def _default_text(spec: Any) -> str:
    if spec.default is not MISSING:
        return "" if spec.default is None else f" (default: {spec.default})"
    return f" (default: {spec.default_factory()})"


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field; booleans become --no-X or --X switches."""
    types = setting_types()
    for spec in fields(Settings):
        name, kind = spec.name, types[spec.name]
        help_text = spec.metadata["help"]
        flag = spec.metadata["flag"] or "--" + name.replace("_", "-")
        if kind is bool:
            negate = flag.startswith("--no-")
            parser.add_argument(
                flag,
                dest=name,
                action="store_const",
                const=not negate,
                default=argparse.SUPPRESS,
                help=f"turn off the {help_text} [on by default]"
                if negate
                else f"{help_text} [off by default]",
            )
        else:
            parser.add_argument(
                flag,
                dest=name,
                type=kind if kind is not Path else Path,
                default=argparse.SUPPRESS,
                metavar=name.upper(),
                help=help_text + _default_text(spec),
            )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slicer-bridge",
        description="Drive a 3D Slicer scene from OpenIGTLink, MQTT and HTTP through one "
        "coalescing command bus.",
    )
    parser.add_argument("--version", action="version", version=f"slicer-bridge {__version__}")
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the bridge on the embedded headless scene",
        description="Run the bridge standalone on the embedded headless scene (numpy), with "
        "every enabled adapter. Stops cleanly on Ctrl-C or SIGTERM.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    _add_setting_flags(serve)
    serve.set_defaults(run=_serve)

    listing = commands.add_parser(
        "commands",
        help="list the bus commands and their JSON fields",
        description="List every command kind the bus accepts, its JSON fields, and whether "
        "it is coalesced (latest value per target) or ordered (a barrier).",
    )
    listing.set_defaults(run=_list_commands)
    add_dicom_commands(commands)
    add_node_commands(commands)
    return parser


def _serve(arguments: argparse.Namespace) -> int:
    overrides = {
        key: value
        for key, value in vars(arguments).items()
        if key not in ("config", "run", "subcommand")
    }
    try:
        settings = load_settings(config_file=arguments.config, overrides=overrides)
    except ConfigError as error:
        print(f"slicer-bridge: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    return asyncio.run(_run_bridge(settings))


async def _run_bridge(settings: Settings) -> int:
    from bridge.app import Bridge

    bridge = Bridge(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(signum, bridge.request_shutdown)
    log.info("slicer-bridge %s starting (data dir %s)", __version__, settings.data_dir)
    try:
        await bridge.start()
        log.info("ready; press Ctrl-C to stop")
        await bridge.wait_for_shutdown()
        log.info("shutting down")
    finally:
        await bridge.stop()
    return 0


def _list_commands(_arguments: argparse.Namespace) -> int:
    from bridge.commands import COMMANDS, describe_command

    for name in sorted(COMMANDS):
        print(describe_command(COMMANDS[name]))
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
