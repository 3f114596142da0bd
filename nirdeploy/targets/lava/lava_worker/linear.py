"""The stateless NIR nodes between two neuron layers, as one affine map ``y = M x + c`` (numpy only).

A chain such as AvgPool2d -> Conv2d or SumPool2d -> Flatten -> Affine becomes
one Lava Dense: Lava's Dense takes spikes, so pooled (non-binary) values cannot
travel between processes. ``M`` is found by pushing the identity through the
chain with its biases left out, ``c`` by pushing zeros; a convolution acts as
its sparse matrix (:func:`conv_matrix`), which a leading convolution simply is.

``M`` is dense, ``n_out x n_in``, however few synapses it holds (an unrolled
convolution uses a few per row), so :func:`trace` first works out from the
shapes alone what the chain connects and what building ``M`` would cost.
"""

import math
from dataclasses import dataclass
from functools import reduce

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse

LINEAR = (nir.Affine, nir.Linear, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, nir.Flatten)


def _pair(value) -> tuple:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (2,)))


def _windows(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, dilation=(1, 1)) -> np.ndarray:
    """x [B, C, H, W] -> [B, C, H', W', kh, kw]."""
    if any(padding):
        x = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    windows = sliding_window_view(x, span, axis=(2, 3))
    return windows[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]


def _conv2d(name: str, node: nir.Conv2d, x: np.ndarray, bias: bool) -> np.ndarray:
    matrix, shape = conv_matrix(name, node, x.shape[1:])
    out = (matrix @ x.reshape(len(x), -1).T).T.reshape(len(x), *shape)
    return out + np.asarray(node.bias, dtype=np.float64).reshape(1, -1, 1, 1) if bias else out


def _pool(node, x: np.ndarray, mean: bool) -> np.ndarray:
    kernel = _pair(node.kernel_size)
    summed = _windows(x, kernel, _pair(node.stride), _pair(node.padding)).sum(axis=(-1, -2))
    return summed / (kernel[0] * kernel[1]) if mean else summed


