"""Export + import time and forward time: nirdeploy vs SpikingJelly's nir_exchange.

A 5-conv network (3->32->64->128->128->256 channels, 32x32 input, LIF after each
conv) goes through export -> HDF5 -> import with both tools in the same process.
Prints medians and the ratio SpikingJelly / nirdeploy (> 1: nirdeploy is faster).

    .venv/bin/python benchmarks/exchange.py [--repeats 5] [--steps 10] [--batch 4]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.nir_exchange import export_to_nir as sj_export
from spikingjelly.activation_based.nir_exchange import import_from_nir as sj_import

import nirdeploy


def conv_net() -> nn.Module:
    channels = [3, 32, 64, 128, 128, 256]
    blocks = []
    for c_in, c_out in zip(channels, channels[1:]):
        blocks += [layer.Conv2d(c_in, c_out, 3, padding=1), neuron.LIFNode(tau=2.0)]
    return nn.Sequential(*blocks)


def alternate(ours, theirs, repeats: int) -> tuple:
    """Median seconds of each, timed in turns so that machine load hits both alike."""
    times = ([], [])
    for _ in range(repeats):
        for fn, record in zip((ours, theirs), times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def ours_roundtrip(net, example, path):
    nirdeploy.export_to_nir(net, example, save_path=path, overwrite=True)
    return nirdeploy.import_from_nir(path)


def theirs_roundtrip(net, example, path):
    Path(path).unlink(missing_ok=True)
    sj_export(net, example, save_path=path)
    return sj_import(path)


def forward_steps(gm, x, stateful_api: bool):
    """Run x [T, B, ...] one step per call; SpikingJelly's import passes state explicitly."""
    functional.reset_net(gm)
    state = None
    with torch.no_grad():
        for x_t in x:
            if stateful_api:
                _, state = gm(x_t, state)
            else:
                gm(x_t)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = conv_net()
    example = torch.zeros(1, 3, 32, 32)
    x = (torch.rand(args.steps, args.batch, 3, 32, 32) < 0.2).float()

    with tempfile.TemporaryDirectory() as folder:
        ours_path, theirs_path = Path(folder, "ours.nir"), Path(folder, "sj.nir")
        # One untimed call each (lazy imports, allocator warm-up), then alternate.
        gm_ours = ours_roundtrip(net, example, ours_path)
        gm_theirs = theirs_roundtrip(net, example, theirs_path)
        ours, theirs = alternate(
            lambda: ours_roundtrip(net, example, ours_path),
            lambda: theirs_roundtrip(net, example, theirs_path),
            args.repeats,
        )
    step_ours, step_theirs = (
        t / args.steps
        for t in alternate(lambda: forward_steps(gm_ours, x, False), lambda: forward_steps(gm_theirs, x, True), args.repeats)
    )

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} steps")
    print(f"{'measure':<34}{'nirdeploy':>12}{'spikingjelly':>14}{'sj / ours':>11}")
    print(f"{'export + write + read + import':<34}{ours * 1e3:>10.1f}ms{theirs * 1e3:>12.1f}ms{theirs / ours:>11.2f}")
    print(f"{'forward, per step':<34}{step_ours * 1e3:>10.2f}ms{step_theirs * 1e3:>12.2f}ms{step_theirs / step_ours:>11.2f}")


if __name__ == "__main__":
    main()
