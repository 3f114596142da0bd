"""The NIR-to-Xylo translation against specifications worked out by hand, in both quantisation modes.

A Xylo neuron computes ``i = beta (i + x')``, ``v = alpha v + i + b``, spike while ``v >= thr``
(``alpha = 1 - 2**-dash_mem``, ``beta = 1 - 2**-dash_syn``). A node's own update
``i = a_i i + b_i x``, ``v = a_v v + b_v i`` is Xylo's exactly when its decays are bit shifts
(``alpha = a_v``, ``beta = a_i``) and ``x' = b_v b_i x / beta``; otherwise the dashes are the nearest
shifts and ``x'`` keeps the node's steady state ``v* = b_v b_i x / ((1 - a_i)(1 - a_v))``, Xylo's being
``x' beta / ((1 - beta)(1 - alpha))``. A LIF (no current) gets Xylo's shortest synapse, dash_syn 1,
which hands the same total ``b_v x`` to v over the following steps.

The graphs, dt = 1 ms, SpikingJelly's conventions, subtractive reset:

* ``exact``: CubaLIF hidden (tau_syn 2 ms, tau_mem 4 ms: i = i/2 + x/2, v = 3v/4 + i/4: dash_syn 1,
  dash_mem 2, x' = (1/4)(1/2)/(1/2) x = x/4), CubaLIF out (2 ms and 2 ms: dash 1 and 1, x' = x/2).
* ``rounded``: LIF hidden (tau 4 ms, r 2: v = 3v/4 + x/2: dash_mem 2, dash_syn 1, x' = x/2), CubaLIF out
  (tau_syn 2 ms, tau_mem 6 ms: a_v = 5/6, 1/(1 - a_v) = 6 rounds to dash_mem 3, alpha = 7/8;
  x' = (1/2)(1/6)(1/8)(1/2) / ((1/2)(1/6)(1/2)) x = x/8).

Rockpool's quantisers, as their documentation states them: ``global`` scales the input and recurrent
weights together by 127 over their largest magnitude (2**(bits - 1) - 1 with ``bits_per_weight``: 7 at
``weight_bits=4``), the output weights by their own, each threshold with its weights; ``channel`` does
the same per target neuron. Values are then rounded.
"""

import nir
import numpy as np
import pytest

import nirdeploy
from nirdeploy.errors import InvalidArgumentError
from graphs import DT, chain_graph, spikes, uniform_cuba, uniform_lif
from nirdeploy.semantics import resolve
from nirdeploy.targets.xylo import quantised_specification
from numpy_xylo import numpy_xylo

W_IN = np.array([[1.0, 2.0], [4.0, 1.0], [2.0, 2.0]])
W_OUT = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]])


def graph(hidden, out) -> nir.NIRGraph:
    return chain_graph([("w_in", nir.Linear(W_IN)), ("hid", hidden), ("w_out", nir.Linear(W_OUT)), ("out", out)],
                       2, 2, dt=DT, conventions="spikingjelly")


GRAPHS = {  # name -> (graph, hand float spec: input gain, output gain, dash_mem, dash_syn, dash_mem_out, dash_syn_out)
    "exact": (lambda: graph(uniform_cuba(3, tau_syn=2e-3, tau_mem=4e-3, subtract=True),
                            uniform_cuba(2, tau_syn=2e-3, tau_mem=2e-3, subtract=True)), (1 / 4, 1 / 2, 2, 1, 1, 1)),
    "rounded": (lambda: graph(uniform_lif(3, tau=4e-3, r=2.0, subtract=True),
                              uniform_cuba(2, tau_syn=2e-3, tau_mem=6e-3, subtract=True)), (1 / 2, 1 / 8, 2, 1, 3, 1)),
}


def hand_spec(name: str, quantisation: str, bits: int = 8) -> dict:
    gain_in, gain_out, dash_mem, dash_syn, dash_mem_out, dash_syn_out = GRAPHS[name][1]
    w_in, w_out = gain_in * W_IN.T, gain_out * W_OUT.T  # [pre, post], thresholds 1
    largest = 2 ** (bits - 1) - 1
    if quantisation == "global":
        scale_in, scale_out = largest / np.abs(w_in).max(), largest / np.abs(w_out).max()
    else:
        scale_in, scale_out = largest / np.abs(w_in).max(axis=0), largest / np.abs(w_out).max(axis=0)
    return {"weights_in": np.round(w_in * scale_in)[..., None], "weights_out": np.round(w_out * scale_out),
            "weights_rec": np.zeros((3, 3, 1)), "threshold": np.round(np.ones(3) * scale_in),
            "threshold_out": np.round(np.ones(2) * scale_out), "dash_mem": np.full(3, dash_mem),
            "dash_syn": np.full(3, dash_syn), "dash_mem_out": np.full(2, dash_mem_out),
            "dash_syn_out": np.full(2, dash_syn_out), "bias": np.zeros(3), "bias_out": np.zeros(2)}


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("quantisation", ["global", "channel"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_specification_is_the_hand_computed_one(name, quantisation, bits):
    expected = hand_spec(name, quantisation, bits)
    spec, _ = quantised_specification(resolve(GRAPHS[name][0]()), "syns61201", quantisation, bits)
    for key, value in expected.items():
        np.testing.assert_array_equal(spec[key], value, err_msg=key)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("quantisation", ["global", "channel"])
def test_xylosim_fires_at_ties_as_the_hand_specification_says(quantisation, bits):
    """XyloSim, deployed by nirdeploy, against numpy's Xylo arithmetic on the hand specification: integer
    weights and thresholds put v on the threshold, where Xylo's v >= thr fires."""
    x = spikes(2, batch=3, steps=120, rate=0.5, seed=4)
    out = nirdeploy.deploy(GRAPHS["exact"][0](), "xylo", quantisation=quantisation, weight_bits=bits).run(x)
    spec = {key: value.astype(int) for key, value in hand_spec("exact", quantisation, bits).items()}
    ties = 0
    for sample in range(x.shape[1]):
        expected, _, sample_ties = numpy_xylo(spec, x[:, sample].numpy().astype(int))
        ties += sample_ties
        np.testing.assert_array_equal(out[:, sample].numpy(), expected)
    assert ties > 10 and out.sum() > 10


def test_weight_bits_are_checked_before_deploying():
    for bits in (1, 9, 4.0):
        with pytest.raises(InvalidArgumentError, match="not a whole number of bits from 2 to 8; pass e.g. weight_bits=4"):
            nirdeploy.deploy(GRAPHS["exact"][0](), "xylo", weight_bits=bits)
    with pytest.raises(InvalidArgumentError, match="float simulator runs unquantised ones; pass simulator='xylosim'"):
        nirdeploy.deploy(GRAPHS["exact"][0](), "xylo", simulator="float", weight_bits=4)
