"""The stateless NIR nodes between two neuron layers, as one affine map ``y = M x + c`` (numpy only).

A chain such as AvgPool2d -> Conv2d or SumPool2d -> Flatten -> Affine becomes
one Lava Dense: Lava's Dense takes spikes, so pooled (non-binary) values cannot
travel between processes. ``M`` is found by pushing the identity through the
chain, ``c`` by pushing zeros.
"""

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

LINEAR = (nir.Affine, nir.Linear, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, nir.Flatten)


def _pair(value) -> tuple:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (2,)))


def _windows(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, dilation=(1, 1)) -> np.ndarray:
    """x [B, C, H, W] -> [B, C, H', W', kh, kw]."""
    x = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    windows = sliding_window_view(x, span, axis=(2, 3))
    return windows[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]


def _conv2d(name: str, node: nir.Conv2d, x: np.ndarray) -> np.ndarray:
    if isinstance(node.padding, str):
        raise ValueError(f"node '{name}': padding {node.padding!r}; the Lava target takes integer padding")
    weight = np.asarray(node.weight, dtype=np.float64)
    groups = int(node.groups)
    windows = _windows(x, weight.shape[2:], _pair(node.stride), _pair(node.padding), _pair(node.dilation))
    per_group_out, per_group_in = weight.shape[0] // groups, weight.shape[1]
    out = np.concatenate([
        np.einsum("bchwij,ocij->bohw", windows[:, g * per_group_in:(g + 1) * per_group_in],
                  weight[g * per_group_out:(g + 1) * per_group_out])
        for g in range(groups)], axis=1)
    return out + np.asarray(node.bias, dtype=np.float64).reshape(1, -1, 1, 1)


def _pool(node, x: np.ndarray, mean: bool) -> np.ndarray:
    kernel = _pair(node.kernel_size)
    summed = _windows(x, kernel, _pair(node.stride), _pair(node.padding)).sum(axis=(-1, -2))
    return summed / (kernel[0] * kernel[1]) if mean else summed


def apply(name: str, node, x: np.ndarray) -> np.ndarray:
    """One node on a batch ``x`` of shape ``[B, *node's input shape]``."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        y = x.reshape(len(x), -1) @ np.asarray(node.weight, dtype=np.float64).T
        return y + np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else y
    if isinstance(node, nir.Conv2d):
        return _conv2d(name, node, x)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        return _pool(node, x, isinstance(node, nir.AvgPool2d))
    shape = x.shape[1:]
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    return x.reshape((len(x),) + shape[:start] + (-1,) + shape[end + 1:])


def affine_map(chain: list, input_shape: tuple) -> tuple:
    """(M [n_out, n_in], c [n_out]) of the nodes ``chain`` ([(name, node)], applied in order)."""
    size = int(np.prod(input_shape))
    x = np.concatenate([np.zeros((1, size)), np.eye(size)]).reshape((size + 1, *input_shape))
    for name, node in chain:
        x = apply(name, node, x)
    x = x.reshape(size + 1, -1)
    return (x[1:] - x[0]).T, x[0]
