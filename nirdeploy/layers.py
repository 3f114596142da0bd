"""Stateless and delay modules for the NIR nodes that SpikingJelly has no layer for.

Stateless modules broadcast over leading dims, so they work in both step modes
unchanged. The delay modules are SpikingJelly ``MemoryModule``s, so
``functional.reset_net`` clears them.
"""

import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import base


def parameter_tensor(value) -> torch.Tensor:
    """A parameter array as a tensor of torch's default dtype, rounded once from float64."""
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=torch.get_default_dtype())


class Scale(nn.Module, base.StepModule):
    """NIR ``Scale``: ``y = s * x`` elementwise."""

    def __init__(self, scale, step_mode: str = "s"):
        super().__init__()
        self.register_buffer("scale", parameter_tensor(scale))
        self.step_mode = step_mode

    def forward(self, x):
        return x * self.scale


class Threshold(nn.Module, base.StepModule):
    """NIR ``Threshold``, the Heaviside step as nir 1.0.8 defines it: ``1`` where ``x > threshold``, else ``0``
    (no producer discretises it; a neuron's own threshold test is its producer's, nirdeploy.semantics)."""

    def __init__(self, threshold, step_mode: str = "s"):
        super().__init__()
        self.register_buffer("threshold", parameter_tensor(threshold))
        self.step_mode = step_mode

    def forward(self, x):
        return (x > self.threshold).to(x.dtype)


class Delay(base.MemoryModule):
    """NIR ``Delay``: ``y[t] = x[t - d]`` per element, ``d = round(delay / dt)`` steps, 0 before the start."""

    def __init__(self, delay_steps):
        super().__init__()
        steps = np.asarray(delay_steps, dtype=np.int64)
        self.register_buffer("steps", torch.as_tensor(steps))
        self.depth = int(steps.max(initial=0)) + 1
        self.register_memory("history", None)  # [depth, B, ...]; history[k] is x[t - k]

    def single_step_functional_forward(self, inputs, states, **kwargs):
        x = inputs[0]
        history = states[0]
        if history is None or history.shape[1:] != x.shape:
            history = torch.zeros((self.depth, *x.shape), dtype=x.dtype, device=x.device)
        history = torch.cat([x.unsqueeze(0), history[:-1]])
        index = torch.broadcast_to(self.steps, x.shape).unsqueeze(0)
        return (torch.gather(history, 0, index).squeeze(0),), (history,)


class PreviousStep(base.MemoryModule):
    """Holds a value for one step: the delay that every torch executor puts on a recurrent edge.

    Calling it with this step's value stores and passes it on; read before that call in a step,
    ``value`` is last step's value (None at the start).
    """

    def __init__(self):
        super().__init__()
        self.register_memory("value", None)

    def forward(self, x):
        self.value = x
        return x


def previous_or_zeros(previous, batch_like: torch.Tensor, shape: tuple):
    """Last step's value of a recurrent edge; zeros of ``[B, *shape]`` in the first step."""
    if previous is not None:
        return previous
    return torch.zeros((batch_like.shape[0], *shape), dtype=batch_like.dtype, device=batch_like.device)
