#!/usr/bin/env bash
# Sets up .venv/ with nirdeploy and everything its tests need, on a CPU machine,
# without downloading a CUDA build of torch. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null; then
    echo "setup: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() { .venv/bin/python -m pip install --disable-pip-version-check -q "$@"; }

# torch first: a later requirement that mentions torch then finds it satisfied.
pip_install torch==2.13.0
pip_install -r requirements.txt
pip_install --no-deps -r requirements-nodeps.txt
pip_install --no-deps -e .
# The Lava target's own Python 3.10 runtime (lava-nc imports only on 3.10); fast when it is ready.
.venv/bin/nirdeploy setup lava
.venv/bin/python -c "import nirdeploy, torch; print('nirdeploy', nirdeploy.__version__, 'with torch', torch.__version__)"
