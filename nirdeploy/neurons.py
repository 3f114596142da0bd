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

# Metadata keys a neuron node carries where NIR's fields do not say how it was
# discretised; absent, a node means NIR's plain semantics (hard reset to
# v_reset, division by tau/dt, input leaked with v exactly when r == 1).
RESET_MODE = "reset_mode"  # "subtract": v -= v_threshold at a spike
LEAK_FORM = "leak_form"  # "multiply": by dt/tau instead of dividing by tau/dt
DECAY_INPUT = "decay_input"  # "true" / "false" where r alone would mislead


def _buffer(value, shape: tuple) -> torch.Tensor:
    """A parameter as float32; one shared by every neuron is kept as a scalar that broadcasts."""
    array = np.asarray(value, dtype=np.float64)
    # A broadcast scalar (all strides 0) is uniform without looking at its elements.
    if array.ndim == 0 or (array.size and (not any(array.strides) or np.all(array == array.flat[0]))):
        array = array.flat[0]
    else:
        array = np.broadcast_to(array, shape)
    return torch.as_tensor(np.array(array), dtype=torch.float32)


def fire_and_reset(h, v_threshold, v_reset, soft_reset: bool, surrogate_function):
    """Spike where ``h >= v_threshold``; reset to v_reset or subtract the threshold."""
    spike = surrogate_function(h - v_threshold)
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


class SpikingNeuron(base.MemoryModule):
    """Threshold, reset and state handling shared by the reference neurons."""

    nir_type: type = None

    def __init__(self, v_threshold, v_reset, soft_reset: bool, state_names=("v",)):
        super().__init__()
        self.shape = tuple(np.shape(v_threshold))
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
        """v starts at v_reset (0 with soft reset), every other state at 0."""
        if name == "v" and not self.soft_reset:
            return torch.broadcast_to(self.v_reset.to(like), like.shape).clone()
        return torch.zeros_like(like)

    def materialize_states(self, inputs, states, step_mode):
        x = inputs[0] if step_mode == "s" else inputs[0][0]
        return tuple(
            s if isinstance(s, torch.Tensor) and s.shape == x.shape else self.initial_state(name, x)
            for name, s in zip(self._memories, states)
        )

    def fire(self, h):
        return fire_and_reset(h, self.v_threshold, self.v_reset, self.soft_reset, self.surrogate_function)

    def reset_metadata(self) -> dict:
        return {RESET_MODE: "subtract"} if self.soft_reset else {}

    def nir_v_reset(self) -> np.ndarray:
        """NIR has no subtractive reset: such a node shows a hard reset to 0 to plain readers."""
        return np.zeros(self.shape) if self.soft_reset else self.full(self.numpy("v_reset"))

    @staticmethod
    def soft_reset_of(node) -> bool:
        return str(node.metadata.get(RESET_MODE, "hard")) == "subtract"

    def extra_repr(self):
        return f"shape={self.shape}, soft_reset={self.soft_reset}, step_mode={self.step_mode}"


class IFNeuron(SpikingNeuron):
    """Integrate-and-fire: ``h = v + g x``; NIR ``IF`` with ``r = g / dt``."""

    nir_type = nir.IF

    def __init__(self, input_gain, v_threshold, v_reset=0.0, soft_reset=False):
        super().__init__(v_threshold, v_reset, soft_reset)
        self.register_parameters(input_gain=input_gain)

    def single_step_functional_forward(self, inputs, states, **kwargs):
        h = if_charge(inputs[0], states[0], self.input_gain)
        spike, v = self.fire(h)
        return (spike,), (v,)

    @classmethod
    def from_nir(cls, node: nir.IF, dt: float) -> "IFNeuron":
        return cls(node.r * dt, node.v_threshold, node.v_reset, cls.soft_reset_of(node))

    def to_nir(self, dt: float) -> nir.IF:
        return nir.IF(
            r=self.full(self.numpy("input_gain") / dt),
            v_threshold=self.full(self.numpy("v_threshold")),
            v_reset=self.nir_v_reset(),
            metadata=self.reset_metadata(),
        )


