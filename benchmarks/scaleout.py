"""Sharded evaluation on Ray: samples per second in one process and on 1 and 2 Ray workers, for Lava
(floating point, the digits conv net) and XyloSim (the digits MLP), all in this one script on a local
Ray of 2 CPUs, and what a 64-core cluster should reach from those measurements.

Each figure is a target's run as ``nirdeploy run`` times it (deploy and run over every sample, the
shards' start-up included), after a warm-up run that starts the Ray workers. The start-up per worker is
a 1-sample shard's time; the per-sample cost is the rest of the 1-worker run. From them a run on N
workers takes start-up + samples / N x per-sample cost, plus moving each shard's spikes (measured here
through Ray's object store: a cluster adds its network). Writes docs/scaleout.md's figures.

    .venv/bin/python benchmarks/scaleout.py
"""

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import ray
import yaml

from nirdeploy.config import load_config
from nirdeploy.datasets import load_dataset
from nirdeploy.run import run_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docfigures import write_figures  # noqa: E402

CASES = {"lava": ("digits_conv", "lava"), "xylo": ("digits_mlp", "xylo:syns65302")}
CLUSTER = 64
GOAL = 1.6  # issue 17: Lava on 2 workers against one process


def config_for(folder: Path, name: str, target: str, samples: int):
    config = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    module, _, function = config["model"]["python"].rpartition(":")
    config["model"]["python"] = f"{(ROOT / 'configs' / module).resolve()}:{function}"
    config["input"]["dataset"]["samples"] = samples
    config["targets"], config["thresholds"] = {target: {}}, {}
    path = folder / f"{name}-{samples}.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path)


def run_seconds(config, target: str, out: Path, workers=None) -> float:
    result = run_config(config, out=out, workers=workers)
    return result.report["timings_s"][f"run {target}"]


def busy_cores(config, target: str, out: Path) -> tuple:
    """(samples per second, CPU cores kept busy) of an in-process run, its subprocesses' CPU time included."""
    before, start = os.times(), time.perf_counter()
    seconds = run_seconds(config, target, out)
    wall, after = time.perf_counter() - start, os.times()
    return config.dataset["samples"] / seconds, (sum(after[:4]) - sum(before[:4])) / wall


def transfer_seconds(config) -> tuple:
    """(bytes per sample, seconds per sample) of the input spikes through Ray's object store and back."""
    spikes = load_dataset(**config.dataset)[0]
    start = time.perf_counter()
    ray.get(ray.put(spikes))
    seconds = time.perf_counter() - start
    return len(pickle.dumps(spikes)) / spikes.shape[1], seconds / spikes.shape[1]


def measure(folder: Path, name: str, target: str) -> dict:
    full = config_for(folder, name, target, samples=540)
    samples = full.dataset["samples"]
    run_seconds(config_for(folder, name, target, samples=4), target, folder, workers=2)  # starts the workers
    found = {"samples": samples}
    found["one process"], found["cores busy in one process"] = busy_cores(full, target, folder)
    found.update({"1 worker": samples / run_seconds(full, target, folder, workers=1),
             "2 workers": samples / run_seconds(full, target, folder, workers=2)})
    start_up = run_seconds(config_for(folder, name, target, samples=1), target, folder, workers=1)
    per_sample = max(samples / found["1 worker"] - start_up, 0.0) / (samples - 1)
    found["start-up per worker s"], found["per sample s"] = start_up, per_sample
    found["bytes per sample"], found["transfer per sample s"] = transfer_seconds(full)
    for total in (samples, 10000):
        seconds = start_up + total / CLUSTER * per_sample + total * found["transfer per sample s"]
        found[f"{CLUSTER} workers, {total} samples"] = total / seconds
    return found


def render(results: dict) -> str:
    lines = ["| target | one process | cores busy in one process | 1 worker | 2 workers | 2 workers / one process | start-up per worker "
             f"| per sample | input per sample | {CLUSTER} workers, 540 samples | {CLUSTER} workers, 10000 samples |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target, r in results.items():
        lines.append(
            f"| {target} | {r['one process']:.1f}/s | {r['cores busy in one process']:.2f} | {r['1 worker']:.1f}/s | {r['2 workers']:.1f}/s | "
            f"{r['2 workers'] / r['one process']:.2f}x | {r['start-up per worker s']:.2f} s | "
            f"{1000 * r['per sample s']:.2f} ms | {r['bytes per sample'] / 1024:.1f} KiB | "
            f"{r[f'{CLUSTER} workers, 540 samples']:.0f}/s (predicted) | "
            f"{r[f'{CLUSTER} workers, 10000 samples']:.0f}/s (predicted) |")
    lava = results["lava"]["2 workers"] / results["lava"]["one process"]
    verdict = "reached" if lava >= GOAL else "not reached"
    lines += ["", f"Goal for Lava on 2 workers: {GOAL}x one process; measured {lava:.2f}x, {verdict}."]
    return "\n".join(lines)


def main() -> None:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            results = {label: measure(Path(folder), *case) for label, case in CASES.items()}
    finally:
        ray.shutdown()
    table = render(results)
    print(table)
    ratios = [f"{r['2 workers'] / r['one process']:.2f}x" for r in results.values()] + [f"{GOAL}x"]
    write_figures("scaleout", table, results, quotable=ratios)


if __name__ == "__main__":
    main()
