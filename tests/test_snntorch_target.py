"""The snnTorch target against the reference and against the numpy simulation of the equations."""

import nir
import numpy as np
import pytest
import torch

import nirdeploy
from numpy_nir import NumpyNIR

DT = 1e-3
T = 250


def rng(seed):
    return np.random.default_rng(seed)


def io(shape):
    return nir.Input(input_type={"input": np.array(shape)}), nir.Output(output_type={"output": np.array(shape)})


def lif(n, seed, spiking=True):
    r = rng(seed)
    v_leak = r.uniform(-0.2, 0.1, n)
    fields = dict(tau=r.uniform(2e-3, 9e-3, n), r=r.uniform(0.7, 1.5, n), v_leak=v_leak)
    if not spiking:
        return nir.LI(**fields)
    return nir.LIF(**fields, v_threshold=v_leak + r.uniform(0.4, 1.0, n), v_reset=v_leak + r.uniform(-0.3, 0.2, n))


def cuba(n, seed):
    r = rng(seed)
    v_leak = r.uniform(-0.1, 0.1, n)
    return nir.CubaLIF(tau_syn=r.uniform(2e-3, 5e-3, n), tau_mem=r.uniform(3e-3, 9e-3, n), r=r.uniform(0.6, 1.6, n),
                       v_leak=v_leak, w_in=r.uniform(0.6, 1.6, n), v_threshold=v_leak + r.uniform(0.3, 0.8, n),
                       v_reset=v_leak + r.uniform(-0.2, 0.1, n))


def integrate(n, seed):
    r = rng(seed)
    return nir.IF(r=r.uniform(600, 1400, n), v_threshold=r.uniform(0.6, 1.2, n), v_reset=r.uniform(-0.3, 0.2, n))


def affine(n_out, n_in, seed, gain=1.2):
    r = rng(seed)
    return nir.Affine(r.uniform(-gain, gain, (n_out, n_in)) + 0.25 * gain, r.uniform(-0.05, 0.15, n_out))


def feedforward():
    (inp, _), (_, out) = io((10,)), io((6,))
    (_, out_li) = io((3,))
    nodes = {"input": inp, "fc1": affine(16, 10, 1), "lif": lif(16, 2), "fc2": affine(12, 16, 3), "if": integrate(12, 4),
             "fc3": nir.Linear(rng(5).uniform(-0.5, 1.5, (6, 12))), "cuba": cuba(6, 6), "output": out,
             "fc4": affine(3, 12, 7), "li": lif(3, 8, spiking=False), "potential": out_li}
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "if"), ("if", "fc3"), ("fc3", "cuba"),
             ("cuba", "output"), ("if", "fc4"), ("fc4", "li"), ("li", "potential")]
    return nir.NIRGraph(nodes=nodes, edges=edges), (10,)


def conv():
    r = rng(11)
    (inp, _), (_, out) = io((2, 8, 8)), io((5,))
    nodes = {
        "input": inp,
        "conv1": nir.Conv2d(input_shape=(8, 8), weight=r.uniform(-0.4, 1.0, (4, 2, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=r.uniform(0, 0.1, 4)),
        "if": nir.IF(r=np.full((4, 8, 8), 1 / DT), v_threshold=r.uniform(0.8, 1.5, (4, 8, 8)), v_reset=np.zeros((4, 8, 8))),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(4, 4), weight=r.uniform(-0.3, 1.0, (6, 4, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=np.zeros(6)),
        "lif": nir.LIF(tau=np.full((6, 4, 4), 4e-3), r=np.full((6, 4, 4), 2.0), v_leak=np.zeros((6, 4, 4)),
                       v_threshold=np.full((6, 4, 4), 0.8), v_reset=np.zeros((6, 4, 4))),
        "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([6, 2, 2])}),
        "fc": affine(5, 24, 13, gain=0.8),
        "out_lif": lif(5, 14),
        "output": out,
    }
    edges = [("input", "conv1"), ("conv1", "if"), ("if", "pool"), ("pool", "conv2"), ("conv2", "lif"), ("lif", "sum"),
             ("sum", "flat"), ("flat", "fc"), ("fc", "out_lif"), ("out_lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), (2, 8, 8)


def recurrent():
    """A recurrent LIF layer, then a recurrent CubaLIF nested as snnTorch writes RSynaptic."""
    inner = nir.NIRGraph(
        nodes={"input": io((6,))[0], "cuba": cuba(6, 21), "w_rec": affine(6, 6, 22, gain=0.6), "output": io((6,))[1]},
        edges=[("input", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "output")],
    )
    nodes = {"input": io((10,))[0], "fc": affine(12, 10, 23), "lif": lif(12, 24), "rec": affine(12, 12, 25, gain=0.5),
             "fc2": affine(6, 12, 26), "rsyn": inner, "output": io((6,))[1]}
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
    return (torch.rand((T, 4, *shape), generator=torch.Generator().manual_seed(seed)) < 0.3).float()


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
