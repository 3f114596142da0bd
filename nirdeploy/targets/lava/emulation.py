"""Loihi 2's fixed-point CUBA LIF and Dense arithmetic, compiled: lava-nc's bit-accurate models in one numba kernel.

Runs a Lava target's plan (``lava_worker.mapping.Plan``) with the integer
parameters the plan computes for Lava itself (``Plan.fixed_population``,
``Plan.fixed_weights``), on Lava's timeline (docs/lava.md, "Fixed point" and
"Mapping"). Per Lava step ``t`` and population (lava-nc 0.10.0, ``PyLifModelBitAcc``,
``PyDenseModelBitAcc``):

    a_in[t] = sum over projections of W s_pre[t - 1]   (each Dense delivers one step late; s_pre as bool)
              + bias, from step ``depth`` on            (CubaLIF's Affine bias through its current)
    u[t] = trunc0(u[t-1] (4096 - (du + 1)) / 4096) + (a_in[t] << 6)        wraps past +-2**23
    v[t] = trunc0(v[t-1] (4096 - dv) / 4096) + u[t] + (bias_mant << bias_exp), from step ``depth`` on
           clipped to +-(2**23 - 1)
    s[t] = v[t] > vth << 6;  v[t] = 0 where s[t]

with ``v[depth - 1]`` set to the population's initial potential (``v_init``) where its producer starts v
off the reset value, as the worker sets Lava's v between run segments.

``trunc0`` rounds towards zero (Lava: sign times the right-shifted magnitude). All
values are int64, as in Lava. All populations share one state vector and all
projections one table of weights by source (Input neurons, then population neurons),
so that a step is one loop over the sources that spiked, adding their rows of
weights, and one loop over the neurons; each sample of a batch runs on its own,
as Lava's copies of the network do, the samples spread over the cores. The kernel
(:mod:`.emulation_kernel`) is compiled by numba on its first call and cached on
disk for later processes.
"""

import numpy as np
import torch
from scipy.sparse import csr_matrix

UV_LIMIT = 2**23  # u and v are 24-bit
DECAY_UNIT = 4096  # decays are 12-bit fractions
SHIFT = 6  # Loihi MSB-aligns a_in and vth with u and v by 6 bits
GAP = 8  # zeros a run of weights may hold rather than start another run


def lava_clipped(weights: csr_matrix, post_groups: list, pre_groups: list) -> csr_matrix:
    """Weights as lava-nc's Dense / Sparse keep them: each process (one per pair of du/dv groups) clips to its
    own sign mode, and a block with no positive weight keeps -255..0, so the plan's -256 becomes -255."""
    post_of, pre_of = _group_of(post_groups, weights.shape[0]), _group_of(pre_groups, weights.shape[1])
    entries = weights.tocoo()
    block = post_of[entries.row] * len(pre_groups) + pre_of[entries.col]
    positive = np.bincount(block[entries.data > 0], minlength=len(post_groups) * len(pre_groups)) > 0
    kept = np.where(positive[block], entries.data, np.maximum(entries.data, -255))
    return csr_matrix((kept, (entries.row, entries.col)), shape=weights.shape)


def _group_of(groups: list, size: int) -> np.ndarray:
    """Per index: the group holding it."""
    group = np.zeros(size, dtype=np.int64)
    for number, members in enumerate(groups):
        group[members] = number
    return group


def _neurons(plan) -> tuple:
    """(slices of each population in the shared state, per-neuron int64 parameters)."""
    keys = ("u_keep", "v_keep", "threshold", "leak", "bias", "depth", "start")
    slices, columns, start = {}, {key: [] for key in keys}, 0
    for name, pop in plan.populations.items():
        slices[name] = slice(start, start + pop.size)
        start += pop.size
        p = plan.fixed_population(name)
        bias = np.zeros(pop.size)
        if name in plan.biases:
            column = plan.fixed_weights(csr_matrix(np.asarray(plan.biases[name], dtype=np.float64)[:, None]), name)[0]
            bias = lava_clipped(column, pop.groups, [np.arange(1)]).toarray()[:, 0]
        columns["u_keep"].append(np.broadcast_to(DECAY_UNIT - (p["du"] + 1), pop.size))
        columns["v_keep"].append(np.broadcast_to(DECAY_UNIT - p["dv"], pop.size))
        columns["threshold"].append(np.full(pop.size, p["vth"] << SHIFT))
        columns["leak"].append(p["bias_mant"].astype(np.int64) << p["bias_exp"])
        columns["bias"].append(bias * 2**SHIFT)
        columns["depth"].append(np.full(pop.size, pop.depth))
        columns["start"].append(p["v_init"])
    neuron = {key: np.concatenate(value).astype(np.int64) for key, value in columns.items()}
    # v is set in a population's first step wherever some population of that depth starts off 0
    neuron["sets_v"] = np.isin(neuron["depth"], neuron["depth"][neuron["start"] != 0])
    return slices, neuron


