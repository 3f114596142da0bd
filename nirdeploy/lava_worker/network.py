"""A plan (``mapping.Plan``) as lava-nc processes, run in Lava's CPU simulator.

Sources are RingBuffers (input ``t`` is sent in Lava step ``t``); each Dense
delivers one step later, so a population ``depth`` hops from the inputs computes
the reference's step ``t`` in Lava step ``t + depth``. To stay exact, constants
start at that step: each population's leak (bias_mant) is set between run
segments at ``depth``, and Affine biases into a CubaLIF (which must pass through
its current) arrive through a Dense from a RingBuffer of ones that switches on
at ``depth - 1``.
"""

from pathlib import Path

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.sparse.process import Sparse
from scipy.sparse import csr_matrix

from lava_worker.mapping import Plan
from lava_worker.recorder.process import SpikeRecorder

FLOAT_VTH = np.nextafter(1.0, 0.0)  # Lava fires if v > vth; the reference if v >= 1
SPARSE_DENSITY = 0.5


def _connection(plan: Plan, weights: np.ndarray, post: str, fixed: bool):
    """A Dense with ``weights`` in thresholds per spike, or a Sparse where at most SPARSE_DENSITY of them are
    not 0 (unrolled convolutions and pooling); in fixed point quantised as mapping says."""
    weights = plan.fixed_weights(weights, post)[0] if fixed else weights
    if np.count_nonzero(weights) <= SPARSE_DENSITY * weights.size:
        return Sparse(weights=csr_matrix(weights))
    return Dense(weights=weights)


def build(plan: Plan, inputs: dict, steps: int, fixed: bool, folder: Path) -> tuple:
    """Processes for one sample; ``inputs`` maps Input nodes to ``[T, n]`` spikes. Returns
    (a process to run, leaks to set by depth, recorder files by population)."""
    dtype = np.int32 if fixed else np.float64
    sources = {}
    for name, size in plan.inputs.items():
        data = np.zeros((size, steps), dtype=dtype)
        data[:, : len(inputs[name])] = inputs[name].reshape(len(inputs[name]), size).T
        sources[name] = RingBuffer(data=data)
    neurons, leaks = {}, {}
    for name, pop in plan.populations.items():
        if fixed:
            p = plan.fixed_population(name)
            neurons[name] = LIF(shape=(pop.size,), du=p["du"], dv=p["dv"], vth=p["vth"], bias_mant=0,
                                bias_exp=p["bias_exp"], name=name)
            leaks.setdefault(pop.depth, []).append((neurons[name], p["bias_mant"]))
        else:
            neurons[name] = LIF(shape=(pop.size,), du=pop.du, dv=pop.dv, vth=FLOAT_VTH, bias_mant=0.0, name=name)
            leaks.setdefault(pop.depth, []).append((neurons[name], pop.leak))
    ports = {**{n: s.s_out for n, s in sources.items()}, **{n: p.s_out for n, p in neurons.items()}}
    for p in plan.projections:
        dense = _connection(plan, p.weights, p.post, fixed)
        ports[p.pre].connect(dense.s_in)
        dense.a_out.connect(neurons[p.post].a_in)
    _connect_biases(plan, neurons, steps, fixed)
    files = {}
    for name, pop in plan.populations.items():
        files[name] = folder / f"{len(files)}.npy"
        recorder = SpikeRecorder(size=pop.size, steps=steps, path=str(files[name]))
        neurons[name].s_out.connect(recorder.a_in)
    return next(iter(sources.values())), leaks, files


def _connect_biases(plan: Plan, neurons: dict, steps: int, fixed: bool) -> None:
    """Affine biases: one RingBuffer channel per depth, on from step depth - 1, through a Dense per population."""
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
        dense = _connection(plan, weights, name, fixed)
        source.s_out.connect(dense.s_in)
        dense.a_out.connect(neurons[name].a_in)


def simulate(plan: Plan, inputs: dict, steps: int, fixed: bool, folder: Path) -> dict:
    """Population -> ``[steps, n]`` spikes (Lava's timeline) for one sample."""
    process, leaks, files = build(plan, inputs, steps, fixed, folder)
    config = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    done = 0
    try:
        for depth in sorted(leaks):
            if depth > done:
                process.run(condition=RunSteps(num_steps=depth - done), run_cfg=config)
                done = depth
            for neuron, leak in leaks[depth]:
                neuron.bias_mant.set(np.asarray(leak))
        process.run(condition=RunSteps(num_steps=steps - done), run_cfg=config)
    finally:
        if process.runtime is not None:
            process.stop()
    return {name: np.load(path) for name, path in files.items()}
