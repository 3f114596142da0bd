"""The reference neurons: the discretisation of docs/semantics.md, written once.

Each neuron is a SpikingJelly ``MemoryModule`` (so ``reset_net`` and
``set_step_mode`` work on it) whose parameters are per-neuron buffers in
per-step units. The arithmetic is ordered exactly as SpikingJelly's own
neurons order it, so a SpikingJelly network and its NIR round trip agree bit
for bit. ``from_nir`` / ``to_nir`` hold the only conversion between these
per-step parameters and NIR's continuous-time fields.
"""

from typing import Optional

import nir
import numpy as np
import torch
from spikingjelly.activation_based import base, surrogate

from .layers import parameter_tensor

# Metadata keys a neuron node carries where NIR's fields do not say how it was
# discretised; absent, a node means NIR's plain semantics (hard reset to
# v_reset, division by tau/dt, input leaked with v exactly when r == 1).
RESET_MODE = "reset_mode"  # "subtract": v -= v_threshold at a spike
LEAK_FORM = "leak_form"  # "multiply": by dt/tau instead of dividing by tau/dt
DECAY_INPUT = "decay_input"  # "true" / "false" where r alone would mislead


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


def reset_mode(node: nir.NIRNode) -> str:
    """'subtract' where the node's metadata says so, else NIR's 'hard' reset to v_reset."""
    return "subtract" if str(node.metadata.get(RESET_MODE, "hard")) == "subtract" else "hard"


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

    @staticmethod
    def threshold_args(node, cls_spiking_type) -> dict:
        """The threshold / reset constructor arguments a NIR node implies."""
        if type(node) is not cls_spiking_type:
            return {}
        return dict(v_threshold=node.v_threshold, v_reset=node.v_reset, soft_reset=reset_mode(node) == "subtract")

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

    @classmethod
    def from_nir(cls, node, dt: float) -> "IFNeuron":
        return cls(node.r * dt, **cls.threshold_args(node, nir.IF))

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

    @classmethod
    def from_nir(cls, node, dt: float) -> "LIFNeuron":
        tau_steps = node.tau / dt
        leak_form = str(node.metadata.get(LEAK_FORM, "divide"))
        recorded = node.metadata.get(DECAY_INPUT)
        decay_input = bool(np.all(node.r == 1.0)) if recorded is None else str(recorded) == "true"
        return cls(
            leak=tau_steps if leak_form == "divide" else 1.0 / tau_steps,
            input_gain=node.r if decay_input else node.r / tau_steps,
            v_leak=node.v_leak,
            decay_input=decay_input,
            leak_form=leak_form,
            **cls.threshold_args(node, nir.LIF),
        )

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

    @classmethod
    def from_nir(cls, node, dt: float) -> "CubaLIFNeuron":
        syn_rate, mem_rate = dt / node.tau_syn, dt / node.tau_mem
        return cls(
            current_decay=1.0 - syn_rate,
            current_gain=node.w_in * syn_rate,
            voltage_decay=1.0 - mem_rate,
            voltage_gain=node.r * mem_rate,
            v_leak=node.v_leak,
            **cls.threshold_args(node, nir.CubaLIF),
        )

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


NEURON_CLASSES = (IFNeuron, LIFNeuron, CubaLIFNeuron)


def neuron_class_for(node: nir.NIRNode) -> Optional[type]:
    return next((cls for cls in NEURON_CLASSES if type(node) in cls.nir_types), None)
