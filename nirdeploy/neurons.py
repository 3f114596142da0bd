"""The reference simulator's neurons: each producer's float arithmetic, built from resolved dynamics.

:func:`reference_neuron` builds the module for a :class:`nirdeploy.semantics.Dynamics`.
Each neuron is a SpikingJelly ``MemoryModule`` (so ``reset_net`` and
``set_step_mode`` work on it) whose parameters are per-neuron buffers. The
SpikingJelly neurons order their arithmetic exactly as SpikingJelly does, so
a SpikingJelly network and its NIR round trip agree bit for bit; their
``to_nir`` is export's conversion to NIR's fields. The producers' neurons
compute each producer's own float order (``Dynamics.arithmetic``), so that a
file imports with the producer's own spikes.
"""

import importlib
import logging
from typing import Optional

import nir
import numpy as np
import torch
from spikingjelly.activation_based import base, surrogate

from .layers import parameter_tensor
from .semantics import DECAY_INPUT, LEAK_FORM, RESET_MODE, Dynamics


def _import_quietly(modules: tuple) -> None:
    """SpikingJelly registers its Triton kernels when a neuron first steps, and torch, without Triton, logs
    a warning per kernel. nirdeploy's neurons register here, with that logger muted and then restored, so
    that no run prints them and the user's own torch warnings still show."""
    logger = logging.getLogger("torch._library.triton")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for module in modules:
            importlib.import_module(module)
    finally:
        logger.setLevel(level)


_import_quietly(("spikingjelly._ops.lif", "spikingjelly._ops.if_", "spikingjelly._ops.plif"))


def _buffer(value, shape: tuple) -> torch.Tensor:
    """A parameter in torch's default dtype, as torch's own layers create theirs;
    one shared by every neuron is kept as a scalar that broadcasts."""
    array = np.asarray(value, dtype=np.float64)
    # A broadcast scalar (all strides 0) is uniform without looking at its elements.
    if array.ndim == 0 or (array.size and (not any(array.strides) or np.all(array == array.flat[0]))):
        array = array.flat[0]
    else:
        array = np.broadcast_to(array, shape)
    return parameter_tensor(array)


def population_shape(*values) -> tuple:
    """The shape every given per-neuron parameter broadcasts to."""
    return np.broadcast_shapes(*(np.shape(v) for v in values if v is not None))


def fire_and_reset(h, v_threshold, v_reset, soft_reset: bool, surrogate_function):
    """Spike where ``h >= v_threshold``; reset to v_reset or subtract the threshold.

    The surrogate function only matters for gradients; without them the same
    step function is computed directly, which saves an autograd call per step.
    """
    if torch.is_grad_enabled():
        spike = surrogate_function(h - v_threshold)
    else:
        spike = (h - v_threshold >= 0).to(h.dtype)
    if soft_reset:
        return spike, h - spike * v_threshold
    return spike, spike * v_reset + (1.0 - spike) * h


def if_charge(x, v, input_gain):
    """Integrate: ``h = v + g x`` with ``g = r dt``."""
    return v + x * input_gain


def lif_charge(x, v, leak, input_gain, v_leak, decay_input: bool, leak_form: str):
    """Forward Euler of ``tau dv/dt = (v_leak - v) + r x``.

    ``leak`` is tau/dt (divided by) or dt/tau (multiplied by). With
    ``decay_input`` the input is leaked together with v (``g = r``), otherwise
    it is added as is (``g = r dt / tau``); these are SpikingJelly's two orders.
    """

    def scale(d):
        return d / leak if leak_form == "divide" else d * leak

    if decay_input:
        return v + scale(x * input_gain - (v - v_leak))
    return v - scale(v - v_leak) + x * input_gain


def cuba_charge(x, i, v, current_decay, current_gain, voltage_decay, voltage_gain, v_leak):
    """The synaptic current is updated first and the *new* current drives v."""
    i = i * current_decay + x * current_gain
    v = v * voltage_decay + i * voltage_gain + v_leak * (1.0 - voltage_decay)
    return i, v


