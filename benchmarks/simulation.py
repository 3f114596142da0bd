"""Simulation throughput (time steps x batch / s) of imported models on CPU (and CUDA when present).

Compares, on the same 2000-2000-2000 LIF MLP and inputs (T=100): the original SpikingJelly
model in 'm' mode, nirdeploy's import in 'm' mode, the same import stepped one call per time
step ('s'), and the snnTorch target. Prints throughput and ratios against the original.

    .venv/bin/python benchmarks/simulation.py [--repeats 3]
"""

import argparse
import statistics
import time

import torch
from spikingjelly.activation_based import functional, layer, neuron

import nirdeploy


def mlp(width: int = 2000) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(*[m for _ in range(3) for m in (layer.Linear(width, width), neuron.LIFNode(tau=2.0))])


def throughput(run, x, repeats: int) -> float:
    run(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return x.shape[0] * x.shape[1] / statistics.median(times)


def runners(device: str) -> dict:
    net = mlp().to(device)
    graph = nirdeploy.export_to_nir(net, torch.zeros(1, 2000, device=device), dt=1e-3)
    functional.set_step_mode(net, "m")
    ours = nirdeploy.import_from_nir(graph, dt=1e-3, device=device, step_mode="m")
    stepped = nirdeploy.import_from_nir(graph, dt=1e-3, device=device, step_mode="s")
    snntorch = nirdeploy.deploy(graph, "snntorch", device=device)

    def whole(model):
        def run(x):
            functional.reset_net(model)
            with torch.no_grad():
                model(x)
        return run

    def per_step(x):
        functional.reset_net(stepped)
        with torch.no_grad():
            for x_t in x:
                stepped(x_t)

    return {
        "spikingjelly original, 'm'": whole(net),
        "nirdeploy import, 'm'": whole(ours),
        "nirdeploy import, stepped in Python": per_step,
        "snnTorch target": lambda x: snntorch.run(x),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, T=100, 2000-2000-2000 LIF MLP")
    for device in devices:
        for batch in (1, 64):
            x = (torch.rand(100, batch, 2000, generator=torch.Generator().manual_seed(0)) < 0.2).float().to(device)
            results = {name: throughput(run, x, args.repeats) for name, run in runners(device).items()}
            base = results["spikingjelly original, 'm'"]
            print(f"\n{device}, batch {batch}")
            print(f"{'model':<38}{'steps*batch/s':>15}{'vs original':>13}")
            for name, value in results.items():
                print(f"{name:<38}{value:>15.0f}{value / base:>13.2f}")


if __name__ == "__main__":
    main()
