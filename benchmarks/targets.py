"""Run time of each target on the digits showcase, and how it grows with T and network size.

The trained digits MLP (examples/digits/models.py, 16-256-10, the network of
configs/digits.yaml) runs on the rate-coded test split on every target whose
runtime is ready here; then the time per sample is measured for T = 40, 80, 160
(trained MLP) and for hidden widths 64, 256, 1024 (untrained MLPs of the same
shape: only the time is of interest). Wall time includes deployment (conversion,
a target's subprocess start). Prints seconds and the growth factors.

    .venv/bin/python benchmarks/targets.py [--samples 100]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

import nirdeploy
from nirdeploy.datasets import digits
from nirdeploy.targets import get_target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "digits"))
import models  # noqa: E402

DT = 1e-3
# label -> (target, deploy options)
CONTENDERS = {
    "reference": ("reference", {}),
    "snntorch": ("snntorch", {}),
}


def ready_contenders() -> dict:
    ready = {}
    for label, (target, options) in CONTENDERS.items():
        ok, detail = get_target(target).runtime_status()
        if ok:
            ready[label] = (target, options)
        else:
            print(f"skipping {label}: {detail}")
    return ready


def seconds(graph, x, target: str, options: dict) -> float:
    start = time.perf_counter()
    nirdeploy.deploy(graph, target, dt=DT, **options).run(x)
    return time.perf_counter() - start


def mlp_graph(hidden: int, trained: bool):
    if trained:
        net = models.trained_mlp()
    else:
        torch.manual_seed(0)
        net = models.mlp()
        net[0], net[2] = torch.nn.Linear(16, hidden), torch.nn.Linear(hidden, 10)
        with torch.no_grad():
            net[0].weight.mul_(4.0)
    return nirdeploy.export_to_nir(net, torch.zeros(1, 16), dt=DT)


def table(title: str, column: str, rows: dict, contenders: dict, samples: int) -> None:
    """rows: value of ``column`` -> (graph, x); prints ms per sample and growth from the first row."""
    print(f"\n{title}: milliseconds per sample ({samples} samples)")
    print(f"{column:>8}" + "".join(f"{label:>16}" for label in contenders))
    times = {key: {label: seconds(g, x, *contenders[label]) / samples * 1e3 for label in contenders}
             for key, (g, x) in rows.items()}
    for key, row in times.items():
        print(f"{key:>8}" + "".join(f"{row[label]:>16.2f}" for label in contenders))
    first, last = times[next(iter(times))], times[key]
    print(f"{'growth':>8}" + "".join(f"{last[label] / first[label]:>15.1f}x" for label in contenders))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    contenders = ready_contenders()
    trained = mlp_graph(256, trained=True)
    for target, options in contenders.values():  # warm-up: lazy imports, first deployment
        seconds(trained, digits(5, 2, size=4)[0], target, options)
    steps = {t: (trained, digits(t, args.samples, seed=1, size=4)[0]) for t in (40, 80, 160)}
    table("time steps T (trained 16-256-10 MLP)", "T", steps, contenders, args.samples)
    x = digits(40, args.samples, seed=1, size=4)[0]
    sizes = {h: (mlp_graph(h, trained=False), x) for h in (64, 256, 1024)}
    table("hidden width (16-H-10 MLP, T=40)", "H", sizes, contenders, args.samples)


if __name__ == "__main__":
    main()
