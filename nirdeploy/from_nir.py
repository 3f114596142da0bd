"""Import: ``nir.NIRGraph`` or a .nir file -> ``torch.fx.GraphModule`` of SpikingJelly modules.

This is nirdeploy's reference simulator: layers become SpikingJelly layers,
neurons become :mod:`nirdeploy.neurons` modules built from the graph's
resolved dynamics (:mod:`nirdeploy.semantics`), and every NIR edge becomes an
argument, several edges into one node being summed in file order.
"""

import keyword
import operator
import re
import warnings
from contextlib import contextmanager
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Callable, Optional, Union

import nir
import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer
from torch import fx

from . import layers
from .errors import InvalidArgumentError, UnsupportedNodeError
from .neurons import reference_neuron
from .semantics import NEURON_TYPES, Semantics, check_dt, load

LAYER_NODES = (
    nir.Input,
    nir.Output,
    nir.Affine,
    nir.Linear,
    nir.Scale,
    nir.Conv1d,
    nir.Conv2d,
    nir.AvgPool2d,
    nir.SumPool2d,
    nir.Flatten,
    nir.Threshold,
    nir.Delay,
)
SUPPORTED_NODES = ", ".join(t.__name__ for t in LAYER_NODES + NEURON_TYPES) + ", NIRGraph"


def import_from_nir(
    graph: Union[nir.NIRGraph, str, Path],
    dt: float = 1e-4,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    step_mode: str = "s",
    *,
    producer: Optional[str] = None,
    dt_override: bool = False,
) -> fx.GraphModule:
    """Build a runnable SpikingJelly network from a NIR graph.

    ``step_mode='s'`` takes ``[B, ...]`` per call, ``'m'`` takes ``[T, B, ...]``;
    state lives in the neurons until ``functional.reset_net``.
    ``gm.meta["nir_modules"]`` maps each NIR node name to its submodule's name. A ``dt`` that
    contradicts ``graph.metadata['dt']`` raises :class:`DtMismatchError` unless
    ``dt_override=True``, which re-discretises every time constant at ``dt``.

    ``producer`` names the framework whose discretisation the graph follows (see
    :data:`nirdeploy.semantics.PRODUCERS`): the conventions recorded in the graph
    by default, else nirdeploy's reference ('spikingjelly'), with a warning that says so.
    """
    dt = check_dt(dt)
    if step_mode not in ("s", "m"):
        raise InvalidArgumentError(f"step_mode must be 's' (one step per call) or 'm' ([T, B, ...]), got {step_mode!r}")
    semantics = load(graph, dt, producer, dt_override)
    warn_assumption(semantics)
    with default_dtype(dtype):  # parameters are rounded once, straight to dtype
        gm = build_model(semantics)
    gm.to(device=device, dtype=dtype)
    functional.set_step_mode(gm, step_mode)
    return gm


def warn_assumption(semantics: Semantics) -> None:
    """Say so when the graph's conventions were assumed, not named or recorded."""
    if semantics.assumed:
        warnings.warn(semantics.assumption(), ConventionsAssumedWarning, stacklevel=3)


class ConventionsAssumedWarning(UserWarning):
    """A graph that records no producer was read with the reference's conventions."""


def build_model(semantics: Semantics, make_neuron: Callable = reference_neuron, label: Optional[str] = None
                ) -> fx.GraphModule:
    """The runnable model of a resolved graph; ``make_neuron(dynamics)`` builds each neuron (the
    reference's by default, or a target's)."""
    gm = build_graph_module(semantics, make_neuron)
    gm.meta["producer"] = label or semantics.producer
    return wrap_recurrent(gm) if gm.meta["recurrent_edges"] else gm


