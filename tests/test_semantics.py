"""The one semantics model: its coefficients against each producer's arithmetic, the dt policy every
target shares, and what check says about a producer's rules."""

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spikingjelly.activation_based import functional

import nirdeploy
from nirdeploy import DtMismatchError
from nirdeploy.neurons import reference_neuron
from nirdeploy.semantics import PRODUCERS, resolve, resolve_node
from nirdeploy.targets import available_targets, get_target
from nirdeploy.targets.xylo import layer_constants, xylo_chain
from graphs import DT, io, uniform_cuba, uniform_li



def chain(neuron, second, n=3, dt=DT, conventions=None):
    """Input -> Linear -> neuron -> Linear -> second -> Output, recording dt (and conventions)."""
    metadata = {"dt": dt, **({"conventions": conventions} if conventions else {})}
    (inp, _), (_, out) = io(n), io(n)
    return nir.NIRGraph(
        nodes={"input": inp, "w1": nir.Linear(np.eye(n)), "a": neuron, "w2": nir.Linear(np.eye(n)), "b": second,
               "output": out},
        edges=[("input", "w1"), ("w1", "a"), ("a", "w2"), ("w2", "b"), ("b", "output")], metadata=metadata)


def cuba(tau_syn=2e-3, tau_mem=4e-3):
    return uniform_cuba(3, tau_syn=tau_syn, tau_mem=tau_mem, subtract=True)


@pytest.mark.parametrize("target", sorted(available_targets()))
def test_a_contradicting_dt_is_refused_by_every_target(target):
    graph = chain(cuba(), cuba())
    with pytest.raises(DtMismatchError, match="dt=0.001 s.*dt=0.002 s was asked for.*Use dt=0.001 .*dt_override=True"):
        nirdeploy.deploy(graph, target, dt=2e-3)


def test_compare_and_import_refuse_it_too():
    graph = chain(cuba(), cuba())
    with pytest.raises(DtMismatchError):
        nirdeploy.compare(graph, torch.zeros(5, 1, 3), targets=["snntorch"], dt=2e-3)
    with pytest.raises(DtMismatchError):
        nirdeploy.import_from_nir(graph, dt=2e-3)


def pulse_response(deployment, steps=4):
    """The output potential after one input spike of weight 1 at step 0."""
    x = torch.zeros(steps, 1, 3)
    x[0] = 1.0
    return deployment.run(x)[:, 0, 0].double().numpy()


@pytest.mark.parametrize("target", ["reference", "snntorch"])
def test_dt_override_re_discretises_every_time_constant(target):
    """LI with tau = 4 ms recorded at 1 ms, run at 0.5 ms: Euler's k = tau/dt = 8, so one pulse of
    weight 1 through two LI layers gives v_b[t] = sum over s <= t of (1/8)(7/8)^s (1/8)(7/8)^(t-s)."""
    graph = chain(uniform_li(3), uniform_li(3))
    response = pulse_response(nirdeploy.deploy(graph, target, dt=5e-4, dt_override=True))
    expected = [(t + 1) * (1 / 8) ** 2 * (7 / 8) ** t for t in range(4)]
    assert np.allclose(response, expected, rtol=1e-6)


def test_dt_override_reaches_lava_and_xylo_decays():
    graph = chain(cuba(tau_syn=2e-3, tau_mem=8e-3), cuba(tau_syn=2e-3, tau_mem=8e-3))
    semantics = resolve(graph, 5e-4, dt_override=True)
    plan = get_target("lava").plan(semantics)
    assert np.allclose(plan.populations["a"].du, 0.25) and np.allclose(plan.populations["a"].dv, 1 / 16)
    constants, _, _ = layer_constants(semantics, xylo_chain(semantics.graph))[0]
    assert list(constants.dash_syn) == [2] * 3 and list(constants.dash_mem) == [4] * 3  # log2(4), log2(16)


