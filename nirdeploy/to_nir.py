"""Export: a torch / SpikingJelly module -> ``nir.NIRGraph``.

The network is traced with torch.fx (known layers and neurons stay leaves),
BatchNorm is folded into the Conv/Linear before it and eval-mode Dropout /
Identity are removed, the example input is propagated to learn every shape,
and each fx node becomes one NIR node. A residual ``a + b`` becomes two edges
into the consumer, which NIR sums.
"""

import contextlib
import io
import operator
from pathlib import Path
from typing import Optional, Union

import nir
import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import base, layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import fx
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from .errors import ExampleInputError, OutputExistsError, UnsupportedModuleError, spell
from .files import atomic_path
from .graphfile import write_graph
from .semantics import check_dt, graph_metadata
from .neurons import CubaLIFNeuron, IFNeuron, LIFNeuron, NeuronPopulation

LINEAR_TYPES = (nn.Linear,)
CONV_TYPES = (nn.Conv1d, nn.Conv2d)
DROPPED_TYPES = (nn.Identity, nn.Dropout, layer.Dropout)
BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)
SJ_NEURON_TYPES = (sj_neuron.IFNode, sj_neuron.LIFNode, sj_neuron.ParametricLIFNode, sj_neuron.CUBALIFNode)
SUPPORTED = (
    "Linear, Conv1d, Conv2d, AvgPool2d, Flatten (torch.nn or spikingjelly layer), BatchNorm1d/2d after a "
    "Conv/Linear, Dropout/Identity in eval mode, spikingjelly IFNode, LIFNode, ParametricLIFNode, "
    "CUBALIFNode, nirdeploy neurons, and the operations a + b and torch.flatten"
)


def export_to_nir(
    net: nn.Module,
    example_input: torch.Tensor,
    save_path: Optional[Union[str, Path]] = None,
    dt: float = 1e-4,
    *,
    overwrite: bool = False,
) -> nir.NIRGraph:
    """Convert ``net`` into a NIR graph (and write it to ``save_path`` as HDF5).

    ``example_input`` carries the batch dimension, ``[B, ...]``, or ``[T, B, ...]``
    for a multi-step network; it is run through ``net`` once to learn the shapes,
    and the neurons' state is restored afterwards. ``dt`` (seconds) turns
    per-step decays into NIR time constants and is recorded in
    ``graph.metadata['dt']``. An existing ``save_path`` is only replaced with
    ``overwrite=True``.
    """
    dt = check_dt(dt)
    if save_path is not None and Path(save_path).exists() and not overwrite:
        raise OutputExistsError(f"{save_path} exists; {spell('pass overwrite=True', 'add --overwrite')} to replace it, "
                                "or choose another path")
    gm = trace(net)
    fold_batchnorm(gm)
    remove_dropped_modules(gm)
    propagate_shapes(gm, net, example_input)
    graph = _GraphBuilder(gm, dt, batch_dims=2 if is_multi_step(net) else 1).build()
    if save_path is not None:
        with atomic_path(save_path) as partial:
            write_graph(partial, graph)
    return graph


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, qualname: str) -> bool:
        return isinstance(module, base.StepModule) or super().is_leaf_module(module, qualname)


def trace(net: nn.Module) -> fx.GraphModule:
    try:
        tracer = _LeafTracer()
        graph = tracer.trace(net)
    except Exception as error:
        raise UnsupportedModuleError(
            f"torch.fx could not trace {type(net).__name__}.forward: {error}. Export needs a forward "
            "without data-dependent control flow; move such logic out of forward or into a leaf module."
        ) from error
    return fx.GraphModule(tracer.root, graph)


def is_multi_step(net: nn.Module) -> bool:
    return any(isinstance(m, base.StepModule) and m.step_mode == "m" for m in net.modules())


def _module_of(gm: fx.GraphModule, node: fx.Node) -> Optional[nn.Module]:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def _describe(node: fx.Node, module: Optional[nn.Module] = None) -> str:
    if module is not None:
        return f"module '{node.target}' ({type(module).__module__}.{type(module).__name__})"
    return f"operation '{node.format_node()}'"


def fold_batchnorm(gm: fx.GraphModule) -> None:
    """Fold each BatchNorm into the Conv/Linear it follows (lossless in real arithmetic)."""
    for node in list(gm.graph.nodes):
        bn = _module_of(gm, node)
        if not isinstance(bn, BATCHNORM_TYPES):
            continue
        producer = node.args[0]
        conv = _module_of(gm, producer) if isinstance(producer, fx.Node) else None
        if not isinstance(conv, LINEAR_TYPES + CONV_TYPES) or len(producer.users) != 1:
            raise UnsupportedModuleError(
                f"{_describe(node, bn)} does not directly follow a Conv or Linear whose only consumer it is; "
                "NIR has no BatchNorm node, so it can only be folded into such a layer. Move it behind one."
            )
        if bn.training or conv.training or bn.running_mean is None:
            raise UnsupportedModuleError(
                f"{_describe(node, bn)} is in training mode or keeps no running statistics; call net.eval() "
                "before export so that its running statistics are folded into the layer before it."
            )
        fuse = fuse_linear_bn_eval if isinstance(conv, LINEAR_TYPES) else fuse_conv_bn_eval
        folded_name = f"{producer.target}_bn_folded".replace(".", "_")
        gm.add_submodule(folded_name, fuse(conv, bn))
        producer.target = folded_name
        node.replace_all_uses_with(producer)
        gm.graph.erase_node(node)


