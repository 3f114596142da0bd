"""Spiking networks for scikit-learn's 8x8 digits, trained with SpikingJelly surrogate gradients.

* ``mlp``: 16 rate-coded inputs (2x2-averaged pixels) -> 256 LIF -> 10 LIF, subtractive reset:
  sized and built for Xylo (16 inputs, hidden <= 1000, 10 outputs fit XyloAudio 3).
* ``conv``: 1x8x8 -> Conv 8@3x3 -> LIF -> AvgPool 2 -> Linear 128->10 -> LIF, reset to 0: for Loihi 2.

``trained_mlp`` / ``trained_conv`` load the trained weights shipped in ``weights/`` beside this
file (configs/digits_*.yaml name them), so that every machine evaluates the same networks; a float
training is not bit-reproducible across CPUs. ``python examples/digits/models.py --overwrite``
trains both again (seeded, one thread, torch's deterministic algorithms: the same weights on the same
machine) and replaces the files; without the files, the first use trains and writes them.
"""

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate

from nirdeploy.datasets import digit_rates, encode
from nirdeploy.progress import progress_bar

WEIGHTS = Path(__file__).resolve().parent / "weights"
STEPS = 40  # time steps per sample, in training and in the configs


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        layer.Linear(16, 256),
        neuron.LIFNode(tau=2.0, v_reset=None, surrogate_function=surrogate.ATan()),
        layer.Linear(256, 10),
        neuron.LIFNode(tau=2.0, v_reset=None, surrogate_function=surrogate.ATan()),
    )


def conv() -> torch.nn.Module:
    return torch.nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1),
        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
        layer.AvgPool2d(2),
        layer.Flatten(),
        layer.Linear(8 * 4 * 4, 10),
        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
    )


ARCHITECTURES = {"mlp": (mlp, 4, (16,)), "conv": (conv, 8, (1, 8, 8))}


@contextmanager
def deterministic():
    """One thread and torch's deterministic algorithms: a sum's order, and so its rounding, is fixed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)


def train(name: str, epochs: int = 60, seed: int = 0) -> torch.nn.Module:
    """Train on the train split: Adam, cosine schedule, cross-entropy on mean firing rates."""
    with deterministic():
        return _train(name, epochs, seed)


def _train(name: str, epochs: int, seed: int) -> torch.nn.Module:
    build, size, shape = ARCHITECTURES[name]
    torch.manual_seed(seed)
    net = build()
    functional.set_step_mode(net, "m")
    rates, labels = digit_rates("train", size)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs)
    for _ in progress_bar(range(epochs), label=f"training the digits {name}", enabled=sys.stderr.isatty(),
                          unit="epoch"):
        order = torch.randperm(len(rates), generator=generator)
        for start in range(0, len(rates), 64):
            batch = order[start : start + 64]
            spikes = encode(rates[batch], STEPS, generator).reshape(STEPS, len(batch), *shape)
            loss = torch.nn.functional.cross_entropy(net(spikes).mean(0) * 10, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            functional.reset_net(net)
        schedule.step()
    functional.set_step_mode(net, "s")
    return net.eval()


def trained(name: str) -> torch.nn.Module:
    path = WEIGHTS / f"{name}.pt"
    net = ARCHITECTURES[name][0]()
    if path.is_file():
        net.load_state_dict(torch.load(path, weights_only=True))  # tensors only: no code runs on loading
        return net.eval()
    return save(name, train(name))


def save(name: str, net: torch.nn.Module) -> torch.nn.Module:
    WEIGHTS.mkdir(exist_ok=True)
    torch.save(net.state_dict(), WEIGHTS / f"{name}.pt")
    return net


def trained_mlp() -> torch.nn.Module:
    return trained("mlp")


def trained_conv() -> torch.nn.Module:
    return trained("conv")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train the digits networks again and replace weights/*.pt.")
    parser.add_argument("--overwrite", action="store_true", help="replace the shipped weights")
    if not parser.parse_args().overwrite:
        parser.error(f"this replaces {WEIGHTS}/mlp.pt and conv.pt; pass --overwrite to do so")
    for architecture in ARCHITECTURES:
        save(architecture, train(architecture))
        print(f"wrote {WEIGHTS / architecture}.pt")