class NeuronPopulation(base.MemoryModule):
    """Per-neuron parameters, state, threshold and reset shared by every neuron model.

    With ``v_threshold=None`` the population does not spike: it outputs its
    potential (NIR's I, LI and CubaLI), starts at 0 and never resets.
    """

    nir_types: tuple = ()  # (spiking node type, non-spiking node type)

    def __init__(self, shape, v_threshold=None, v_reset=0.0, soft_reset=False, state_names=("v",)):
        super().__init__()
        self.shape = tuple(shape)
        self.spiking = v_threshold is not None
        if self.spiking:
            self.register_parameters(v_threshold=v_threshold, v_reset=v_reset)
        self.soft_reset = soft_reset
        self.surrogate_function = surrogate.Sigmoid()
        for name in state_names:
            self.register_memory(name, None)

    def register_parameters(self, **values) -> None:
        for name, value in values.items():
            self.register_buffer(name, _buffer(value, self.shape))

    def numpy(self, name: str) -> np.ndarray:
        """A parameter as float64, a 0-d array where every neuron shares it."""
        return getattr(self, name).detach().cpu().numpy().astype(np.float64)

    def full(self, value) -> np.ndarray:
        """A per-population value as the array of the population's shape that NIR stores."""
        return np.full(self.shape, value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)

    def initial_state(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """v starts at v_reset (0 with soft reset or without spikes), every other state at 0."""
        if name == "v" and self.spiking and not self.soft_reset:
            return torch.broadcast_to(self.v_reset.to(like), like.shape).clone()
        return torch.zeros_like(like)

    def multi_step_functional_forward(self, inputs, states, **kwargs):
        """The single step over ``[T, ...]``, writing into one preallocated output."""
        x_seq = inputs[0]
        outputs = None
        for t in range(x_seq.shape[0]):
            (out,), states = self.single_step_functional_forward((x_seq[t],), states)
            if outputs is None:
                outputs = out.new_empty((x_seq.shape[0], *out.shape))
            outputs[t] = out
        return (outputs,), states

    def materialize_states(self, inputs, states, step_mode):
        x = inputs[0] if step_mode == "s" else inputs[0][0]
        return tuple(
            s if isinstance(s, torch.Tensor) and s.shape == x.shape else self.initial_state(name, x)
            for name, s in zip(self._memories, states)
        )

    def fire(self, h):
        """(output, v after the step): spikes and reset, or the potential itself."""
        if not self.spiking:
            return h, h
        return fire_and_reset(h, self.v_threshold, self.v_reset, self.soft_reset, self.surrogate_function)

    def threshold_fields(self) -> dict:
        """NIR fields for threshold and reset. NIR has no subtractive reset: such a node
        shows plain readers a hard reset to 0, and says the truth in its metadata."""
        if not self.spiking:
            return {"metadata": {}}
        v_reset = np.zeros(self.shape) if self.soft_reset else self.full(self.numpy("v_reset"))
        metadata = {RESET_MODE: "subtract"} if self.soft_reset else {}
        return dict(v_threshold=self.full(self.numpy("v_threshold")), v_reset=v_reset, metadata=metadata)

    def nir_type(self) -> type:
        return self.nir_types[0] if self.spiking else self.nir_types[1]

    def extra_repr(self):
        return f"shape={self.shape}, spiking={self.spiking}, soft_reset={self.soft_reset}, step_mode={self.step_mode}"


class IFNeuron(NeuronPopulation):
    """Integrate(-and-fire): ``h = v + g x``; NIR ``IF`` / ``I`` with ``r = g / dt``."""

    nir_types = (nir.IF, nir.I)

    def __init__(self, input_gain, v_threshold=None, v_reset=0.0, soft_reset=False):
        super().__init__(population_shape(input_gain, v_threshold, v_reset), v_threshold, v_reset, soft_reset)
        self.register_parameters(input_gain=input_gain)

    def single_step_functional_forward(self, inputs, states, **kwargs):
        out, v = self.fire(if_charge(inputs[0], states[0], self.input_gain))
        return (out,), (v,)

    def to_nir(self, dt: float) -> nir.NIRNode:
        return self.nir_type()(r=self.full(self.numpy("input_gain") / dt), **self.threshold_fields())


class LIFNeuron(NeuronPopulation):
    """Leaky integrate(-and-fire), see :func:`lif_charge`; NIR ``LIF`` / ``LI``."""

    nir_types = (nir.LIF, nir.LI)

    def __init__(
        self,
        leak,
        input_gain,
        v_leak,
        v_threshold=None,
        v_reset=0.0,
        soft_reset=False,
        decay_input=True,
        leak_form="divide",
    ):
        super().__init__(
            population_shape(leak, input_gain, v_leak, v_threshold, v_reset), v_threshold, v_reset, soft_reset
        )
        self.register_parameters(leak=leak, input_gain=input_gain, v_leak=v_leak)
        self.decay_input = decay_input
        self.leak_form = leak_form

    def single_step_functional_forward(self, inputs, states, **kwargs):
        h = lif_charge(
            inputs[0], states[0], self.leak, self.input_gain, self.v_leak, self.decay_input, self.leak_form
        )
        out, v = self.fire(h)
        return (out,), (v,)

    def to_nir(self, dt: float) -> nir.NIRNode:
        leak = self.numpy("leak")
        tau_steps = leak if self.leak_form == "divide" else 1.0 / leak
        gain = self.numpy("input_gain")
        r = gain if self.decay_input else gain * tau_steps
        fields = self.threshold_fields()
        # Only what NIR's fields cannot tell a reader goes into metadata.
        if self.leak_form != "divide":
            fields["metadata"][LEAK_FORM] = self.leak_form
        if self.decay_input != bool(np.all(r == 1.0)):
            fields["metadata"][DECAY_INPUT] = "true" if self.decay_input else "false"
        return self.nir_type()(
            tau=self.full(tau_steps * dt), r=self.full(r), v_leak=self.full(self.numpy("v_leak")), **fields
        )


class CubaLIFNeuron(NeuronPopulation):
    """Current-based leaky integrate(-and-fire), see :func:`cuba_charge`; NIR ``CubaLIF`` / ``CubaLI``."""

    nir_types = (nir.CubaLIF, nir.CubaLI)

    def __init__(
        self,
        current_decay,
        current_gain,
        voltage_decay,
        voltage_gain,
        v_leak,
        v_threshold=None,
        v_reset=0.0,
        soft_reset=False,
    ):
        shape = population_shape(current_decay, current_gain, voltage_decay, voltage_gain, v_leak, v_threshold, v_reset)
        super().__init__(shape, v_threshold, v_reset, soft_reset, state_names=("v", "i"))
        self.register_parameters(
            current_decay=current_decay,
            current_gain=current_gain,
            voltage_decay=voltage_decay,
            voltage_gain=voltage_gain,
            v_leak=v_leak,
        )

    def single_step_functional_forward(self, inputs, states, **kwargs):
        v, i = states
        i, h = cuba_charge(
            inputs[0], i, v, self.current_decay, self.current_gain, self.voltage_decay, self.voltage_gain, self.v_leak
        )
        out, v = self.fire(h)
        return (out,), (v, i)

    def to_nir(self, dt: float) -> nir.NIRNode:
        tau_syn = dt / (1.0 - self.numpy("current_decay"))
        tau_mem = dt / (1.0 - self.numpy("voltage_decay"))
        return self.nir_type()(
            tau_syn=self.full(tau_syn),
            tau_mem=self.full(tau_mem),
            r=self.full(self.numpy("voltage_gain") * tau_mem / dt),
            v_leak=self.full(self.numpy("v_leak")),
            w_in=self.full(self.numpy("current_gain") * tau_syn / dt),
            **self.threshold_fields(),
        )


def heaviside(x):
    """``1`` where ``x > 0``: the strict comparison of snnTorch's and Norse's spike functions."""
    return (x > 0).to(x.dtype)


class ProducerNeuron(NeuronPopulation):
    """A neuron whose per-step update is one of the pure step functions below.

    ``step(x, state, p)`` takes the input, a dict of the state tensors and this
    module (whose buffers are the parameters) and returns ``(output, state)``.
    ``initial`` holds, per state, the value it starts at (absent: 0).
    """

    def __init__(self, step, state_names: tuple, parameters: dict, initial: Optional[dict] = None, **constants):
        super().__init__(population_shape(*parameters.values(), *(initial or {}).values()), state_names=state_names)
        self.register_parameters(**parameters)
        self.step = step
        for state, value in (initial or {}).items():
            self.register_buffer(f"initial_{state}", _buffer(value, self.shape))
        for name, value in constants.items():
            setattr(self, name, value)

    def initial_state(self, name, like):
        start = getattr(self, f"initial_{name}", None)
        return torch.zeros_like(like) if start is None else torch.broadcast_to(start.to(like), like.shape).clone()

    def single_step_functional_forward(self, inputs, states, **kwargs):
        out, new = self.step(inputs[0], dict(zip(self._memories, states)), self)
        return (out,), tuple(new[name] for name in self._memories)

    def extra_repr(self):
        return f"{self.step.__name__}, shape={self.shape}, step_mode={self.step_mode}"


def snntorch_leaky_step(x, s, p):
    """snnTorch 1.0 Leaky, subtract reset delayed: ``reset = H(v[t-1] - thr)``, ``v = beta v + x - reset thr``."""
    reset = heaviside(s["v"] - p.v_threshold)
    v = p.beta * s["v"] + x - reset * p.v_threshold
    return heaviside(v - p.v_threshold), {"v": v}


def snntorch_synaptic_step(x, s, p):
    reset = heaviside(s["v"] - p.v_threshold)
    i = p.alpha * s["i"] + x
    v = p.beta * s["v"] + i
    v = v - reset * p.v_threshold
    return heaviside(v - p.v_threshold), {"v": v, "i": i}


def norse_lif_cell_step(x, s, p):
    """Norse LIFCell: the input jumps into the current, v uses it, then the current decays."""
    i_new = s["i"] + x
    v = s["v"] + p.dt * p.tau_mem_inv * ((p.v_leak - s["v"]) + i_new)
    i = i_new + (-p.dt * p.tau_syn_inv * i_new)
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset, "i": i}


