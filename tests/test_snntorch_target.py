"""The snnTorch target against the reference and against the numpy simulation of the equations."""

import nir
import numpy as np
import pytest
import torch

import nirdeploy
from graphs import DT, affine, conv, cuba, integrate, io, lif, rng
from graphs import spikes as random_spikes
from numpy_nir import NumpyNIR

T = 250


def snn_affine(n_out, n_in, seed, gain=1.2):
    """Affine weights that keep these graphs' layers firing; their neurons have per-neuron taus."""
    return affine(n_out, n_in, seed, gain=gain, offset=0.25, bias=(-0.05, 0.15))


def feedforward():
    (inp, _), (_, out) = io((10,)), io((6,))
    (_, out_li) = io((3,))
    nodes = {"input": inp, "fc1": snn_affine(16, 10, 1), "lif": lif(16, 2, tau=None), "fc2": snn_affine(12, 16, 3),
             "if": integrate(12, 4), "fc3": nir.Linear(rng(5).uniform(-0.5, 1.5, (6, 12))),
             "cuba": cuba(6, 6, tau_syn=None, tau_mem=None), "output": out, "fc4": snn_affine(3, 12, 7),
             "li": lif(3, 8, tau=None, spiking=False), "potential": out_li}
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "if"), ("if", "fc3"), ("fc3", "cuba"),
             ("cuba", "output"), ("if", "fc4"), ("fc4", "li"), ("li", "potential")]
    return nir.NIRGraph(nodes=nodes, edges=edges), (10,)


def recurrent():
    """A recurrent LIF layer, then a recurrent CubaLIF nested as snnTorch writes RSynaptic."""
    inner = nir.NIRGraph(
        nodes={"input": io((6,))[0], "cuba": cuba(6, 21, tau_syn=None, tau_mem=None),
               "w_rec": snn_affine(6, 6, 22, gain=0.6), "output": io((6,))[1]},
        edges=[("input", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "output")],
    )
    nodes = {"input": io((10,))[0], "fc": snn_affine(12, 10, 23), "lif": lif(12, 24, tau=None),
             "rec": snn_affine(12, 12, 25, gain=0.5), "fc2": snn_affine(6, 12, 26), "rsyn": inner, "output": io((6,))[1]}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"), ("fc2", "rsyn"),
             ("rsyn", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), (10,)


def subtractive():
    """The feed-forward graph with subtractive reset everywhere (as SpikingJelly's v_reset=None exports)."""
    graph, shape = feedforward()
    for node in graph.nodes.values():
        if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
            node.metadata["reset_mode"] = "subtract"
            node.v_reset = np.zeros_like(node.v_reset)
    return graph, shape


GRAPHS = {"feedforward": feedforward, "conv": conv, "recurrent": recurrent, "subtractive": subtractive}


def spikes(shape, seed=3):
    return random_spikes(shape, batch=4, steps=T, seed=seed)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_snntorch_matches_reference_spike_for_spike(name):
    graph, shape = GRAPHS[name]()
    report = nirdeploy.compare(graph, spikes(shape), targets=["snntorch"], dt=DT)
    rows = report.for_target("snntorch")
    assert {r["kind"] for r in rows} == {"output", "layer"}
    for row in rows:
        if not row["spikes"]:  # an LI potential: float32 rounding differs between the two
            assert row["max_abs_difference"] < 1e-5, row["name"]
            continue
        assert row["spikes_reference"] > 0, f"{row['name']} never spikes"
        assert row["spike_train_match"] == 1.0, (row["name"], row["first_divergence"])
        assert row["first_divergence"] is None


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_snntorch_matches_numpy_equations(name):
    graph, shape = GRAPHS[name]()
    x = spikes(shape)
    out = nirdeploy.deploy(graph, "snntorch", dt=DT).run(x)
    out = out if isinstance(out, tuple) else (out,)
    sim = NumpyNIR(graph, dt=DT)
    expected = [np.stack(o) for o in zip(*[s if isinstance(s, tuple) else (s,) for s in (sim.step(x_t.double().numpy()) for x_t in x)])]
    for got, want in zip(out, expected, strict=True):
        if set(np.unique(want)) <= {0.0, 1.0}:
            assert want.sum() > 0
            assert np.array_equal(got.numpy(), want), f"{int((got.numpy() != want).sum())} spikes differ"
        else:  # a potential (LI): float32 against float64
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_runs_on_cuda_when_present():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    graph, shape = feedforward()
    x = spikes(shape)
    cpu = nirdeploy.deploy(graph, "snntorch", dt=DT).run(x)
    gpu = nirdeploy.deploy(graph, "snntorch", dt=DT, device="cuda").run(x)
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))
