"""Threshold ties: integer weights put v exactly on the threshold, where '>=' and '>' part ways.

Every case counts its ties, so that a case whose potentials never tie cannot pass for one that does.
The expected spikes come from an independent truth: SpikingJelly's own neurons (the reference's
producer), a numpy simulation of NIR's equations (tests/numpy_nir.py) or of a producer's published
update, and Lava's own process models. The other producers' ties are cases of tests/producer_cases.py,
run in their own libraries (snntorch_subtract_ties, norse_leak, norse_box_ties, rockpool_lif_ties,
sinabs_if_ties); Xylo's are in tests/test_xylo_mapping.py.
"""

import copy

import nir
import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer, neuron

import nirdeploy
from graphs import DT, chain_graph, spikes, uniform_if
from numpy_nir import NumpyNIR

T, B = 60, 4


def integer_linear(n_in, n_out, low, high, seed):
    linear = layer.Linear(n_in, n_out, bias=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        linear.weight.copy_(torch.randint(low, high + 1, (n_out, n_in), generator=generator).float())
    return linear


# Decays of 1/2 and 1/4 keep every potential a short binary fraction, exact in float32 and float64.
SPIKINGJELLY_NETS = {
    "IF": lambda: nn.Sequential(integer_linear(8, 6, -1, 2, 0), neuron.IFNode(v_threshold=2.0),
                                integer_linear(6, 5, -1, 2, 1), neuron.IFNode(v_threshold=1.0, v_reset=-1.0)),
    "LIF": lambda: nn.Sequential(integer_linear(8, 6, -1, 2, 2), neuron.LIFNode(tau=2.0, v_threshold=1.0),
                                 integer_linear(6, 5, -1, 2, 3),
                                 neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.5, v_reset=None)),
    "CubaLIF": lambda: nn.Sequential(integer_linear(8, 6, -1, 2, 4),
                                     neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_threshold=1.0),
                                     integer_linear(6, 5, -1, 2, 5),
                                     neuron.CUBALIFNode(c_decay=0.5, v_decay=0.5, v_threshold=2.0, v_reset=None)),
}


def run_multistep(net, x) -> torch.Tensor:
    functional.set_step_mode(net, "m")
    functional.reset_net(net)
    out = net(x).detach()
    functional.reset_net(net)
    return out


@pytest.fixture(scope="module")
def spikingjelly_cases():
    """kind -> (input, SpikingJelly's own output, the exported graph)."""
    cases = {}
    for kind, build in SPIKINGJELLY_NETS.items():
        net = build()
        x = spikes(8, batch=B, steps=T, rate=0.5, seed=7)
        graph = nirdeploy.export_to_nir(net, x[0], dt=DT)
        with torch.no_grad():
            expected = run_multistep(net, x)
        cases[kind] = (x, expected, graph)
    return cases


def numpy_run(graph, x) -> tuple:
    model = NumpyNIR(graph, DT)
    return model.run(x.double().numpy()), model.ties


@pytest.mark.parametrize("kind", sorted(SPIKINGJELLY_NETS))
def test_spikingjelly_neurons_at_ties(kind, spikingjelly_cases):
    """The numpy equations and SpikingJelly agree, with ties in every layer; the import computes the same
    spikes without gradients and with them (the surrogate path users train with)."""
    x, expected, graph = spikingjelly_cases[kind]
    out, ties = numpy_run(graph, x)
    assert np.array_equal(out, expected.numpy()) and expected.sum() > 20
    spiking = [name for name, node in graph.nodes.items() if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF))]
    assert all(ties[name] > 0 for name in spiking), ties
    model = nirdeploy.import_from_nir(graph, dt=DT, step_mode="m")
    with torch.no_grad():
        assert torch.equal(run_multistep(model, x), expected)
    with torch.enable_grad():
        grad_x = x.clone().requires_grad_(True)
        functional.reset_net(model)
        trained = model(grad_x)
        trained.sum().backward()
        functional.reset_net(model)
    assert torch.equal(trained.detach(), expected)
    assert grad_x.grad is not None and torch.all(torch.isfinite(grad_x.grad)) and grad_x.grad.abs().sum() > 0


