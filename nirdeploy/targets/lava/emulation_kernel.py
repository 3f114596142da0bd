"""The emulation's step loop (:mod:`.emulation`), compiled by numba and cached on disk.

Its functions live at module level, not in a closure: numba keys a closure's cache entry on its cells,
functions whose pickles differ from process to process, so every process compiled it again (seconds).
The inner loops index views from 0 and do not branch, which lets LLVM vectorise them.
"""

import numba
import numpy as np

from .emulation import DECAY_UNIT, UV_LIMIT


@numba.njit(cache=True, nogil=True)
def add(a_in, weights, first, start, stop):
    into, run = a_in[first : first + stop - start], weights[start:stop]
    for k in range(stop - start):
        into[k] += run[k]


@numba.njit(cache=True, nogil=True)
def gather(spikes, into, count, offset):  # without a branch, which the spikes' pattern would mispredict
    for i in range(len(spikes)):
        into[count] = offset + i
        count += spikes[i]
    return count


@numba.njit(cache=True, nogil=True)
def truncated(product):  # towards zero, / 4096: a negative product is rounded up before the shift
    return (product + ((product >> 63) & (DECAY_UNIT - 1))) >> 12


@numba.njit(cache=True, nogil=True)
def update(u, v, fired, a_in, u_keep, v_keep, threshold, leak, bias, depth, t):
    for i in range(len(u)):
        on = depth[i] <= t
        x = truncated(u[i] * u_keep[i]) + a_in[i] + bias[i] * on
        x = x - 2 * UV_LIMIT * (x > UV_LIMIT) + 2 * UV_LIMIT * (x <= -UV_LIMIT)
        u[i] = x
        y = min(max(truncated(v[i] * v_keep[i]) + x + leak[i] * on, -UV_LIMIT + 1), UV_LIMIT - 1)
        fired[i] = y > threshold[i]
        v[i] = 0 if fired[i] else y


@numba.njit(cache=True, nogil=True)
def store(flat, values, bounds, steps, batch, t, b):  # population p's block is [steps, batch, its n]
    for p in range(len(bounds) - 1):
        start, n = bounds[p], bounds[p + 1] - bounds[p]
        at = steps * batch * start + (t * batch + b) * n
        row, part = flat[at : at + n], values[start : start + n]
        for k in range(n):
            row[k] = part[k]


@numba.njit(cache=True, nogil=True)
def run_sample(b, received, sums, source_starts, run_neurons, weight_starts, weights, u_keep, v_keep, threshold,
               leak, bias, depth, sets_v, v_start, bounds, out, record, states):
    batch, steps, n_inputs = received.shape
    size = len(depth)
    last_start = depth.max() if size else 0
    a_in, u, v = sums[b], np.zeros(size, np.int64), np.zeros(size, np.int64)
    fired, spiked = np.zeros(size, np.bool_), np.empty(n_inputs + size, np.int64)
    for t in range(steps):
        a_in[:] = 0
        # the sources that spiked in step t - 1 (each Dense is one step late): Inputs, then populations
        count = gather(fired, spiked, gather(received[b, t], spiked, 0, 0), n_inputs)
        for source in spiked[:count]:
            for r in range(source_starts[source], source_starts[source + 1]):
                add(a_in, weights, run_neurons[r], weight_starts[r], weight_starts[r + 1])
        if t <= last_start:
            for i in range(size):
                if sets_v[i] and depth[i] == t:
                    v[i] = v_start[i]
        update(u, v, fired, a_in, u_keep, v_keep, threshold, leak, bias, depth, t)
        store(out, fired, bounds, steps, batch, t, b)
        if states:
            store(record[0], u, bounds, steps, batch, t, b)
            store(record[1], v, bounds, steps, batch, t, b)


@numba.njit(cache=True, nogil=True, parallel=True)
def run(received, *arrays):
    for b in numba.prange(received.shape[0]):  # samples are independent: one core each, with state of its own
        run_sample(b, received, *arrays)
