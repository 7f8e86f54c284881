"""Composition root: builds the scene, the bus and every enabled adapter, and runs them.

This is the one module in `bridge/` that knows adapters exist, and even here only by module
name: each transport package (`adapters.http`, `adapters.igtl`, `adapters.mqtt`) offers a
`create(settings) -> Adapter` function. A transport whose package does not offer it yet is
reported in the log and skipped, so the bridge always starts with what is available.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bridge import __version__
from bridge import commands as c
from bridge.apply import Applier
from bridge.bus import CommandBus
from bridge.compute.registry import ComputeRegistry
from bridge.config import Settings
from bridge.exec_namespace import ExecDisabled, ExecNamespace
from bridge.scene.protocol import Scene

log = logging.getLogger("slicer_bridge")


class Adapter(Protocol):
    """A transport: decodes input into commands, never touches the scene itself."""

    name: str

    async def start(self, bridge: Bridge) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """JSON-friendly description: addresses, peers, counters."""


#: transport name → (settings flag that enables it, module offering `create(settings)`).
TRANSPORTS: dict[str, tuple[str, str]] = {
    "http": ("http", "adapters.http"),
    "igtl": ("igtl", "adapters.igtl"),
    "mqtt": ("mqtt", "adapters.mqtt"),
}


class Bridge:
    """The running bridge: scene + applier + bus + adapters, with one shutdown path."""

    def __init__(
        self,
        settings: Settings,
        scene: Scene | None = None,
        *,
        bus_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`scene`: the headless scene when None (Slicer passes its MRML scene);
        `bus_options`: extra `CommandBus` arguments, e.g. `{"drive": "external"}` when a Qt
        timer starts the apply passes (`bridge.qt`)."""
        self.settings = settings
        if scene is None:
            from bridge.scene.headless import HeadlessScene

            scene = HeadlessScene(data_dir=settings.data_dir)
        self.scene = scene
        self.applier = Applier(scene, data_dir=settings.data_dir)
        self.bus = CommandBus(self.applier, max_rate=settings.max_rate, **(bus_options or {}))
        self.adapters: list[Adapter] = []
        self.started_at = time.time()
        self._shutdown = asyncio.Event()
        #: Compute nodes and their jobs (`bridge.compute.registry`); None when switched off.
        self.compute = _compute_registry(settings, self.bus, scene)
        self._register_bridge_commands()

    def _register_bridge_commands(self) -> None:
        """Commands that need the bridge, not only the scene."""
        if self.settings.enable_exec:
            namespace = ExecNamespace(bridge=self, scene=self.scene)
            self.applier.register(c.Exec, lambda cmd: namespace.run(cmd.code))
        else:
            self.applier.register(c.Exec, _refuse_exec)
        self.applier.register(c.Shutdown, self._schedule_shutdown)
        if self.compute is not None:
            self.applier.register(c.RunCompute, self.compute.run_command)

    def _schedule_shutdown(self, _command: c.Command) -> dict[str, bool]:
        # Reply first, then stop: the caller gets its {"success": true}.
        asyncio.get_running_loop().call_later(0.2, self.request_shutdown)
        return {"success": True}

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bus.start()
        if self.compute is not None:
            await self.compute.start()
        log.info(
            "command bus: up to %g passes/s on the %s scene",
            self.settings.max_rate,
            type(self.scene).__name__,
        )
        for name, (flag, module_name) in TRANSPORTS.items():
            if not getattr(self.settings, flag):
                log.info("%s: disabled", name)
                continue
            create = _adapter_factory(module_name)
            if create is None:
                log.warning("%s: adapter not available in this version; not started", name)
                continue
            try:
                adapter = create(self.settings)
                await adapter.start(self)
            except Exception:
                log.exception("%s: adapter failed to start; the bridge goes on without it", name)
                continue
            self.adapters.append(adapter)

    async def stop(self) -> None:
        for adapter in reversed(self.adapters):
            try:
                await adapter.stop()
            except Exception:
                log.exception("%s: error while stopping", adapter.name)
        self.adapters.clear()
        if self.compute is not None:
            await self.compute.stop()
        await self.bus.stop()
        log.info("stopped")

    def request_shutdown(self) -> None:
        self._shutdown.set()

    async def wait_for_shutdown(self) -> None:
        await self._shutdown.wait()

    def status(self) -> dict[str, Any]:
        """What `GET /bridge/status` reports."""
        return {
            "application": "slicer-bridge",
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 3),
            "scene": type(self.scene).__name__,
            "adapters": {adapter.name: adapter.status() for adapter in self.adapters},
            "bus": {"max_rate": self.bus.max_rate, **self.bus.stats.snapshot(self.bus.pending)},
            **({"compute": self.compute.status()} if self.compute is not None else {}),
        }


def _refuse_exec(_command: c.Command) -> None:
    raise ExecDisabled("exec is disabled; start the bridge with --enable-exec to allow it")


def _compute_registry(settings: Settings, bus: CommandBus, scene: Scene) -> ComputeRegistry | None:
    """The compute registry, unless `--no-compute`. Nodes reach it through a transport
    (the OpenIGTLink adapter finds it as `bridge.compute`)."""
    if not settings.compute:
        return None
    return ComputeRegistry(
        bus,
        scene,
        job_timeout=settings.compute_job_timeout,
        queue_timeout=settings.compute_queue_timeout,
        heartbeat_timeout=settings.compute_heartbeat_timeout,
    )


def _adapter_factory(module_name: str) -> Callable[[Settings], Adapter] | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        log.warning("%s cannot be imported: %s", module_name, error)
        return None
    return getattr(module, "create", None)