def norse_lif_box_step(x, s, p):
    v = s["v"] + p.dt * p.tau_mem_inv * (x + p.v_leak - s["v"])
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset}


def norse_li_box_step(x, s, p):
    v = s["v"] + p.dt * p.tau_mem_inv * ((p.v_leak - s["v"]) + x)
    return v, {"v": v}


def norse_iaf_step(x, s, p):
    v = s["v"] + x
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset}


def _rockpool_spikes(v, p):
    """Rockpool's spikes: ``floor(v / thr)`` where ``v >= thr``, at most ``max_spikes`` per step."""
    spikes = (v >= p.v_threshold) * torch.floor(v / p.v_threshold)
    return spikes.clamp(max=p.max_spikes).to(v.dtype)


def rockpool_lif_step(x, s, p):
    """Rockpool 3.1 LIFTorch: the input enters the current, both decay, v takes the decayed current."""
    i = s["i"] + x
    v = s["v"] * p.alpha
    i = i * p.beta
    v = v + i + p.v_leak
    spikes = _rockpool_spikes(v, p)
    return spikes, {"v": v - spikes * p.v_threshold, "i": i}


def rockpool_lif_neuron_step(x, s, p):
    """Rockpool 3.1 LIFNeuronTorch: decay, input, bias; several spikes per step, each subtracted."""
    v = s["v"] * p.alpha
    v = v + x
    v = v + p.v_leak
    spikes = _rockpool_spikes(v, p)
    return spikes, {"v": v - spikes * p.v_threshold}


