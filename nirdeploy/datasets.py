"""Built-in encoded data sets for runs: small, shipped with their packages, no download."""

import numpy as np
import torch

from .errors import ConfigError

DATASETS = ("digits",)


def digit_rates(split: str = "test", size: int = 8) -> tuple:
    """scikit-learn's 8x8 digits as firing rates in [0, 1] (pixel / 16), ``[N, size*size]``, and labels.

    ``size=4`` averages 2x2 pixel blocks (16 inputs, as Xylo takes). The split is
    fixed (seeded, stratified, 30% test) so that every run sees the same samples.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if size not in (4, 8):
        raise ConfigError(f"digits come at size 8 (64 inputs) or 4 (16 inputs), not {size}")
    data = load_digits()
    images = torch.as_tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    rates = torch.nn.functional.avg_pool2d(images, 8 // size).reshape(len(images), -1)
    train_x, test_x, train_y, test_y = train_test_split(
        rates.numpy(), data.target, test_size=0.3, random_state=0, stratify=data.target
    )
    x, y = (test_x, test_y) if split == "test" else (train_x, train_y)
    return torch.as_tensor(x), torch.as_tensor(np.asarray(y))


def encode(rates: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Rate coding: each input spikes with its rate as probability, independently per step."""
    return (torch.rand((steps, *rates.shape), generator=generator) < rates).float()


def digits(steps: int, samples: int, seed: int = 0, split: str = "test", size: int = 8) -> tuple:
    """Rate-encoded digits: spikes ``[steps, samples, size*size]`` and labels ``[samples]``."""
    rates, labels = digit_rates(split, size)
    if samples > len(rates):
        raise ConfigError(f"the digits {split} split has {len(rates)} samples, fewer than the {samples} asked for")
    return encode(rates[:samples], steps, torch.Generator().manual_seed(seed)), labels[:samples]


def load_dataset(name: str, steps: int, samples: int, seed: int, split: str, size: int = 8) -> tuple:
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; built in: {', '.join(DATASETS)}")
    return digits(steps, samples, seed, split, size)
