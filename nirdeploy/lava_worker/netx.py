"""A plan as the network file lava-dl's netx reads (``.net``, HDF5): a sequential chain of dense layers.

Layout, as ``lava.lib.dl.netx.hdf5.Network`` reads it (lava-dl 0.6.0):
``/layer/<i>/type`` ('input', 'dense' or 'dense_rec'), ``shape``, ``weight``
(integers ``mantissa << weight_exp``, float32), ``weight_rec``, ``bias``
(netx puts it into bias_mant with bias_exp 6) and ``neuron/`` with ``type``
'CUBA', ``iDecay`` (lava's du + 1), ``vDecay``, ``vThMant``, ``refDelay``,
``gradedSpike``. netx builds LIF and Dense processes from it, in fixed point.

Not exact, by netx's design: its biases act from the first step (the direct
network switches them on at each layer's depth), and a CubaLIF's Affine bias,
which the direct network feeds through the current, becomes its steady-state
value on v.
"""

from pathlib import Path

import h5py
import numpy as np

from .mapping import ACTIVATION_SHIFT, VTH_MANT, MappingError, Plan, quantise_weights

NETX_BIAS_EXP = 6


def chain(plan: Plan) -> list:
    """[(input, n)] + [(population, feed-forward projection, recurrent projection or None)] in order."""
    if len(plan.inputs) != 1:
        raise MappingError("(graph)", f"netx's Network takes one input; the graph has {list(plan.inputs)}")
    (current,) = plan.inputs
    layers = []
    for _ in plan.populations:
        forward = [p for p in plan.projections if p.pre == current and p.post != current]
        if len(forward) != 1:
            raise MappingError(current, f"feeds {[p.post for p in forward]}: netx's Network is a chain of layers")
        post = forward[0].post
        recurrent = [p for p in plan.projections if p.pre == post and p.post == post]
        layers.append((plan.populations[post], forward[0], recurrent[0] if recurrent else None))
        current = post
    if len(plan.projections) != len(layers) + sum(r is not None for _, _, r in layers):
        raise MappingError("(graph)", "netx's Network is a chain with self-recurrence only; this graph has other edges")
    return layers


def _integer_weights(weights: np.ndarray) -> np.ndarray:
    mant, exp, _ = quantise_weights(weights)
    return (mant.astype(np.int64) << exp).astype(np.float32)


def write_netx(plan: Plan, path) -> None:
    layers = chain(plan)
    with h5py.File(Path(path), "w") as f:
        (size,) = plan.inputs.values()
        f.create_dataset("layer/0/type", data=np.bytes_("input"))
        f.create_dataset("layer/0/shape", data=np.array([size]))
        for i, (pop, forward, recurrent) in enumerate(layers, start=1):
            group = f.create_group(f"layer/{i}")
            group.create_dataset("type", data=np.bytes_("dense_rec" if recurrent else "dense"))
            group.create_dataset("shape", data=np.array([pop.size]))
            group.create_dataset("weight", data=_integer_weights(forward.weights))
            if recurrent:
                group.create_dataset("weight_rec", data=_integer_weights(recurrent.weights))
            drive = pop.leak + plan.biases.get(pop.name, 0.0) / pop.du  # steady state of a constant current
            group.create_dataset("bias", data=np.round(drive * VTH_MANT * 2**ACTIVATION_SHIFT / 2**NETX_BIAS_EXP)
                                 .astype(np.float32))
            fixed = pop.fixed()
            neuron = group.create_group("neuron")
            neuron.create_dataset("type", data=np.bytes_("CUBA"))
            neuron.create_dataset("iDecay", data=fixed["du"] + 1)
            neuron.create_dataset("vDecay", data=fixed["dv"])
            neuron.create_dataset("vThMant", data=fixed["vth"])
            neuron.create_dataset("refDelay", data=1)
            neuron.create_dataset("gradedSpike", data=False)
