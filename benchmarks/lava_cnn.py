"""Lava's time per step on the NIR paper's N-MNIST CNN (cnn_sinabs.nir's shapes, 8,970 IF neurons, built
by tests/graphs.py), one sample: nirdeploy's network (each unrolled convolution and pooling a Lava
Sparse process) against the same matrices as Lava Dense processes, in floating point; and, in fixed
point, against lava-dl netx's reader running nirdeploy's .net file (netx builds Lava's own Conv
processes for its conv layers). Time per step: (run of 520 steps - run of 20 steps) / 500, each the
median of 3, so that Lava's start-up and compilation drop out. Each way's spikes are compared with the
first's; peak memory is the largest process Lava started. Then issue 18's own measure: deploy + run of
WHOLE_STEPS x WHOLE_BATCH on Lava float, each in a fresh process (imports left out), by this checkout and by
the baseline commit's, checked out as a git worktree (lava_cnn_whole.py). Writes docs/performance.md's figures.

    .venv/bin/python benchmarks/lava_cnn.py [--baseline b382038]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nir
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
WHOLE_STEPS, WHOLE_BATCH = 30, 2
BASELINE = "b382038"  # the last commit before issue 18's first change: "today" when it was filed
# (precision, way that is measured, way it is measured against)
PAIRS = (("float", "float", "dense-float"), ("fixed", "fixed", "netx"))


def run_script(command: list, folder: Path, what: str, **env) -> dict:
    """The JSON that ``command``, run in ``folder`` with ``env`` added, prints last; a RuntimeError naming ``what``."""
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, cwd=folder)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_run(folder: Path, way: str, steps: int) -> dict:
    return run_script([str(runtime.runtime_python()), str(ROOT / "benchmarks" / "lava_cnn_run.py"), str(folder), way,
                       str(steps)], folder, f"{way}, {steps} steps,", PYTHONPATH=str(_worker_path(folder)),
                      TMPDIR=os.curdir)


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


def whole_runs(folder: Path, root: Path) -> dict:
    """Median seconds of deploy + run by the nirdeploy in ``root``, and its output spikes."""
    seconds = []
    for _ in range(REPEATS):
        result = run_script([sys.executable, str(ROOT / "benchmarks" / "lava_cnn_whole.py"), "cnn.nir", "x.npy",
                             "out.npy"], folder, f"deploy + run by {root}", PYTHONPATH=str(root))
        assert Path(result["nirdeploy"]).is_relative_to(root), result
        seconds.append(result["seconds"])
    return {"seconds": statistics.median(seconds), "spikes": np.load(folder / "out.npy")}


def against_baseline(graph, shape, baseline: str) -> tuple:
    """(table, data): the issue's measure by this checkout and by ``baseline``."""
    with tempfile.TemporaryDirectory(prefix="nirdeploy-lava-cnn-whole-") as folder:
        folder, tree = Path(folder), Path(folder) / "baseline"
        nir.write(folder / "cnn.nir", graph)
        np.save(folder / "x.npy", spikes(shape, batch=WHOLE_BATCH, steps=WHOLE_STEPS).numpy())
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), baseline], check=True,
                       capture_output=True)
        try:
            now, then = whole_runs(folder, ROOT), whole_runs(folder, tree)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    differing = int(np.count_nonzero(now["spikes"] != then["spikes"]))
    speedup = then["seconds"] / now["seconds"]
    table = "\n".join([f"| Lava float, deploy + {WHOLE_STEPS} steps x {WHOLE_BATCH} samples | nirdeploy (s) | "
                       f"{baseline} (s) | speed-up | differing output spikes |", "|---|---|---|---|---|",
                       f"| the CNN | {now['seconds']:.1f} | {then['seconds']:.1f} | {speedup:.1f}x | "
                       f"{differing} of {now['spikes'].size} |"])
    return table, {"baseline": baseline, "seconds_nirdeploy": now["seconds"], "seconds_baseline": then["seconds"],
                   "speedup": speedup, "differing": differing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="the commit the issue's measure is compared with")
    args = parser.parse_args()
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
    whole, data["whole"] = against_baseline(graph, shape, args.baseline)
    table = "\n".join(rows) + "\n\n" + whole
    print(table)
    write_figures("lava-cnn", table, data)


if __name__ == "__main__":
    main()
