"""Running the whole bridge on an already running Qt application (Slicer, or any PySide6/PyQt app).

`start_in_qt(app, config=None, **overrides)` builds the bridge (scene, bus, enabled adapters),
starts it, and returns a `QtBridge` whose `stop()` undoes everything. Nothing blocks the GUI:
asyncio runs *on* Qt's event loop, on the Qt main thread, so every scene change happens there.

How asyncio runs on Qt (`QtLoopDriver`). Slicer's binding is PythonQt (`import qt`), which
qasync cannot drive (qasync issue #175), so the integration is our own and needs only
`QSocketNotifier` and `QTimer` from whichever binding is present (PythonQt, PySide6, PyQt6,
PyQt5, PySide2):

* a stock `asyncio.SelectorEventLoop` over a selector we create, so its file descriptor
  (epoll on Linux, kqueue on macOS) is known without reaching into the loop;
* a `QSocketNotifier` on that fd: the kernel marks it readable whenever any socket the loop
  watches is ready, including the loop's self-pipe that `call_soon_threadsafe` (thread-pool
  results) writes to;
* one single-shot precise `QTimer` for the loop's next scheduled callback (0 ms when
  callbacks are ready);
* each activation runs a non-blocking loop iteration (`call_soon(stop)` + `run_forever()`)
  and, while callbacks are ready (a request's handler hopping through futures), the next
  ones at once — at most `max_iterations`, within `slice_seconds` — instead of bouncing
  through Qt's event loop per hop; then it re-arms the timer. Two loop internals are
  *read*, never written: `_ready` and `_scheduled` (what the timer must wait for); CPython
  has kept both since 3.4.
* Where the selector has no fd (Windows' `select()` selector), a repeating 1 ms timer polls
  the loop instead: it works, with ~1 ms added latency per request (README).

How the bus's apply passes run (`drive="external"` on the `CommandBus`): each pass is started
from a plain Qt timer callback, never from inside an asyncio task or loop iteration, at the
bus's absolute deadlines (`next_pass_time`), so the passes are the frame ticks. The pass
coroutine is stepped by hand; it only suspends on futures (a slow command running as its
own task), and then continues from that future's callback. While a pass or an iteration
runs, any nested activation (rendering, `processEvents`, a modal dialog pumping events) is
deferred, not re-entered: the notifier is switched off until the outer one returns.

CPU-heavy work (PNG/NRRD encoding, DICOM parsing) goes to the loop's default executor, a
thread pool created here and shut down by `stop()`; results come back to the main thread
through the self-pipe.

This module never imports `slicer`; the Slicer module passes its MRML scene in.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import os
import selectors
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.app import Bridge
from bridge.bus import CommandBus
from bridge.config import Settings, from_mapping, load_settings
from bridge.scene.protocol import Scene
from bridge.stats import LatencyHistogram

log = logging.getLogger("slicer_bridge.qt")

#: Poll period of the timer fallback when the selector has no file descriptor (Windows).
FALLBACK_POLL_MS = 1
#: How many recent apply passes `QtLoopDriver.pass_records` keeps (about a minute at 60/s).
PASS_RECORDS = 4096
WORKER_THREAD_PREFIX = "slicer-bridge-worker"


# -- the Qt binding ----------------------------------------------------------------------------
#: QSocketNotifier's activation signal in Qt 5 and in Qt 6 (PythonQt connects by signature).
NOTIFIER_SIGNATURES = ("activated(int)", "activated(QSocketDescriptor,QSocketNotifier::Type)")


@dataclass(frozen=True)
class QtBinding:
    """The few Qt names the integration uses, from one binding."""

    name: str
    QSocketNotifier: Any
    QTimer: Any
    read: Any  # QSocketNotifier's Read type
    precise_timer: Any  # Qt.PreciseTimer

    @property
    def string_signals(self) -> bool:
        """PythonQt connects by signature string, as Slicer's own modules do."""
        return self.name == "PythonQt"

    def connect(
        self, obj: Any, signal: str, signatures: tuple[str, ...], callback: Callable[..., Any]
    ) -> None:
        """Connect `obj.signal` to `callback`. PythonQt tries each signature string first
        (`"activated(int)"` is Qt 5's, as Slicer's WebServer module uses), then the signal
        attribute, which PySide and PyQt always use."""
        if self.string_signals:
            for signature in signatures:
                with contextlib.suppress(Exception):
                    if obj.connect(signature, callback) is not False:
                        return
        getattr(obj, signal).connect(callback)

    def timer(self, callback: Callable[[], Any], *, single_shot: bool = True) -> Any:
        timer = self.QTimer()
        timer.setSingleShot(single_shot)
        timer.setTimerType(self.precise_timer)
        self.connect(timer, "timeout", ("timeout()",), lambda *_: callback())
        return timer

    def read_notifier(self, fd: int, callback: Callable[[], Any]) -> Any:
        notifier = self.QSocketNotifier(fd, self.read)
        self.connect(notifier, "activated", NOTIFIER_SIGNATURES, lambda *_: callback())
        return notifier