def remove_dropped_modules(gm: fx.GraphModule) -> None:
    """Remove Identity and eval-mode Dropout, which pass their input through unchanged."""
    for node in list(gm.graph.nodes):
        module = _module_of(gm, node)
        if not isinstance(module, DROPPED_TYPES):
            continue
        if module.training and not isinstance(module, nn.Identity):
            raise UnsupportedModuleError(
                f"{_describe(node, module)} is in training mode, where it zeroes activations at random; "
                "call net.eval() before export."
            )
        node.replace_all_uses_with(node.args[0])
        gm.graph.erase_node(node)


def propagate_shapes(gm: fx.GraphModule, net: nn.Module, example_input: torch.Tensor) -> None:
    """Record every fx node's output shape, leaving the neurons' state as it was."""
    if not isinstance(example_input, torch.Tensor):
        raise ExampleInputError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    memories = [
        value.detach().clone() if isinstance(value, torch.Tensor) else value for value in base.extract_memories(net)
    ]
    try:
        # ShapeProp prints the traceback of a failing node itself; the error below says it in one line.
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(example_input)
    except Exception as error:
        layout = "[T, B, ...] (the network is multi-step)" if is_multi_step(net) else "[B, ...]"
        cause = error.__cause__ or error
        raise ExampleInputError(
            f"running example_input of shape {tuple(example_input.shape)} through {type(net).__name__} "
            f"failed: {type(cause).__name__}: {cause}. The example input must be laid out as {layout} and fit "
            "the first layer."
        ) from cause
    finally:
        base.load_memories(net, memories)


def spikingjelly_to_neuron(module: nn.Module, shape: tuple, path: str) -> NeuronPopulation:
    """The nirdeploy neuron that computes exactly what a SpikingJelly neuron computes.

    SpikingJelly's LIF leaks towards v_reset (towards 0 with soft reset).
    """
    soft = module.v_reset is None
    v_reset = 0.0 if soft else module.v_reset
    common = dict(v_threshold=np.broadcast_to(float(module.v_threshold), shape), v_reset=v_reset, soft_reset=soft)
    if isinstance(module, sj_neuron.CUBALIFNode):
        for name in ("c_decay", "v_decay"):
            if not 0.0 <= getattr(module, name) < 1.0:
                raise UnsupportedModuleError(
                    f"module '{path}' (CUBALIFNode) has {name}={getattr(module, name)}, which has no NIR time "
                    "constant; it must lie in [0, 1)"
                )
        return CubaLIFNeuron(module.c_decay, 1.0, module.v_decay, 1.0, v_leak=0.0, **common)
    if isinstance(module, sj_neuron.ParametricLIFNode):
        # SpikingJelly multiplies by sigmoid(w) (float32); keep that form and value.
        rate = float(module.w.detach().sigmoid())
        return LIFNeuron(rate, 1.0, v_leak=v_reset, decay_input=module.decay_input, leak_form="multiply", **common)
    if isinstance(module, sj_neuron.LIFNode):
        return LIFNeuron(module.tau, 1.0, v_leak=v_reset, decay_input=module.decay_input, **common)
    return IFNeuron(1.0, **common)


