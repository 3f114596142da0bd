"""The snnTorch target: a resolved graph run by snnTorch 1.0 neurons, converted by nirdeploy.

snnTorch's own ``import_from_nir`` hard-codes dt=1e-4, turns IF into a leaky
neuron with beta=0.9, ignores v_reset and fails on recurrent graphs; this
converter does none of that. It computes each node's resolved dynamics
(:class:`nirdeploy.semantics.Dynamics`) with snnTorch's ``Leaky`` and ``Synaptic``:

* a hard reset is ``reset_mechanism="zero"`` with ``reset_delay=False``, in the
  spiking step, so each population keeps ``u = v - v_reset`` with threshold
  ``v_threshold - v_reset`` (which must be positive). A subtractive reset runs
  with ``reset_mechanism="none"`` and the adapter subtracts the threshold after
  each spike: snnTorch's own subtract with ``reset_delay=False`` subtracts and adds
  back the threshold while a neuron stays above it, which rounds differently
  (measured: 4.6% of a saturated CubaLIF layer's output values differed);
* ``beta = v_decay``, ``alpha = i_decay``; the input is scaled by ``v_gain``
  (CubaLIF: ``i_gain v_gain``, which puts the current in units of the membrane);
* snnTorch leaks towards 0, not towards the resting potential: the difference
  enters as a constant input ``c = drive - (1 - beta) v_reset``; in CubaLIF the
  synaptic state carries it (it starts at ``c`` and receives ``(1 - alpha) c``
  per step, so that the membrane receives exactly ``c``);
* LI does not reset: it keeps ``u = v - rest`` and starts at ``v_initial - rest``;
* a graph snnTorch wrote (its delayed subtractive reset) runs on snnTorch's own
  Leaky / Synaptic with their defaults.

snnTorch fires where ``v > threshold``; a ``>=`` test gets the threshold's next
float below, which is the same test in the model's dtype. It fires once per
step: check warns where a producer's rule differs (several spikes per step, a
lower bound on v).
Layers and recurrent edges are the reference's (nirdeploy builds the graph).
"""

import numpy as np
import torch
from spikingjelly.activation_based import base

from ..from_nir import build_model, default_dtype
from ..layers import parameter_tensor
from ..semantics import Dynamics, Semantics
from .base import Deployment, Target, graph_module_runner


class SnnTorchNeuron(base.MemoryModule):
    """An snnTorch neuron with its state kept as SpikingJelly memories (so reset_net works)."""

    def __init__(self, neuron, input_scale, v_offset, input_bias=0.0, initial_u=0.0, initial_syn=0.0,
                 output_potential=False, subtract=False, v_threshold=0.0):
        super().__init__()
        self.neuron = neuron
        self.subtract = subtract
        for name, value in (("input_scale", input_scale), ("input_bias", input_bias), ("v_offset", v_offset),
                            ("initial_u", initial_u), ("initial_syn", initial_syn), ("v_threshold", v_threshold)):
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
            mem = mem - spk * self.v_threshold
            new_states = (mem, *new_states[1:])
        out = mem + self.v_offset if self.output_potential else spk
        return (out,), new_states


def _snntorch(name: str, **parameters):
    import snntorch as snn

    return getattr(snn, name)(**{k: v if isinstance(v, (str, bool, torch.Tensor)) else parameter_tensor(v)
                                 for k, v in parameters.items()})


def native_neuron(d: Dynamics) -> SnnTorchNeuron:
    """A graph snnTorch wrote: its own Leaky / Synaptic, with their default delayed subtractive reset."""
    p = d.native
    if d.has_current:
        return SnnTorchNeuron(_snntorch("Synaptic", alpha=p["alpha"], beta=p["beta"], threshold=p["v_threshold"]), 1.0, 0.0)
    return SnnTorchNeuron(_snntorch("Leaky", beta=p["beta"], threshold=p["v_threshold"]), 1.0, 0.0)


def snntorch_neuron(d: Dynamics) -> SnnTorchNeuron:
    """The module docstring's mapping of one node's dynamics onto snnTorch."""
    if d.reset == "subtract-delayed":
        return native_neuron(d)
    if not d.spiking:
        leaky = _snntorch("Leaky", beta=d.v_decay, threshold=np.full(np.shape(d.v_decay), np.inf), reset_mechanism="none")
        return SnnTorchNeuron(leaky, d.v_gain, d.rest, initial_u=d.v_initial - d.rest, output_potential=True)
    offset = d.v_reset if d.reset == "hard" else np.zeros(())
    threshold = parameter_tensor(d.v_threshold - offset)
    if d.threshold_test == ">=":  # snnTorch fires where mem > threshold: just below it, that is mem >= threshold
        threshold = torch.nextafter(threshold, torch.tensor(-np.inf, dtype=threshold.dtype))
    reset = dict(threshold=threshold, reset_mechanism="zero" if d.reset == "hard" else "none", reset_delay=False)
    constant = d.drive - (1 - d.v_decay) * offset
    start = dict(initial_u=d.v_initial - offset, subtract=d.reset == "subtract", v_threshold=d.v_threshold)
    if d.has_current:
        neuron = _snntorch("Synaptic", alpha=d.i_decay, beta=d.v_decay, **reset)
        return SnnTorchNeuron(neuron, d.i_gain * d.v_gain, offset, input_bias=(1 - d.i_decay) * constant,
                              initial_syn=constant, **start)
    return SnnTorchNeuron(_snntorch("Leaky", beta=d.v_decay, **reset), d.v_gain, offset, input_bias=constant, **start)


class SnnTorchTarget(Target):
    def runtime_status(self) -> tuple:
        try:
            import snntorch
        except ImportError as error:
            return False, f"snntorch is not installed ({error}); pip install --no-deps snntorch==1.0.0"
        return True, f"snntorch {snntorch.__version__}"

    def deploy(self, semantics: Semantics, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Deployment:
        """snnTorch modules on ``device`` in ``dtype``."""
        with default_dtype(dtype):
            gm = build_model(semantics, snntorch_neuron, label="snntorch")
        gm.to(device=device, dtype=dtype)
        return Deployment(self.name, gm, graph_module_runner(gm, "snnTorch", device))
