"""Loihi 2's CUBA LIF and Dense integer arithmetic in numpy, written from lava-nc's documented bit-accurate
models; none of nirdeploy's code but the plan it is given, whose integers it takes as they are."""

import numpy as np


def loihi_fixed_point(plan, x: np.ndarray, steps: int) -> dict:
    """Numpy emulation of Loihi 2's CUBA LIF and Dense integer arithmetic (as lava-nc's bit-accurate models
    document it) on the plan's integer parameters; x is one sample ``[T, n]`` of the single input."""

    def trunc_decay(value, decay):  # value * (4096 - decay) / 4096, rounded towards 0
        product = value.astype(np.int64) * (4096 - decay)
        return (np.sign(product) * (np.abs(product) >> 12)).astype(np.int64)

    pops = {name: plan.fixed_population(name) for name in plan.populations}
    weights = [(p.pre, p.post, plan.fixed_weights(p.weights, p.post)[0].toarray().astype(np.int64))
               for p in plan.projections]
    biases = {name: plan.fixed_weights(b[:, None], name)[0][:, 0].astype(np.int64) for name, b in plan.biases.items()}
    (source,) = plan.inputs
    previous = {source: np.zeros(plan.inputs[source], dtype=np.int64)}
    previous.update({name: np.zeros(pop.size, dtype=np.int64) for name, pop in plan.populations.items()})
    u = {name: np.zeros(pop.size, dtype=np.int64) for name, pop in plan.populations.items()}
    v = {name: np.zeros(pop.size, dtype=np.int64) for name, pop in plan.populations.items()}
    out = {name: [] for name in plan.populations}
    for t in range(steps):
        spikes = {source: (x[t] if t < len(x) else np.zeros(plan.inputs[source])).astype(np.int64)}
        for name, pop in plan.populations.items():
            p = pops[name]
            a_in = sum(w @ previous[pre] for pre, post, w in weights if post == name)
            if name in biases and t - 1 >= pop.depth - 1:  # ones from step depth - 1, one Dense step late
                a_in = a_in + biases[name]
            u[name] = trunc_decay(u[name], p["du"] + 1) + (a_in << 6)
            u[name] = (u[name] + 2**23) % 2**24 - 2**23  # wraps at 24 bits
            bias = (p["bias_mant"].astype(np.int64) << p["bias_exp"]) if t >= pop.depth else 0
            v[name] = np.clip(trunc_decay(v[name], p["dv"]) + u[name] + bias, -(2**23) + 1, 2**23 - 1)
            spikes[name] = (v[name] > p["vth"] << 6).astype(np.int64)
            v[name][spikes[name] == 1] = 0
            out[name].append(spikes[name])
        previous = spikes
    return {name: np.array(s) for name, s in out.items()}
