"""A plan (``mapping.Plan``) as lava-nc processes, run in Lava's CPU simulator.

Sources are RingBuffers (input ``t`` is sent in Lava step ``t``); each Dense
delivers one step later, so a population ``depth`` hops from the inputs computes
the reference's step ``t`` in Lava step ``t + depth``. To stay exact, constants
start at that step: each population's leak (bias_mant) and, where its producer
starts v off the reset value, its v are set between run segments at ``depth``,
and Affine biases into a CubaLIF (which must pass through its current) arrive
through a Dense from a RingBuffer of ones that switches on at ``depth - 1``.
"""

from pathlib import Path

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.sparse.process import Sparse
from scipy.sparse import block_diag, csr_matrix

from lava_worker.mapping import Plan
from lava_worker.recorder.process import SpikeRecorder

FLOAT_VTH = np.nextafter(1.0, 0.0)  # Lava fires if v > vth: this vth is the test v >= 1
SPARSE_DENSITY = 0.5


def _quantised(plan: Plan, weights, post: str, fixed: bool):
    """Weights in thresholds per spike as Lava takes them: as they are in float, as mapping says in fixed point."""
    return plan.fixed_weights(weights, post)[0] if fixed else weights


def _connection(weights: csr_matrix, copies: int, bits: int):
    """``copies`` side-by-side copies (one per sample) of a connection: a Dense, or a Sparse where at most
    SPARSE_DENSITY of the weights are not 0 (several copies, unrolled convolutions and pooling), with
    ``bits`` per weight (lava-nc's fixed point truncates to them; its floating point ignores them)."""
    if copies > 1 or weights.nnz <= SPARSE_DENSITY * np.prod(weights.shape):
        return Sparse(weights=block_diag([weights] * copies, format="csr"), num_weight_bits=bits)
    return Dense(weights=weights.toarray(), num_weight_bits=bits)


def build(plan: Plan, inputs: dict, steps: int, fixed: bool, folder: Path) -> tuple:
    """Processes for a batch, one copy of the network per sample (each process holds every copy's neurons,
    sample-major), one LIF process per group of a population's neurons that share du and dv; ``inputs``
    maps Input nodes to ``[T, B, n]`` spikes. Returns (a process to run, depth -> [(LIF, leak, initial v)]
    to set there, recorder files: population -> [(neuron indices, file)])."""
    batch = next(iter(inputs.values())).shape[1]
    dtype = np.int32 if fixed else np.float64
    # node -> [(indices of its neurons, OutPort)]; population -> [(indices, LIF)]
    senders, neurons, leaks = {}, {}, {}
    for name, size in plan.inputs.items():
        data = np.zeros((batch * size, steps), dtype=dtype)
        data[:, : len(inputs[name])] = inputs[name].reshape(len(inputs[name]), batch * size).T
        senders[name] = [(np.arange(size), RingBuffer(data=data).s_out)]
    for name, pop in plan.populations.items():
        p = plan.fixed_population(name) if fixed else None
        neurons[name] = []
        for group in pop.groups:
            shape = (batch * len(group),)
            if fixed:
                lif = LIF(shape=shape, du=int(p["du"][group[0]]), dv=int(p["dv"][group[0]]), vth=p["vth"],
                          bias_mant=0, bias_exp=np.tile(p["bias_exp"][group], batch), name=name)
                leak, start = np.tile(p["bias_mant"][group], batch), np.tile(p["v_init"][group], batch)
            else:
                lif = LIF(shape=shape, du=pop.du[group[0]], dv=pop.dv[group[0]], vth=1.0 if pop.strict else FLOAT_VTH,
                          bias_mant=0.0, name=name)
                leak, start = np.tile(pop.leak[group], batch), np.tile(pop.v_initial[group], batch)
            neurons[name].append((group, lif))
            leaks.setdefault(pop.depth, []).append((lif, leak, start))
        senders[name] = [(group, lif.s_out) for group, lif in neurons[name]]
    for p in plan.projections:
        weights = _quantised(plan, p.weights, p.post, fixed)
        for pre_group, port in senders[p.pre]:
            for post_group, lif in neurons[p.post]:
                block = weights[post_group][:, pre_group]
                if block.nnz:
                    connection = _connection(block, batch, plan.weight_bits)
                    port.connect(connection.s_in)
                    connection.a_out.connect(lif.a_in)
    _connect_biases(plan, neurons, steps, fixed, batch)
    files = {}
    for name, groups in neurons.items():
        files[name] = []
        for group, lif in groups:
            path = folder / f"{sum(len(f) for f in files.values())}.npy"
            recorder = SpikeRecorder(size=batch * len(group), steps=steps, path=str(path))
            lif.s_out.connect(recorder.a_in)
            files[name].append((group, path))
    return neurons[next(iter(neurons))][0][1], leaks, files


def _connect_biases(plan: Plan, neurons: dict, steps: int, fixed: bool, batch: int) -> None:
    """Affine biases into CubaLIF: one RingBuffer channel per depth, on from step depth - 1, through a
    connection per process (shared by the copies)."""
    if not plan.biases:
        return
    depths = sorted({plan.populations[name].depth for name in plan.biases})
    ones = np.zeros((len(depths), steps), dtype=np.int32 if fixed else np.float64)
    for channel, depth in enumerate(depths):
        ones[channel, depth - 1 :] = 1
    source = RingBuffer(data=ones)
    for name, bias in plan.biases.items():
        weights = np.zeros((len(bias), len(depths)))
        weights[:, depths.index(plan.populations[name].depth)] = bias
        weights = _quantised(plan, weights, name, fixed)
        for group, lif in neurons[name]:
            connection = Dense(weights=np.tile(weights[group], (batch, 1)), num_weight_bits=plan.weight_bits)
            source.s_out.connect(connection.s_in)
            connection.a_out.connect(lif.a_in)


def simulate(plan: Plan, inputs: dict, steps: int, fixed: bool, folder: Path) -> dict:
    """Population -> ``[steps, B, n]`` spikes (Lava's timeline) for a batch ``inputs`` (``[T, B, ...]``)."""
    process, leaks, files = build(plan, inputs, steps, fixed, folder)
    config = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    done = 0
    try:
        for depth in sorted(leaks):
            if depth > done:
                process.run(condition=RunSteps(num_steps=depth - done), run_cfg=config)
                done = depth
            for neuron, leak, start in leaks[depth]:
                # Each Var.set sends its values one channel message each (~40 us per value): skip what the
                # process already holds, bias_mant 0 and v 0 from its construction
                if np.any(leak):
                    neuron.bias_mant.set(np.asarray(leak))
                if np.any(start):
                    neuron.v.set(np.asarray(start))
        process.run(condition=RunSteps(num_steps=steps - done), run_cfg=config)
    finally:
        if process.runtime is not None:
            process.stop()
    batch = next(iter(inputs.values())).shape[1]
    spikes = {}
    for name, groups in files.items():
        spikes[name] = np.zeros((steps, batch, plan.populations[name].size), dtype=np.uint8)
        for group, path in groups:
            spikes[name][:, :, group] = np.load(path).reshape(steps, batch, len(group))
    return spikes
