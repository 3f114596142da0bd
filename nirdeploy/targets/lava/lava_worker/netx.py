"""A plan as the network file lava-dl's netx reads (``.net``, HDF5): a chain of conv and dense layers.

Layout, as ``lava.lib.dl.netx.hdf5.Network`` reads it (lava-dl 0.6.0): ``/layer/<i>/type`` ('input',
'conv', 'flatten', 'dense' or 'dense_rec'), ``shape`` (NIR's order, C H W: netx reverses it to its
W H C), ``weight`` (8-bit integer mantissas as float32, a conv's as [out, in / groups, kh, kw];
netx finds the exponent itself), ``weight_rec``, a conv's ``stride``, ``padding``, ``dilation``
([rows, columns]) and ``groups``, ``bias`` (per neuron, in netx's W H C order for a conv; netx puts
it into bias_mant with bias_exp 6) and ``neuron/`` with ``type`` 'CUBA', ``iDecay`` (lava's du + 1),
``vDecay``, ``vThMant``, ``refDelay``, ``gradedSpike``. netx builds LIF, Dense and Conv processes from
it, in fixed point.

A projection that is one Conv2d becomes a conv layer where its mantissas are one kernel at every
position (a gain that varies across positions makes them not); netx connects conv layers only to the
input or to conv layers, so the first dense layer ends the convolutions (after a 'flatten', which
netx reads in NIR's C-major order) and pooling stays folded into the dense weights after it (netx
0.6 has no pool layer).

netx's biases act from the first step, where the direct network switches each layer's on at its
depth. Read with ``Network(..., reset_interval=<steps per sample>, reset_offset=1)``, netx zeroes
layer ``i``'s u and v at step ``i`` of each sample (its pipeline offset), which makes its spikes the
direct network's from each layer's depth on, sample after sample (:data:`READER_ARGUMENTS`). Not
exact even so: a recurrent layer's spikes of one sample's last step reach the next sample (netx
resets before that step's input; run such a network once per sample), and a CubaLIF's Affine bias,
which the direct network feeds through the current, becomes its steady-state value on v.
"""

from pathlib import Path

import h5py
import nir
import numpy as np
from scipy.sparse import csr_matrix

from .linear import affine_map
from .mapping import MappingError, Plan

READER_ARGUMENTS = {"reset_offset": 1}  # with reset_interval = the steps per sample


def chain(plan: Plan) -> list:
    """[(population, feed-forward projection, recurrent projection or None)] in order from the one input."""
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


def rolled_kernel(mantissas: csr_matrix, conv: dict):
    """The integer kernel [out, in / groups, kh, kw] whose convolution (geometry ``conv``) is the unrolled
    ``mantissas``, or None where they are not one convolution."""
    shape = conv["kernel_shape"]
    count = int(np.prod(shape))
    numbered = nir.Conv2d(tuple(conv["input_shape"][1:]), np.arange(1, count + 1, dtype=np.float64).reshape(shape),
                          conv["stride"], conv["padding"], conv["dilation"], conv["groups"], np.zeros(shape[0]))
    taps = affine_map([("taps", numbered)], tuple(conv["input_shape"]))[0]  # each synapse's kernel entry, from 1
    taps.data = np.rint(taps.data).astype(np.int64)
    entries = mantissas.tocoo()
    kernel = np.zeros(count + 1, dtype=mantissas.dtype)  # entry 0: where the window does not reach
    kernel[np.asarray(taps[entries.row, entries.col]).ravel()] = entries.data
    rolled = csr_matrix((kernel[taps.data], taps.indices, taps.indptr), shape=taps.shape)
    rolled.eliminate_zeros()
    return kernel[1:].reshape(shape) if kernel[0] == 0 and (rolled != mantissas).nnz == 0 else None


def layer_kernels(plan: Plan, layers: list) -> list:
    """Per layer of :func:`chain`: its conv kernel mantissas, or None for a dense layer."""
    kernels, convolving = [], True
    for pop, forward, recurrent in layers:
        kernel = None
        if convolving and forward.conv is not None and recurrent is None:
            kernel = rolled_kernel(plan.fixed_weights(forward.weights, pop.name)[0], forward.conv)
        convolving = kernel is not None
        kernels.append(kernel)
    return kernels


