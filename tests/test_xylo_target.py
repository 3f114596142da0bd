"""The Xylo target: XyloSim (built for real) against a numpy simulation of Xylo's integer arithmetic,
the float bit-shift model against the reference, and every hardware rule checked by name."""

import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

import nirdeploy
from nirdeploy.errors import TargetError
from nirdeploy.semantics import resolve
from nirdeploy.targets.xylo import quantised_specification
from graphs import DT, uniform_cuba, uniform_lif
from graphs import spikes as random_spikes
from numpy_xylo import numpy_xylo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "scripts")]
import xylo_agreement  # noqa: E402
from docfigures import record  # noqa: E402

T = 200
VARIANTS = ("syns61201", "syns65302", "syns63300")


def cuba(n, tau_mem=16e-3, tau_syn=8e-3, threshold=1.0, v_leak=0.0):
    return uniform_cuba(n, tau_syn=tau_syn, tau_mem=tau_mem, v_leak=v_leak, v_threshold=threshold, subtract=True)


def lif(n, tau=16e-3):
    return uniform_lif(n, tau=tau, subtract=True)


def drive(index, size):
    """(mean, sd) of weights that keep a layer firing at a few percent: about 1.2 input per step."""
    return (1.2, 1.0) if index == 0 else (24 / size, 24 / size)


