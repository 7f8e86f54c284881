"""The bridge on a running QApplication (`start_in_qt`), driven by clients in other processes.

What is pinned down: every scene change happens on the Qt main thread inside an apply pass;
a 1 kHz pose stream gets at most one apply pass per frame tick (the bus's 60/s deadlines);
a GUI blocked for 200 ms makes the bridge coalesce the backlog instead of replaying it; a
pass that pumps Qt events cannot re-enter the asyncio loop; `stop()` leaves no task, socket
or worker thread behind. Timings are only ever upper bounds or orderings (no speed checks).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qt_peers import finish

QtCore = pytest.importorskip("PySide6.QtCore", reason="PySide6 is not installed")

from bridge.scene.headless import HeadlessScene  # noqa: E402

FRAME = 1.0 / 60.0


def socket_fds() -> Counter[str]:
    """Open sockets and epoll instances of this process, by kind."""
    kinds: Counter[str] = Counter()
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = str(entry.readlink())
        except OSError:
            continue
        if target.startswith("socket:"):
            kinds["socket"] += 1
        elif "eventpoll" in target:
            kinds["epoll"] += 1
    return kinds


def transform_x(qt_bridge: Any, name: str) -> float | None:
    try:
        return float(qt_bridge.bridge.scene.transform_matrix(name)[0, 3])
    except LookupError:
        return None


def count_submits(bus: Any) -> list[float]:
    """Record the time of every submit to `bus` (the adapters look `bus.submit` up per call)."""
    times: list[float] = []
    original = bus.submit

    def counting(command: Any) -> Any:
        times.append(time.monotonic())
        return original(command)

    bus.submit = counting
    return times


# -- main thread and clients -------------------------------------------------------------------
def test_http_clients_in_another_process_change_the_scene_on_the_qt_main_thread(
    start_qt_bridge, peer, run_qt, qapp
) -> None:
    qt_bridge, recorder = start_qt_bridge(http=True)
    process = peer("http", qt_bridge.port("http"))
    run_qt(lambda: process.poll() is not None, 60, "the HTTP peer to finish")
    report = finish(process)

    assert report["statuses"] == [200] and report["count"] == 200
    assert report["final"] == 200
    assert report["bad"] == 400 and "message" in report["bad_body"]
    assert "tracker" in report["names"] and "trackingDevice" in report["names"]
    np.testing.assert_array_equal(
        qt_bridge.bridge.scene.transform_matrix("tracker")[:3, 3], [7.0, 8.0, 9.0]
    )
    assert recorder.changes
    assert {change.thread for change in recorder.changes} == {threading.get_ident()}
    assert QtCore.QThread.currentThread() == qapp.thread(), "this test runs on Qt's main thread"
    assert all(change.in_pass for change in recorder.changes), "changes only in apply passes"
    assert qt_bridge.driver.status()["wakeup"] == "socket notifier"


def test_timer_fallback_serves_the_same_clients(start_qt_bridge, peer, run_qt) -> None:
    """What a selector without a file descriptor (Windows) gets: a polling timer."""
    qt_bridge, recorder = start_qt_bridge(http=True, poll_fallback=True)
    assert qt_bridge.driver.uses_poll_fallback
    process = peer("http", qt_bridge.port("http"))
    run_qt(lambda: process.poll() is not None, 60, "the HTTP peer to finish")
    report = finish(process)
    assert report["statuses"] == [200] and report["final"] == 200
    assert {change.thread for change in recorder.changes} == {threading.get_ident()}


def _mqtt_ready() -> str | None:
    """Why the MQTT test cannot run here, or None when it can."""
    try:
        adapter = importlib.import_module("adapters.mqtt")
        testing = importlib.import_module("adapters.mqtt.testing")
    except ImportError as error:
        return f"adapters.mqtt does not import: {error}"
    if not hasattr(adapter, "create"):
        return "adapters.mqtt offers no create()"
    if not testing.mosquitto_available():
        return "mosquitto is not installed"
    return None


@pytest.mark.skipif(_mqtt_ready() is not None, reason=str(_mqtt_ready()))
def test_an_mqtt_publisher_changes_the_scene_on_the_qt_main_thread(
    start_qt_bridge, peer, run_qt
) -> None:
    from adapters.mqtt.testing import LocalMosquitto

    with LocalMosquitto() as broker:
        qt_bridge, recorder = start_qt_bridge(mqtt=True, mqtt_url=broker.url, instance="qt")
        adapter = next(a for a in qt_bridge.bridge.adapters if a.name == "mqtt")
        run_qt(lambda: adapter.status().get("connected"), 15, "the bridge to reach the broker")
        process = peer("mqtt", broker.port, "slicer/qt")
        run_qt(lambda: transform_x(qt_bridge, "Needle") == 11.0, 15, "the MQTT pose")
        assert finish(process)["published"]
        assert {change.thread for change in recorder.of_node("Needle")} == {threading.get_ident()}
        qt_bridge.stop()


# -- pacing and coalescing ---------------------------------------------------------------------
def test_a_1khz_pose_stream_gets_at_most_one_apply_pass_per_frame_tick(
    start_qt_bridge, peer, run_qt
) -> None:
    qt_bridge, recorder = start_qt_bridge(igtl=True, max_rate=60.0)
    process = peer("igtl", qt_bridge.port("igtl"), "--rate", 1000, "--seconds", 1.5)
    run_qt(lambda: process.poll() is not None, 30, "the IGTL stream to end")
    report = finish(process)
    run_qt(lambda: transform_x(qt_bridge, "Needle") == report["last"], 10, "the last pose")

    records = list(qt_bridge.driver.pass_records)
    dues = [record.due for record in records]
    assert all(later - earlier >= FRAME - 1e-9 for earlier, later in pairwise(dues))
    assert all(record.started >= record.due for record in records), "never before its tick"
    span = records[-1].started - records[0].started
    assert len(records) <= span / FRAME + 2
    applies = Counter(change.pass_number for change in recorder.of_node("Needle"))
    assert max(applies.values()) == 1, "one apply of the pose per pass"
    counters = qt_bridge.bridge.bus.stats.by_kind["SetTransform"]
    assert counters.superseded > 0, "the stream outpaces the frames and is coalesced"
    assert counters.applied + counters.superseded + counters.failed == counters.received
    assert counters.applied <= len(records)


def test_a_blocked_gui_makes_the_bridge_coalesce_rather_than_queue(
    start_qt_bridge, peer, run_qt
) -> None:
    qt_bridge, recorder = start_qt_bridge(igtl=True, max_rate=60.0)
    bus = qt_bridge.bridge.bus
    submits = count_submits(bus)
    process = peer("igtl", qt_bridge.port("igtl"), "--rate", 1000, "--seconds", 1.2)
    run_qt(lambda: len(recorder.of_node("Needle")) >= 3, 15, "the stream to flow")

    blocked: dict[str, float] = {}

    def busy_handler() -> None:  # a GUI slot that hogs the main thread for 200 ms
        blocked["start"] = time.monotonic()
        while time.monotonic() - blocked["start"] < 0.2:
            pass
        blocked["end"] = time.monotonic()

    QtCore.QTimer.singleShot(0, busy_handler)
    run_qt(lambda: process.poll() is not None, 30, "the IGTL stream to end")
    report = finish(process)
    run_qt(lambda: transform_x(qt_bridge, "Needle") == report["last"], 10, "the last pose")

    records = list(qt_bridge.driver.pass_records)
    first_after = next(r for r in records if r.started >= blocked["end"])
    backlog = [t for t in submits if blocked["end"] <= t <= first_after.started]
    assert len(backlog) >= 2, "poses piled up in the socket while the GUI was blocked"
    applied_in_first = [
        c for c in recorder.of_node("Needle") if first_after.started <= c.at <= first_after.ended
    ]
    assert len(applied_in_first) == 1, "the backlog is applied once, as its newest pose"
    assert bus.stats.commands_per_pass_max == 1
    burst = [r for r in records if blocked["end"] <= r.started < blocked["end"] + 0.1]
    assert len(burst) <= 0.1 / FRAME + 2, "no burst of catch-up passes after the block"
    assert bus.pending == 0


# -- re-entrance -------------------------------------------------------------------------------
class EventPumpingScene(HeadlessScene):
    """Stand-in for a scene whose updates pump Qt events (Slicer renders and calls
    `processEvents` in places); records what the loop was doing meanwhile."""

    def __init__(self, app: Any, data_dir: Path) -> None:
        super().__init__(data_dir=data_dir)
        self.app = app
        self.qt_bridge: Any = None
        self.observations: list[dict[str, Any]] = []

    def set_tracking_pose(self, rotation=None, position=None):
        driver = self.qt_bridge.driver
        before = driver.iterations
        task = asyncio.current_task()
        for _ in range(3):
            self.app.processEvents()
        self.observations.append(
            {
                "task": task,
                "loop_running": self.qt_bridge.loop.is_running(),
                "iterations_during_pass": driver.iterations - before,
            }
        )
        return super().set_tracking_pose(rotation, position)


def test_processing_qt_events_during_a_pass_does_not_reenter_the_loop(
    start_qt_bridge, peer, run_qt, qapp, tmp_path
) -> None:
    scene = EventPumpingScene(qapp, tmp_path)
    qt_bridge, _ = start_qt_bridge(scene=scene, http=True)
    scene.qt_bridge = qt_bridge
    process = peer("http", qt_bridge.port("http"))
    run_qt(lambda: process.poll() is not None, 60, "the HTTP peer to finish")
    report = finish(process)
    assert report["statuses"] == [200] and report["final"] == 200
    assert scene.observations
    assert all(seen["task"] is None for seen in scene.observations), "passes run in no task"
    assert not any(seen["loop_running"] for seen in scene.observations)
    assert all(seen["iterations_during_pass"] == 0 for seen in scene.observations)


# -- slow commands -----------------------------------------------------------------------------
def test_a_slow_command_runs_in_a_task_while_the_loop_keeps_serving(
    start_qt_bridge, peer, run_qt
) -> None:
    qt_bridge, _ = start_qt_bridge(http=True)
    events: list[str] = []

    async def slow_download() -> dict[str, str]:
        events.append(f"task:{asyncio.current_task() is not None}")
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.3)
        events.append(f"worker done on main:{threading.get_ident() == main}")
        return {"ok": "yes"}

    main = threading.get_ident()
    from bridge import commands as c

    qt_bridge.bridge.applier.register(c.LoadSampleData, lambda _cmd: slow_download())
    future = qt_bridge.bridge.bus.submit(c.LoadSampleData(name="Slow"))
    process = peer("http", qt_bridge.port("http"))  # served while the command waits
    run_qt(lambda: future.done() and process.poll() is not None, 60, "both to finish")
    assert future.result().value == {"ok": "yes"}
    assert events == ["task:True", "worker done on main:True"]
    assert finish(process)["statuses"] == [200]


# -- shutdown and stop -------------------------------------------------------------------------
def test_a_shutdown_command_stops_the_bridge_then_calls_the_handler(
    start_qt_bridge, peer, run_qt
) -> None:
    handled: list[Any] = []
    qt_bridge, _ = start_qt_bridge(http=True, on_shutdown=handled.append)
    url = f"http://127.0.0.1:{qt_bridge.port('http')}/slicer/system"
    process = peer("request", "DELETE", url)
    run_qt(lambda: handled, 15, "the shutdown handler")
    assert finish(process)["status"] == 200
    assert handled == [qt_bridge]
    assert not qt_bridge.running
    assert qt_bridge.loop.is_closed()
    assert qt_bridge.leftover_tasks == []


def test_stop_leaves_no_task_socket_or_thread_behind(start_qt_bridge, peer, run_qt) -> None:
    baseline = socket_fds()
    qt_bridge, _ = start_qt_bridge(http=True, igtl=True)
    assert socket_fds()["socket"] > baseline["socket"]
    holder = peer("hold", qt_bridge.port("http"), qt_bridge.port("igtl"), stdin=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(holder.stdout), daemon=True)
    reader.start()
    run_qt(lambda: "ready\n" in lines, 15, "the peer to connect")
    run_qt(lambda: qt_bridge.port("igtl") and _igtl_peers(qt_bridge) >= 1, 5, "IGTL accept")
    loop = qt_bridge.loop

    qt_bridge.stop()

    assert qt_bridge.leftover_tasks == [], "every adapter cleaned up its own tasks"
    assert loop.is_closed()
    assert socket_fds() == baseline, "listening, accepted and loop sockets are all closed"
    assert not [t for t in threading.enumerate() if t.name.startswith("slicer-bridge-worker")]
    holder.stdin.close()
    reader.join(timeout=15)
    report = json.loads(lines[-1])
    assert report["answered"]
    assert report["closed"] == {"http": True, "igtl": True}, "peers saw their connections end"


def _igtl_peers(qt_bridge: Any) -> int:
    adapter = next(a for a in qt_bridge.bridge.adapters if a.name == "igtl")
    return int(adapter.status()["peers_connected"])