def apply(name: str, node, x: np.ndarray, bias: bool = True) -> np.ndarray:
    """One node on a batch ``x`` of shape ``[B, *node's input shape]``; ``bias`` False leaves biases out."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        y = x.reshape(len(x), -1) @ np.asarray(node.weight, dtype=np.float64).T
        return y + np.asarray(node.bias, dtype=np.float64) if bias and isinstance(node, nir.Affine) else y
    if isinstance(node, nir.Conv2d):
        return _conv2d(name, node, x, bias)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        return _pool(node, x, isinstance(node, nir.AvgPool2d))
    shape = x.shape[1:]
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    return x.reshape((len(x),) + shape[:start] + (-1,) + shape[end + 1:])


def affine_map(chain: list, input_shape: tuple) -> tuple:
    """(M [n_out, n_in], c [n_out]) of the nodes ``chain`` ([(name, node)], applied in order). M is the
    identity pushed through the chain without biases, so that each entry is its weights' product exactly;
    a convolution that comes first is unrolled from its kernel instead (:func:`conv_matrix`, the same
    numbers without pushing the identity through it)."""
    size = int(np.prod(input_shape))
    c = np.zeros((1, *input_shape))
    x = None if chain and isinstance(chain[0][1], nir.Conv2d) else np.eye(size).reshape((size, *input_shape))
    for name, node in chain:
        if x is None:
            matrix, shape = conv_matrix(name, node, tuple(input_shape))
            x = matrix.T.toarray().reshape(size, *shape)
        else:
            x = apply(name, node, x, bias=False)
        c = apply(name, node, c)
    return x.reshape(size, -1).T, c.reshape(-1)


def conv_matrix(name: str, node: nir.Conv2d, input_shape: tuple) -> tuple:
    """(sparse [n_out, n_in] matrix, output shape) of a Conv2d without its bias: for each kernel position,
    its [out channels, in channels] weights (zero across groups) times which rows and columns that tap
    joins. A tap joins each (output, input) pair of a dim at most once, so every entry is one weight exactly."""
    weight = np.asarray(node.weight, dtype=np.float64)
    kernel, stride, padding, dilation = window(name, node)
    _channels(name, node, input_shape[0])  # refuses a weight whose groups do not take the input's channels
    groups, (out_channels, per_group_in) = int(node.groups), weight.shape[:2]
    per_group_out = out_channels // groups
    total = None
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            channels = sparse.block_diag([weight[g * per_group_out:(g + 1) * per_group_out, :, ky, kx]
                                          for g in range(groups)], format="csr")
            rows = _tap(input_shape[1], kernel[0], stride[0], padding[0], dilation[0], ky)
            columns = _tap(input_shape[2], kernel[1], stride[1], padding[1], dilation[1], kx)
            term = sparse.kron(sparse.kron(channels, rows), columns, format="csr")
            total = term if total is None else total + term
    return total, (out_channels, rows.shape[0], columns.shape[0])


# --- the chain from its shapes alone ---------------------------------------------------------------------
BYTES_PER_VALUE = 8  # affine_map computes in float64


@dataclass
class Connectivity:
    """Which inputs of a chain reach which of its outputs: the Kronecker product of ``factors`` (sparse 0/1
    matrices, outer dims first), never built whole. A convolution's pattern is one factor per dim
    (channels, rows, columns); a weight matrix reaches every output from every input that reaches it."""

    factors: list

    @property
    def synapses(self) -> int:
        return math.prod(int(f.nnz) for f in self.factors)

    @property
    def matrix_shape(self) -> tuple:
        return math.prod(f.shape[0] for f in self.factors), math.prod(f.shape[1] for f in self.factors)

    def fan_in(self) -> np.ndarray:
        """Per output: the inputs it is connected to."""
        return reduce(np.kron, [np.asarray(f.getnnz(axis=1), dtype=np.int64) for f in self.factors])


@dataclass
class Trace:
    """A chain worked out from the shapes: the shape after each node, the connection pattern, and the bytes
    :func:`affine_map` allocates at its peak."""

    shapes: list  # [input shape, after node 1, ...]
    connectivity: Connectivity
    peak_bytes: int

    @property
    def matrix_bytes(self) -> int:
        """The finished dense ``M``."""
        rows, columns = self.connectivity.matrix_shape
        return BYTES_PER_VALUE * rows * columns


def window(name: str, node) -> tuple:
    """(kernel, stride, padding, dilation), each (rows, columns), of a convolution or pooling node."""
    if isinstance(node.padding, str):
        raise ValueError(f"node '{name}': padding {node.padding!r}; the Lava target takes integer padding")
    if isinstance(node, nir.Conv2d):
        return tuple(np.shape(node.weight)[2:]), _pair(node.stride), _pair(node.padding), _pair(node.dilation)
    return _pair(node.kernel_size), _pair(node.stride), _pair(node.padding), (1, 1)


def _taps(size: int, kernel: int, stride: int, padding: int, dilation: int) -> sparse.csr_matrix:
    """[outputs, size]: which positions of one dim each output position's window covers (padding covers
    nothing)."""
    return sum(_tap(size, kernel, stride, padding, dilation, tap) for tap in range(kernel)).tocsr()


def _tap(size: int, kernel: int, stride: int, padding: int, dilation: int, tap: int) -> sparse.csr_matrix:
    """[outputs, size]: the position of one dim that window position ``tap`` of each output covers, if any."""
    outputs = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if outputs < 1:
        raise ValueError(f"a window of {kernel} (dilation {dilation}, padding {padding}) does not fit a dim of "
                         f"{size}")
    out = np.arange(outputs)
    position = out * stride - padding + tap * dilation
    inside = (position >= 0) & (position < size)
    return sparse.csr_matrix((np.ones(int(inside.sum())), (out[inside], position[inside])), shape=(outputs, size))


def _channels(name: str, node, channels: int) -> sparse.csr_matrix:
    """[out channels, in channels]: a convolution connects the channels of one group, a pooling each channel
    to itself."""
    if not isinstance(node, nir.Conv2d):
        return sparse.identity(channels, format="csr")
    weight_shape, groups = np.shape(node.weight), int(node.groups)
    if channels != groups * weight_shape[1]:
        raise ValueError(f"node '{name}': its weight takes {groups} group(s) of {weight_shape[1]} channels, "
                         f"the input has {channels}")
    out_group = np.arange(weight_shape[0]) // (weight_shape[0] // groups)
    in_group = np.arange(channels) // weight_shape[1]
    return sparse.csr_matrix((out_group[:, None] == in_group[None, :]).astype(np.float64))


def _spatial(name: str, node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims) of a convolution or pooling: each of the three dims' pattern composed with it."""
    if len(shape) != 3:
        raise ValueError(f"node '{name}': takes [channels, height, width], not {list(shape)}")
    kernel, stride, padding, dilation = window(name, node)
    steps = [_channels(name, node, shape[0])] + [_taps(shape[d + 1], kernel[d], stride[d], padding[d], dilation[d])
                                                 for d in range(2)]
    merged = [reduce(sparse.kron, factors).tocsr() for factors in dims]  # one factor per dim unless flattened
    dims = [[step @ factor] for step, factor in zip(steps, merged)]
    return tuple(step.shape[0] for step in steps), dims


