"""Loihi 2's fixed-point CUBA LIF and Dense arithmetic in torch: lava-nc's bit-accurate models, vectorised.

Runs a Lava target's plan (``lava_worker.mapping.Plan``) with the integer
parameters the plan computes for Lava itself (``Plan.fixed_population``,
``Plan.fixed_weights``), every sample of a batch at once, one update per step,
on Lava's timeline (docs/lava.md, "Fixed point" and "Mapping"). Per Lava step
``t`` and population (lava-nc 0.10.0, ``PyLifModelBitAcc``, ``PyDenseModelBitAcc``):

    a_in[t] = sum over projections of W s_pre[t - 1]   (each Dense delivers one step late)
              + bias, from step ``depth`` on            (CubaLIF's Affine bias through its current)
    u[t] = trunc0(u[t-1] (4096 - (du + 1)) / 4096) + (a_in[t] << 6)        wraps past +-2**23
    v[t] = trunc0(v[t-1] (4096 - dv) / 4096) + u[t] + (bias_mant << bias_exp), from step ``depth`` on
           clipped to +-(2**23 - 1)
    s[t] = v[t] > vth << 6;  v[t] = 0 where s[t]

``trunc0`` rounds towards zero (Lava: sign times the right-shifted magnitude).
"""

from dataclasses import dataclass

import numpy as np
import torch

UV_LIMIT = 2**23  # u and v are 24-bit
DECAY_UNIT = 4096  # decays are 12-bit fractions
SHIFT = 6  # Loihi MSB-aligns a_in and vth with u and v by 6 bits
EXACT_FLOAT32 = 2**24  # integers a float32 matrix product keeps exactly (sums of at most this magnitude)


@dataclass
class Layer:
    """One population's integer parameters, per neuron, as torch tensors."""

    u_keep: torch.Tensor  # 4096 - (du + 1)
    v_keep: torch.Tensor  # 4096 - dv
    threshold: int  # vth << 6
    leak: torch.Tensor  # bias_mant << bias_exp
    bias: torch.Tensor  # a_in from CubaLIF's Affine bias (zeros where there is none)
    depth: int


def lava_clipped(weights: np.ndarray, post_groups: list, pre_groups: list) -> np.ndarray:
    """Weights as lava-nc's Dense / Sparse keep them: each process (one per pair of du/dv groups) clips to its
    own sign mode, and a block with no positive weight keeps -255..0, so the plan's -256 becomes -255."""
    kept = weights.copy()
    for post in post_groups:
        for pre in pre_groups:
            block = kept[np.ix_(post, pre)]
            if block.size and block.max() <= 0:
                kept[np.ix_(post, pre)] = np.maximum(block, -255)
    return kept


def _groups(plan, name: str) -> list:
    return plan.populations[name].groups if name in plan.populations else [np.arange(plan.inputs[name])]


def _layer(plan, name: str) -> Layer:
    p, pop = plan.fixed_population(name), plan.populations[name]
    bias = np.zeros(pop.size, dtype=np.int64)
    if name in plan.biases:
        column = plan.fixed_weights(np.asarray(plan.biases[name], dtype=np.float64)[:, None], name)[0]
        bias = lava_clipped(column, pop.groups, [np.arange(1)])[:, 0]
    as_long = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))  # noqa: E731
    return Layer(as_long(DECAY_UNIT - (p["du"] + 1)), as_long(DECAY_UNIT - p["dv"]), int(p["vth"]) << SHIFT,
                 as_long(p["bias_mant"].astype(np.int64) << p["bias_exp"]), as_long(bias), pop.depth)


def _decayed(value: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    return torch.div(value * keep, DECAY_UNIT, rounding_mode="trunc")


def _wrapped(u: torch.Tensor) -> torch.Tensor:
    """lava-nc's wrap of u: above 2**23 subtract 2**24, at or below -2**23 add 2**24."""
    return torch.where(u > UV_LIMIT, u - 2 * UV_LIMIT, torch.where(u <= -UV_LIMIT, u + 2 * UV_LIMIT, u))


def emulate(plan, inputs: dict, states: bool = False) -> dict:
    """Population -> ``[T, B, n]`` spikes (uint8, Lava's timeline) for ``inputs`` (Input node -> ``[T, B, n]``
    0/1 tensor); with ``states``, also population -> (u, v), each ``[T, B, n]`` int64, after each step."""
    steps, batch = next(iter(inputs.values())).shape[:2]
    layers = {name: _layer(plan, name) for name in plan.populations}
    projections = []
    for p in plan.projections:
        weights = lava_clipped(plan.fixed_weights(p.weights, p.post)[0].astype(np.int64),
                               plan.populations[p.post].groups, _groups(plan, p.pre))
        # float matrix products are exact while every sum stays below 2**24 (float32) or 2**53 (float64)
        exact = torch.float32 if np.abs(weights).sum(axis=1).max() < EXACT_FLOAT32 else torch.float64
        projections.append((p.pre, p.post, torch.as_tensor(weights.T, dtype=exact)))
    # Input drive for every step at once: the inputs are known in advance.
    drive = {}
    for pre, post, w_t in projections:
        if pre in inputs:
            x = inputs[pre].reshape(steps, batch, -1).to(w_t.dtype)
            drive[post] = drive.get(post, 0) + torch.round(x @ w_t).to(torch.int64)
    u = {name: torch.zeros(batch, pop.size, dtype=torch.int64) for name, pop in plan.populations.items()}
    v = {name: torch.zeros(batch, pop.size, dtype=torch.int64) for name, pop in plan.populations.items()}
    spiked = {name: torch.zeros(batch, pop.size) for name, pop in plan.populations.items()}
    out = {name: torch.zeros(steps, batch, pop.size, dtype=torch.uint8) for name, pop in plan.populations.items()}
    record = {name: (torch.zeros(steps, batch, pop.size, dtype=torch.int64),
                     torch.zeros(steps, batch, pop.size, dtype=torch.int64))
              for name, pop in plan.populations.items() if states}
    for t in range(steps):
        a_in = {name: torch.zeros(batch, pop.size, dtype=torch.int64) for name, pop in plan.populations.items()}
        for pre, post, w_t in projections:
            if pre not in inputs:
                a_in[post] += torch.round(spiked[pre].to(w_t.dtype) @ w_t).to(torch.int64)
        fired = {}
        for name, layer in layers.items():
            if t >= 1 and name in drive:
                a_in[name] += drive[name][t - 1]
            on = t >= layer.depth
            current = a_in[name] + layer.bias if on else a_in[name]
            u[name] = _wrapped(_decayed(u[name], layer.u_keep) + (current << SHIFT))
            voltage = _decayed(v[name], layer.v_keep) + u[name] + (layer.leak if on else 0)
            voltage = voltage.clamp(-UV_LIMIT + 1, UV_LIMIT - 1)
            fired[name] = voltage > layer.threshold
            v[name] = voltage.masked_fill(fired[name], 0)
            out[name][t] = fired[name]
            if states:
                record[name][0][t], record[name][1][t] = u[name], v[name]
        spiked = {name: s.float() for name, s in fired.items()}
    return (out, record) if states else out
