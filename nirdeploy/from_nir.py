"""Import: ``nir.NIRGraph`` or a .nir file -> ``torch.fx.GraphModule`` of SpikingJelly modules.

This is nirdeploy's reference simulator: layers become SpikingJelly layers,
neurons become :mod:`nirdeploy.neurons` modules, and every NIR edge becomes an
argument, several edges into one node being summed in file order.
"""

import operator
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Union

import nir
import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer
from torch import fx

from .conventions import check_dt, resolve_dt
from .errors import GraphFileError, InvalidArgumentError, UnsupportedNodeError
from .neurons import NEURON_CLASSES, neuron_class_for

SUPPORTED_NODES = "Input, Output, Affine, Linear, Conv1d, Conv2d, AvgPool2d, Flatten, IF, LIF, CubaLIF"


def import_from_nir(
    graph: Union[nir.NIRGraph, str, Path],
    dt: float = 1e-4,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    step_mode: str = "s",
    *,
    dt_override: bool = False,
) -> fx.GraphModule:
    """Build a runnable SpikingJelly network from a NIR graph.

    ``step_mode='s'`` takes ``[B, ...]`` per call, ``'m'`` takes ``[T, B, ...]``;
    state lives in the neurons until ``functional.reset_net``.
    ``gm.meta["nir_modules"]`` maps each NIR node name to its submodule's name. A ``dt`` that
    contradicts ``graph.metadata['dt']`` raises :class:`DtMismatchError` unless
    ``dt_override=True``.
    """
    dt = check_dt(dt)
    if step_mode not in ("s", "m"):
        raise InvalidArgumentError(f"step_mode must be 's' (one step per call) or 'm' ([T, B, ...]), got {step_mode!r}")
    source = f"NIR file {graph}" if isinstance(graph, (str, Path)) else "the NIR graph"
    if isinstance(graph, (str, Path)):
        graph = read_graph(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise InvalidArgumentError(f"graph must be a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    dt = resolve_dt(graph, dt, dt_override, source)
    gm = build_graph_module(graph, dt, source)
    gm.to(device=device, dtype=dtype)
    functional.set_step_mode(gm, step_mode)
    return gm


def read_graph(path: Union[str, Path]) -> nir.NIRGraph:
    path = Path(path)
    if not path.is_file():
        raise GraphFileError(f"NIR file {path} does not exist (or is not a file)")
    try:
        try:
            return nir.read(path)
        except ValueError:
            # nir 1.0.8's type check ignores Conv groups; such files only load unchecked.
            graph = nir.read(path, type_check=False)
            if not _has_grouped_conv(graph):
                raise
            return graph
    except Exception as error:
        raise GraphFileError(
            f"{path} could not be read as a NIR graph ({type(error).__name__}: {error}). "
            "NIR files are HDF5 files written by nir.write; check that the file is complete."
        ) from error


def _has_grouped_conv(graph: nir.NIRGraph) -> bool:
    return any(
        _has_grouped_conv(node) if isinstance(node, nir.NIRGraph) else int(np.asarray(getattr(node, "groups", 1))) > 1
        for node in graph.nodes.values()
    )


def _topological_order(graph: nir.NIRGraph, source: str) -> list:
    predecessors = {name: [] for name in graph.nodes}
    for pre, post in graph.edges:
        for end in (pre, post):
            if end not in graph.nodes:
                raise UnsupportedNodeError(f"{source} has an edge ({pre} -> {post}) to a node '{end}' it does not define")
        predecessors[post].append(pre)
    try:
        return list(TopologicalSorter(predecessors).static_order())
    except CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise UnsupportedNodeError(
            f"{source} has a recurrent cycle ({cycle}); importing recurrent graphs is not supported yet."
        ) from error


def _check_finite(name: str, node: nir.NIRNode, source: str) -> None:
    for field, value in vars(node).items():
        if field in ("input_type", "output_type", "metadata") or not isinstance(value, np.ndarray):
            continue
        if value.dtype.kind in "fiu" and not np.all(np.isfinite(value)):
            raise UnsupportedNodeError(f"{source}: node '{name}' ({type(node).__name__}) has non-finite values in '{field}'")
    for field in ("tau", "tau_mem", "tau_syn"):
        if hasattr(node, field) and np.any(np.asarray(getattr(node, field)) <= 0):
            raise UnsupportedNodeError(
                f"{source}: node '{name}' ({type(node).__name__}) has {field} <= 0; time constants must be positive"
            )


def _pair(value) -> tuple:
    array = np.atleast_1d(np.asarray(value)).astype(int)
    return tuple(int(v) for v in array) if array.size > 1 else int(array[0])


def _padding(value):
    return str(value) if isinstance(value, (str, bytes, np.str_)) else _pair(value)


def _with_weights(make_module, weight, bias=None) -> nn.Module:
    """Build a layer without random initialisation (costly for large layers), then fill it."""
    with torch.device("meta"):
        module = make_module()
    module = module.to_empty(device="cpu")
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(np.asarray(weight)))
        if bias is not None:
            module.bias.copy_(torch.as_tensor(np.asarray(bias)))
    return module


def node_to_module(node: nir.NIRNode, dt: float) -> nn.Module:
    if isinstance(node, (nir.Affine, nir.Linear)):
        out_features, in_features = node.weight.shape
        bias = node.bias if isinstance(node, nir.Affine) else None
        return _with_weights(lambda: layer.Linear(in_features, out_features, bias=bias is not None), node.weight, bias)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        conv = layer.Conv1d if isinstance(node, nir.Conv1d) else layer.Conv2d
        out_channels, in_per_group = node.weight.shape[:2]
        groups = int(np.asarray(node.groups))
        return _with_weights(
            lambda: conv(
                in_per_group * groups,
                out_channels,
                kernel_size=node.weight.shape[2:],
                stride=_pair(node.stride),
                padding=_padding(node.padding),
                dilation=_pair(node.dilation),
                groups=groups,
            ),
            node.weight,
            node.bias,
        )
    if isinstance(node, nir.AvgPool2d):
        return layer.AvgPool2d(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding))
    if isinstance(node, nir.Flatten):
        start, end = (int(d) + 1 if int(d) >= 0 else int(d) for d in (node.start_dim, node.end_dim))
        return layer.Flatten(start, end)
    return neuron_class_for(node).from_nir(node, dt)