def write_netx(plan: Plan, path) -> dict:
    """Writes the file; returns what a reader needs to know about it (:func:`description`)."""
    layers = chain(plan)
    kernels = layer_kernels(plan, layers)
    (size,) = plan.inputs.values()
    with h5py.File(Path(path), "w") as f:
        f.create_dataset("layer/0/type", data=np.bytes_("input"))
        shape = layers[0][1].conv["input_shape"] if kernels[0] is not None else [size]
        f.create_dataset("layer/0/shape", data=np.array(shape))
        index = 1
        for position, ((pop, forward, recurrent), kernel) in enumerate(zip(layers, kernels)):
            if kernel is None and position > 0 and kernels[position - 1] is not None:
                f.create_dataset(f"layer/{index}/type", data=np.bytes_("flatten"))
                index += 1
            group = f.create_group(f"layer/{index}")
            drive = _bias(plan, pop)
            if kernel is not None:
                _conv_layer(group, forward.conv, kernel, drive)
            else:
                _dense_layer(group, plan, pop, forward, recurrent, drive)
            _neuron(group, plan, pop)
            index += 1
    return description(plan, layers, kernels, [int(d) for d in shape])


def description(plan: Plan, layers: list, kernels: list, input_shape: list) -> dict:
    recurrent = [pop.name for pop, _, r in layers if r is not None]
    caveats = ([f"recurrent layers {recurrent} carry their last step's spikes into the next sample: run one "
                "sample per Network run"] if recurrent else [])
    caveats += [f"'{name}' takes an Affine bias through its current, which netx can only put on v"
                for name in plan.biases]
    return {
        "read_with": "lava.lib.dl.netx.hdf5.Network(net_config=FILE, reset_interval=STEPS_PER_SAMPLE, "
                     + ", ".join(f"{k}={v}" for k, v in READER_ARGUMENTS.items()) + ")",
        "input": {"node": next(iter(plan.inputs)), "shape_nir": input_shape, "shape_netx": input_shape[::-1]},
        "layers": [{"neurons": pop.name, "via": forward.node, "size": pop.size,
                    "type": "conv" if kernel is not None else "dense_rec" if r is not None else "dense",
                    "weights": _weight_count(forward, r, kernel)}
                   for (pop, forward, r), kernel in zip(layers, kernels)],
        # one 8-bit mantissa per weight the file holds (a conv layer's kernel once), zeros included
        "weight_bytes": sum(_weight_count(forward, r, kernel) for (_, forward, r), kernel in zip(layers, kernels)),
        # the mantissas are multiples that this many bits per weight keep (Dense's num_weight_bits)
        "weight_bits": plan.weight_bits,
        "latency_steps": plan.depth,
        "spikes_equal_the_deployment": not caveats,
        "unless": caveats,
    }


def _weight_count(forward, recurrent, kernel) -> int:
    if kernel is not None:
        return int(kernel.size)
    return sum(int(np.prod(p.weights.shape)) for p in (forward, recurrent) if p is not None)


def _bias(plan: Plan, pop) -> np.ndarray:
    """Per neuron, netx's bias: the steady state of a constant current, as the direct network's bias_mant <<
    bias_exp = drive << 6 (netx sets bias_mant = bias with bias_exp 6)."""
    drive = pop.leak + plan.biases.get(pop.name, 0.0) / pop.du
    return np.round(drive * plan.threshold_mantissa(pop.name)).astype(np.float32)


def _conv_layer(group, conv: dict, kernel: np.ndarray, drive: np.ndarray) -> None:
    group.create_dataset("type", data=np.bytes_("conv"))
    group.create_dataset("shape", data=np.array(conv["output_shape"]))
    group.create_dataset("weight", data=kernel.astype(np.float32))
    for key in ("stride", "padding", "dilation"):
        group.create_dataset(key, data=np.array(conv[key]))
    group.create_dataset("groups", data=conv["groups"])
    group.create_dataset("bias", data=drive.reshape(conv["output_shape"]).transpose(2, 1, 0))


def _dense_layer(group, plan: Plan, pop, forward, recurrent, drive: np.ndarray) -> None:
    group.create_dataset("type", data=np.bytes_("dense_rec" if recurrent else "dense"))
    group.create_dataset("shape", data=np.array([pop.size]))
    for key, projection in (("weight", forward), ("weight_rec", recurrent)):
        if projection is not None:
            mantissas = plan.fixed_weights(projection.weights, pop.name)[0]
            group.create_dataset(key, data=mantissas.toarray().astype(np.float32))
    group.create_dataset("bias", data=drive)


def _neuron(group, plan: Plan, pop) -> None:
    fixed = plan.fixed_population(pop.name)
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data=np.bytes_("CUBA"))
    neuron.create_dataset("iDecay", data=fixed["du"][0] + 1)
    neuron.create_dataset("vDecay", data=fixed["dv"][0])
    neuron.create_dataset("vThMant", data=fixed["vth"])
    neuron.create_dataset("refDelay", data=1)
    neuron.create_dataset("gradedSpike", data=False)
