"""The isolated Lava runtime: a Python 3.10 virtual environment with lava-nc, managed by nirdeploy.

lava-nc 0.10.0 imports only on Python 3.10 while nirdeploy runs on 3.11, so
Lava runs in its own interpreter (``nirdeploy setup lava`` creates it) and
nirdeploy talks to it through files (see :mod:`nirdeploy.targets.lava`).

Python 3.10 is found, in this order, at ``$NIRDEPLOY_PYTHON310``, as
``python3.10`` on PATH, or among pyenv's versions. The runtime lives at
``$NIRDEPLOY_LAVA_RUNTIME``, else ``~/.cache/nirdeploy/lava-0.10.0``.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional

from ...errors import TargetError

PYTHON_VARIABLE = "NIRDEPLOY_PYTHON310"
RUNTIME_VARIABLE = "NIRDEPLOY_LAVA_RUNTIME"
# lava-dl is installed without its dependencies (it pins torch<2.4): only its netx sources are read.
PACKAGES = ("lava-nc==0.10.0", "numpy<2", "h5py", "nir==1.0.8")
NO_DEPS_PACKAGES = ("lava-dl==0.6.0",)
MARKER = "nirdeploy-runtime.json"
SMOKE_TEST = "import lava.proc.lif.process, lava.proc.dense.process, nir, h5py, numpy; print(numpy.__version__)"


def runtime_dir() -> Path:
    explicit = os.environ.get(RUNTIME_VARIABLE)
    return Path(explicit) if explicit else Path.home() / ".cache" / "nirdeploy" / "lava-0.10.0"


def runtime_python(folder: Optional[Path] = None) -> Path:
    return (folder or runtime_dir()) / "bin" / "python"


def _is_python310(path: Path) -> bool:
    try:
        done = subprocess.run([str(path), "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.stdout.strip() == "True"


def _pyenv_pythons() -> list:
    root = os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv"
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        root = done.stdout.strip() or root
    versions = sorted(Path(root, "versions").glob("3.10*"), reverse=True)
    return [v / "bin" / "python3.10" for v in versions]


def find_python310(explicit: Optional[str] = None) -> Path:
    """A Python 3.10 interpreter: ``explicit``, ``$NIRDEPLOY_PYTHON310``, PATH, then pyenv's versions."""
    explicit = explicit or os.environ.get(PYTHON_VARIABLE)
    if explicit:
        if not _is_python310(Path(explicit)):
            raise TargetError(f"{explicit} (from --python or ${PYTHON_VARIABLE}) is not a working Python 3.10; "
                              "lava-nc 0.10.0 needs exactly 3.10")
        return Path(explicit)
    on_path = shutil.which("python3.10")
    candidates = ([Path(on_path)] if on_path else []) + _pyenv_pythons()
    for candidate in candidates:
        if _is_python310(candidate):  # a pyenv shim on PATH fails here unless pyenv selects 3.10
            return candidate
    raise TargetError(
        "no Python 3.10 found (lava-nc 0.10.0 imports only on 3.10): looked at $" + PYTHON_VARIABLE
        + ", python3.10 on PATH and pyenv's versions. Install one (e.g. `pyenv install 3.10` or your "
        f"distribution's python3.10 package) and run `nirdeploy setup lava`, or set {PYTHON_VARIABLE}=/path/to/python3.10"
    )


def status(folder: Optional[Path] = None) -> tuple:
    """(ready, detail), from the marker that setup writes once the runtime imports Lava; no subprocess."""
    folder = folder or runtime_dir()
    marker = folder / MARKER
    if not runtime_python(folder).exists() or not marker.exists():
        return False, f"Lava runtime not set up at {folder}; run `nirdeploy setup lava`"
    recorded = json.loads(marker.read_text())
    if recorded.get("packages") != list(PACKAGES + NO_DEPS_PACKAGES):
        return False, f"Lava runtime at {folder} has other packages than this nirdeploy needs; run `nirdeploy setup lava`"
    return True, f"lava-nc 0.10.0 on Python {recorded['python']} at {folder}"


def _run(command: list, what: str) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if done.returncode != 0:
        raise TargetError(f"setting up the Lava runtime failed while {what}:\n{done.stderr.strip()[-3000:]}")
    return done.stdout


def setup(python: Optional[str] = None, folder: Optional[Path] = None, force: bool = False,
          log: Callable = print) -> Path:
    """Create the runtime (a venv with PACKAGES) unless it is ready already; returns its folder."""
    folder = Path(folder or runtime_dir())
    if not force and status(folder)[0]:
        log(status(folder)[1])
        return folder
    if folder.exists() and any(folder.iterdir()) and not (folder / "pyvenv.cfg").exists():
        raise TargetError(f"{folder} exists and is not a virtual environment; nirdeploy replaces only its own "
                          f"runtime there: choose another --folder or ${RUNTIME_VARIABLE}")
    interpreter = find_python310(python)
    log(f"creating the Lava runtime at {folder} with {interpreter}")
    _run([interpreter, "-m", "venv", "--clear", folder], "creating the virtual environment")
    pip = [runtime_python(folder), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run(pip + list(PACKAGES), f"installing {' '.join(PACKAGES)}")
    _run(pip + ["--no-deps"] + list(NO_DEPS_PACKAGES), f"installing {' '.join(NO_DEPS_PACKAGES)}")
    numpy_version = _run([runtime_python(folder), "-c", SMOKE_TEST], "importing Lava in the new runtime").strip()
    version = _run([runtime_python(folder), "-c", "import platform; print(platform.python_version())"], "").strip()
    (folder / MARKER).write_text(json.dumps({"packages": list(PACKAGES + NO_DEPS_PACKAGES), "python": version,
                                             "numpy": numpy_version}))
    log(f"Lava runtime ready: {status(folder)[1]}")
    return folder
