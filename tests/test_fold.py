"""Folding chains of linear layers into one Affine (nirdeploy.fold), checked against the unfolded graph
run by the reference and against hand-computed weights."""

import nir
import numpy as np
import pytest
import torch
from spikingjelly.activation_based import layer, neuron

import nirdeploy
from nirdeploy.errors import UnsupportedNodeError
from nirdeploy.fold import MAX_FOLDED_WEIGHTS, fold_linear_chains, linear_chains

from nets import _amplify, spike_input


def pool_then_linear_net():
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1), neuron.LIFNode(tau=2.0),
        layer.AvgPool2d(2), layer.Flatten(), layer.Linear(128, 10), neuron.LIFNode(tau=2.0),
    )
    return _amplify(net, 3.0, last_gain=12.0)


def test_pool_flatten_linear_folds_into_one_affine_with_the_same_spikes():
    graph = nirdeploy.export_to_nir(pool_then_linear_net(), torch.zeros(1, 1, 8, 8), dt=1e-3)
    assert linear_chains(graph) == [["2", "3", "4"]]
    folded = fold_linear_chains(graph)
    assert set(folded.nodes) == {"input", "0", "1", "2+3+4.flatten", "2+3+4", "5", "output"}
    assert ("1", "2+3+4.flatten") in folded.edges and ("2+3+4", "5") in folded.edges
    assert folded.nodes["2+3+4"].weight.shape == (10, 8 * 8 * 8)
    x = spike_input((1, 8, 8), batch=4, steps=40)
    expected = nirdeploy.import_from_nir(graph, dt=1e-3, step_mode="m")(x)
    got = nirdeploy.import_from_nir(folded, dt=1e-3, step_mode="m")(x)
    assert expected.sum() > 20
    assert torch.equal(got, expected)


def test_folded_weights_match_a_hand_computation():
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "scale": nir.Scale(scale=np.array([2.0, 3.0, 4.0], dtype=np.float32)),
            "fc": nir.Affine(weight=weight, bias=np.array([1.0, -1.0], dtype=np.float32)),
            "lif": nir.LIF(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "scale"), ("scale", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    folded = fold_linear_chains(graph).nodes["scale+fc"]
    # y = W (s * x) + b: column j of W times s_j.
    np.testing.assert_array_equal(folded.weight, [[0, 3, 8], [6, 12, 20]])
    np.testing.assert_array_equal(folded.bias, [1, -1])


def test_a_branching_layer_is_not_folded():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "scale": nir.Scale(scale=np.full(4, 2.0)),
        "fc_a": nir.Linear(weight=np.ones((3, 4))),
        "fc_b": nir.Linear(weight=np.ones((3, 4))),
        "output_a": nir.Output(output_type={"output": np.array([3])}),
        "output_b": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("input", "scale"), ("scale", "fc_a"), ("scale", "fc_b"), ("fc_a", "output_a"), ("fc_b", "output_b")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    assert linear_chains(graph) == []
    assert fold_linear_chains(graph) is graph


def test_a_chain_too_large_to_fold_is_an_error_naming_it():
    side = int(np.sqrt(MAX_FOLDED_WEIGHTS / 10)) + 2
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, side, side])}),
        "pool": nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([1, side, side])}, start_dim=0, end_dim=-1),
        "fc": nir.Linear(weight=np.zeros((10, side * side), dtype=np.float32)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "output")],
                         type_check=False)
    graph.nodes["pool"].input_type = {"input": np.array([1, side, side])}
    with pytest.raises(UnsupportedNodeError, match="pool -> flat -> fc"):
        fold_linear_chains(graph)
