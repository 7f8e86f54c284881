"""SlicerBridge, the 3D Slicer module: run the bridge (HTTP, OpenIGTLink, MQTT) inside Slicer.

A panel like the WebServer module's: start and stop, the servers' ports, the MQTT broker,
switches for the `/slicer` API, `exec`, `/dicom`, static pages and CORS, a token, and where
log lines go. Every control is one row of `SlicerBridgeLib.panel.PANEL_SETTINGS`, saved in
Slicer's settings (`SlicerBridge/<key>`). Starting runs `bridge.qt.start_in_qt` on Slicer's
own Qt event loop (PythonQt) over the real MRML scene (`bridge.scene.mrml.MrmlScene`), so
every scene change happens on the main thread between frames. Python packages the bridge
needs and Slicer lacks are installed with `slicer.util.pip_install`, after asking.

Loadable by adding this folder to Slicer's additional module paths (the bridge's packages are
then found in the source tree, two folders up), or built as an extension (`CMakeLists.txt`).
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from pathlib import Path

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleWidget,
)

#: Where `bridge/` and `adapters/` are when this module runs from the source tree.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
if (SOURCE_ROOT / "bridge" / "qt.py").exists() and str(SOURCE_ROOT) not in sys.path:
    sys.path.append(str(SOURCE_ROOT))

from SlicerBridgeLib import panel  # noqa: E402

LOG_FLUSH_MS = 200
LOG_LINES_KEPT = 2000


class SlicerBridge(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "Slicer Bridge"
        parent.categories = ["Servers"]
        parent.dependencies = []
        parent.contributors = ["SlicerBridge contributors"]
        parent.helpText = (
            "Drive this Slicer scene from OpenIGTLink, MQTT and HTTP (the WebServer REST API, "
            "DICOMweb) through one coalescing command bus, on Slicer's own event loop."
        )
        parent.acknowledgementText = ""


class PanelLogHandler(logging.Handler):
    """Collects log lines from any thread; the panel shows them from a Qt timer (main
    thread), so logging from the bridge's worker threads never touches a widget."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=LOG_LINES_KEPT)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class SlicerBridgeWidget(ScriptedLoadableModuleWidget):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        self.logic = SlicerBridgeLogic()
        self.controls: dict[str, qt.QWidget] = {}
        self.log_handler = PanelLogHandler()
        self.log_timer = qt.QTimer()

    # -- building the panel --------------------------------------------------------------------
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        self.start_button = qt.QPushButton("Start bridge")
        self.stop_button = qt.QPushButton("Stop bridge")
        self.status_label = qt.QLabel(panel.status_text({}, running=False))
        for widget in (self.start_button, self.stop_button, self.status_label):
            self.layout.addWidget(widget)

        forms: dict[str, qt.QFormLayout] = {}
        for setting in panel.PANEL_SETTINGS:
            if setting.section not in forms:
                box = ctk.ctkCollapsibleButton()
                box.text = setting.section
                box.collapsed = setting.section in ("Advanced", "Security")
                self.layout.addWidget(box)
                forms[setting.section] = qt.QFormLayout(box)
            control = self._control_for(setting)
            control.toolTip = setting.tooltip
            forms[setting.section].addRow(setting.label + ": ", control)
            self.controls[setting.key] = control

        self.log_view = qt.QPlainTextEdit()
        self.log_view.readOnly = True
        self.log_view.setMaximumBlockCount(LOG_LINES_KEPT)
        self.layout.addWidget(self.log_view)
        clear_button = qt.QPushButton("Clear log")
        self.layout.addWidget(clear_button)

        self._load_settings()
        self.start_button.connect("clicked(bool)", self.on_start)
        self.stop_button.connect("clicked(bool)", self.on_stop)
        clear_button.connect("clicked()", self.log_view.clear)
        for setting in panel.PANEL_SETTINGS:
            self._connect_changed(setting, self.controls[setting.key])
        self.log_timer.setInterval(LOG_FLUSH_MS)
        self.log_timer.connect("timeout()", self.flush_log)
        self.log_timer.start()
        logging.getLogger("slicer_bridge").addHandler(self.log_handler)
        self._apply_log_settings()
        self._update_from_logic()

    def cleanup(self):
        self.log_timer.stop()
        logging.getLogger("slicer_bridge").removeHandler(self.log_handler)
        self.logic.stop()

    def _control_for(self, setting: panel.PanelSetting) -> qt.QWidget:
        if setting.kind is bool:
            return qt.QCheckBox()
        if setting.kind is int:
            box = qt.QSpinBox()
            box.setRange(0, 65535)
            return box
        if setting.kind is float:
            box = qt.QDoubleSpinBox()
            box.setRange(1.0, 1000.0)
            return box
        edit = qt.QLineEdit()
        if setting.key == "token":
            edit.setEchoMode(qt.QLineEdit.Password)
        return edit

    def _connect_changed(self, setting: panel.PanelSetting, control: qt.QWidget) -> None:
        signal = {
            bool: "toggled(bool)",
            int: "valueChanged(int)",
            float: "valueChanged(double)",
        }.get(setting.kind, "editingFinished()")
        control.connect(signal, self._save_settings)

    # -- settings ------------------------------------------------------------------------------
    def values(self) -> dict:
        values = {}
        for setting in panel.PANEL_SETTINGS:
            control = self.controls[setting.key]
            if setting.kind is bool:
                values[setting.key] = bool(control.checked)
            elif setting.kind in (int, float):
                values[setting.key] = control.value
            else:
                values[setting.key] = control.text
        return values

    def _load_settings(self) -> None:
        settings = qt.QSettings()
        settings.beginGroup(panel.SETTINGS_GROUP)
        stored = {key: settings.value(key) for key in settings.childKeys()}
        settings.endGroup()
        for key, value in panel.from_stored(stored).items():
            control = self.controls[key]
            setting = panel.BY_KEY[key]
            if setting.kind is bool:
                control.checked = bool(value)
            elif setting.kind in (int, float):
                control.value = value
            else:
                control.text = str(value)

    def _save_settings(self, *_args) -> None:
        settings = qt.QSettings()
        for key, value in panel.to_stored(self.values()).items():
            settings.setValue(key, value)
        self._apply_log_settings()

    def _apply_log_settings(self) -> None:
        values = self.values()
        logger = logging.getLogger("slicer_bridge")
        logger.setLevel(getattr(logging, str(values["log_level"]).upper(), logging.INFO))
        logger.propagate = bool(values["log_to_console"])

    def flush_log(self) -> None:
        handler = self.log_handler
        if not handler.lines:
            return
        lines = []
        while handler.lines:
            lines.append(handler.lines.popleft())
        if self.values()["log_to_gui"]:
            self.log_view.appendPlainText("\n".join(lines))

    # -- start and stop ------------------------------------------------------------------------
    def on_start(self, *_args) -> None:
        missing = panel.missing_requirements()
        if missing:
            question = (
                "SlicerBridge needs these Python packages, which this Slicer lacks:\n\n"
                + "\n".join(missing)
                + "\n\nInstall them now with pip?"
            )
            if not slicer.util.confirmOkCancelDisplay(question, windowTitle="Slicer Bridge"):
                return
            with slicer.util.tryWithErrorDisplay("Installing the packages failed."):
                slicer.util.pip_install(missing)
            if panel.missing_requirements():
                return
        with slicer.util.tryWithErrorDisplay("The bridge did not start.", waitCursor=True):
            self.logic.start(panel.overrides(self.values()))
        self._update_from_logic()

    def on_stop(self, *_args) -> None:
        self.logic.stop()
        self._update_from_logic()

    def _update_from_logic(self) -> None:
        running = self.logic.running
        self.start_button.enabled = not running
        self.stop_button.enabled = running
        for control in self.controls.values():
            control.enabled = not running
        self.status_label.text = panel.status_text(self.logic.ports(), running)


class SlicerBridgeLogic(ScriptedLoadableModuleLogic):
    """Starts and stops one bridge on Slicer's event loop over the MRML scene."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self.qt_bridge = None

    @property
    def running(self) -> bool:
        return self.qt_bridge is not None and self.qt_bridge.running

    def start(self, overrides: dict) -> None:
        if self.running:
            return
        from bridge.qt import start_in_qt
        from bridge.scene.mrml import MrmlScene

        data_dir = Path(slicer.app.temporaryPath) / "SlicerBridge"
        overrides = {"data_dir": data_dir, **overrides}
        self.qt_bridge = start_in_qt(
            slicer.app, scene=MrmlScene(data_dir=data_dir), binding="PythonQt", **overrides
        )

    def stop(self) -> None:
        if self.qt_bridge is not None:
            scene = self.qt_bridge.bridge.scene
            self.qt_bridge.stop()
            close = getattr(scene, "close", None)
            if close is not None:
                close()
            self.qt_bridge = None

    def ports(self) -> dict:
        if not self.running:
            return {}
        return {name: self.qt_bridge.port(name) for name in ("http", "igtl")}
