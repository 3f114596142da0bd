"""Built-in encoded data sets for runs: small, shipped with their packages, no download."""

import numpy as np
import torch

from .errors import ConfigError

DATASETS = ("digits",)


def digits(steps: int, samples: int, seed: int = 0, split: str = "test") -> tuple:
    """scikit-learn's 8x8 digits, rate-encoded: each pixel spikes with probability value/16 per step.

    The split is fixed (seeded, stratified, 30% test) so that every run sees the same samples.
    Returns spikes ``[steps, samples, 64]`` and labels ``[samples]``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        data.data / 16.0, data.target, test_size=0.3, random_state=0, stratify=data.target
    )
    x, y = (test_x, test_y) if split == "test" else (train_x, train_y)
    if samples > len(x):
        raise ConfigError(f"the digits {split} split has {len(x)} samples, fewer than the {samples} asked for")
    generator = torch.Generator().manual_seed(seed)
    rates = torch.as_tensor(x[:samples], dtype=torch.float32)
    spikes = (torch.rand((steps, *rates.shape), generator=generator) < rates).float()
    return spikes, torch.as_tensor(np.asarray(y[:samples]))


def load_dataset(name: str, steps: int, samples: int, seed: int, split: str) -> tuple:
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; built in: {', '.join(DATASETS)}")
    return digits(steps, samples, seed, split)
