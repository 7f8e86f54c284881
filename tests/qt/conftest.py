"""Fixtures for the Qt tests: one offscreen QApplication (PySide6), a bridge started on it
through `start_in_qt`, a way to run Qt's event loop until something happened, and peers in
other processes.

* `qapp` — the process's QApplication (`QT_QPA_PLATFORM=offscreen`), made once.
* `run_qt` — `run_qt(until, timeout)`: runs a local QEventLoop until `until()` is true;
  fails the test after `timeout` seconds. The bridge lives only while Qt's loop runs.
* `start_qt_bridge` — `start_qt_bridge(scene=None, **settings)` → (`QtBridge`, `SceneRecorder`)
  on a headless scene (or the one given) with the recorder subscribed; every bridge it
  started is stopped after the test.
* `peer` — `peer(mode, *args)` starts `qt_peers.py` in its own process (`Popen`, stdout
  piped); `qt_peers.finish(process)` → its JSON report.

PySide6 is an optional test dependency: without it the whole folder is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.qt import QtBridge, start_in_qt
from bridge.scene.headless import HeadlessScene
from bridge.scene.types import SceneEvent

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
try:  # the test modules skip themselves without PySide6; this conftest must still load
    from PySide6 import QtCore, QtWidgets
except ModuleNotFoundError:
    QtCore = QtWidgets = None

PEERS = Path(__file__).with_name("qt_peers.py")


@pytest.fixture(scope="session")
def qapp() -> Any:
    if QtWidgets is None:
        pytest.skip("PySide6 is not installed")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    yield app


def _run_qt(until: Callable[[], Any], timeout: float, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer()
    timer.setInterval(5)
    outcome: dict[str, bool] = {}

    def check() -> None:
        if until():
            outcome["done"] = True
            loop.quit()
        elif time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if not outcome.get("done"):
        raise AssertionError(f"not done within {timeout} s: {what or until}")


@pytest.fixture
def run_qt(qapp: Any) -> Callable[..., None]:
    return _run_qt


@dataclass
class Change:
    """One scene change as the recorder saw it."""

    event: SceneEvent
    thread: int
    in_pass: bool
    pass_number: int
    at: float


@dataclass
class SceneRecorder:
    """Subscribed to the scene: which thread made each change, inside which apply pass."""

    bridge: QtBridge | None = None
    changes: list[Change] = field(default_factory=list)

    def __call__(self, event: SceneEvent) -> None:
        driver = None if self.bridge is None else self.bridge.driver
        self.changes.append(
            Change(
                event=event,
                thread=threading.get_ident(),
                in_pass=bool(driver and driver.in_pass),
                pass_number=driver.passes if driver else -1,
                at=time.monotonic(),
            )
        )

    def of_node(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.event.node is not None and c.event.node.name == name]


@pytest.fixture
def start_qt_bridge(qapp: Any, tmp_path: Path) -> Iterator[Callable[..., tuple[QtBridge, Any]]]:
    started: list[QtBridge] = []

    def start(
        scene: HeadlessScene | None = None, **settings: Any
    ) -> tuple[QtBridge, SceneRecorder]:
        scene = scene or HeadlessScene(data_dir=tmp_path)
        recorder = SceneRecorder()
        scene.subscribe(recorder)
        defaults = {
            "http_port": 0,
            "igtl_port": 0,
            "igtl": False,
            "mqtt": False,
            "data_dir": tmp_path / f"data{len(started)}",
            "on_shutdown": lambda _bridge: None,
        }
        qt_bridge = start_in_qt(qapp, scene=scene, **{**defaults, **settings})
        recorder.bridge = qt_bridge
        started.append(qt_bridge)
        return qt_bridge, recorder

    yield start
    for qt_bridge in started:
        qt_bridge.stop()


@pytest.fixture
def peer() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []

    def launch(mode: str, *args: Any, stdin: bool = False) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(PEERS), mode, *map(str, args)],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
        )
        processes.append(process)
        return process

    yield launch
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stdin):
            if stream is not None:
                stream.close()
