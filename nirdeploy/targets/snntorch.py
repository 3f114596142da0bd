"""The snnTorch target: the graph run by snnTorch 1.0 neurons, converted by nirdeploy.

snnTorch's own ``import_from_nir`` hard-codes dt=1e-4, turns IF into a leaky
neuron with beta=0.9, ignores v_reset and fails on recurrent graphs; this
converter does none of that. It computes the reference's equations
(docs/semantics.md) with snnTorch's ``Leaky`` and ``Synaptic``:

* ``reset_mechanism="zero"`` with ``reset_delay=False`` resets in the spiking
  step to 0, so each population keeps ``u = v - v_reset``, with threshold
  ``v_threshold - v_reset`` (which must be positive). For a node whose
  metadata says ``reset_mode: subtract`` the neuron runs with
  ``reset_mechanism="none"`` and the adapter subtracts the threshold after each
  spike: snnTorch's own subtract with ``reset_delay=False`` subtracts and adds
  back the threshold while a neuron stays above it, which rounds differently
  (measured: 4.6% of a saturated CubaLIF layer's output values differed);
* ``beta = 1 - dt/tau`` (IF: 1), and the input is scaled by ``r dt / tau``
  (IF: ``r dt``; CubaLIF: ``w_in dt/tau_syn`` times ``r dt/tau_mem``, which
  puts the current in units of the membrane);
* snnTorch leaks towards 0, not towards ``v_leak``: the difference enters as a
  constant input ``c = (1 - beta)(v_leak - v_reset)``; in CubaLIF the
  synaptic state carries it (it starts at ``c`` and receives ``(1 - alpha) c``
  per step, so that the membrane receives exactly ``c``).
* LI does not reset: it keeps ``u = v - v_leak`` and starts at ``-v_leak``
  (the reference's LI starts at ``v = 0``).

Layers and recurrent edges are the reference's (nirdeploy builds the graph).
"""

import nir
import numpy as np
import torch
from spikingjelly.activation_based import base

from ..check import Problem
from ..from_nir import build_model, default_dtype
from ..layers import parameter_tensor
from ..neurons import reset_mode
from ..errors import TargetError
from ..producers import Producer, resolve_producer, snntorch_parameters
from .base import Deployment, Target, graph_module_runner


class SnnTorchNeuron(base.MemoryModule):
    """An snnTorch neuron with its state kept as SpikingJelly memories (so reset_net works)."""

    def __init__(self, neuron, input_scale, v_offset, input_bias=0.0, initial_u=0.0, initial_syn=0.0,
                 output_potential=False, subtract=False):
        super().__init__()
        self.neuron = neuron
        self.subtract = subtract
        for name, value in (("input_scale", input_scale), ("input_bias", input_bias), ("v_offset", v_offset),
                            ("initial_u", initial_u), ("initial_syn", initial_syn)):
            self.register_buffer(name, parameter_tensor(value))
        self.output_potential = output_potential
        self.synaptic = type(neuron).__name__ == "Synaptic"
        self.register_memory("mem", None)
        if self.synaptic:
            self.register_memory("syn", None)

    def materialize_states(self, inputs, states, step_mode):
        x = inputs[0] if step_mode == "s" else inputs[0][0]
        initial = (self.initial_u, self.initial_syn)
        return tuple(
            state if isinstance(state, torch.Tensor) else torch.broadcast_to(start.to(x), x.shape).clone()
            for state, start in zip(states, initial)
        )

    def single_step_functional_forward(self, inputs, states, **kwargs):
        x = inputs[0] * self.input_scale + self.input_bias
        if self.synaptic:
            spk, syn, mem = self.neuron(x, states[1], states[0])
            new_states = (mem, syn)
        else:
            spk, mem = self.neuron(x, states[0])
            new_states = (mem,)
        if self.subtract:
            mem = mem - spk * self.neuron.threshold
            new_states = (mem, *new_states[1:])
        out = mem + self.v_offset if self.output_potential else spk
        return (out,), new_states


def _snntorch_reset(node) -> str:
    return "none" if reset_mode(node) == "subtract" else "zero"


def _leaky(beta, threshold, reset="zero"):
    import snntorch as snn

    return snn.Leaky(beta=parameter_tensor(beta), threshold=parameter_tensor(threshold), reset_mechanism=reset, reset_delay=False)


def snntorch_if(name, node: nir.IF, dt):
    neuron = _leaky(np.ones_like(node.r), node.v_threshold - node.v_reset, _snntorch_reset(node))
    return SnnTorchNeuron(neuron, node.r * dt, node.v_reset, subtract=reset_mode(node) == "subtract")


