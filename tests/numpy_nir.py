"""An independent numpy simulation of NIR graphs, written from the NIR equations.

It uses none of nirdeploy's code: forward Euler at dt, spikes where v >= v_threshold,
CubaLIF's current updated before v, v starting at v_reset, and the subtractive reset
that nirdeploy records in a node's metadata. Float64 throughout.
"""

from graphlib import TopologicalSorter

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _conv(x, weight, bias, stride, padding, dilation, groups):
    """x: [B, C, *spatial]; 1-d or 2-d convolution by explicit windows."""
    dims = weight.ndim - 2
    stride, padding, dilation = (np.broadcast_to(np.asarray(v), (dims,)).astype(int) for v in (stride, padding, dilation))
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    span = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
    windows = sliding_window_view(x, span, axis=tuple(range(2, 2 + dims)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
    index += tuple(slice(None, None, d) for d in dilation)
    windows = windows[index]  # [B, C, *out, *kernel]
    out_per_group, in_per_group = weight.shape[0] // groups, weight.shape[1]
    outs = []
    for g in range(groups):
        w = weight[g * out_per_group : (g + 1) * out_per_group]
        win = windows[:, g * in_per_group : (g + 1) * in_per_group]
        if dims == 1:
            outs.append(np.einsum("bcxk,ock->box", win, w))
        else:
            outs.append(np.einsum("bcxykl,ockl->boxy", win, w))
    out = np.concatenate(outs, axis=1)
    return out + bias.reshape((1, -1) + (1,) * dims)


def _avgpool(x, kernel, stride, padding):
    kernel, stride, padding = (np.broadcast_to(np.asarray(v), (2,)).astype(int) for v in (kernel, stride, padding))
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    windows = sliding_window_view(x, tuple(kernel), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return windows.mean(axis=(-1, -2))


def _flatten(x, start, end):
    shape = x.shape[1:]
    start, end = start % len(shape), end % len(shape)
    return x.reshape((x.shape[0],) + shape[:start] + (-1,) + shape[end + 1 :])


class NumpyNIR:
    def __init__(self, graph: nir.NIRGraph):
        self.graph = graph
        self.dt = float(graph.metadata["dt"])
        self.preds = {n: [a for a, b in graph.edges if b == n] for n in graph.nodes}
        self.order = list(TopologicalSorter(self.preds).static_order())
        self.state = {}

    def _neuron(self, name, node, x):
        dt = self.dt
        soft = node.metadata.get("reset_mode") == "subtract"
        v = self.state.get(name, {}).get("v")
        if v is None:
            v = np.zeros_like(x) if soft else np.broadcast_to(node.v_reset, x.shape).copy()
        if isinstance(node, nir.IF):
            v = v + dt * node.r * x
        elif isinstance(node, nir.LIF):
            v = v + dt / node.tau * (node.v_leak - v + node.r * x)
        else:
            i = self.state.get(name, {}).get("i", np.zeros_like(x))
            i = i + dt / node.tau_syn * (-i + node.w_in * x)
            v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
            self.state.setdefault(name, {})["i"] = i
        spike = (v >= node.v_threshold).astype(np.float64)
        v = v - spike * node.v_threshold if soft else np.where(spike > 0, node.v_reset, v)
        self.state.setdefault(name, {})["v"] = v
        return spike

    def step(self, x):
        values = {}
        for name in self.order:
            node = self.graph.nodes[name]
            if isinstance(node, nir.Input):
                values[name] = x
                continue
            inp = sum(values[p] for p in self.preds[name])
            if isinstance(node, nir.Output):
                values[name] = inp
            elif isinstance(node, nir.Affine):
                values[name] = inp @ node.weight.T + node.bias
            elif isinstance(node, nir.Linear):
                values[name] = inp @ node.weight.T
            elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
                values[name] = _conv(inp, node.weight, node.bias, node.stride, node.padding, node.dilation, int(node.groups))
            elif isinstance(node, nir.AvgPool2d):
                values[name] = _avgpool(inp, node.kernel_size, node.stride, node.padding)
            elif isinstance(node, nir.Flatten):
                values[name] = _flatten(inp, int(node.start_dim), int(node.end_dim))
            else:
                values[name] = self._neuron(name, node, inp)
        (output,) = [values[n] for n in self.graph.nodes if isinstance(self.graph.nodes[n], nir.Output)]
        return output

    def run(self, x_seq):
        return np.stack([self.step(x) for x in x_seq])