def _weights(name: str, node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims) of an Affine / Linear: every output reaches every input that reaches anything."""
    outputs, inputs = np.shape(node.weight)
    if math.prod(shape) != inputs:
        raise ValueError(f"node '{name}': its weight takes {inputs} values, the input has {math.prod(shape)}")
    reached = [sparse.csr_matrix((f.getnnz(axis=0) > 0).astype(np.float64)[None, :]) for d in dims for f in d]
    return (outputs,), [[sparse.csr_matrix(np.ones((outputs, 1)))] + reached]


def _flatten(node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims): the flattened dims become one, whose pattern is the Kronecker product of theirs
    (row-major order), so their factors are kept as they are."""
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    merged = [factor for dim in dims[start : end + 1] for factor in dim]
    shape = shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]
    return shape, dims[:start] + [merged] + dims[end + 1 :]


def _padded_size(node, shape: tuple) -> int:
    """Values per sample of the padded copy a convolution or pooling makes of its input (0 for the others)."""
    if not isinstance(node, (nir.Conv2d, nir.AvgPool2d, nir.SumPool2d)) or isinstance(node.padding, str):
        return 0
    padding = _pair(node.padding)
    return shape[0] * (shape[1] + 2 * padding[0]) * (shape[2] + 2 * padding[1])


def trace(chain: list, input_shape: tuple) -> Trace:
    """The shapes, connection pattern and peak memory of :func:`affine_map` on ``chain``, from the shapes
    alone; a ValueError naming the node that does not take its input's shape."""
    shape = tuple(int(d) for d in input_shape)
    dims = [[sparse.identity(d, format="csr")] for d in shape]
    shapes, rows = [shape], math.prod(shape) + 1
    # affine_map's peak: the identity and its copy first, then per node its input, its padded copy and up to
    # three results (the product, the bias added, the groups joined); the last node's result twice more. A
    # convolution that comes first is unrolled instead: its matrix, a transposed copy and their sum's terms.
    unrolled = bool(chain) and isinstance(chain[0][1], nir.Conv2d)
    widths = [] if unrolled else [2 * math.prod(shape)]
    for index, (name, node) in enumerate(chain):
        before = shape
        if isinstance(node, (nir.Affine, nir.Linear)):
            shape, dims = _weights(name, node, shape, dims)
        elif isinstance(node, nir.Flatten):
            shape, dims = _flatten(node, shape, dims)
        else:
            shape, dims = _spatial(name, node, shape, dims)
        first_unrolled = unrolled and index == 0
        widths.append(3 * math.prod(shape) if first_unrolled else
                      math.prod(before) + _padded_size(node, before) + 3 * math.prod(shape))
        shapes.append(shape)
    widths.append(3 * math.prod(shape))
    factors = [factor for dim in dims for factor in dim]
    return Trace(shapes, Connectivity(factors), BYTES_PER_VALUE * rows * max(widths))
