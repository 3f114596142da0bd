"""A plan as the network file lava-dl's netx reads (``.net``, HDF5): a sequential chain of dense layers.

Layout, as ``lava.lib.dl.netx.hdf5.Network`` reads it (lava-dl 0.6.0):
``/layer/<i>/type`` ('input', 'dense' or 'dense_rec'), ``shape``, ``weight``
(8-bit integer mantissas as float32; netx finds the exponent itself), ``weight_rec``, ``bias``
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

from .mapping import MappingError, Plan

def chain(plan: Plan) -> list:
    """[(input, n)] + [(population, feed-forward projection, recurrent projection or None)] in order."""
    if len(plan.inputs) != 1:
        raise MappingError("(graph)", f"netx's Network takes one input; the graph has {list(plan.inputs)}")
    (current,) = plan.inputs
    for pop in plan.populations.values():
        if np.any(pop.v_initial):
            raise MappingError(pop.name, "starts v off its reset value, which netx's file cannot say (its neurons "
                               "start at 0); run it with the Lava target instead of writing a .net file")
        if len(pop.groups) > 1:
            raise MappingError(pop.name, f"has {len(pop.groups)} different (tau_syn, tau_mem) or tau values: netx's "
                               "layers have one neuron configuration each")
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
            group.create_dataset("weight", data=plan.fixed_weights(forward.weights, pop.name)[0].astype(np.float32))
            if recurrent:
                group.create_dataset("weight_rec", data=plan.fixed_weights(recurrent.weights, pop.name)[0]
                                     .astype(np.float32))
            fixed = plan.fixed_population(pop.name)
            drive = pop.leak + plan.biases.get(pop.name, 0.0) / pop.du  # steady state of a constant current
            # netx sets bias_mant = bias with bias_exp 6, as the direct network's bias_mant << bias_exp = drive << 6.
            group.create_dataset("bias", data=np.round(drive * fixed["vth"]).astype(np.float32))
            neuron = group.create_group("neuron")
            neuron.create_dataset("type", data=np.bytes_("CUBA"))
            neuron.create_dataset("iDecay", data=fixed["du"][0] + 1)
            neuron.create_dataset("vDecay", data=fixed["dv"][0])
            neuron.create_dataset("vThMant", data=fixed["vth"])
            neuron.create_dataset("refDelay", data=1)
            neuron.create_dataset("gradedSpike", data=False)