def _multi_spike(v, threshold):
    """Sinabs' MultiSpike: ``trunc(v / thr)`` spikes where ``v > 0``."""
    return ((v > 0) * torch.div(v, threshold, rounding_mode="trunc")).to(v.dtype)


def sinabs_iaf_step(x, s, p):
    v = s["v"] + x
    spikes = _multi_spike(v, p.v_threshold)
    return spikes, {"v": torch.maximum(v - spikes * p.v_threshold, p.v_min)}


def sinabs_lif_step(x, s, p):
    v = p.alpha * s["v"] + x
    spikes = _multi_spike(v, p.v_threshold)
    return spikes, {"v": v - spikes * p.v_threshold}


PRODUCER_STEPS = {  # Dynamics.arithmetic -> (step, states)
    "snntorch.leaky": (snntorch_leaky_step, ("v",)),
    "snntorch.synaptic": (snntorch_synaptic_step, ("v", "i")),
    "norse.lif_cell": (norse_lif_cell_step, ("v", "i")),
    "norse.lif_box": (norse_lif_box_step, ("v",)),
    "norse.li_box": (norse_li_box_step, ("v",)),
    "norse.iaf": (norse_iaf_step, ("v",)),
    "rockpool.lif": (rockpool_lif_step, ("v", "i")),
    "rockpool.lif_neuron": (rockpool_lif_neuron_step, ("v",)),
    "sinabs.iaf": (sinabs_iaf_step, ("v",)),
    "sinabs.lif": (sinabs_lif_step, ("v",)),
}


def reference_neuron(d: Dynamics) -> NeuronPopulation:
    """The reference module computing ``d`` in its producer's own float arithmetic."""
    spiking = dict(v_threshold=d.v_threshold, v_reset=d.v_reset, soft_reset=d.reset == "subtract") if d.spiking else {}
    native = {k: v for k, v in d.native.items() if k not in ("decay_input", "leak_form", "dt")}
    if d.arithmetic == "spikingjelly.if":
        return IFNeuron(**native, **spiking)
    if d.arithmetic == "spikingjelly.lif":
        return LIFNeuron(**native, decay_input=d.native["decay_input"], leak_form=d.native["leak_form"], **spiking)
    if d.arithmetic == "spikingjelly.cubalif":
        return CubaLIFNeuron(**native, **spiking)
    step, states = PRODUCER_STEPS[d.arithmetic]
    constants = {"dt": d.native["dt"]} if "dt" in d.native else {}
    if d.spikes_per_step == "floor":
        constants["max_spikes"] = d.max_spikes
    return ProducerNeuron(step, states, native, {"v": d.v_initial}, **constants)