# --- the coefficients every hardware backend reads, against the arithmetic the reference runs ------------------
def node_for(producer, kind, p):
    n = 1
    full = lambda value: np.full(n, value)
    if kind == "LIF":
        tau = 1e-4 / (1 - p["decay"]) if producer == "snntorch" else p["tau"]
        r = {"snntorch": tau / 1e-4, "norse": 1.0, "sinabs": 1.0, "rockpool": tau * np.exp(-DT / tau) / DT}.get(producer, p["r"])
        return nir.LIF(tau=full(tau), r=full(r), v_leak=full(0.0 if producer in ("snntorch", "sinabs") else p["v_leak"]),
                       v_threshold=full(1e9), v_reset=full(0.0))
    if kind == "IF":
        return nir.IF(r=full(1.0 if producer in ("norse", "sinabs") else p["r"]), v_threshold=full(1e9), v_reset=full(0.0))
    tau_mem, tau_syn = p["tau"], p["tau"] / 2
    if producer == "snntorch":
        tau_mem, tau_syn = 1e-4 / (1 - p["decay"]), 1e-4 / (1 - p["decay"] / 2)
        return nir.CubaLIF(tau_mem=full(tau_mem), tau_syn=full(tau_syn), r=full(tau_mem / 1e-4), v_leak=full(0.0),
                           w_in=full(tau_syn / 1e-4), v_threshold=full(1e9), v_reset=full(0.0))
    if producer == "rockpool":
        return nir.CubaLIF(tau_mem=full(tau_mem), tau_syn=full(tau_syn), r=full(tau_mem * np.exp(-DT / tau_mem) / DT),
                           v_leak=full(p["v_leak"]), w_in=full(1.0), v_threshold=full(1e9), v_reset=full(0.0))
    gains = (1.0, 1.0) if producer == "norse" else (p["r"], 1.5)
    return nir.CubaLIF(tau_mem=full(tau_mem), tau_syn=full(tau_syn), r=full(gains[0]), v_leak=full(p["v_leak"]),
                       w_in=full(gains[1]), v_threshold=full(1e9), v_reset=full(0.0))


CASES = [(producer, kind) for producer in PRODUCERS for kind in ("IF", "LIF", "CubaLIF")
         if kind in {t.__name__ for t in PRODUCERS[producer].neurons} or producer == "spikingjelly"]


@pytest.mark.parametrize("producer,kind", CASES)
@settings(max_examples=25, deadline=None)
@given(tau=st.floats(2e-3, 5e-2), decay=st.floats(0.5, 0.99), r=st.floats(0.2, 3.0), v_leak=st.floats(-0.5, 0.5),
       x=st.lists(st.floats(-2.0, 2.0), min_size=12, max_size=12))
def test_dynamics_coefficients_compute_what_the_producers_arithmetic_does(producer, kind, tau, decay, r, v_leak, x):
    """Below threshold, every producer's float update is the model's linear one; Lava, Xylo and snnTorch
    read only the coefficients, the reference runs the producer's own order of operations."""
    params = dict(tau=tau, decay=decay, r=r, v_leak=v_leak)
    dt = 1.0 if producer == "sinabs" else DT
    node = node_for(producer, kind, params)
    if producer == "sinabs" and kind == "LIF":
        node.tau = np.full(1, 5.0 + 20 * decay)  # Sinabs' tau is in steps
    d = resolve_node("n", node, dt, producer)
    module = reference_neuron(d).to(torch.float64)
    functional.reset_net(module)
    v, i = float(np.ravel(d.v_initial)[0]), 0.0
    for value in x:
        module(torch.tensor([[value]], dtype=torch.float64))
        if d.has_current:
            i = float(d.i_decay.ravel()[0]) * i + float(d.i_gain.ravel()[0]) * value
            v = float(d.v_decay.ravel()[0]) * v + float(d.v_gain.ravel()[0]) * i + float(d.drive.ravel()[0])
        else:
            v = float(d.v_decay.ravel()[0]) * v + float(d.v_gain.ravel()[0]) * value + float(d.drive.ravel()[0])
        assert float(module.v.ravel()[0]) == pytest.approx(v, rel=1e-5, abs=1e-6)


# --- check judges a graph by its producer's rules ----------------------------------------------------------------
def snntorch_file_graph(n=3):
    """What snnTorch's exporter writes for Linear -> Leaky -> Linear -> Synaptic (beta 0.75, alpha 0.5)."""
    tau_mem, tau_syn = 1e-4 / 0.25, 1e-4 / 0.5
    leaky = nir.LIF(tau=np.full(n, tau_mem), r=np.full(n, tau_mem / 1e-4), v_leak=np.zeros(n),
                    v_threshold=np.ones(n), v_reset=np.zeros(n))
    synaptic = nir.CubaLIF(tau_mem=np.full(n, tau_mem), tau_syn=np.full(n, tau_syn), r=np.full(n, tau_mem / 1e-4),
                           v_leak=np.zeros(n), w_in=np.full(n, tau_syn / 1e-4), v_threshold=np.ones(n),
                           v_reset=np.zeros(n))
    graph = chain(leaky, synaptic)
    graph.metadata = {}
    return graph


def rules(report, rule):
    return [p for p in report.problems if p.rule == rule]