def test_threshold_node_is_nirs_heaviside():
    """nir 1.0.8 defines Threshold as 1 where x > threshold; integer weights put x on it exactly."""
    weight = np.random.default_rng(0).integers(-1, 3, (6, 8)).astype(float)
    graph = chain_graph([("w", nir.Linear(weight)), ("thr", nir.Threshold(np.full(6, 1.0)))], 8, 6, dt=DT)
    x = spikes(8, batch=B, steps=T, rate=0.5, seed=1)
    out, ties = numpy_run(graph, x)
    assert ties["thr"] > 100 and out.sum() > 20
    model = nirdeploy.import_from_nir(graph, dt=DT, step_mode="m")
    with torch.no_grad():
        assert np.array_equal(run_multistep(model, x).numpy(), out)


@pytest.mark.parametrize("target", ["snntorch", "lava"])
@pytest.mark.parametrize("kind", sorted(SPIKINGJELLY_NETS))
def test_float_targets_fire_at_ties(kind, target, spikingjelly_cases):
    """snnTorch and Lava (floating point) run SpikingJelly's v >= v_threshold exactly, ties included;
    Lava's output arrives one step later per weight layer."""
    x, expected, graph = spikingjelly_cases[kind]
    if target == "lava":  # Lava resets to a value: the subtracting layers reset to v_reset here
        graph = copy.deepcopy(graph)
        for node in graph.nodes.values():
            node.metadata.pop("reset_mode", None)
        expected = torch.as_tensor(numpy_run(graph, x)[0], dtype=torch.float32)
    out = nirdeploy.deploy(graph, target, dt=DT).run(x)
    lag = 2 if target == "lava" else 0
    assert torch.equal(out[lag:], expected[: T - lag])


def norse_iaf_spikes(weights: list, thresholds: list, x: np.ndarray) -> tuple:
    """Norse's IAFCell per step, as its docs state it: v = v + I; z = v > v_th; v = v_reset (0) where z.
    Returns (output spikes, ties v == v_th)."""
    s, ties = x, 0
    for weight, threshold in zip(weights, thresholds):
        v, out = np.zeros((x.shape[1], weight.shape[0])), []
        for s_t in s:
            v = v + s_t @ weight.T
            ties += int(np.sum(v == threshold))
            z = v > threshold
            out.append(z.astype(float))
            v = np.where(z, 0.0, v)
        s = np.array(out)
    return s, ties


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_lava_keeps_norses_strict_test_at_ties(precision):
    """Norse fires where v > v_th: Lava's own test. With integer weights that are exact in Loihi's 8-bit
    mantissas (0, 1 and 2 against thresholds of 2: mantissas 0, 127, 254), fixed point fires exactly there."""
    r = np.random.default_rng(3)
    weights = [r.integers(0, 3, (6, 8)).astype(float), r.integers(0, 3, (5, 6)).astype(float)]
    graph = chain_graph([("w1", nir.Linear(weights[0])), ("a", uniform_if(6, r=1.0, v_threshold=2.0)),
                         ("w2", nir.Linear(weights[1])), ("b", uniform_if(5, r=1.0, v_threshold=2.0))], 8, 5, dt=DT)
    x = spikes(8, batch=B, steps=T, rate=0.5, seed=2)
    expected, ties = norse_iaf_spikes(weights, [2.0, 2.0], x.numpy())
    assert ties > 100 and expected.sum() > 20
    out = nirdeploy.deploy(graph, "lava", dt=DT, producer="norse", precision=precision).run(x)
    assert np.array_equal(out[2:].numpy(), expected[: T - 2])


def test_lava_fixed_point_fires_above_the_threshold_as_check_warns():
    """A '>=' producer on Lava's fixed point: check warns, and the spikes are those of v > v_threshold."""
    r = np.random.default_rng(4)
    weights = [r.integers(0, 3, (6, 8)).astype(float), r.integers(0, 3, (5, 6)).astype(float)]
    graph = chain_graph([("w1", nir.Linear(weights[0])), ("a", uniform_if(6, v_threshold=2.0)),
                         ("w2", nir.Linear(weights[1])), ("b", uniform_if(5, v_threshold=2.0))], 8, 5, dt=DT,
                        conventions="spikingjelly")
    warned = {p.node for p in nirdeploy.check(graph, "lava").warnings if p.rule == "threshold comparison"}
    assert warned == {"a", "b"}
    x = spikes(8, batch=B, steps=T, rate=0.5, seed=5)
    strict, ties = norse_iaf_spikes(weights, [2.0, 2.0], x.numpy())
    assert ties > 100
    out = nirdeploy.deploy(graph, "lava", precision="fixed").run(x)
    assert np.array_equal(out[2:].numpy(), strict[: T - 2])
    assert not np.array_equal(strict, numpy_run(graph, x)[0])  # the reference's '>=' fires at the ties
