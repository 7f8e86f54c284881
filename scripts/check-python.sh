#!/usr/bin/env bash
# Refuse early, with a clear message, when the Python that would build the venv is too old.
set -euo pipefail
python=${1:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "slicer-bridge needs Python >= 3.11: '$python' was not found (set PYTHON=...)" >&2
  exit 1
fi
"$python" - <<'PY' || { echo "slicer-bridge needs Python >= 3.11 with venv (set PYTHON=...)" >&2; exit 1; }
import sys, venv  # noqa: F401
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