class LIFNeuron(SpikingNeuron):
    """Leaky integrate-and-fire, see :func:`lif_charge`; NIR ``LIF``."""

    nir_type = nir.LIF

    def __init__(
        self,
        leak,
        input_gain,
        v_leak,
        v_threshold,
        v_reset=0.0,
        soft_reset=False,
        decay_input=True,
        leak_form="divide",
    ):
        super().__init__(v_threshold, v_reset, soft_reset)
        self.register_parameters(leak=leak, input_gain=input_gain, v_leak=v_leak)
        self.decay_input = decay_input
        self.leak_form = leak_form

    def single_step_functional_forward(self, inputs, states, **kwargs):
        h = lif_charge(
            inputs[0], states[0], self.leak, self.input_gain, self.v_leak, self.decay_input, self.leak_form
        )
        spike, v = self.fire(h)
        return (spike,), (v,)

    @classmethod
    def from_nir(cls, node: nir.LIF, dt: float) -> "LIFNeuron":
        tau_steps = node.tau / dt
        leak_form = str(node.metadata.get(LEAK_FORM, "divide"))
        recorded = node.metadata.get(DECAY_INPUT)
        decay_input = np.all(node.r == 1.0) if recorded is None else str(recorded) == "true"
        return cls(
            leak=tau_steps if leak_form == "divide" else 1.0 / tau_steps,
            input_gain=node.r if decay_input else node.r / tau_steps,
            v_leak=node.v_leak,
            v_threshold=node.v_threshold,
            v_reset=node.v_reset,
            soft_reset=cls.soft_reset_of(node),
            decay_input=bool(decay_input),
            leak_form=leak_form,
        )

    def to_nir(self, dt: float) -> nir.LIF:
        leak = self.numpy("leak")
        tau_steps = leak if self.leak_form == "divide" else 1.0 / leak
        gain = self.numpy("input_gain")
        r = gain if self.decay_input else gain * tau_steps
        # Only what NIR's fields cannot tell a reader goes into metadata.
        metadata = self.reset_metadata()
        if self.leak_form != "divide":
            metadata[LEAK_FORM] = self.leak_form
        if self.decay_input != bool(np.all(r == 1.0)):
            metadata[DECAY_INPUT] = "true" if self.decay_input else "false"
        return nir.LIF(
            tau=self.full(tau_steps * dt),
            r=self.full(r),
            v_leak=self.full(self.numpy("v_leak")),
            v_threshold=self.full(self.numpy("v_threshold")),
            v_reset=self.nir_v_reset(),
            metadata=metadata,
        )


class CubaLIFNeuron(SpikingNeuron):
    """Current-based LIF, see :func:`cuba_charge`; NIR ``CubaLIF``."""

    nir_type = nir.CubaLIF

    def __init__(
        self,
        current_decay,
        current_gain,
        voltage_decay,
        voltage_gain,
        v_leak,
        v_threshold,
        v_reset=0.0,
        soft_reset=False,
    ):
        super().__init__(v_threshold, v_reset, soft_reset, state_names=("v", "i"))
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
        spike, v = self.fire(h)
        return (spike,), (v, i)

    @classmethod
    def from_nir(cls, node: nir.CubaLIF, dt: float) -> "CubaLIFNeuron":
        syn_rate, mem_rate = dt / node.tau_syn, dt / node.tau_mem
        return cls(
            current_decay=1.0 - syn_rate,
            current_gain=node.w_in * syn_rate,
            voltage_decay=1.0 - mem_rate,
            voltage_gain=node.r * mem_rate,
            v_leak=node.v_leak,
            v_threshold=node.v_threshold,
            v_reset=node.v_reset,
            soft_reset=cls.soft_reset_of(node),
        )

    def to_nir(self, dt: float) -> nir.CubaLIF:
        tau_syn = dt / (1.0 - self.numpy("current_decay"))
        tau_mem = dt / (1.0 - self.numpy("voltage_decay"))
        return nir.CubaLIF(
            tau_syn=self.full(tau_syn),
            tau_mem=self.full(tau_mem),
            r=self.full(self.numpy("voltage_gain") * tau_mem / dt),
            v_leak=self.full(self.numpy("v_leak")),
            v_threshold=self.full(self.numpy("v_threshold")),
            v_reset=self.nir_v_reset(),
            w_in=self.full(self.numpy("current_gain") * tau_syn / dt),
            metadata=self.reset_metadata(),
        )


NEURON_CLASSES = (IFNeuron, LIFNeuron, CubaLIFNeuron)


def neuron_class_for(node: nir.NIRNode) -> Optional[type]:
    return next((cls for cls in NEURON_CLASSES if type(node) is cls.nir_type), None)
