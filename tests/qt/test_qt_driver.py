"""The Qt integration's parts on their own: binding detection, the loop driver, settings."""

from __future__ import annotations

import asyncio
import sys

import pytest

QtCore = pytest.importorskip("PySide6.QtCore", reason="PySide6 is not installed")

from bridge.bus import CommandBus  # noqa: E402
from bridge.config import ConfigError, Settings  # noqa: E402
from bridge.qt import (  # noqa: E402
    QtLoopDriver,
    binding_name_of,
    detect_binding,
    settings_for,
    start_in_qt,
)


def test_the_binding_is_the_applications(qapp) -> None:
    binding = detect_binding(qapp)
    assert binding.name == "PySide6"
    assert binding.QTimer is QtCore.QTimer and not binding.string_signals


def test_pythonqt_classes_are_recognised_by_their_module() -> None:
    """PythonQt wraps Slicer's classes in modules named `PythonQt.<library>`."""
    stand_in_slicer_app = type(
        "qSlicerApplication", (), {"__module__": "PythonQt.qSlicerBaseQTGUI"}
    )
    assert binding_name_of(stand_in_slicer_app()) == "PythonQt"
    assert binding_name_of(object()) is None


def test_unknown_binding_names_are_refused() -> None:
    with pytest.raises(ValueError, match="PythonQt"):
        detect_binding(name="Tkinter")


def test_the_driver_only_drives_an_externally_driven_bus(qapp) -> None:
    driver = QtLoopDriver(detect_binding(qapp))
    try:
        with pytest.raises(ValueError, match="external"):
            driver.attach_bus(CommandBus(lambda cmd: None))
    finally:
        driver.close()


def test_twenty_thousand_callbacks_run_through_qt(qapp, run_qt) -> None:
    """A long `call_soon` chain through the notifier and timer (PySide6 6.12.0 aborted
    qasync's Python-overridden timerEvent after about 5,000 calls; this must not)."""
    driver = QtLoopDriver(detect_binding(qapp))
    count = {"n": 0}

    def step() -> None:
        count["n"] += 1
        if count["n"] < 20_000:
            driver.loop.call_soon(step)

    try:
        driver.start()
        driver.loop.call_soon_threadsafe(step)
        run_qt(lambda: count["n"] >= 20_000, 60, "20k callbacks")
    finally:
        driver.close()
    assert driver.loop.is_closed()


def test_poll_fallback_has_no_descriptor(qapp) -> None:
    driver = QtLoopDriver(detect_binding(qapp), poll_fallback=True)
    try:
        assert driver.uses_poll_fallback and driver.status()["wakeup"] == "timer poll"
    finally:
        driver.close()


def test_settings_come_from_a_settings_object_with_overrides(tmp_path) -> None:
    base = Settings(http_port=2100, data_dir=tmp_path)
    settings = settings_for(base, {"igtl": False, "http_port": 0})
    assert (settings.http_port, settings.igtl, settings.data_dir) == (0, False, tmp_path)
    with pytest.raises(ConfigError, match="no_such_setting"):
        settings_for(base, {"no_such_setting": 1})


def test_settings_from_a_toml_file(tmp_path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text("[bridge]\nhttp_port = 2101\nmqtt = false\n")
    settings = settings_for(path, {"igtl": False})
    assert (settings.http_port, settings.mqtt, settings.igtl) == (2101, False, False)


def test_start_in_qt_refuses_to_run_inside_a_coroutine(qapp) -> None:
    async def inside() -> None:
        start_in_qt(qapp, http=False, igtl=False, mqtt=False)

    with pytest.raises(RuntimeError, match="coroutine"):
        asyncio.run(inside())
    assert "slicer" not in sys.modules