def _weights_by_source(plan, slices: dict) -> tuple:
    """(source offsets of the Inputs, number of sources, (source, neuron, W << 6) of every nonzero weight in
    source then neuron order); sources are the Inputs' neurons in plan order, then the populations' neurons;
    weights are Lava's integers, summed where projections meet."""
    offsets, size = {}, 0
    for name, n in plan.inputs.items():
        offsets[name], size = size, size + n
    neurons = sum(pop.size for pop in plan.populations.values())
    sources, posts, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for p in plan.projections:
        is_input = p.pre in plan.inputs
        pre_groups = [np.arange(plan.inputs[p.pre])] if is_input else plan.populations[p.pre].groups
        weights = lava_clipped(plan.fixed_weights(p.weights, p.post)[0], plan.populations[p.post].groups,
                               pre_groups).tocsc()  # by source, its neurons in order
        pre = np.repeat(np.arange(weights.shape[1]), np.diff(weights.indptr))
        sources.append(pre + (offsets[p.pre] if is_input else size + slices[p.pre].start))
        posts.append(weights.indices.astype(np.int64) + slices[p.post].start)
        values.append(weights.data.astype(np.int64) << SHIFT)
    source, neuron, value = (np.concatenate(part) for part in (sources, posts, values))
    keys = source * neurons + neuron
    if np.any(keys[1:] <= keys[:-1]):  # projections share sources: merge their runs, summing where they meet
        order = np.argsort(keys, kind="stable")  # timsort: each projection's keys are one sorted run already
        keys, value = keys[order], value[order]
        firsts = np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))  # of each pair of source and neuron
        value, keys = np.add.reduceat(value, firsts), keys[firsts]  # exact: int64
        source, neuron = keys // neurons, keys % neurons
    return offsets, size + neurons, (source, neuron, value)


def _runs(sources: int, weights: tuple) -> tuple:
    """The weights as runs of consecutive neurons per source, holding zeros where a gap is at most GAP: (each
    source's first run, each run's first neuron and first weight, the weights run after run), so that the
    kernel adds a run as one contiguous slice, which the compiler vectorises."""
    source, neuron, value = weights
    opens = np.ones(len(source), dtype=bool)
    opens[1:] = (source[1:] != source[:-1]) | (neuron[1:] - neuron[:-1] > GAP)
    first = np.flatnonzero(opens)
    last = np.append(first[1:], len(source)) - 1
    weight_starts = np.concatenate([[0], np.cumsum(neuron[last] - neuron[first] + 1)]).astype(np.int64)
    run_of = np.cumsum(opens) - 1
    run_weights = np.zeros(weight_starts[-1], dtype=np.int64)
    run_weights[weight_starts[run_of] + neuron - neuron[first][run_of]] = value
    source_starts = np.zeros(sources + 1, dtype=np.int64)
    np.cumsum(np.bincount(source[first], minlength=sources), out=source_starts[1:])
    if not len(value) or np.abs(value).max() < 2**15:  # Lava's 9-bit mantissas << 6, unless projections meet
        run_weights = run_weights.astype(np.int16)  # half the bytes read per addition
    return source_starts, neuron[first].astype(np.int64), weight_starts, run_weights


def _sum_type(weights: tuple) -> type:
    """int32 where no neuron's a_in can pass it (twice the additions per instruction of int64), else int64."""
    _, neuron, value = weights
    return np.int32 if not len(value) or np.bincount(neuron, weights=np.abs(value)).max() < 2**31 else np.int64


class Emulator:
    """A plan's integer parameters and weights, prepared once; :meth:`run` runs batches of inputs."""

    def __init__(self, plan):
        self.slices, neuron = _neurons(plan)
        self.offsets, sources, weights = _weights_by_source(plan, self.slices)
        self.inputs = sum(plan.inputs.values())
        self.runs, self.sum_type = _runs(sources, weights), _sum_type(weights)
        self.neuron = [neuron[key] for key in ("u_keep", "v_keep", "threshold", "leak", "bias", "depth", "sets_v",
                                               "start")]
        self.bounds = np.array([0] + [part.stop for part in self.slices.values()], dtype=np.int64)

    def run(self, inputs: dict, states: bool = False):
        """Population -> ``[T, B, n]`` spikes (float32, Lava's timeline) for ``inputs`` (Input node -> ``[T, B, n]``
        spikes, any nonzero a spike as Lava's Dense reads it); with ``states``, also population -> (u, v), each
        ``[T, B, n]`` int64, after each step. Each population's arrays are contiguous blocks of one buffer."""
        steps, batch = next(iter(inputs.values())).shape[:2]
        received = np.zeros((batch, steps, self.inputs), dtype=np.bool_)  # at t: the inputs of step t - 1
        for name, start in self.offsets.items():
            x = np.asarray(inputs[name]).reshape(steps, batch, -1)
            received[:, 1:, start : start + x.shape[2]] = x[:-1].transpose(1, 0, 2) != 0
        values = steps * batch * len(self.neuron[0])
        out = np.empty(values, dtype=np.float32)  # what Deployment.run returns: no conversion afterwards
        record = np.empty((2, values if states else 0), dtype=np.int64)
        from . import emulation_kernel  # here: deploying to the other targets never pays for numba

        sums = np.empty((batch, len(self.neuron[0])), self.sum_type)  # a_in, one row per sample
        arrays = (received, sums, *self.runs, *self.neuron, self.bounds, out, record, states)
        if batch == 1:  # on this core: waking another core's thread, maybe descheduled, cost up to 18 ms
            emulation_kernel.run_sample(0, *arrays)
        else:
            emulation_kernel.run(*arrays)
        layers = self._by_population(out, steps, batch)
        if not states:
            return layers
        u, v = (self._by_population(r, steps, batch) for r in record)
        return layers, {name: (u[name], v[name]) for name in self.slices}

    def _by_population(self, flat: np.ndarray, steps: int, batch: int) -> dict:
        return {name: torch.from_numpy(flat[steps * batch * part.start : steps * batch * part.stop]
                                       .reshape(steps, batch, -1)) for name, part in self.slices.items()}