def chain(n_in=8, hidden=(20,), n_out=4, recurrent=(), seed=0, neuron=cuba, output_neuron=None):
    """Input -> (Linear -> neuron [+ recurrent Linear])* -> Linear -> output neuron -> Output."""
    r = np.random.default_rng(seed)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges, previous, size = [], "input", n_in
    for index, n in enumerate(hidden):
        fc, hid = f"fc{index}", f"hidden{index}"
        nodes[fc], nodes[hid] = nir.Linear(r.normal(*drive(index, size), (n, size))), neuron(n)
        edges += [(previous, fc), (fc, hid)]
        if index in recurrent:
            nodes[f"rec{index}"] = nir.Linear(r.normal(0.0, 0.2, (n, n)))
            edges += [(hid, f"rec{index}"), (f"rec{index}", hid)]
        previous, size = hid, n
    nodes["fc_out"], nodes["out"] = nir.Linear(r.normal(*drive(len(hidden), size), (n_out, size))), (output_neuron or neuron)(n_out)
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges += [(previous, "fc_out"), ("fc_out", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def spikes(n_in, batch=2, seed=1, rate=0.15, steps=T):
    return random_spikes(n_in, batch=batch, steps=steps, rate=rate, seed=seed)


GRAPHS = {
    "feedforward": lambda: chain(),
    "recurrent": lambda: chain(recurrent=(0,)),
    "two hidden layers, LIF": lambda: chain(hidden=(12, 10), recurrent=(1,), neuron=lif),
    "with biases": lambda: chain(neuron=lambda n: cuba(n, v_leak=0.3)),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_xylosim_computes_xylo_integer_arithmetic(variant, name):
    graph = GRAPHS[name]()
    x = spikes(8)
    out, layers = nirdeploy.deploy(graph, f"xylo:{variant}", dt=DT).run(x, record=True)
    spec, hidden_ids = quantised_specification(resolve(graph, DT), variant, "global")
    total_spikes = 0
    for b in range(x.shape[1]):
        expected_out, expected_hidden, _ = numpy_xylo(spec, x[:, b].numpy().astype(int))
        np.testing.assert_array_equal(out[:, b].numpy(), expected_out)
        layer_names = [n for n in graph.nodes if n.startswith("hidden")]
        for layer, ids in zip(layer_names, hidden_ids):
            np.testing.assert_array_equal(layers[layer][:, b].numpy(), expected_hidden[:, ids])
        total_spikes += expected_out.sum()
    assert total_spikes > 10  # the outputs are active, so the comparison means something


def test_biases_reach_the_chip_with_both_quantisers():
    """Rockpool's channel_quantize zeroes one-synapse hidden biases and global_quantize scales output
    biases with the hidden scale; the adapter gives each bias its own neuron's threshold scale."""
    graph = chain(neuron=lambda n: cuba(n, v_leak=0.3))
    for quantisation in ("global", "channel"):
        spec, _ = quantised_specification(resolve(graph, DT), "syns61201", quantisation)
        for suffix in ("", "_out"):
            # v_leak 0.3 with tau_mem = 16 dt: bias (dt/tau_mem) 0.3 = threshold / 53.3
            np.testing.assert_allclose(spec[f"bias{suffix}"], spec[f"threshold{suffix}"] * 0.3 / 16, atol=0.5)
            assert np.all(spec[f"bias{suffix}"] > 0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("hidden, delays", [((20,), {"hidden0": 0, "output": 1}),
                                            ((12, 10), {"hidden0": 0, "hidden1": 1, "output": 2})])
def test_float_bit_shift_model_equals_the_reference_for_power_of_two_taus(variant, hidden, delays):
    """With tau / dt a power of two Xylo's decays are the reference's Euler decays; the float model
    (no integer rounding) then matches the reference spike for spike once Xylo's delays (none on the
    input hop, one step per later hop) are shifted out."""
    graph = chain(recurrent=(len(hidden) - 1,), hidden=hidden)
    report = nirdeploy.compare(graph, spikes(8), targets={f"xylo:{variant}/float": {"simulator": "float"}}, dt=DT)
    assert {r["name"]: r["delay_compensated"] for r in report.rows} == delays
    for row in report.rows:
        assert row["spike_train_match"] == 1.0, row
        assert row["spikes_reference"] > 20


def test_agreement_is_what_docs_xylo_md_says():
    """benchmarks/xylo_agreement.py's table reproduces; with power-of-two taus (quantisation only) output
    counts correlate >= 0.99 with the reference's and their totals are within 5%."""
    found = xylo_agreement.measure()
    assert xylo_agreement.render(found) == record("xylo-agreement")["markdown"].rstrip("\n")
    for row in found["16 / 8 ms (powers of two)"]:
        assert row["correlation"] >= 0.99
        assert abs(row["target_spikes"] - row["reference_spikes"]) <= 0.05 * row["reference_spikes"], row


def test_nested_recurrent_subgraph_deploys():
    """snnTorch writes a recurrent layer as a subgraph; it is flattened and mapped like the plain one."""
    plain = chain(recurrent=(0,))
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([20])}), "lif": plain.nodes["hidden0"],
               "w_rec": plain.nodes["rec0"], "output": nir.Output(output_type={"output": np.array([20])})},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    nodes = {k: v for k, v in plain.nodes.items() if k not in ("hidden0", "rec0")} | {"rsub": inner}
    edges = [("input", "fc0"), ("fc0", "rsub"), ("rsub", "fc_out"), ("fc_out", "out"), ("out", "output")]
    nested = nir.NIRGraph(nodes=nodes, edges=edges)
    x = spikes(8)
    out_plain = nirdeploy.deploy(plain, "xylo", dt=DT).run(x)
    out_nested, layers = nirdeploy.deploy(nested, "xylo", dt=DT).run(x, record=True)
    assert torch.equal(out_plain, out_nested) and out_plain.sum() > 10
    assert list(layers) == ["rsub.lif"]


def problems(graph, target="xylo", dt=DT):
    return [(p.node, p.rule, p.severity) for p in nirdeploy.check(graph, target, dt=dt).problems]


def errors(graph, target="xylo", dt=DT):
    return [(node, rule) for node, rule, severity in problems(graph, target, dt) if severity == "error"]


def test_a_mappable_graph_passes_on_every_variant():
    for variant in VARIANTS:
        assert errors(chain(recurrent=(0,)), f"xylo:{variant}") == []


def test_count_limits_per_variant():
    assert ("(graph)", "outputs limit") in errors(chain(n_out=9), "xylo:syns61201")
    assert errors(chain(n_out=9), "xylo:syns65302") == []
    assert ("(graph)", "outputs limit") in errors(chain(n_out=17), "xylo:syns65302")
    assert ("(graph)", "hidden_neurons limit") in errors(chain(hidden=(500,)), "xylo:syns63300")
    assert errors(chain(hidden=(500,)), "xylo:syns61201") == []
    assert ("(graph)", "hidden_neurons limit") in errors(chain(hidden=(600, 401)), "xylo:syns61201")
    assert ("(graph)", "inputs limit") in errors(chain(n_in=17))


def test_time_constants_against_dt_and_four_bit_dashes():
    short = chain(neuron=lambda n: cuba(n, tau_syn=1.2e-3))
    assert ("hidden0", "tau_syn >= 1.42 dt") in errors(short)
    long = chain(output_neuron=lambda n: cuba(n, tau_mem=2**16 * DT))
    assert ("out", "tau_mem fits 4-bit dash") in errors(long)
    assert ("out", "tau_mem fits 4-bit dash") not in errors(long, dt=4 * DT)  # the same tau is 2**14 steps at 4 ms
    off = chain(neuron=lambda n: cuba(n, tau_mem=20e-3))
    assert ("hidden0", "tau_mem as a bit shift", "warning") in problems(off)


def test_structure_rules_name_the_node():
    recurrent_output = chain()
    recurrent_output.nodes["w_back"] = nir.Linear(np.eye(4))
    recurrent_output.edges += [("out", "w_back"), ("w_back", "out")]
    assert errors(recurrent_output) == [("out", "output neurons not recurrent")]

    single = chain(hidden=())
    assert errors(single) == [("out", "two neuron layers")]

    branch = chain()
    branch.nodes["side"] = nir.Linear(np.ones((4, 20)))
    branch.edges.append(("hidden0", "side"))
    assert errors(branch) == [("hidden0", "layer chain")]

    wrong_type = chain()
    wrong_type.nodes["hidden0"] = nir.IF(r=np.ones(20), v_threshold=np.ones(20), v_reset=np.zeros(20))
    assert ("hidden0", "node type") in errors(wrong_type)


def test_neuron_parameter_rules():
    hard = chain()
    del hard.nodes["out"].metadata["reset_mode"]
    assert ("out", "reset mode") in errors(hard)
    negative = chain(output_neuron=lambda n: cuba(n, threshold=-1.0))
    negative.nodes["out"].metadata["reset_mode"] = "zero"
    negative.nodes["out"].v_reset = np.full(4, -2.0)  # a hard reset below the threshold: a valid graph
    assert ("out", "v_threshold > 0") in errors(negative)
    offset = chain()
    offset.nodes["out"].v_reset = np.full(4, 0.2)
    assert ("out", "v_reset = 0") in errors(offset)
    other_dt = chain()
    other_dt.nodes["hidden0"].metadata["dt"] = 2e-3
    assert ("hidden0", "one dt for all neurons") in errors(other_dt)
    assert ("hidden0", "LIF synapse", "warning") in problems(chain(neuron=lif))


def test_quantisation_warnings_name_the_layer():
    lost = chain(neuron=lambda n: cuba(n, v_leak=1e-4))
    assert ("hidden0", "bias survives quantisation", "warning") in problems(lost)
    fine = chain()
    fine.nodes["fc0"].weight = np.round(fine.nodes["fc0"].weight * 4) / 4
    assert not any(rule == "8-bit weights" for _, rule, _ in problems(fine))
    coarse = chain()
    coarse.nodes["fc0"].weight[0, 0] = 400.0  # one outlier: the rest round to few levels
    assert ("fc0", "8-bit weights", "warning") in problems(coarse)


def test_deploy_refuses_a_graph_that_fails_check():
    with pytest.raises(TargetError, match="out: output neurons not recurrent|node out"):
        graph = chain()
        graph.nodes["w_back"] = nir.Linear(np.eye(4))
        graph.edges += [("out", "w_back"), ("w_back", "out")]
        nirdeploy.deploy(graph, "xylo", dt=DT)
    with pytest.raises(TargetError, match="quantisation"):
        nirdeploy.deploy(chain(), "xylo", dt=DT, quantisation="none")


def test_runtime_is_installed_for_real():
    ready, detail = nirdeploy.targets.get_target("xylo").runtime_status()
    assert ready, detail
    assert "xylosim 0.1.3" in detail
