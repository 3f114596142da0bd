"""How export, write, read, import and check grow with the number of neurons (1k .. 100k).

A conv network of LIF layers (few weights, many neurons) is scaled by its input size; each
stage is timed three times per size (medians); the times relative to 1k neurons go into
docs/performance.md.

    .venv/bin/python benchmarks/scaling.py
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nir
import torch
from spikingjelly.activation_based import layer, neuron

import nirdeploy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import write_figures  # noqa: E402


def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1), neuron.LIFNode(tau=2.0),
        layer.Conv2d(8, 8, 3, padding=1), neuron.LIFNode(tau=2.0),
    )


def stages(side: int, folder: Path) -> dict:
    path = folder / f"net_{side}.nir"
    times = {}
    start = time.perf_counter()
    graph = nirdeploy.export_to_nir(net(), torch.zeros(1, 2, side, side), dt=1e-3)
    times["export"] = time.perf_counter() - start
    start = time.perf_counter()
    nir.write(path, graph)
    times["write"] = time.perf_counter() - start
    start = time.perf_counter()
    graph = nir.read(path)
    times["read"] = time.perf_counter() - start
    start = time.perf_counter()
    nirdeploy.import_from_nir(graph, dt=1e-3)
    times["import"] = time.perf_counter() - start
    start = time.perf_counter()
    nirdeploy.check(graph, "snntorch")
    times["check"] = time.perf_counter() - start
    return times


def main():
    sides = {1_000: 8, 10_000: 25, 100_000: 79}  # 16 * side**2 neurons
    with tempfile.TemporaryDirectory() as folder:
        stages(8, Path(folder))  # warm-up: first calls pay for lazy imports
        runs = {n: [stages(side, Path(folder)) for _ in range(3)] for n, side in sides.items()}
    results = {n: {name: statistics.median(r[name] for r in rs) for name in rs[0]} for n, rs in runs.items()}
    names = list(next(iter(results.values())))
    first = results[1_000]
    rows = ["| neurons | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for n, times in results.items():
        print(f"{16 * sides[n] ** 2:>9}" + "".join(f"{times[name]:>10.3f}" for name in names) + "   (seconds)")
        rows.append(f"| {16 * sides[n] ** 2} | " + " | ".join(f"{times[name] / first[name]:.1f}" for name in names)
                    + " |")
    rows += ["", "Each stage's time over its time at 1 024 neurons, medians of 3 in one run."]
    growth = [f"{results[100_000][name] / first[name]:.1f}x" for name in names]
    write_figures("scaling", "\n".join(rows), {"seconds": results}, quotable=growth)


if __name__ == "__main__":
    main()
