"""The stateless NIR nodes between two neuron layers, as one affine map ``y = M x + c`` (numpy and scipy).

A chain such as AvgPool2d -> Conv2d or SumPool2d -> Flatten -> Affine becomes
one Lava connection: Lava's Dense takes spikes, so pooled (non-binary) values
cannot travel between processes. ``M`` is a sparse (CSR) matrix, ``n_out x n_in``,
the product of each node's own matrix (a convolution's unrolled from its
kernel, a pooling's from its windows, a weight matrix as it is); ``c`` is zeros
pushed through the chain with its biases. An unrolled convolution holds a few
weights per row, so :func:`trace` first works out from the shapes alone what
the chain connects and what building ``M`` would cost.
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
    """(M [n_out, n_in] CSR, c [n_out]) of the nodes ``chain`` ([(name, node)], applied in order). M is the
    product of the nodes' matrices without biases, so that each entry is its weights' product exactly
    (summed where paths meet); it holds no zeros."""
    matrix, shape = None, tuple(int(d) for d in input_shape)  # None: the identity, so far
    c = np.zeros((1, *shape))
    for name, node in chain:
        matrix, shape = _times(name, node, matrix, shape)
        c = apply(name, node, c)
    size = math.prod(int(d) for d in input_shape)
    matrix = sparse.identity(size, format="csr") if matrix is None else matrix.tocsr()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix, c.reshape(-1)


def _times(name: str, node, matrix, shape: tuple) -> tuple:
    """(node's matrix @ ``matrix``, the shape after ``node``); ``matrix`` None is the identity."""
    if isinstance(node, nir.Flatten):
        return matrix, tuple(apply(name, node, np.zeros((1, *shape))).shape[1:])
    if isinstance(node, (nir.Affine, nir.Linear)):
        step, after = sparse.csr_matrix(np.asarray(node.weight, dtype=np.float64)), (np.shape(node.weight)[0],)
    elif isinstance(node, nir.Conv2d):
        step, after = conv_matrix(name, node, shape)
    else:
        step, after = pool_matrix(name, node, shape)
    product = step if matrix is None else step @ matrix
    if isinstance(node, nir.AvgPool2d):  # the windows' sum, then divided, as the producer's mean
        kernel = _pair(node.kernel_size)
        product = product / (kernel[0] * kernel[1])
    return product, after


def pool_matrix(name: str, node, shape: tuple) -> tuple:
    """(sparse [n_out, n_in] 0/1 matrix, output shape) of a pooling's window sums: each channel's rows'
    windows times its columns'."""
    factors = _window_factors(name, node, shape)
    return reduce(sparse.kron, factors).tocsr(), tuple(factor.shape[0] for factor in factors)


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
BYTES_PER_SYNAPSE = 16  # a CSR entry: its float64 value and its column index (int32, or int64 when large)
BYTES_PER_ROW = 8  # a CSR row pointer
BUILD_BYTES_PER_SYNAPSE = 64  # building a node's matrix: scipy's COO temporaries, its CSR and their sum


def csr_bytes(synapses: int, rows: int) -> int:
    return BYTES_PER_SYNAPSE * synapses + BYTES_PER_ROW * (rows + 1)


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

    @property
    def bytes(self) -> int:
        """Of the finished CSR matrix."""
        return csr_bytes(self.synapses, self.matrix_shape[0])


@dataclass
class Trace:
    """A chain worked out from the shapes: the shape after each node, the connection pattern, and the bytes
    :func:`affine_map` allocates at its peak."""

    shapes: list  # [input shape, after node 1, ...]
    connectivity: Connectivity
    peak_bytes: int

    @property
    def matrix_bytes(self) -> int:
        """The finished ``M``."""
        return self.connectivity.bytes


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


def _window_factors(name: str, node, shape: tuple) -> list:
    """[channels, rows, columns]: which inputs a convolution's or pooling's windows join along each dim of its
    [channels, height, width] input (sparse 0/1 matrices, [outputs, inputs])."""
    if len(shape) != 3:
        raise ValueError(f"node '{name}': takes [channels, height, width], not {list(shape)}")
    kernel, stride, padding, dilation = window(name, node)
    return [_channels(name, node, shape[0])] + [_taps(shape[d + 1], kernel[d], stride[d], padding[d], dilation[d])
                                                for d in range(2)]


def _spatial(name: str, node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims, the node's own pattern) of a convolution or pooling: each of the three dims'
    pattern composed with it."""
    steps = _window_factors(name, node, shape)
    merged = [reduce(sparse.kron, factors).tocsr() for factors in dims]  # one factor per dim unless flattened
    dims = [[step @ factor] for step, factor in zip(steps, merged)]
    return tuple(step.shape[0] for step in steps), dims, Connectivity(steps)


def _weights(name: str, node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims, the node's own pattern) of an Affine / Linear: every output reaches every input
    that reaches anything."""
    outputs, inputs = np.shape(node.weight)
    if math.prod(shape) != inputs:
        raise ValueError(f"node '{name}': its weight takes {inputs} values, the input has {math.prod(shape)}")
    reached = [sparse.csr_matrix((f.getnnz(axis=0) > 0).astype(np.float64)[None, :]) for d in dims for f in d]
    every = Connectivity([sparse.csr_matrix(np.ones((outputs, 1))), sparse.csr_matrix(np.ones((1, inputs)))])
    return (outputs,), [[sparse.csr_matrix(np.ones((outputs, 1)))] + reached], every


def _flatten(node, shape: tuple, dims: list) -> tuple:
    """(output shape, dims, None: no matrix of its own): the flattened dims become one, whose pattern is the
    Kronecker product of theirs (row-major order), so their factors are kept as they are."""
    start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
    merged = [factor for dim in dims[start : end + 1] for factor in dim]
    shape = shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]
    return shape, dims[:start] + [merged] + dims[end + 1 :], None


def _step_bytes(own: Connectivity, before: Connectivity, after: Connectivity, first: bool) -> int:
    """What one node of :func:`affine_map` holds at its peak: the matrix so far, the node's matrix as it is
    built, their product (scipy sizes it for every path through both, before merging), an AvgPool2d's
    divided copy, and scipy's per-column work arrays."""
    built = BUILD_BYTES_PER_SYNAPSE * own.synapses
    if first:
        return built + after.bytes
    paths = own.synapses * int(before.fan_in().max(initial=0))
    return before.bytes + built + csr_bytes(paths, after.matrix_shape[0]) + after.bytes + 16 * before.matrix_shape[1]


def trace(chain: list, input_shape: tuple) -> Trace:
    """The shapes, connection pattern and peak memory of :func:`affine_map` on ``chain``, from the shapes
    alone; a ValueError naming the node that does not take its input's shape."""
    shape = tuple(int(d) for d in input_shape)
    dims = [[sparse.identity(d, format="csr")] for d in shape]
    shapes, peak, first = [shape], 0, True
    for name, node in chain:
        before = Connectivity([factor for dim in dims for factor in dim])
        if isinstance(node, (nir.Affine, nir.Linear)):
            shape, dims, own = _weights(name, node, shape, dims)
        elif isinstance(node, nir.Flatten):
            shape, dims, own = _flatten(node, shape, dims)
        else:
            shape, dims, own = _spatial(name, node, shape, dims)
        if own is not None:
            after = Connectivity([factor for dim in dims for factor in dim])
            peak, first = max(peak, _step_bytes(own, before, after, first)), False
        shapes.append(shape)
    connectivity = Connectivity([factor for dim in dims for factor in dim])
    return Trace(shapes, connectivity, max(peak, connectivity.bytes))