def _pyside_like(package: str) -> QtBinding:
    core = importlib.import_module(f"{package}.QtCore")
    notifier, qt = core.QSocketNotifier, core.Qt
    read = getattr(notifier, "Type", notifier).Read
    precise = getattr(qt, "TimerType", qt).PreciseTimer
    return QtBinding(package, notifier, core.QTimer, read, precise)


def _pythonqt() -> QtBinding:
    qt = importlib.import_module("qt")
    if not hasattr(qt, "QSocketNotifier"):
        raise ImportError("the importable 'qt' module is not PythonQt's")
    return QtBinding("PythonQt", qt.QSocketNotifier, qt.QTimer, qt.QSocketNotifier.Read,
                     qt.Qt.PreciseTimer)  # fmt: skip


#: Binding name → loader; the order is the preference when nothing says which one is in use.
BINDINGS: dict[str, Callable[[], QtBinding]] = {
    "PythonQt": _pythonqt,
    "PySide6": lambda: _pyside_like("PySide6"),
    "PyQt6": lambda: _pyside_like("PyQt6"),
    "PyQt5": lambda: _pyside_like("PyQt5"),
    "PySide2": lambda: _pyside_like("PySide2"),
}
_MODULE_OF_BINDING = {"PythonQt": "qt", "PySide6": "PySide6", "PyQt6": "PyQt6",
                      "PyQt5": "PyQt5", "PySide2": "PySide2"}  # fmt: skip


def binding_name_of(app: Any) -> str | None:
    """The binding an application object comes from, by its class's module (None: unknown)."""
    module = type(app).__module__ or ""
    top = module.split(".")[0]
    if top in BINDINGS:
        return top
    if top in ("qt", "PythonQt") or module.startswith("PythonQt"):
        return "PythonQt"
    return None


def detect_binding(app: Any = None, name: str | None = None) -> QtBinding:
    """The binding named, else the one `app` belongs to, else the first already imported,
    else the first importable (PythonQt first: inside Slicer it is the only one)."""
    if name is None and app is not None:
        name = binding_name_of(app)
    if name is not None:
        if name not in BINDINGS:
            raise ValueError(f"unknown Qt binding {name!r}; known: {', '.join(BINDINGS)}")
        return BINDINGS[name]()
    imported = [key for key, module in _MODULE_OF_BINDING.items() if module in sys.modules]
    errors: list[str] = []
    for key in [*imported, *(key for key in BINDINGS if key not in imported)]:
        try:
            return BINDINGS[key]()
        except ImportError as error:
            errors.append(f"{key}: {error}")
    raise ImportError("no Qt binding found (PythonQt, PySide6, PyQt6, PyQt5): " + "; ".join(errors))


# -- asyncio on the Qt event loop ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PassRecord:
    """One apply pass: its deadline and when it started and ended (bus clock, seconds)."""

    due: float
    started: float
    ended: float

    @property
    def lateness(self) -> float:
        return self.started - self.due


