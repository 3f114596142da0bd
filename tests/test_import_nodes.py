"""Every NIR node type, subgraphs, several inputs/outputs and cycles, checked against numpy."""

import nir
import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional

import nirdeploy
from graphs import DT, io
from numpy_nir import NumpyNIR

RNG = np.random.default_rng(7)


def u(low, high, *shape):
    return RNG.uniform(low, high, shape)


def lif(n, spiking=True):
    fields = dict(tau=u(2e-3, 8e-3, n), r=u(0.5, 2.0, n), v_leak=u(-0.1, 0.1, n))
    return nir.LIF(**fields, v_threshold=u(0.4, 1.0, n), v_reset=u(-0.2, 0.0, n)) if spiking else nir.LI(**fields)


def cuba(n, spiking=True):
    fields = dict(
        tau_syn=u(2e-3, 5e-3, n), tau_mem=u(3e-3, 9e-3, n), r=u(0.5, 2.0, n), v_leak=u(-0.1, 0.1, n), w_in=u(0.5, 2, n)
    )
    return nir.CubaLIF(**fields, v_threshold=u(0.3, 0.8, n), v_reset=u(-0.1, 0.1, n)) if spiking else nir.CubaLI(**fields)


def affine(n_out, n_in, gain=1.5):
    return nir.Affine(u(-gain, gain, n_out, n_in) + 0.2, u(-0.1, 0.3, n_out))


