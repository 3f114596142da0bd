"""The built-in digits data set against scikit-learn's own arrays."""

import numpy as np
from sklearn.datasets import load_digits

from nirdeploy.datasets import digits


def test_digits_rate_encoding_and_labels():
    spikes, labels = digits(steps=2000, samples=40, seed=1)
    assert spikes.shape == (2000, 40, 64) and set(np.unique(spikes.numpy())) <= {0.0, 1.0}
    data = load_digits()
    rates = spikes.mean(0).numpy()
    # each test sample is one of sklearn's images; its spike rate estimates pixel / 16
    for rate, label in zip(rates, labels.numpy()):
        distances = np.abs(data.data / 16.0 - rate).max(axis=1)
        match = np.argmin(distances)
        assert distances[match] < 0.06 and data.target[match] == label
    again, _ = digits(steps=2000, samples=40, seed=1)
    assert np.array_equal(spikes.numpy(), again.numpy())