class _GraphBuilder:
    """Walks the traced graph once, turning each fx node into NIR nodes and edges."""

    def __init__(self, gm: fx.GraphModule, dt: float, batch_dims: int):
        self.gm, self.dt, self.batch_dims = gm, dt, batch_dims
        self.nodes: dict = {}
        self.edges: list = []
        self.sources: dict = {}  # fx node -> NIR nodes whose sum is its value

    def build(self) -> nir.NIRGraph:
        for node in self.gm.graph.nodes:
            getattr(self, f"_on_{node.op}")(node)
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=graph_metadata(self.dt))

    def _shape(self, node: fx.Node) -> tuple:
        return tuple(node.meta["tensor_meta"].shape[self.batch_dims :])

    def _add(self, name: str, nir_node: nir.NIRNode, inputs) -> str:
        while name in self.nodes:
            name += "_"
        self.nodes[name] = nir_node
        for arg in inputs:
            self.edges.extend((source, name) for source in self.sources[arg])
        return name

    def _on_placeholder(self, node: fx.Node) -> None:
        shape = np.array(self._shape(node))
        self.sources[node] = [self._add(str(node.target), nir.Input(input_type={"input": shape}), [])]

    def _on_output(self, node: fx.Node) -> None:
        results = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
        for index, result in enumerate(results):
            name = "output" if len(results) == 1 else f"output_{index}"
            self._add(name, nir.Output(output_type={"output": np.array(self._shape(result))}), [result])

    def _on_call_module(self, node: fx.Node) -> None:
        module = self.gm.get_submodule(node.target)
        nir_node = self._convert_module(node, module)
        self.sources[node] = [self._add(str(node.target), nir_node, [node.args[0]])]

    def _on_call_function(self, node: fx.Node) -> None:
        if node.target in (operator.add, torch.add) and len(node.args) == 2 and not node.kwargs:
            if all(isinstance(arg, fx.Node) for arg in node.args):
                self.sources[node] = self.sources[node.args[0]] + self.sources[node.args[1]]
                return
        if node.target is torch.flatten:
            start, end = (list(node.args[1:]) + [node.kwargs.get("start_dim", 0), node.kwargs.get("end_dim", -1)])[:2]
            nir_node = self._flatten(node.args[0], start, end, sj_layer=False)
            self.sources[node] = [self._add(node.name, nir_node, [node.args[0]])]
            return
        self._unsupported(node)

    def _on_call_method(self, node: fx.Node) -> None:
        self._unsupported(node)

    def _on_get_attr(self, node: fx.Node) -> None:
        self._unsupported(node)

    def _unsupported(self, node: fx.Node, module: Optional[nn.Module] = None):
        raise UnsupportedModuleError(f"{_describe(node, module)} cannot be exported to NIR. Supported: {SUPPORTED}.")

    def _flatten(self, arg: fx.Node, start: int, end: int, sj_layer: bool) -> nir.Flatten:
        # NIR counts dims without batch; a plain torch op in a multi-step net also sees T.
        lead = 1 if sj_layer else self.batch_dims
        start, end = (d - lead if d >= 0 else d for d in (start, end))
        return nir.Flatten(input_type={"input": np.array(self._shape(arg))}, start_dim=start, end_dim=end)

    def _convert_module(self, node: fx.Node, module: nn.Module) -> nir.NIRNode:
        weight = getattr(module, "weight", None)
        weight = weight.detach().cpu().numpy() if isinstance(weight, torch.Tensor) else None
        bias = getattr(module, "bias", None)
        bias = bias.detach().cpu().numpy() if isinstance(bias, torch.Tensor) else None
        if isinstance(module, LINEAR_TYPES):
            return nir.Linear(weight) if bias is None else nir.Affine(weight, bias)
        if isinstance(module, CONV_TYPES):
            return self._conv(node, module, weight, bias)
        if isinstance(module, nn.AvgPool2d):
            return self._avgpool(node, module)
        if isinstance(module, nn.Flatten):
            return self._flatten(node.args[0], module.start_dim, module.end_dim, isinstance(module, base.StepModule))
        if isinstance(module, NeuronPopulation):
            return module.to_nir(self.dt)
        if isinstance(module, SJ_NEURON_TYPES):
            return spikingjelly_to_neuron(module, self._shape(node), str(node.target)).to_nir(self.dt)
        self._unsupported(node, module)

    def _conv(self, node, module, weight, bias) -> nir.NIRNode:
        if module.padding_mode != "zeros":
            raise UnsupportedModuleError(
                f"{_describe(node, module)} pads with '{module.padding_mode}'; NIR convolutions pad with zeros only."
            )
        bias = np.zeros(weight.shape[0], dtype=weight.dtype) if bias is None else bias
        spatial = self._shape(node.args[0])[1:]
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        if isinstance(module, nn.Conv1d):
            padding = padding if isinstance(padding, str) else padding[0]
            conv = nir.Conv1d(spatial[0], weight, module.stride[0], padding, module.dilation[0], module.groups, bias)
        else:
            conv = nir.Conv2d(spatial, weight, module.stride, padding, module.dilation, module.groups, bias)
        # nir 1.0.8 derives the input channels from weight.shape[1], ignoring groups.
        conv.input_type = {"input": np.array([module.in_channels, *spatial])}
        return conv

    def _avgpool(self, node, module: nn.AvgPool2d) -> nir.AvgPool2d:
        padded = np.any(np.asarray(module.padding) != 0)
        if module.ceil_mode or module.divisor_override is not None or (padded and not module.count_include_pad):
            raise UnsupportedModuleError(
                f"{_describe(node, module)} uses ceil_mode, divisor_override or count_include_pad=False with "
                "padding; NIR's AvgPool2d is a plain window mean. Use the defaults for these options."
            )
        pair = nn.modules.utils._pair
        return nir.AvgPool2d(
            kernel_size=np.array(pair(module.kernel_size)),
            stride=np.array(pair(module.stride if module.stride is not None else module.kernel_size)),
            padding=np.array(pair(module.padding)),
        )