def all_neurons_graph():
    (inp, _), (_, o_if), (_, o_lif), (_, o_cuba), (_, o_i), (_, o_li), (_, o_culi) = (io(s) for s in [(8,), (6,), (5,), (4,), (3,), (3,), (3,)])
    nodes = {
        "input": inp,
        "fc_if": affine(6, 8), "if": nir.IF(r=u(500, 1500, 6), v_threshold=u(0.5, 1.0, 6), v_reset=u(-0.2, 0.1, 6)),
        "fc_lif": nir.Linear(u(-1, 2, 5, 8)), "lif": lif(5),
        "fc_cuba": affine(4, 6), "cuba": cuba(4),
        "scale": nir.Scale(u(0.5, 2.0, 4)),
        "fc_i": affine(3, 4), "i": nir.I(r=u(100, 300, 3)),
        "fc_li": affine(3, 5), "li": lif(3, spiking=False),
        "fc_culi": affine(3, 4), "culi": cuba(3, spiking=False),
        "out_if": o_if, "out_lif": o_lif, "out_cuba": o_cuba, "out_i": o_i, "out_li": o_li, "out_culi": o_culi,
    }
    edges = [
        ("input", "fc_if"), ("fc_if", "if"), ("input", "fc_lif"), ("fc_lif", "lif"), ("if", "fc_cuba"),
        ("fc_cuba", "cuba"), ("cuba", "scale"), ("scale", "fc_i"), ("fc_i", "i"), ("lif", "fc_li"), ("fc_li", "li"),
        ("cuba", "fc_culi"), ("fc_culi", "culi"), ("if", "out_if"), ("lif", "out_lif"), ("cuba", "out_cuba"),
        ("i", "out_i"), ("li", "out_li"), ("culi", "out_culi"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges), (8,)


def conv_pool_delay_graph(conv1_input_shape=4 * 4):
    conv = nir.Conv2d(input_shape=(8, 8), weight=u(-0.5, 1.0, 4, 2, 3, 3), stride=1, padding="same", dilation=1,
                      groups=1, bias=u(-0.1, 0.1, 4))
    conv1 = nir.Conv1d(input_shape=conv1_input_shape, weight=u(-0.5, 1.0, 3, 4, 2), stride=2, padding=1, dilation=1, groups=1,
                       bias=u(0, 0.1, 3))
    nodes = {
        "input": io((2, 8, 8))[0],
        "conv": conv,
        "thr": nir.Threshold(u(0.2, 0.8, 4, 8, 8)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat_hw": nir.Flatten(start_dim=1, end_dim=2, input_type={"input": np.array([4, 4, 4])}),
        "conv1": conv1,
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([3, 9])}),
        "delay": nir.Delay(RNG.integers(0, 4, 27) * DT),
        "lif": lif(27),
        "output": io((27,))[1],
    }
    edges = [("input", "conv"), ("conv", "thr"), ("thr", "pool"), ("pool", "flat_hw"), ("flat_hw", "conv1"),
             ("conv1", "flat"), ("flat", "delay"), ("delay", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), (2, 8, 8)


def recurrent_graph():
    """A recurrent LIF layer, and a recurrent CubaLIF layer nested as a subgraph (as snnTorch writes RSynaptic)."""
    inner = nir.NIRGraph(
        nodes={"input": io((5,))[0], "cuba": cuba(5), "w_rec": nir.Linear(u(-0.8, 0.8, 5, 5)), "output": io((5,))[1]},
        edges=[("input", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "output")],
    )
    nodes = {
        "input": io((6,))[0], "fc": affine(7, 6), "lif": lif(7), "rec": affine(7, 7, gain=1.0),
        "fc2": affine(5, 7), "rsyn": inner, "output": io((5,))[1],
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"), ("fc2", "rsyn"),
             ("rsyn", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), (6,)


def two_input_graph():
    (in_a, _), (in_b, _) = io((4,)), io((3,))
    nodes = {"a": in_a, "b": in_b, "fa": affine(5, 4), "fb": affine(5, 3), "if": nir.IF(r=np.full(5, 1 / DT),
             v_threshold=u(0.5, 1, 5)), "output": io((5,))[1]}
    edges = [("a", "fa"), ("b", "fb"), ("fa", "if"), ("fb", "if"), ("if", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), None


GRAPHS = {"all_neurons": all_neurons_graph, "conv_pool_delay": conv_pool_delay_graph, "recurrent": recurrent_graph}


def _run(gm, inputs, step_mode):
    functional.reset_net(gm)
    functional.set_step_mode(gm, step_mode)
    with torch.no_grad():
        if step_mode == "m":
            return gm(*inputs)
        steps = [gm(*(x[t] for x in inputs)) for t in range(len(inputs[0]))]
    return tuple(torch.stack(o) for o in zip(*steps)) if isinstance(steps[0], tuple) else torch.stack(steps)


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _compare(graph, inputs, step_mode, path):
    nir.write(path, graph)
    gm = nirdeploy.import_from_nir(path, dt=DT, dtype=torch.float64, step_mode=step_mode)
    actual = _as_tuple(_run(gm, [torch.as_tensor(x) for x in inputs], step_mode))
    graph = nir.read(path, type_check=False)  # the file's node order is the outputs' order
    sim = NumpyNIR(graph, dt=DT)
    steps = [sim.step(*(x[t] for x in inputs)) for t in range(len(inputs[0]))]
    expected = tuple(np.stack(o) for o in zip(*(_as_tuple(s) for s in steps)))
    for a, e, node in zip(actual, expected, [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)], strict=True):
        a = a.numpy()
        if set(np.unique(e)) <= {0.0, 1.0}:
            assert e.sum() > 0, f"{node} never spikes"
            assert np.array_equal(a, e), f"{node}: {int((a != e).sum())} of {a.size} values differ"
        else:
            np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9, err_msg=node)


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_matches_numpy(name, step_mode, tmp_path):
    graph, shape = GRAPHS[name]()
    x = (np.random.default_rng(1).random((120, 3, *shape)) < 0.3).astype(np.float64)
    _compare(graph, [x], step_mode, tmp_path / f"{name}.nir")


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_two_inputs_are_summed(step_mode, tmp_path):
    graph, _ = two_input_graph()
    rng = np.random.default_rng(2)
    inputs = [(rng.random((100, 2, n)) < 0.4).astype(np.float64) for n in (4, 3)]
    _compare(graph, inputs, step_mode, tmp_path / "two.nir")


def test_recurrent_edges_are_the_ones_closing_cycles():
    graph, _ = recurrent_graph()
    gm = nirdeploy.import_from_nir(graph, dt=DT)
    assert sorted(gm.meta["recurrent_edges"]) == [("lif", "rec"), ("rsyn.cuba", "rsyn.w_rec")]


def test_shapes_left_out_are_not_needed(tmp_path):
    """Conv1d above has no input_shape; Flatten and pooling infer from their input at run time."""
    graph, shape = conv_pool_delay_graph(conv1_input_shape=None)
    assert graph.nodes["conv1"].input_shape is None
    gm = nirdeploy.import_from_nir(graph, dt=DT, step_mode="m")
    assert gm(torch.zeros(5, 1, *shape)).shape == (5, 1, 27)
