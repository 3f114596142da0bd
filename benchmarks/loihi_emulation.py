"""Loihi 2 fixed point: Lava's own simulator against nirdeploy's compiled emulation (``simulator='emulation'``).

A 100-1000-10 LIF MLP (1010 neurons), T steps, batch 1 and larger batches. Lava is the
real Lava target (deploy, its worker subprocess, network build, compilation and run),
the emulation the same target with ``simulator='emulation'`` (deploy and run). Both are
timed whole and for their steps alone, without start-up: the time of a run LONGER times
as long minus the time of the T-step run, divided by LONGER - 1. Every time is the
median of ``--repeats`` runs (Lava's too: one run of it varies by tens of percent on a shared machine),
the emulation's of EMULATION_REPEATS times as many (its runs take milliseconds, as long as a hiccup of
the scheduler). Prints the seconds, and writes into docs/performance.md the speed-ups and
how many spikes differ (of the T-step runs; asserts nothing).

    .venv/bin/python benchmarks/loihi_emulation.py [--steps 200] [--batches 1 16 64] [--repeats 3]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import nir
import numpy as np
import torch

import nirdeploy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import write_figures  # noqa: E402

DT = 1e-3
LONGER = 5  # Lava's start-up is estimated from a run this many times longer
EMULATION_REPEATS = 5


def mlp(sizes=(100, 1000, 10), seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, previous = [], "input"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        nodes[f"fc{i}"] = nir.Affine(rng.normal(0.25, 1.0, (n_out, n_in)) * 2 / np.sqrt(n_in), np.zeros(n_out))
        nodes[f"lif{i}"] = nir.LIF(tau=np.full(n_out, 5e-3), r=np.ones(n_out), v_leak=np.zeros(n_out),
                                   v_threshold=np.ones(n_out), v_reset=np.zeros(n_out))
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        previous = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def timed(function, repeats: int = 1) -> tuple:
    """(median seconds, the last result) of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def lava(graph, x):
    return nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed").run(x, record=True)[1]


def emulation(graph, x, deployment=None):
    deployment = deployment or nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation")
    return deployment.run(x, record=True)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of Lava (the emulation: EMULATION_REPEATS times as many)")
    args = parser.parse_args()
    graph, steps = mlp(), args.steps
    deployment = nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation")
    print(f"100-1000-10 LIF MLP, T = {steps}; steps alone: (time of {LONGER} T - time of T) / {LONGER - 1}")
    lines = ["| batch | speed-up, deploy + run | speed-up, T steps alone | differing spikes |", "|---|---|---|---|"]
    found = []
    for batch in args.batches:
        x = (torch.rand(LONGER * steps, batch, 100, generator=torch.Generator().manual_seed(batch)) < 0.2).float()
        lava_whole, lava_layers = timed(lambda: lava(graph, x[:steps]), args.repeats)
        lava_longer, _ = timed(lambda: lava(graph, x), args.repeats)
        repeats = EMULATION_REPEATS * args.repeats
        emu_whole, layers = timed(lambda: emulation(graph, x[:steps]), repeats)
        emu_run, _ = timed(lambda: emulation(graph, x[:steps], deployment), repeats)
        emu_longer, _ = timed(lambda: emulation(graph, x, deployment), repeats)
        lava_steps, emu_steps = [(longer - short) / (LONGER - 1) for longer, short in
                                 ((lava_longer, lava_whole), (emu_longer, emu_run))]
        differing = sum(int((layers[name] != spikes).sum()) for name, spikes in lava_layers.items())
        total = sum(int(s.sum()) for s in lava_layers.values())
        found.append({"batch": batch, "lava_s": lava_whole, "emulation_s": emu_whole, "lava_steps_s": lava_steps,
                      "emulation_steps_s": emu_steps, "differing": differing, "spikes": total})
        print(f"batch {batch}: Lava {lava_whole:.2f} s, emulation {emu_whole:.3f} s; steps alone {lava_steps:.2f} s "
              f"and {emu_steps:.4f} s")
        lines.append(f"| {batch} | {lava_whole / emu_whole:.0f}x | {lava_steps / emu_steps:.0f}x | {differing} of {total} |")
    lines += ["", f"Lava's time over the emulation's, medians of {args.repeats} and "
                  f"{EMULATION_REPEATS * args.repeats} runs: deploy + run, and the {steps} steps alone (start-up left out)."]
    speedups = [f"{r[f'lava{part}_s'] / r[f'emulation{part}_s']:.0f}x" for part in ("", "_steps") for r in found]
    write_figures("loihi-emulation", "\n".join(lines), {"runs": found, "args": vars(args)}, quotable=speedups)


if __name__ == "__main__":
    main()
