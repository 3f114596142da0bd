"""Xylo's integer arithmetic in numpy, as XyloSim's C++ comments document it; none of nirdeploy's code.

Fed a specification (the keyword arguments of ``XyloSim.from_specification``), it is the truth for
what XyloSim computes; fed a specification worked out by hand, it is the truth for nirdeploy's mapping.
"""

import numpy as np


def _decay(value, shift):
    """Xylo's decrement: value >> shift (arithmetic), at least 1 in magnitude."""
    step = value >> shift
    return np.where((step == 0) & (value != 0), np.sign(value), step)


def numpy_xylo(spec: dict, raster: np.ndarray) -> tuple:
    """(output spikes, hidden spikes, ties) for one sample ``raster`` ``[T, inputs]``. Per step, input spikes
    (at most 15) then last step's hidden spikes (at most 31) are added to the synaptic currents, one
    presynaptic neuron at a time with 16-bit saturation; currents decay, then v += -decay(v) + i + bias,
    saturated; a neuron spikes while v >= threshold, subtracting it, up to 31 times (outputs: once).
    ``ties`` counts the times v equalled a threshold when spikes were decided."""
    clip = lambda x: np.clip(x, -(2**15), 2**15 - 1)
    w_in, w_rec, w_out = spec["weights_in"][..., 0], spec["weights_rec"][..., 0], spec["weights_out"]
    hidden_n, out_n = w_rec.shape[0], w_out.shape[1]
    out_rows = np.zeros((hidden_n, out_n), int)
    out_rows[hidden_n - w_out.shape[0]:] = w_out  # XyloSim wires weights_out to the last hidden neurons
    in_columns = np.zeros((w_in.shape[0], hidden_n), int)
    in_columns[:, : w_in.shape[1]] = w_in  # and weights_in to the first (XyloAudio 3's input expansion neurons)
    has_bias = np.any(spec["bias"] != 0) or np.any(spec["bias_out"] != 0)
    i_h, v_h, i_o, v_o = np.zeros(hidden_n, int), np.zeros(hidden_n, int), np.zeros(out_n, int), np.zeros(out_n, int)
    hidden_spikes, outputs, hidden_record, ties = np.zeros(hidden_n, int), [], [], 0
    for counts in raster:
        for pre, count in enumerate(np.minimum(counts, 15)):
            for _ in range(count):
                i_h = clip(i_h + in_columns[pre])
        for pre, count in enumerate(hidden_spikes):
            for _ in range(count):
                i_h = clip(i_h + w_rec[pre])
                i_o = clip(i_o + out_rows[pre])
        states = []
        for i, v, dash_syn, dash_mem, bias, threshold, cap in (
                (i_h, v_h, spec["dash_syn"], spec["dash_mem"], spec["bias"], spec["threshold"], 31),
                (i_o, v_o, spec["dash_syn_out"], spec["dash_mem_out"], spec["bias_out"], spec["threshold_out"], 1)):
            i = i - _decay(i, dash_syn)
            dv = clip(-_decay(v, dash_mem) + i)
            v = clip(v + (clip(dv + bias) if has_bias else dv))
            fired = np.zeros_like(v)
            ties += int(np.sum(v == threshold))
            for _ in range(cap):
                now = v >= threshold
                fired, v = fired + now, v - now * threshold
            states.append((i, v, fired))
        (i_h, v_h, hidden_spikes), (i_o, v_o, fired_out) = states
        outputs.append(fired_out)
        hidden_record.append(hidden_spikes)
    return np.array(outputs), np.array(hidden_record), ties
