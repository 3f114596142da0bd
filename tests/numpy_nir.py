"""An independent numpy simulation of NIR graphs, written from the NIR equations.

It uses none of nirdeploy's code: forward Euler at dt, spikes where v >= v_threshold,
CubaLIF's current updated before v, v starting at v_reset, and the subtractive reset
that nirdeploy records in a node's metadata; a Threshold node is nir's Heaviside, 1 where
x > threshold. Float64 throughout. ``ties`` counts, per node, the values that landed exactly
on the threshold, where '>=' and '>' part ways.
"""

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _conv(x, weight, bias, stride, padding, dilation, groups):
    """x: [B, C, *spatial]; 1-d or 2-d convolution by explicit windows."""
    dims = weight.ndim - 2
    stride, dilation = (np.broadcast_to(np.asarray(v), (dims,)).astype(int) for v in (stride, dilation))
    span = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
    if isinstance(padding, (str, np.str_, bytes)):
        # 'same' pads span - 1 in all, the odd one at the end (torch's choice); 'valid' none.
        pads = [((s - 1) // 2, s - 1 - (s - 1) // 2) if str(padding) == "same" else (0, 0) for s in span]
    else:
        pads = [(p, p) for p in np.broadcast_to(np.asarray(padding), (dims,)).astype(int)]
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
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


STATEFUL = (nir.IF, nir.LIF, nir.CubaLIF, nir.I, nir.LI, nir.CubaLI, nir.Delay)


def _step_order(graph):
    """Kahn's order: a node runs once all its inputs ran in this step. When a cycle
    blocks every remaining node, the first one (in the order an input wave reaches
    them) whose missing inputs all come from neurons runs with those neurons' last
    outputs (a recurrent connection carries last step's spikes)."""
    wave = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    for name in wave:
        wave += [b for a, b in graph.edges if a == name and b not in wave]
    wave += [n for n in graph.nodes if n not in wave]
    order = []
    while len(order) < len(wave):
        remaining = [n for n in wave if n not in order]
        ready = [n for n in remaining if all(a in order for a, b in graph.edges if b == n)]
        fed_by_neurons = [
            n for n in remaining
            if all(a in order or isinstance(graph.nodes[a], STATEFUL) for a, b in graph.edges if b == n)
        ]
        order.append((ready or fed_by_neurons)[0])
    return order


def _inline(graph):
    """Replace each subgraph (one Input, one Output) by its inner nodes, named 'sub.inner'."""
    nodes, edges = {}, []
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        sub = _inline(node)
        (sub_in,) = [n for n, v in sub.nodes.items() if isinstance(v, nir.Input)]
        (sub_out,) = [n for n, v in sub.nodes.items() if isinstance(v, nir.Output)]
        nodes.update({f"{name}.{n}": v for n, v in sub.nodes.items() if n not in (sub_in, sub_out)})
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in sub.edges if sub_in not in (a, b) and sub_out not in (a, b)]
        edges += [(f"{name}:in", f"{name}.{b}") for a, b in sub.edges if a == sub_in]
        edges += [(f"{name}.{a}", f"{name}:out") for a, b in sub.edges if b == sub_out]
    for a, b in graph.edges:
        edges.append((a + ":out" if isinstance(graph.nodes[a], nir.NIRGraph) else a, b + ":in" if isinstance(graph.nodes[b], nir.NIRGraph) else b))
    # splice out the ':in' / ':out' joints
    while any(":" in a or ":" in b for a, b in edges):
        joint = next(e for pair in edges for e in pair if ":" in e)
        ins = [a for a, b in edges if b == joint]
        outs = [b for a, b in edges if a == joint]
        edges = [(a, b) for a, b in edges if joint not in (a, b)] + [(a, b) for a in ins for b in outs]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False)


class NumpyNIR:
    def __init__(self, graph: nir.NIRGraph, dt=None):
        graph = _inline(graph)
        self.graph = graph
        self.dt = float(graph.metadata["dt"]) if dt is None else dt
        self.preds = {n: [a for a, b in graph.edges if b == n] for n in graph.nodes}
        self.order = _step_order(graph)
        self.state = {}
        self.previous = {}
        self.ties = {}

    def _neuron(self, name, node, x):
        dt = self.dt
        soft = node.metadata.get("reset_mode") == "subtract"
        spiking = hasattr(node, "v_threshold")
        v = self.state.get(name, {}).get("v")
        if v is None:
            v = np.broadcast_to(node.v_reset, x.shape).copy() if spiking and not soft else np.zeros_like(x)
        if isinstance(node, (nir.IF, nir.I)):
            v = v + dt * node.r * x
        elif isinstance(node, (nir.LIF, nir.LI)):
            v = v + dt / node.tau * (node.v_leak - v + node.r * x)
        else:
            i = self.state.get(name, {}).get("i", np.zeros_like(x))
            i = i + dt / node.tau_syn * (-i + node.w_in * x)
            v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
            self.state.setdefault(name, {})["i"] = i
        if not spiking:
            self.state.setdefault(name, {})["v"] = v
            return v
        self.ties[name] = self.ties.get(name, 0) + int(np.sum(v == node.v_threshold))
        spike = (v >= node.v_threshold).astype(np.float64)
        v = v - spike * node.v_threshold if soft else np.where(spike > 0, node.v_reset, v)
        self.state.setdefault(name, {})["v"] = v
        return spike

    def _previous(self, name, batch):
        """A neuron's output of the last step; zeros before the first."""
        if name in self.previous:
            return self.previous[name]
        return np.zeros((batch, *self.graph.nodes[name].output_type["output"]))

    def step(self, *xs):
        """One step; one array per Input node, in the graph's node order."""
        values = dict(zip([n for n, node in self.graph.nodes.items() if isinstance(node, nir.Input)], xs, strict=True))
        for name in self.order:
            node = self.graph.nodes[name]
            if isinstance(node, nir.Input):
                continue
            inp = sum(values[p] if p in values else self._previous(p, xs[0].shape[0]) for p in self.preds[name])
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
            elif isinstance(node, nir.SumPool2d):
                values[name] = _avgpool(inp, node.kernel_size, node.stride, node.padding) * np.prod(node.kernel_size)
            elif isinstance(node, nir.Scale):
                values[name] = inp * node.scale
            elif isinstance(node, nir.Threshold):
                self.ties[name] = self.ties.get(name, 0) + int(np.sum(inp == node.threshold))
                values[name] = (inp > node.threshold).astype(np.float64)
            elif isinstance(node, nir.Delay):
                history = self.state.setdefault(name, [])
                history.insert(0, inp)
                steps = np.rint(node.delay / self.dt).astype(int)
                padded = [h for h in history] + [np.zeros_like(inp)] * (steps.max() + 1)
                values[name] = np.choose(np.broadcast_to(steps, inp.shape), padded[: steps.max() + 1])
            elif isinstance(node, nir.Flatten):
                values[name] = _flatten(inp, int(node.start_dim), int(node.end_dim))
            else:
                values[name] = self._neuron(name, node, inp)
        self.previous = values
        outputs = [values[n] for n in self.graph.nodes if isinstance(self.graph.nodes[n], nir.Output)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def run(self, x_seq):
        return np.stack([self.step(x) for x in x_seq])
