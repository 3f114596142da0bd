"""Simulation throughput (time steps x batch / s) of imported models on CPU (and CUDA when present).

Compares, on the same 2000-2000-2000 LIF MLP and inputs (T=100): the original SpikingJelly
model in 'm' mode, nirdeploy's import in 'm' mode, the same import stepped one call per time
step ('s'), the snnTorch target, and snnTorch's own ``import_from_nir`` of the same file
(stepped, as snnTorch runs; its neurons follow snnTorch's conventions, so only its speed is
comparable). Prints throughput and writes the ratios against the original into docs/performance.md.

    .venv/bin/python benchmarks/simulation.py [--repeats 3]
"""

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

import torch
from snntorch import SpikingNeuron
from snntorch.import_nir import import_from_nir
from spikingjelly.activation_based import functional, layer, neuron

import nirdeploy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import write_figures  # noqa: E402


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


def exported(device: str):
    """The original SpikingJelly model in 'm' mode and its NIR graph."""
    net = mlp().to(device)
    graph = nirdeploy.export_to_nir(net, torch.zeros(1, 2000, device=device), dt=1e-3)
    functional.set_step_mode(net, "m")
    return net, graph


def whole_sequence(model):
    def run(x):
        functional.reset_net(model)
        with torch.no_grad():
            model(x)
    return run


def original(device: str):
    return whole_sequence(exported(device)[0])


def imported(device: str):
    return whole_sequence(nirdeploy.import_from_nir(exported(device)[1], dt=1e-3, device=device, step_mode="m"))


def imported_stepped(device: str):
    model = nirdeploy.import_from_nir(exported(device)[1], dt=1e-3, device=device, step_mode="s")

    def run(x):
        functional.reset_net(model)
        with torch.no_grad():
            for x_t in x:
                model(x_t)
    return run


def snntorch_target(device: str):
    deployment = nirdeploy.deploy(exported(device)[1], "snntorch", device=device)
    return lambda x: deployment.run(x)


def snntorch_import(device: str):
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch's importer prints each layer's scaling
        model = import_from_nir(exported(device)[1]).to(device)

    def run(x):
        for module in model.modules():
            if isinstance(module, SpikingNeuron):
                module.reset_hidden()
        with torch.no_grad():
            for x_t in x:
                model(x_t)
    return run


CONTENDERS = {
    "spikingjelly original, 'm'": original,
    "nirdeploy import, 'm'": imported,
    "nirdeploy import, stepped in Python": imported_stepped,
    "snnTorch target": snntorch_target,
    "snnTorch's own import, stepped": snntorch_import,
}


def inputs(batch: int, device: str) -> torch.Tensor:
    return (torch.rand(100, batch, 2000, generator=torch.Generator().manual_seed(0)) < 0.2).float().to(device)


BATCHES = (1, 64)
ORIGINAL = "spikingjelly original, 'm'"


def render(found: dict, args) -> str:
    lines = []
    for device, by_batch in found.items():
        base = {batch: results[ORIGINAL] for batch, results in by_batch.items()}
        lines += [f"| model ({device}) | " + " | ".join(f"batch {b}" for b in by_batch) + " |",
                  "|---|" + "---|" * len(by_batch)]
        lines += [f"| {name} | " + " | ".join(f"{by_batch[b][name] / base[b]:.2f}" for b in by_batch) + " |"
                  for name in CONTENDERS]
        lines.append("")
    return "\n".join(lines + [f"Throughput (time steps x batch per second) over the original SpikingJelly model's "
                              f"in the same run (> 1: faster), T = 100, medians of {args.repeats}."])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, T=100, 2000-2000-2000 LIF MLP")
    found = {}
    for device in devices:
        for batch in BATCHES:
            x = inputs(batch, device)
            results = {name: throughput(build(device), x, args.repeats) for name, build in CONTENDERS.items()}
            found.setdefault(device, {})[batch] = results
            print(f"\n{device}, batch {batch}")
            for name, value in results.items():
                print(f"{name:<38}{value:>15.0f} steps*batch/s")
    ratios = [f"{results[name] / results[ORIGINAL]:.2f}x" for by_batch in found.values()
              for results in by_batch.values() for name in CONTENDERS]
    write_figures("simulation", render(found, args), {"throughput": found, "args": vars(args)}, quotable=ratios)


if __name__ == "__main__":
    main()