def _supported(node: nir.NIRNode) -> bool:
    layers = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.Flatten, nir.Input, nir.Output)
    return type(node) in layers or any(type(node) is cls.nir_type for cls in NEURON_CLASSES)


def _attribute_name(name: str, taken: set) -> str:
    attribute = re.sub(r"\W", "_", name)
    attribute = attribute if attribute and not attribute[0].isdigit() else f"n_{attribute}"
    while attribute in taken:
        attribute += "_"
    taken.add(attribute)
    return attribute


def build_graph_module(graph: nir.NIRGraph, dt: float, source: str = "the NIR graph") -> fx.GraphModule:
    order = _topological_order(graph, source)
    predecessors = {name: [pre for pre, post in graph.edges if post == name] for name in graph.nodes}
    root, fx_graph, taken = nn.Module(), fx.Graph(), set()
    # Placeholders and results follow the file's node order, not the sort's.
    values = {
        name: fx_graph.placeholder(_attribute_name(name, taken))
        for name, node in graph.nodes.items()
        if isinstance(node, nir.Input)
    }
    results, attributes = {}, {}
    for name in order:
        node = graph.nodes[name]
        if not _supported(node):
            raise UnsupportedNodeError(
                f"{source}: node '{name}' has type {type(node).__name__}, which import does not support yet. "
                f"Supported node types: {SUPPORTED_NODES}."
            )
        if isinstance(node, nir.Input):
            continue
        if not predecessors[name]:
            raise UnsupportedNodeError(f"{source}: node '{name}' ({type(node).__name__}) has no incoming edge")
        value = values[predecessors[name][0]]
        for pre in predecessors[name][1:]:
            value = fx_graph.call_function(operator.add, (value, values[pre]))
        if isinstance(node, nir.Output):
            results[name] = value
            continue
        _check_finite(name, node, source)
        attribute = attributes[name] = _attribute_name(name, taken)
        root.add_module(attribute, node_to_module(node, dt))
        values[name] = fx_graph.call_module(attribute, (value,))
    if not results:
        raise UnsupportedNodeError(f"{source} has no Output node, so the network would compute nothing visible")
    outputs = [results[name] for name in graph.nodes if name in results]
    fx_graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
    gm = fx.GraphModule(root, fx_graph)
    gm.meta["nir_modules"] = attributes
    return gm
