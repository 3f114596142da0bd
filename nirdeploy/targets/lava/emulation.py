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

with ``v[depth - 1]`` set to the population's initial potential (``v_init``) where its producer starts v
off the reset value, as the worker sets Lava's v between run segments.

``trunc0`` rounds towards zero (Lava: sign times the right-shifted magnitude). All
populations share one state vector, so that the neuron update of a step is the same few
tensor operations however many layers there are. Values are integers held in float64, exact below 2**53
(``u`` times a decay stays below 2**36), so that decays are a multiplication by the exact
binary fraction ``keep / 4096`` and a truncation, and weights are float matrix products
(``<< 6`` folded into them). Inputs are known in advance: their drive is computed for a
block of steps at once. u's wrap is applied only where the weights can reach it.
"""

from contextlib import contextmanager

import numpy as np
import torch

UV_LIMIT = 2**23  # u and v are 24-bit
DECAY_UNIT = 4096  # decays are 12-bit fractions
SHIFT = 6  # Loihi MSB-aligns a_in and vth with u and v by 6 bits
EXACT_FLOAT32 = 2**24  # a float32 matrix product is exact while every sum stays below this
CHUNK = 256  # steps whose input drive is computed at once, at most
DRIVE_VALUES = 2**20  # and at most this many values (8 MiB)


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


def _neurons(plan) -> tuple:
    """(slices of each population in the shared state, per-neuron parameters as float64 tensors)."""
    keys = ("u_scale", "v_scale", "threshold", "leak", "bias", "depth", "start")
    slices, columns, start = {}, {key: [] for key in keys}, 0
    for name, pop in plan.populations.items():
        slices[name] = slice(start, start + pop.size)
        start += pop.size
        p = plan.fixed_population(name)
        bias = np.zeros(pop.size)
        if name in plan.biases:
            column = plan.fixed_weights(np.asarray(plan.biases[name], dtype=np.float64)[:, None], name)[0]
            bias = lava_clipped(column, pop.groups, [np.arange(1)])[:, 0]
        columns["u_scale"].append((DECAY_UNIT - (p["du"] + 1)) / DECAY_UNIT)
        columns["v_scale"].append((DECAY_UNIT - p["dv"]) / DECAY_UNIT)
        columns["threshold"].append(np.full(pop.size, p["vth"] << SHIFT))
        columns["leak"].append(p["bias_mant"].astype(np.int64) << p["bias_exp"])
        columns["bias"].append(bias * 2**SHIFT)
        columns["depth"].append(np.full(pop.size, pop.depth))
        columns["start"].append(p["v_init"])
    return slices, {key: torch.as_tensor(np.concatenate(value), dtype=torch.float64) for key, value in columns.items()}


def _projections(plan, slices: dict) -> list:
    """(pre, post slice, W^T << 6) per projection, in Lava's integer weights, float32 where that is exact."""
    found = []
    for p in plan.projections:
        pre_groups = plan.populations[p.pre].groups if p.pre in plan.populations else [np.arange(plan.inputs[p.pre])]
        weights = lava_clipped(plan.fixed_weights(p.weights, p.post)[0], plan.populations[p.post].groups, pre_groups)
        weights = weights.astype(np.float64) * 2**SHIFT
        exact = torch.float32 if np.abs(weights).sum(axis=1).max() < EXACT_FLOAT32 else torch.float64
        found.append((p.pre, slices[p.post], torch.as_tensor(weights.T, dtype=exact)))
    return found


def _may_wrap(neuron: dict, projections: list) -> bool:
    """Whether u can pass 2**23: each step adds at most A = sum |W << 6| + |bias << 6| and keeps at most
    ``u_scale`` of u, so |u| stays below A / (1 - u_scale)."""
    drive = neuron["bias"].abs().clone()
    for _, post, w_t in projections:
        drive[post] += w_t.abs().sum(dim=0).to(torch.float64)
    return bool(torch.any(drive / (1 - neuron["u_scale"]) > UV_LIMIT))


def _wrapped(u: torch.Tensor) -> torch.Tensor:
    """lava-nc's wrap of u: above 2**23 subtract 2**24, at or below -2**23 add 2**24 (once, as Lava does)."""
    return torch.where(u > UV_LIMIT, u - 2 * UV_LIMIT, torch.where(u <= -UV_LIMIT, u + 2 * UV_LIMIT, u))