@contextmanager
def default_dtype(dtype: torch.dtype):
    if not dtype.is_floating_point:
        raise InvalidArgumentError(f"dtype must be a floating-point torch dtype, got {dtype}")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _topological_order(graph: nir.NIRGraph, forward_edges: list) -> list:
    predecessors = {name: [] for name in graph.nodes}
    for pre, post in forward_edges:
        predecessors[post].append(pre)
    return list(TopologicalSorter(predecessors).static_order())


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
    """The module of a layer node (neurons are built from their dynamics)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        out_features, in_features = np.shape(node.weight)
        bias = node.bias if isinstance(node, nir.Affine) else None
        return _with_weights(lambda: layer.Linear(in_features, out_features, bias=bias is not None), node.weight, bias)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        conv = layer.Conv1d if isinstance(node, nir.Conv1d) else layer.Conv2d
        out_channels, in_per_group, *kernel = np.shape(node.weight)
        groups = int(np.asarray(node.groups))
        return _with_weights(
            lambda: conv(
                in_per_group * groups,
                out_channels,
                kernel_size=tuple(kernel),
                stride=_pair(node.stride),
                padding=_padding(node.padding),
                dilation=_pair(node.dilation),
                groups=groups,
            ),
            node.weight,
            node.bias,
        )
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        # A sum pool is an average pool that divides by 1.
        divisor = 1 if isinstance(node, nir.SumPool2d) else None
        return layer.AvgPool2d(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding), divisor_override=divisor)
    if isinstance(node, nir.Flatten):
        start, end = (int(d) + 1 if int(d) >= 0 else int(d) for d in (node.start_dim, node.end_dim))
        return layer.Flatten(start, end)
    if isinstance(node, nir.Scale):
        return layers.Scale(node.scale)
    if isinstance(node, nir.Threshold):
        return layers.Threshold(node.threshold)
    steps = np.asarray(node.delay, dtype=np.float64) / dt  # whole numbers: nirdeploy.validate.check_delays
    return layers.Delay(np.rint(steps).astype(np.int64))


def _supported(node: nir.NIRNode) -> bool:
    return type(node) in LAYER_NODES + NEURON_TYPES


# Names a generated module already has (forward, meta, code, graph, training, ...; those starting with "_" are
# never used) and the generated forward's own argument (self): a node named so is renamed.
RESERVED = frozenset(dir(fx.GraphModule(nn.Module(), fx.Graph()))) | frozenset(keyword.kwlist) | {"self"}
MAX_ATTRIBUTE = 64


def _attribute_name(name: str, taken: set) -> str:
    """A safe attribute for NIR node ``name``: ASCII (Python would NFKC-normalise 'ﬁlter' to 'filter'), not
    a keyword nor a GraphModule attribute, unique; gm.meta['nir_modules'] keeps the NIR name."""
    attribute = re.sub(r"[^0-9A-Za-z_]", "_", name)[:MAX_ATTRIBUTE]
    if not attribute or attribute[0].isdigit() or attribute.startswith("_"):
        attribute = f"n_{attribute}"
    while attribute in RESERVED or attribute in taken:
        attribute = f"{attribute}_"
    taken.add(attribute)
    return attribute


def build_graph_module(semantics: Semantics, make_neuron: Callable = reference_neuron) -> fx.GraphModule:
    """One step of the resolved graph as an fx graph; recurrent edges go through :class:`layers.PreviousStep`."""
    graph, dt, source = semantics.graph, semantics.dt, semantics.source
    recurrent = semantics.recurrent_edges
    forward = [edge for edge in graph.edges if edge not in recurrent]
    order = _topological_order(graph, forward)
    predecessors = {name: [pre for pre, post in forward if post == name] for name in graph.nodes}
    root, fx_graph, taken = nn.Module(), fx.Graph(), set()
    # Placeholders and results follow the file's node order, not the sort's.
    values = {
        name: fx_graph.placeholder(_attribute_name(name, taken))
        for name, node in graph.nodes.items()
        if isinstance(node, nir.Input)
    }
    recorders = {edge: _attribute_name(f"previous_{edge[0]}_to_{edge[1]}", taken) for edge in recurrent}
    batch_like = next(iter(values.values()), None)  # any input tells the batch size
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
        terms = [values[pre] for pre in predecessors[name]]
        for (pre, post), recorder in recorders.items():
            if post == name:
                shape = semantics.shapes[pre]
                last = fx_graph.get_attr(f"{recorder}.value")
                terms.append(fx_graph.call_function(layers.previous_or_zeros, (last, batch_like, shape)))
        value = terms[0]
        for term in terms[1:]:
            value = fx_graph.call_function(operator.add, (value, term))
        if isinstance(node, nir.Output):
            results[name] = value
            continue
        attribute = attributes[name] = _attribute_name(name, taken)
        module = make_neuron(semantics[name]) if name in semantics.dynamics else node_to_module(node, dt)
        root.add_module(attribute, module)
        values[name] = fx_graph.call_module(attribute, (value,))
        for (pre, post), recorder in recorders.items():
            if pre == name:
                root.add_module(recorder, layers.PreviousStep())
                values[name] = fx_graph.call_module(recorder, (values[name],))
    outputs = [results[name] for name in graph.nodes if name in results]
    fx_graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
    gm = fx.GraphModule(root, fx_graph)
    gm.meta["nir_modules"] = attributes
    gm.meta["neurons"] = [name for name in attributes if name in semantics.dynamics]
    gm.meta["recurrent_edges"] = recurrent
    return gm


class StepLoop(layer.StepModeContainer):
    """Runs a graph with recurrent edges one step at a time, in either step mode.

    SpikingJelly's ``set_step_mode`` leaves this container's content in 's'.
    """

    def __init__(self, step: fx.GraphModule):
        super().__init__(True, "s", step)

    def forward(self, *inputs):
        if self.step_mode == "s":
            return self[0](*inputs)
        outputs = [self[0](*step_inputs) for step_inputs in zip(*inputs)]
        if isinstance(outputs[0], tuple):
            return tuple(torch.stack(per_output) for per_output in zip(*outputs))
        return torch.stack(outputs)


def wrap_recurrent(step: fx.GraphModule) -> fx.GraphModule:
    """A GraphModule whose only module is a :class:`StepLoop` around ``step``."""
    root, fx_graph = nn.Module(), fx.Graph()
    root.add_module("steps", StepLoop(step))
    inputs = [fx_graph.placeholder(node.target) for node in step.graph.nodes if node.op == "placeholder"]
    fx_graph.output(fx_graph.call_module("steps", tuple(inputs)))
    gm = fx.GraphModule(root, fx_graph)
    gm.meta["nir_modules"] = {name: f"steps.0.{attr}" for name, attr in step.meta["nir_modules"].items()}
    for key in ("neurons", "recurrent_edges", "producer"):
        gm.meta[key] = step.meta[key]
    return gm
