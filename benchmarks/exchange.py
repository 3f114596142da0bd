"""Export + write + read + import time and forward time: nirdeploy vs SpikingJelly vs snnTorch.

Two models, each built once per tool with the same weights: a 5-conv network
(3->32->64->128->128->256 channels, 32x32 input, LIF after each conv) and a
2000-2000-2000 LIF MLP. Each tool exports its own model, writes and reads the
HDF5 file with nir, and imports it with its own importer, all in one process,
timed in turns. Both peers build on nirtorch (SpikingJelly: ``torch_to_nir`` /
``nir_to_torch``; snnTorch: ``extract_nir_graph`` / ``nir_to_torch``), so
nirtorch is measured through them. Prints medians and each peer's time divided
by nirdeploy's (> 1: nirdeploy is faster), and writes the ratios into docs/performance.md.

    .venv/bin/python benchmarks/exchange.py [--repeats 5] [--steps 10] [--batch 4]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nir
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.nir_exchange import export_to_nir as sj_export
from spikingjelly.activation_based.nir_exchange import import_from_nir as sj_import

import nirdeploy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import write_figures  # noqa: E402

CONV_CHANNELS = [3, 32, 64, 128, 128, 256]
MODELS = {
    "5-conv net": {"example": (3, 32, 32)},
    "2000-2000-2000 MLP": {"example": (2000,)},
}


def spikingjelly_model(model: str) -> nn.Module:
    """The model in SpikingJelly, LIF with tau=2 (decay 0.5)."""
    torch.manual_seed(0)
    if model == "5-conv net":
        blocks = [[layer.Conv2d(i, o, 3, padding=1), neuron.LIFNode(tau=2.0)] for i, o in zip(CONV_CHANNELS, CONV_CHANNELS[1:])]
    else:
        blocks = [[layer.Linear(2000, 2000), neuron.LIFNode(tau=2.0)] for _ in range(3)]
    return nn.Sequential(*[m for block in blocks for m in block])


def snntorch_model(model: str) -> nn.Module:
    """The same weights with snnTorch Leaky neurons (beta 0.5). snnTorch's exporter type-checks
    only when beta and threshold are given per neuron, so they are."""
    import snntorch as snn

    reference = spikingjelly_model(model)
    shape = (32, 32) if model == "5-conv net" else ()
    modules = []
    for module in reference:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            plain = (nn.Conv2d(module.in_channels, module.out_channels, 3, padding=1)
                     if isinstance(module, nn.Conv2d) else nn.Linear(2000, 2000))
            plain.load_state_dict(module.state_dict())
            modules.append(plain)
            size = (plain.out_channels if isinstance(plain, nn.Conv2d) else plain.out_features, *shape)
        else:
            modules.append(snn.Leaky(beta=torch.full(size, 0.5), threshold=torch.ones(size), init_hidden=True))
    return nn.Sequential(*modules)


def nirdeploy_roundtrip(net, example, path):
    nirdeploy.export_to_nir(net, example, save_path=path, overwrite=True)
    return nirdeploy.import_from_nir(path)


def spikingjelly_roundtrip(net, example, path):
    Path(path).unlink(missing_ok=True)
    sj_export(net, example, save_path=path)
    return sj_import(path)


def snntorch_roundtrip(net, example, path):
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    nir.write(path, export_to_nir(net, example, ignore_dims=[0]))
    return import_from_nir(nir.read(path))


def stateful_steps(gm, x):
    """nirdeploy's import keeps state in its modules: one call per step."""
    functional.reset_net(gm)
    with torch.no_grad():
        for x_t in x:
            gm(x_t)


def explicit_state_steps(gm, x):
    """SpikingJelly's import passes its state in and out of each call."""
    state = None
    with torch.no_grad():
        for x_t in x:
            _, state = gm(x_t, state)


def snntorch_steps(gm, x):
    import snntorch as snn

    for module in gm.modules():
        if isinstance(module, snn.SpikingNeuron):
            module.reset_hidden()
    with torch.no_grad():
        for x_t in x:
            gm(x_t)


TOOLS = {
    "nirdeploy": (spikingjelly_model, nirdeploy_roundtrip, stateful_steps),
    "spikingjelly": (spikingjelly_model, spikingjelly_roundtrip, explicit_state_steps),
    "snntorch": (snntorch_model, snntorch_roundtrip, snntorch_steps),
}


def in_turns(functions: dict, repeats: int) -> dict:
    """Median seconds of each function, timed in turns so that machine load hits all alike."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(model: str, args, folder: Path) -> tuple:
    shape = MODELS[model]["example"]
    example = torch.zeros(1, *shape)
    x = (torch.rand(args.steps, args.batch, *shape, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    nets = {name: build(model) for name, (build, _, _) in TOOLS.items()}

    def roundtrip(name):
        return TOOLS[name][1](nets[name], example, folder / f"{name}.nir")

    # One untimed call each (lazy imports, allocator warm-up); its import is the one stepped below.
    imported = {name: roundtrip(name) for name in TOOLS}
    exchange = in_turns({name: (lambda n=name: roundtrip(n)) for name in TOOLS}, args.repeats)
    steps = in_turns({name: (lambda n=name: TOOLS[n][2](imported[n], x)) for name in TOOLS}, args.repeats)
    return exchange, {name: t / args.steps for name, t in steps.items()}


PEERS = {"spikingjelly": "SpikingJelly", "snntorch": "snnTorch"}


def render(found: dict, args) -> str:
    lines = ["| model | measure | " + " | ".join(f"{peer} / nirdeploy" for peer in PEERS.values()) + " |",
             "|---|---|" + "---|" * len(PEERS)]
    for model, measures in found.items():
        for measure_name, values in measures.items():
            lines.append(f"| {model} | {measure_name} | " + " | ".join(
                f"{values[peer] / values['nirdeploy']:.2f}" for peer in PEERS) + " |")
    return "\n".join(lines + ["", f"Time ratios (> 1: nirdeploy is faster), medians of {args.repeats} in turns, "
                                    f"forward at batch {args.batch} over {args.steps} steps."])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} steps, "
          f"medians of {args.repeats}")
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for model in MODELS:
            exchange, step = measure(model, args, Path(folder))
            found[model] = {"export + write + read + import": exchange, "forward per step": step}
            for measure_name, values in found[model].items():
                print(f"{model:<20}{measure_name:<32}" + "".join(f"{values[n] * 1e3:>12.1f}ms" for n in TOOLS))
    ratios = [f"{values[peer] / values['nirdeploy']:.2f}x" for measures in found.values() for values in measures.values()
              for peer in PEERS]
    write_figures("exchange", render(found, args), {"seconds": found, "args": vars(args)}, quotable=ratios)


if __name__ == "__main__":
    main()
