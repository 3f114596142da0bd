"""Run time of each target on the digits showcase, and how it grows with T and network size.

The two trained digits networks (examples/digits/models.py) run the rate-coded test split on
every target that takes them and whose runtime is ready here: the MLP (configs/digits_mlp.yaml)
on the reference, snnTorch and Xylo; the conv net (configs/digits_conv.yaml) on the reference,
snnTorch and Lava in floating and fixed point, and nirdeploy's compiled emulation of Loihi's fixed
point. For each, the time per sample is measured for
T = 40, 80, 160 (trained network) and for three widths (untrained networks of the same shape,
weights scaled up so that they spike: only the time is of interest). Wall time includes
deployment (conversion, a target's subprocess start). Prints milliseconds per sample (medians) and
writes into docs/performance.md each target's time over the reference's in the same row, and how
each grows from the first row to the last.

    .venv/bin/python benchmarks/targets.py [--samples 100] [--repeats 3]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from spikingjelly.activation_based import layer, neuron

import nirdeploy
from nirdeploy.datasets import digits
from nirdeploy.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "examples" / "digits"), str(ROOT / "scripts")]
import models  # noqa: E402
from docfigures import write_figures  # noqa: E402

DT = 1e-3


def mlp(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = models.mlp()
    net[0], net[2] = layer.Linear(16, width), layer.Linear(width, 10)
    with torch.no_grad():
        net[0].weight.mul_(4.0)
    return net


def conv(channels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        layer.Conv2d(1, channels, 3, padding=1), neuron.LIFNode(tau=2.0),
        layer.AvgPool2d(2), layer.Flatten(), layer.Linear(channels * 16, 10), neuron.LIFNode(tau=2.0),
    )
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[4].weight.mul_(6.0)
    return net


# network -> (trained model, untrained model of a width, widths (up to Xylo's 992 hidden neurons),
# input size, example shape, runs)
# where runs maps a label to (target, deploy options).
NETWORKS = {
    "MLP 16-H-10": (models.trained_mlp, mlp, (64, 256, 992), 4, (16,), {
        "reference": ("reference", {}),
        "snntorch": ("snntorch", {}),
        "xylo (XyloSim)": ("xylo:syns65302", {}),
        "xylo (float)": ("xylo:syns65302", {"simulator": "float"}),
    }),
    "conv C@3x3": (models.trained_conv, conv, (4, 8, 16), 8, (1, 8, 8), {
        "reference": ("reference", {}),
        "snntorch": ("snntorch", {}),
        "lava float": ("lava", {}),
        "lava fixed": ("lava", {"precision": "fixed"}),
        "lava emulation": ("lava", {"precision": "fixed", "simulator": "emulation"}),
    }),
}


def ready(runs: dict) -> dict:
    found = {}
    for label, (target, options) in runs.items():
        ok, detail = get_target(target).runtime_status()
        if ok:
            found[label] = (target, options)
        else:
            print(f"skipping {label}: {detail}")
    return found


def seconds(graph, x, target: str, options: dict, repeats: int = 1) -> float:
    """Median wall time of deploying and running ``x`` on ``target``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        nirdeploy.deploy(graph, target, dt=DT, **options).run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(title: str, column: str, rows: dict, runs: dict, args) -> dict:
    """rows: value of ``column`` -> (graph, x); prints ms per sample; returns them by row and run."""
    print(f"\n{title}: milliseconds per sample ({args.samples} samples, medians of {args.repeats})")
    print(f"{column:>8}" + "".join(f"{label:>18}" for label in runs))
    times = {key: {label: seconds(g, x, *runs[label], args.repeats) / args.samples * 1e3 for label in runs}
             for key, (g, x) in rows.items()}
    for key, row in times.items():
        print(f"{key:>8}" + "".join(f"{row[label]:>18.2f}" for label in runs))
    return times


def render(name: str, tables: dict) -> list:
    """Per row, each run's time over the reference's; per table, each run's growth from first row to last."""
    runs = list(next(iter(next(iter(tables.values())).values())))
    lines = [f"| {name} | " + " | ".join(f"{label} / reference" for label in runs[1:]) + " | growth: "
             + ", ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for title, times in tables.items():
        rows = list(times.items())
        first, last = rows[0][1], rows[-1][1]
        growth = ", ".join(f"{last[label] / first[label]:.1f}x" for label in runs)
        for index, (key, row) in enumerate(rows):
            cells = " | ".join(f"{row[label] / row['reference']:.1f}" for label in runs[1:])
            lines.append(f"| {title} {key} | {cells} | {growth if index == len(rows) - 1 else ''} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    found, lines = {}, []
    for name, (trained, untrained, widths, size, shape, runs) in NETWORKS.items():
        runs = ready(runs)

        def graph(net):
            return nirdeploy.export_to_nir(net, torch.zeros(1, *shape), dt=DT)

        def spikes(steps):
            x = digits(steps, args.samples, seed=1, size=size)[0]
            return x.reshape(steps, args.samples, *shape)

        model = graph(trained())
        for target, options in runs.values():  # warm-up: lazy imports, first deployment
            seconds(model, spikes(5)[:, :2], target, options)
        x = spikes(40)
        found[name] = {
            "trained, T =": table(f"{name}, trained, time steps T", "T", {t: (model, spikes(t)) for t in (40, 80, 160)},
                                  runs, args),
            "untrained, T = 40, width": table(f"{name}, untrained, T=40, width", "width",
                                               {w: (graph(untrained(w)), x) for w in widths}, runs, args),
        }
        lines += render(name, found[name]) + [""]
    lines.append(f"Wall time per sample, deployment included ({args.samples} samples, medians of {args.repeats}), "
                 "over the reference's in the same row; growth: the last row's time over the first's.")
    write_figures("targets", "\n".join(lines), {"ms_per_sample": found, "args": vars(args)})


if __name__ == "__main__":
    main()
