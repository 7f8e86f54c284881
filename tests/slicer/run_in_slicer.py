"""Run the Scene contract suite against Slicer's MRML scene, inside 3D Slicer.

    Slicer --no-main-window --python-script tests/slicer/run_in_slicer.py [pytest arguments]

The same tests the headless scene passes in CI (`tests/scene/test_scene_contract.py`), with
`SLICER_BRIDGE_SCENES=mrml` so `tests/scene/conftest.py` builds `bridge.scene.mrml.MrmlScene`
scenes. Test-only packages Slicer's Python lacks (pytest, hypothesis) and the bridge's own
dependencies are installed into Slicer's Python with `slicer.util.pip_install` first (this
is a test run: it does not ask). Extra arguments go to pytest (`-x`, `-k markups`). Slicer
exits with pytest's status. Nothing here runs outside Slicer: CI cannot install Slicer, so
this path is kept working by construction (the contract is protocol-only, and `slicer` is
imported nowhere but `bridge/scene/mrml.py` and the Slicer module).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Import name → pip requirement, for what the contract run needs in Slicer's Python.
REQUIREMENTS = {
    "pytest": "pytest>=8",
    "hypothesis": "hypothesis>=6.100",
    "nrrd": "pynrrd>=1.0",
    "pydicom": "pydicom>=3.0",
    "PIL": "Pillow>=10",
}


def missing(requirements: dict[str, str]) -> list[str]:
    return [spec for name, spec in requirements.items() if importlib.util.find_spec(name) is None]


def main(arguments: list[str]) -> int:
    import slicer

    needed = missing(REQUIREMENTS)
    if needed:
        print(f"installing into Slicer's Python: {', '.join(needed)}", flush=True)
        slicer.util.pip_install(needed)
    sys.path.insert(0, str(ROOT))
    os.environ["SLICER_BRIDGE_SCENES"] = "mrml"
    os.chdir(ROOT)
    import pytest

    return int(
        pytest.main(
            [
                str(ROOT / "tests" / "scene" / "test_scene_contract.py"),
                "-p",
                "no:cacheprovider",
                *arguments,
            ]
        )
    )


if __name__ == "__main__":
    status = main(sys.argv[1:])
    import slicer

    slicer.util.exit(status)
