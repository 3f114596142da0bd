"""Loihi 2 fixed point: Lava's own simulator against nirdeploy's torch emulation (``simulator='emulation'``).

A 100-1000-10 LIF MLP (1010 neurons), T steps, batch 1 and larger batches. Lava is the
real Lava target (its worker subprocess, network build, compilation and run): timed
whole, and without its start-up, estimated from the time of a 10T-step run minus a T-step
run (the cost of 9T steps, divided by 9). The emulation is timed whole (deploy + run) and as its run alone, median of
``--repeats``. Prints the seconds, the speed-ups and how many spikes differ.

    .venv/bin/python benchmarks/loihi_emulation.py [--steps 100] [--batches 1 16 64] [--repeats 3]
"""

import argparse
import statistics
import time

import nir
import numpy as np
import torch

import nirdeploy

DT = 1e-3


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


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def lava_run(graph, x):
    return nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed").run(x, record=True)


def emulation_times(graph, x, repeats: int) -> tuple:
    """(median deploy + run seconds, median run seconds, the last run's layers)."""
    whole, runs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        deployment = nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation")
        run_time, (_, layers) = timed(lambda: deployment.run(x, record=True))
        whole.append(time.perf_counter() - start)
        runs.append(run_time)
    return statistics.median(whole), statistics.median(runs), layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    graph = mlp()
    print(f"100-1000-10 LIF MLP, T = {args.steps}, Lava fixed point vs the torch emulation, "
          f"{torch.get_num_threads()} torch threads")
    print("| batch | Lava whole (s) | Lava without start-up (s) | emulation deploy + run (s) | emulation run (s) "
          "| speed-up whole | speed-up without start-up | differing spikes |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in args.batches:
        x = (torch.rand(10 * args.steps, batch, 100, generator=torch.Generator().manual_seed(batch)) < 0.2).float()
        lava_whole, (_, lava_layers) = timed(lambda: lava_run(graph, x[: args.steps]))
        lava_longer, _ = timed(lambda: lava_run(graph, x))
        lava_steps = (lava_longer - lava_whole) / 9  # T steps without Lava's start-up
        emu_whole, emu_run, layers = emulation_times(graph, x[: args.steps], args.repeats)
        differing = sum(int((layers[name] != spikes).sum()) for name, spikes in lava_layers.items())
        print(f"| {batch} | {lava_whole:.2f} | {lava_steps:.2f} | {emu_whole:.3f} | {emu_run:.3f} "
              f"| {lava_whole / emu_whole:.0f}x | {lava_steps / emu_run:.0f}x | {differing} of "
              f"{sum(int(s.sum()) for s in lava_layers.values())} spikes |")


if __name__ == "__main__":
    main()