def snntorch_lif(name, node: nir.LIF, dt):
    beta = 1 - dt / node.tau
    neuron = _leaky(beta, node.v_threshold - node.v_reset, _snntorch_reset(node))
    bias = (1 - beta) * (node.v_leak - node.v_reset)
    return SnnTorchNeuron(neuron, node.r * dt / node.tau, node.v_reset, input_bias=bias,
                          subtract=reset_mode(node) == "subtract")


def snntorch_li(name, node: nir.LI, dt):
    neuron = _leaky(1 - dt / node.tau, np.full(node.tau.shape, np.inf), reset="none")
    return SnnTorchNeuron(neuron, node.r * dt / node.tau, node.v_leak, initial_u=-node.v_leak, output_potential=True)


def snntorch_cubalif(name, node: nir.CubaLIF, dt):
    import snntorch as snn

    alpha, beta = 1 - dt / node.tau_syn, 1 - dt / node.tau_mem
    neuron = snn.Synaptic(
        alpha=parameter_tensor(alpha),
        beta=parameter_tensor(beta),
        threshold=parameter_tensor(node.v_threshold - node.v_reset),
        reset_mechanism=_snntorch_reset(node),
        reset_delay=False,
    )
    scale = (node.w_in * dt / node.tau_syn) * (node.r * dt / node.tau_mem)
    constant = (1 - beta) * (node.v_leak - node.v_reset)
    return SnnTorchNeuron(neuron, scale, node.v_reset, input_bias=(1 - alpha) * constant, initial_syn=constant,
                          subtract=reset_mode(node) == "subtract")


SNNTORCH_NEURONS = Producer(
    "snntorch-target",
    "the reference's equations computed by snnTorch Leaky / Synaptic",
    {nir.IF: snntorch_if, nir.LIF: snntorch_lif, nir.LI: snntorch_li, nir.CubaLIF: snntorch_cubalif},
)


def native_leaky(name, node: nir.LIF, dt):
    """A graph snnTorch wrote: its own Leaky, with its default delayed subtractive reset."""
    import snntorch as snn

    p = snntorch_parameters(name, node)
    return SnnTorchNeuron(snn.Leaky(beta=parameter_tensor(p["beta"]), threshold=parameter_tensor(p["v_threshold"])), 1.0, 0.0)


def native_synaptic(name, node: nir.CubaLIF, dt):
    import snntorch as snn

    p = snntorch_parameters(name, node)
    neuron = snn.Synaptic(alpha=parameter_tensor(p["alpha"]), beta=parameter_tensor(p["beta"]), threshold=parameter_tensor(p["v_threshold"]))
    return SnnTorchNeuron(neuron, 1.0, 0.0)


# Graphs in snnTorch's own conventions (producer="snntorch") run on snnTorch's own neurons.
NATIVE_NEURONS = Producer("snntorch-native", "snnTorch's own Leaky / Synaptic defaults",
                          {nir.LIF: native_leaky, nir.CubaLIF: native_synaptic})


class SnnTorchTarget(Target):
    def runtime_status(self) -> tuple:
        try:
            import snntorch
        except ImportError as error:
            return False, f"snntorch is not installed ({error}); pip install --no-deps snntorch==1.0.0"
        return True, f"snntorch {snntorch.__version__}"

    def check_graph(self, graph: nir.NIRGraph, dt: float) -> list:
        return [
            Problem(name, "v_threshold > v_reset", f"min v_threshold - v_reset = {np.min(node.v_threshold - node.v_reset):.3g}",
                    "> 0", "snnTorch resets to 0 and fires above its threshold: keep v_threshold above v_reset")
            for name, node in graph.nodes.items()
            if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)) and np.any(node.v_threshold <= node.v_reset)
        ]

    def deploy(self, graph, dt, device: str = "cpu", dtype: torch.dtype = torch.float32,
               producer=None) -> Deployment:
        """``producer`` as in import_from_nir: the reference's conventions, or 'snntorch' for a graph
        snnTorch wrote, which then runs on snnTorch's own neurons with their defaults."""
        conventions = resolve_producer(producer, graph).name
        if conventions not in ("spikingjelly", "snntorch"):
            raise TargetError(f"the snnTorch target runs graphs in the reference ('spikingjelly') or 'snntorch' "
                              f"conventions, not {conventions!r}; compare {conventions} graphs on the reference")
        self.ensure_deployable(graph, dt)
        neurons = NATIVE_NEURONS if conventions == "snntorch" else SNNTORCH_NEURONS
        with default_dtype(dtype):
            gm = build_model(graph, dt, neurons, "the NIR graph")
        gm.to(device=device, dtype=dtype)
        return Deployment(self.name, gm, graph_module_runner(gm, device))