class QtLoopDriver:
    """Runs a stock asyncio selector loop from Qt activations, and the bus's apply passes
    from a Qt timer at the bus's deadlines. Main thread only.

    `poll_fallback=True` forces the timer fallback (what a selector without a file
    descriptor gets), so it can be exercised on Linux too.
    """

    #: Iterations one activation may run while callbacks stay ready, and its time budget:
    #: enough for a request's hops, short enough that the GUI never waits noticeably.
    max_iterations = 16
    slice_seconds = 0.004

    def __init__(self, binding: QtBinding, *, poll_fallback: bool = False) -> None:
        self.binding = binding
        self._selector = selectors.DefaultSelector()
        self.loop = asyncio.SelectorEventLoop(self._selector)
        self._executor = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix=WORKER_THREAD_PREFIX
        )
        self.loop.set_default_executor(self._executor)
        for internal in ("_ready", "_scheduled"):  # fail at once, not on the first request
            if not hasattr(self.loop, internal):
                raise RuntimeError(f"this asyncio has no loop.{internal}; cannot run on Qt")
        fileno = getattr(self._selector, "fileno", None)
        self.fd: int | None = None if poll_fallback or fileno is None else fileno()
        self._notifier: Any = None
        self._notifier_enabled = False
        self._loop_timer_due: float | None = None  # loop time the loop timer fires at
        self._poll_timer: Any = None
        self._loop_timer = binding.timer(self._on_loop_timer)
        self._pass_timer = binding.timer(self._on_pass_timer)
        self._depth = 0  # > 0 while an iteration, a pass step or run_until_complete runs
        self._deferred = False  # an activation arrived while busy: iterate once it returns
        self._running = False
        self._closed = False
        self._bus: CommandBus | None = None
        self._pass_armed = False
        self._pass_running = False
        self.activations = 0
        self.iterations = 0
        self.passes = 0
        self.pass_lateness = LatencyHistogram()
        self.pass_records: deque[PassRecord] = deque(maxlen=PASS_RECORDS)
        self._pass_due = 0.0
        self._pass_started_at = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def uses_poll_fallback(self) -> bool:
        return self.fd is None

    @property
    def in_pass(self) -> bool:
        """An apply pass has started and not yet ended (it may be waiting on a slow command)."""
        return self._pass_running

    @property
    def busy(self) -> bool:
        """An iteration, a pass step or `run_until_complete` is on the stack."""
        return self._depth > 0

    def start(self) -> None:
        """Begin serving the loop from Qt's event loop."""
        if self._closed:
            raise RuntimeError("this driver was closed; make a new one")
        if self._running:
            return
        self._running = True
        if self.fd is not None:
            self._notifier = self.binding.read_notifier(self.fd, self._on_readable)
            self._notifier.setEnabled(True)
            self._notifier_enabled = True
        else:
            self._poll_timer = self.binding.timer(self._iterate, single_shot=False)
            self._poll_timer.start(FALLBACK_POLL_MS)
        self._rearm()
        self.schedule_pass()

    def run_until_complete(self, awaitable: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine to its end on the loop, blocking (start, stop). Not from inside
        an iteration, a pass, or a coroutine."""
        if self.busy or asyncio._get_running_loop() is not None:
            raise RuntimeError("run_until_complete called from inside the running loop or a pass")
        self._depth += 1
        try:
            return self.loop.run_until_complete(awaitable)
        finally:
            self._depth -= 1
            self._after_busy()

    def close(self) -> list[str]:
        """Cancel what is left, shut the thread pool down, close the loop and every Qt object
        this driver made. Returns the names of tasks that were still alive (a leak)."""
        if self._closed:
            return []
        leftovers = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        names = [task.get_name() for task in leftovers]
        for task in leftovers:
            task.cancel()
        with contextlib.suppress(Exception):
            self.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        with contextlib.suppress(Exception):
            self.run_until_complete(self.loop.shutdown_asyncgens())
        with contextlib.suppress(Exception):
            self.run_until_complete(self.loop.shutdown_default_executor())
        self._executor.shutdown(wait=True)
        self._running = False
        self._closed = True
        for timer in (self._loop_timer, self._pass_timer, self._poll_timer):
            if timer is not None:
                timer.stop()
        if self._notifier is not None:
            self._notifier.setEnabled(False)  # before the fd it watches is closed
            self._notifier = None
        self._loop_timer_due = None
        self._poll_timer = None
        if self._bus is not None and self._bus.on_pending == self.schedule_pass:
            self._bus.on_pending = None
        self.loop.close()
        return names

    # -- the asyncio side ----------------------------------------------------------------------
    def _on_readable(self) -> None:
        if self._depth:
            # Nested in an iteration or a pass (processEvents, a modal dialog): switch the
            # level-triggered notifier off until the outer activation returns.
            self._notifier.setEnabled(False)
            self._notifier_enabled = False
            self._deferred = True
            return
        self._iterate()

    def _on_loop_timer(self) -> None:
        self._loop_timer_due = None
        self._iterate()

    def _iterate(self) -> None:
        """Non-blocking loop iterations, then re-arm the timer. While callbacks are ready
        (a request handler's task hops), iterations follow each other in this activation,
        up to `max_iterations` and `slice_seconds`, instead of bouncing through Qt's event
        loop once per hop; every iteration still polls the sockets (timeout 0)."""
        if self._closed or not self._running:
            return
        if self._depth:
            self._deferred = True
            return
        loop = self.loop
        self._depth += 1
        self.activations += 1
        try:
            budget_end = time.monotonic() + self.slice_seconds
            for _ in range(self.max_iterations):
                loop.call_soon(loop.stop)
                loop.run_forever()
                self.iterations += 1
                if not loop._ready or time.monotonic() >= budget_end:
                    break
        except Exception:  # never let an error out into Qt's event loop
            log.exception("asyncio iteration failed")
        finally:
            self._depth -= 1
        self._after_busy()

    def _after_busy(self) -> None:
        if self._depth or not self._running:
            return
        if self._notifier is not None and not self._notifier_enabled:
            self._notifier.setEnabled(True)
            self._notifier_enabled = True
        if self._deferred:
            self._deferred = False
            self._arm_loop_timer(0.0)
            return
        self._rearm()

    def _rearm(self) -> None:
        """Arm the loop timer for the next thing the loop must do without socket activity."""
        loop = self.loop
        if loop._ready:
            self._arm_loop_timer(0.0)
        elif loop._scheduled:
            self._arm_loop_timer(max(0.0, loop._scheduled[0].when() - loop.time()))
        elif self._loop_timer_due is not None:
            self._loop_timer.stop()
            self._loop_timer_due = None

    def _arm_loop_timer(self, delay: float) -> None:
        """Start the loop timer `delay` seconds from now (whole milliseconds, rounded up),
        unless it is already due by then: restarting a Qt timer is not free."""
        now = self.loop.time()
        if self._loop_timer_due is not None and self._loop_timer_due <= now + delay:
            return
        milliseconds = math.ceil(delay * 1000)
        self._loop_timer.start(milliseconds)
        self._loop_timer_due = now + milliseconds / 1000

    # -- the apply passes ----------------------------------------------------------------------
    def attach_bus(self, bus: CommandBus) -> None:
        """Drive `bus`'s apply passes (it must have `drive="external"`)."""
        if bus.drive != "external":
            raise ValueError("the Qt driver needs a CommandBus(drive='external')")
        self._bus = bus
        bus.on_pending = self.schedule_pass

    def schedule_pass(self) -> None:
        """Arm the pass timer for the bus's next deadline (no-op when armed or nothing waits)."""
        bus = self._bus
        if bus is None or self._pass_armed or self._pass_running or not self._running:
            return
        due = bus.next_pass_time()
        if due is None:
            return
        delay = due - bus.clock()
        self._pass_armed = True
        self._pass_timer.start(max(0, math.ceil(delay * 1000)))

    def _on_pass_timer(self) -> None:
        """A plain Qt timer callback: start the pass that is due (never inside the loop)."""
        self._pass_armed = False
        bus = self._bus
        if bus is None or not self._running or self._pass_running:
            return
        if self._depth:  # nested in an iteration: try again once it has returned
            self._pass_armed = True
            self._pass_timer.start(0)
            return
        due = bus.next_pass_time()
        if due is None:
            return
        now = bus.clock()
        if now < due:  # a timer that fired early: wait for the rest
            self._pass_armed = True
            self._pass_timer.start(max(0, math.ceil((due - now) * 1000)))
            return
        self._pass_due, self._pass_started_at = due, now
        self.pass_lateness.record(now - due)
        self._pass_running = True
        self._step(bus.run_pass())

    def _step(self, pass_coroutine: Coroutine[Any, Any, int]) -> None:
        """Advance the pass coroutine until it ends or waits on a future."""
        previous = asyncio._get_running_loop()
        if previous is None:
            asyncio._set_running_loop(self.loop)  # appliers may ask for the running loop
        self._depth += 1
        try:
            waiting_on = pass_coroutine.send(None)
        except StopIteration:
            self._pass_ended()
            return
        except Exception:  # a bug in a pass must not escape into Qt's event loop
            log.exception("apply pass failed")
            self._pass_ended()
            return
        except BaseException:  # KeyboardInterrupt, SystemExit: end the pass, then let it out
            self._pass_ended()
            raise
        finally:
            self._depth -= 1
            if previous is None:
                asyncio._set_running_loop(None)
            if self._depth == 0 and self._running:
                self._after_busy()
        if asyncio.isfuture(waiting_on):
            waiting_on._asyncio_future_blocking = False  # we are its task, in effect
            waiting_on.add_done_callback(lambda _: self._step(pass_coroutine))
        else:  # a bare yield (sleep(0)): continue on the next iteration
            self.loop.call_soon(self._step, pass_coroutine)
        self._rearm()

    def _pass_ended(self) -> None:
        bus = self._bus
        ended = bus.clock() if bus is not None else time.monotonic()
        self.passes += 1
        self.pass_records.append(PassRecord(self._pass_due, self._pass_started_at, ended))
        self._pass_running = False
        self.schedule_pass()

    def status(self) -> dict[str, Any]:
        return {
            "binding": self.binding.name,
            "wakeup": "timer poll" if self.uses_poll_fallback else "socket notifier",
            "activations": self.activations,
            "iterations": self.iterations,
            "passes": self.passes,
            "pass_lateness_ms": self.pass_lateness.summary_ms(),
        }


# -- the bridge on Qt --------------------------------------------------------------------------
ShutdownHandler = Callable[["QtBridge"], Any]


class QtBridge:
    """A bridge running on a Qt application's event loop; `stop()` ends it, synchronously.

    `bridge` is the `Bridge` itself (its `bus`, `scene`, `adapters`, `status()`); `driver`
    the loop integration. Everything here runs on the Qt main thread.
    """

    def __init__(
        self,
        app: Any,
        bridge: Bridge,
        driver: QtLoopDriver,
        on_shutdown: ShutdownHandler | None,
    ) -> None:
        self.app = app
        self.bridge = bridge
        self.driver = driver
        self.main_thread = threading.get_ident()
        self.leftover_tasks: list[str] = []
        self._on_shutdown = on_shutdown
        self._stopped = False
        self._stop_timer: Any = None
        self._shutdown_timer: Any = None
        self._shutdown_watch: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.driver.loop

    @property
    def settings(self) -> Settings:
        return self.bridge.settings

    @property
    def running(self) -> bool:
        return not self._stopped

    def port(self, adapter_name: str) -> int | None:
        """The port an adapter listens on (`http`, `igtl`), None if it is not running."""
        for adapter in self.bridge.adapters:
            if adapter.name != adapter_name:
                continue
            port = getattr(adapter, "port", None)
            if port is None and getattr(adapter, "address", None):
                port = adapter.address[1]  # (host, port), as the IGTL adapter reports it
            return port
        return None

    def status(self) -> dict[str, Any]:
        return {**self.bridge.status(), "qt": self.driver.status()}

    def stop(self) -> None:
        """Stop every adapter and the bus, then close the loop: no task, socket or worker
        thread is left. Called from inside the loop or a pass (a command, a coroutine), the
        stop happens right after that returns."""
        if self._stopped:
            return
        if self.driver.busy or asyncio._get_running_loop() is not None:
            if self._stop_timer is None:
                self._stop_timer = self.driver.binding.timer(self.stop)
            self._stop_timer.start(0)
            return
        self._stopped = True
        if self._shutdown_watch is not None:
            self._shutdown_watch.cancel()
        try:
            self.driver.run_until_complete(self._stop_bridge())
        except Exception:
            log.exception("error while stopping the bridge")
        finally:
            self.leftover_tasks = self.driver.close()
            if self.leftover_tasks:
                log.warning("tasks still alive at stop were cancelled: %s", self.leftover_tasks)
            if self._stop_timer is not None:
                self._stop_timer.stop()
                self._stop_timer = None
        log.info("stopped on the Qt event loop")

    async def _stop_bridge(self) -> None:
        if self._shutdown_watch is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._shutdown_watch
        await self.bridge.stop()

    def _watch_for_shutdown(self) -> None:
        self._shutdown_watch = self.loop.create_task(
            self._wait_for_shutdown(), name="slicer-bridge-shutdown-watch"
        )

    async def _wait_for_shutdown(self) -> None:
        """A `Shutdown` command (e.g. `/slicer/system/shutdown`) stops the bridge and then
        runs the shutdown handler (default: quit the application, as Slicer's does)."""
        await self.bridge.wait_for_shutdown()
        handler = self._on_shutdown or _quit_application
        self._shutdown_timer = self.driver.binding.timer(lambda: self._shut_down(handler))
        self._shutdown_timer.start(0)

    def _shut_down(self, handler: ShutdownHandler) -> None:
        self.stop()
        try:
            handler(self)
        except Exception:
            log.exception("shutdown handler failed")


def _quit_application(qt_bridge: QtBridge) -> None:
    if qt_bridge.app is not None:
        qt_bridge.app.quit()


def settings_for(config: Settings | str | Path | None, overrides: Mapping[str, Any]) -> Settings:
    """`config` (Settings, a TOML file, or None: defaults < environment) with `overrides`."""
    if isinstance(config, Settings):
        return from_mapping(config, overrides, "start_in_qt")
    config_file = None if config is None else Path(config)
    return load_settings(config_file=config_file, overrides=overrides)


def start_in_qt(
    app: Any = None,
    config: Settings | str | Path | None = None,
    *,
    scene: Scene | None = None,
    binding: str | None = None,
    on_shutdown: ShutdownHandler | None = None,
    poll_fallback: bool = False,
    **overrides: Any,
) -> QtBridge:
    """Start the bridge (bus and every enabled adapter) on `app`'s Qt event loop and return it.

    `config`: a `Settings`, a TOML file, or None (defaults < environment); `overrides`: any
    setting by name (`http_port=2017, igtl=False, mqtt_url="mqtt://broker:1883"`). `scene`:
    the scene to drive (Slicer: `MrmlScene()`; default: a headless scene). `binding`:
    "PythonQt", "PySide6", "PyQt6", "PyQt5" (default: `app`'s). `on_shutdown`: what a
    `Shutdown` command does after the bridge stopped (default: `app.quit()`).

    Call it on the Qt main thread, outside any coroutine (a button's slot, Slicer's Python
    console); it returns once the servers listen. The Qt event loop (`app.exec()`, or Slicer
    itself) then serves them.
    """
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("start_in_qt must be called from Qt code, not from a coroutine")
    settings = settings_for(config, overrides)
    qt = detect_binding(app, binding)
    driver = QtLoopDriver(qt, poll_fallback=poll_fallback)
    bridge = Bridge(settings, scene, bus_options={"drive": "external"})
    driver.attach_bus(bridge.bus)
    qt_bridge = QtBridge(app, bridge, driver, on_shutdown)
    try:
        driver.run_until_complete(bridge.start())
    except BaseException:
        with contextlib.suppress(Exception):
            driver.run_until_complete(bridge.stop())
        driver.close()
        raise
    qt_bridge._watch_for_shutdown()
    driver.start()
    if app is not None:
        qt.connect(app, "aboutToQuit", ("aboutToQuit()",), lambda *_: qt_bridge.stop())
    log.info(
        "running on the Qt event loop (%s, %s)",
        qt.name,
        "timer poll" if driver.uses_poll_fallback else f"socket notifier on fd {driver.fd}",
    )
    return qt_bridge


__all__ = [
    "BINDINGS",
    "PassRecord",
    "QtBinding",
    "QtBridge",
    "QtLoopDriver",
    "detect_binding",
    "settings_for",
    "start_in_qt",
]
