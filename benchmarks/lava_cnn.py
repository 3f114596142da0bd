"""Lava's time per step on the NIR paper's N-MNIST CNN (cnn_sinabs.nir's shapes, 8,970 IF neurons, built
by tests/graphs.py), one sample: nirdeploy's network (each unrolled convolution and pooling a Lava
Sparse process) against the same matrices as Lava Dense processes, in floating point; and, in fixed
point, against lava-dl netx's reader running nirdeploy's .net file (netx builds Lava's own Conv
processes for its conv layers). Time per step: (run of 520 steps - run of 20 steps) / 500, each the
median of 3, so that Lava's start-up and compilation drop out. Each way's spikes are compared with the
first's; peak memory is the largest process Lava started. Writes docs/performance.md's figures.

    .venv/bin/python benchmarks/lava_cnn.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import nirdeploy
from nirdeploy.targets.lava import runtime
from nirdeploy.targets.lava.worker import _worker_path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]
from docfigures import write_figures  # noqa: E402
from graphs import nmnist_cnn, spikes  # noqa: E402

STEPS = (20, 520)
REPEATS = 3
# (precision, way that is measured, way it is measured against)
PAIRS = (("float", "float", "dense-float"), ("fixed", "fixed", "netx"))


def timed_run(folder: Path, way: str, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(_worker_path(folder)), "TMPDIR": os.curdir}
    done = subprocess.run([str(runtime.runtime_python()), str(ROOT / "benchmarks" / "lava_cnn_run.py"),
                           str(folder), way, str(steps)], capture_output=True, text=True, env=env, cwd=folder)
    if done.returncode:
        raise RuntimeError(f"{way}, {steps} steps, failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_way(folder: Path, way: str) -> dict:
    """Seconds per step, peak KiB of the largest Lava process and the spikes of the longer run."""
    seconds, peaks = {}, []
    for steps in STEPS:
        runs = []
        for _ in range(REPEATS):
            result = timed_run(folder, way, steps)
            runs.append(result["seconds"])
            peaks.append(result["peak_kib"])
        seconds[steps] = statistics.median(runs)
    per_step = (seconds[STEPS[1]] - seconds[STEPS[0]]) / (STEPS[1] - STEPS[0])
    return {"per_step_s": per_step, "peak_kib": max(peaks), "spikes": np.load(folder / f"{way}-{STEPS[1]}.npy")}


def main() -> None:
    graph, shape = nmnist_cnn()
    rows = ["| precision | nirdeploy, ms per step | against | its ms per step | speed-up | "
            "peak MiB, nirdeploy / against | differing output spikes |", "|---|---|---|---|---|---|---|"]
    data = {}
    with tempfile.TemporaryDirectory(prefix="nirdeploy-lava-cnn-") as folder:
        folder = Path(folder)
        deployment = nirdeploy.deploy(graph, "lava", precision="fixed", netx_path=folder / "network.net")
        deployment.native.save(folder)
        np.save(folder / "x.npy", spikes(shape, batch=1, steps=STEPS[1]).reshape(STEPS[1], -1).numpy())
        for precision, ours, theirs in PAIRS:
            mine, peer = measure_way(folder, ours), measure_way(folder, theirs)
            differing = int(np.count_nonzero(mine["spikes"] != peer["spikes"]))
            speedup = peer["per_step_s"] / mine["per_step_s"]
            rows.append(f"| {precision} | {mine['per_step_s'] * 1e3:.1f} | {theirs} | {peer['per_step_s'] * 1e3:.1f} "
                        f"| {speedup:.1f}x | {mine['peak_kib'] / 1024:.0f} / {peer['peak_kib'] / 1024:.0f} | "
                        f"{differing} of {mine['spikes'].size} |")
            data[precision] = {"against": theirs, "speedup": speedup, "differing": differing,
                               **{f"{key}_{who}": run[key] for who, run in (("nirdeploy", mine), (theirs, peer))
                                  for key in ("per_step_s", "peak_kib")}}
    table = "\n".join(rows)
    print(table)
    write_figures("lava-cnn", table, data)


if __name__ == "__main__":
    main()
