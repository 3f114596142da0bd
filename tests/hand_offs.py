"""The hardware hand-off files run as a chip user runs them (test files import this, never each other)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from nirdeploy.targets.lava import runtime as lava_runtime

HERE = Path(__file__).resolve().parent


def netx_reader_spikes(net: Path, x: torch.Tensor, folder: Path) -> np.ndarray:
    """lava-dl netx's own reader (tests/lava_netx_run.py) run on ``x`` [T, B, ...], the samples one after
    another: [B, T, n] on Lava's timeline."""
    steps, batch = x.shape[:2]
    np.save(folder / "x.npy", x.transpose(0, 1).reshape(steps * batch, -1).numpy())
    done = subprocess.run([str(lava_runtime.runtime_python()), str(HERE / "lava_netx_run.py"),
                           str(net), str(folder / "x.npy"), str(folder / "y.npy"), str(steps)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "Dense" in done.stdout  # netx's own table of the layers it built
    return np.load(folder / "y.npy").reshape(batch, steps, -1)


def run_xylo_loader(script: Path, *arguments) -> subprocess.CompletedProcess:
    """A Xylo loader script in a fresh Python where importing nirdeploy fails, so that it works without it."""
    code = ("import runpy, sys; sys.modules['nirdeploy'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, str(script), *map(str, arguments)],
                          capture_output=True, text=True, timeout=120, cwd=script.parent.parent)