def emulate(plan, inputs: dict, states: bool = False):
    """Population -> ``[T, B, n]`` spikes (uint8, Lava's timeline) for ``inputs`` (Input node -> ``[T, B, n]``
    0/1 tensor); with ``states``, also population -> (u, v), each ``[T, B, n]`` int64, after each step."""
    with _one_thread():
        return _emulate(plan, inputs, states)


def _emulate(plan, inputs: dict, states: bool):
    steps, batch = next(iter(inputs.values())).shape[:2]
    slices, neuron = _neurons(plan)
    size = len(neuron["depth"])
    projections = _projections(plan, slices)
    from_layers = [(slices[pre], post, w_t) for pre, post, w_t in projections if pre not in inputs]
    may_wrap, leaks = _may_wrap(neuron, projections), bool(torch.any(neuron["leak"] != 0))
    carries = bool(torch.any(neuron["u_scale"] != 0))  # IF and LIF alone keep nothing of u (du = 4095)
    inputs = {name: x.reshape(steps, batch, -1) for name, x in inputs.items()}
    u, v = torch.zeros(batch, size, dtype=torch.float64), torch.zeros(batch, size, dtype=torch.float64)
    spikes = torch.zeros(batch, size)
    out = torch.zeros(steps, batch, size, dtype=torch.uint8)
    record = torch.zeros(2, steps if states else 0, batch, size, dtype=torch.float64)
    all_on = int(neuron["depth"].max())
    chunk = max(1, min(CHUNK, DRIVE_VALUES // (batch * size)))
    starts = {int(depth): neuron["depth"] == depth for depth in torch.unique(neuron["depth"][neuron["start"] != 0])}
    for t in range(steps):
        if t in starts:  # v starts where its producer starts it, in the population's first step
            v[:, starts[t]] = neuron["start"][starts[t]]
        if t % chunk == 0:
            drive = _drive(neuron, inputs, projections, t, min(steps, t + chunk), batch)
        a_in = drive[t % chunk]  # already << 6
        for pre, post, w_t in from_layers:
            a_in[:, post] += spikes[:, pre].to(w_t.dtype) @ w_t
        u = u.mul_(neuron["u_scale"]).trunc_().add_(a_in) if carries else a_in
        if may_wrap:
            u = _wrapped(u)
        v = v.mul_(neuron["v_scale"]).trunc_().add_(u)
        if leaks:  # each population's leak starts at its depth
            v += neuron["leak"] if t >= all_on else neuron["leak"] * (neuron["depth"] <= t)
        v.clamp_(-UV_LIMIT + 1, UV_LIMIT - 1)
        fired = torch.gt(v, neuron["threshold"], out=out[t])
        spikes = fired.float()
        v.mul_(1 - spikes)  # reset to 0 (masked_fill_ took 2.5 times as long at batch 64)
        if states:
            record[0, t], record[1, t] = u, v
    layers = {name: out[:, :, part] for name, part in slices.items()}
    if not states:
        return layers
    return layers, {name: (record[0, :, :, part].long(), record[1, :, :, part].long()) for name, part in slices.items()}


def _drive(neuron: dict, inputs: dict, projections: list, start: int, stop: int, batch: int) -> torch.Tensor:
    """a_in << 6 for steps start..stop - 1 from the inputs (the spikes of the step before, as Dense sends them)
    and from CubaLIF's Affine biases (on from each population's depth)."""
    drive = torch.zeros(stop - start, batch, len(neuron["depth"]), dtype=torch.float64)
    for pre, post, w_t in projections:
        if pre in inputs and stop > 1:
            sent = inputs[pre][max(start - 1, 0) : stop - 1].to(w_t.dtype) @ w_t
            drive[stop - start - len(sent) :, :, post] += sent
    if torch.any(neuron["bias"] != 0):
        on = neuron["depth"] <= torch.arange(start, stop, dtype=torch.float64)[:, None]
        drive += (neuron["bias"] * on)[:, None, :]
    return drive


@contextmanager
def _one_thread():
    """The emulation's tensors are small, too small for torch's threads: measured on 2 busy cores,
    torch.trunc of [16, 1010] float64 took 0.94 ms with 2 threads and 12 us with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