def test_a_snntorch_subtract_reset_is_a_subtract_reset_on_xylo():
    report = nirdeploy.check(snntorch_file_graph(), "xylo", dt=1e-4, producer="snntorch")
    (reset,) = [p for p in rules(report, "reset mode") if p.node == "b"]
    assert reset.severity == "warning" and "snnTorch Synaptic" in reset.found and "one step late" in reset.found
    assert not rules(report, "producer conventions")


def test_lava_refuses_a_snntorch_reset_naming_the_rule():
    report = nirdeploy.check(snntorch_file_graph(), "lava", dt=1e-4, producer="snntorch")
    errors = [p for p in report.errors if p.rule == "reset mode"]
    assert [p.node for p in errors] == ["a", "b"] and "snnTorch Leaky" in errors[0].found
    with pytest.raises(nirdeploy.TargetError, match="snnTorch Leaky: subtracting the threshold one step late"):
        nirdeploy.deploy(snntorch_file_graph(), "lava", dt=1e-4, producer="snntorch")


def test_an_assumed_producer_is_said_with_the_likely_one():
    report = nirdeploy.check(snntorch_file_graph(), "snntorch", dt=1e-4)
    (assumed,) = rules(report, "producer conventions")
    assert assumed.severity == "warning" and "snntorch" in assumed.suggestion and "producer=" in assumed.suggestion
    with pytest.warns(nirdeploy.from_nir.ConventionsAssumedWarning, match="fit the export of snntorch"):
        nirdeploy.import_from_nir(snntorch_file_graph(), dt=1e-4)


def test_snntorch_and_lava_run_norse_dynamics():
    """Norse's LIFBoxCell starts at v_leak and resets to v_reset; snnTorch and Lava take both. Norse's
    exporter writes tau = dt / tau_inv: tau_inv = 200 / s at dt = 1 ms is tau = 5 us."""
    n = 3
    node = nir.LIF(tau=np.full(n, 5e-6), r=np.ones(n), v_leak=np.full(n, 0.3), v_threshold=np.ones(n),
                   v_reset=np.full(n, -0.2))
    graph = chain(node, nir.LIF(**{k: getattr(node, k) for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")}))
    graph.nodes["w1"].weight *= 4.0
    graph.nodes["w2"].weight *= 4.0
    x = (torch.rand(60, 2, n, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    report = nirdeploy.compare(graph, x, targets=["snntorch", "lava"], producer="norse")
    assert all(row["spike_train_match"] == 1.0 for row in report.rows) and len(report.rows) == 6
    assert min(row["spikes_reference"] for row in report.rows) > 10


@pytest.mark.parametrize("target", ["reference", "snntorch", "lava"])
def test_ties_spike_where_the_test_is_greater_or_equal(target):
    """Integer weights into IF neurons put v exactly on the threshold: '>=' fires there, on every float target
    (a numpy loop of h = v + x, spike where h >= 2, reset to 0, is the truth)."""
    n = 3
    node = nir.IF(r=np.full(n, 1 / DT), v_threshold=np.full(n, 2.0), v_reset=np.zeros(n))
    graph = chain(node, nir.IF(r=np.full(n, 1 / DT), v_threshold=np.full(n, 2.0), v_reset=np.zeros(n)),
                  conventions="spikingjelly")
    x = (torch.rand(40, 2, n, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    expected, v = [], np.zeros((2, n))
    for x_t in x.numpy():
        h = v + x_t
        fired = h >= 2.0
        expected.append(fired)
        v = np.where(fired, 0.0, h)
    expected = np.array(expected, dtype=np.float32)
    out, layers = nirdeploy.deploy(graph, target).run(x, record=True)
    lag = 1 if target == "lava" else 0  # Lava's Dense delivers one step late
    assert expected.sum() > 10 and np.array_equal(layers["a"][lag:].numpy(), expected[: 40 - lag])


def test_a_missing_dt_says_what_the_fields_imply():
    """Rockpool writes r = tau exp(-dt/tau) / dt: two layers with different taus agree on dt = 1 ms."""
    def rockpool_lif(tau):
        tau = np.full(3, tau)
        return nir.LIF(tau=tau, r=tau * np.exp(-DT / tau) / DT, v_leak=np.zeros(3), v_threshold=np.ones(3),
                       v_reset=np.zeros(3))

    graph = chain(rockpool_lif(0.02), rockpool_lif(0.005))
    graph.metadata = {}
    with pytest.raises(nirdeploy.InvalidArgumentError, match=r"records no dt.*dt=\.\.\..*Rockpool's export at dt=0.001 s \(dt=0.001, producer='rockpool'\)"):
        resolve(graph)
    assert resolve(graph, DT, "rockpool")["a"].rule == "Rockpool LIFNeuronTorch"
