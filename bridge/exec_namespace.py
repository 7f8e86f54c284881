"""The persistent Python namespace behind `Exec` (`/slicer/exec`), off unless enabled.

As in Slicer's WebServer, code runs with `exec` in one namespace that persists across calls,
`__execResult` is reset to `{}` before each call and its value is the command's result. The
namespace offers `bridge`, `scene` and `numpy` (and inside Slicer also `slicer`, `vtk`, `qt`).
This runs arbitrary code with the bridge's rights: the switch exists so nobody gets it by
accident.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import numpy


class ExecDisabled(PermissionError):
    """Exec was requested but the bridge was not started with `--enable-exec`."""


#: Modules made available in Slicer when present; absent ones are simply left out.
_OPTIONAL_MODULES = ("slicer", "vtk", "qt")


class ExecNamespace:
    """Runs code in a namespace that persists between calls."""

    def __init__(self, **names: Any) -> None:
        self.namespace: dict[str, Any] = {"numpy": numpy, "np": numpy, **names}
        for module_name in _OPTIONAL_MODULES:
            with contextlib.suppress(ImportError):
                self.namespace[module_name] = importlib.import_module(module_name)

    def run(self, code: str) -> Any:
        """Execute `code`; return what it assigned to `__execResult` (default `{}`)."""
        self.namespace["__execResult"] = {}
        exec(compile(code, "<exec>", "exec"), self.namespace)
        return self.namespace.get("__execResult", {})
