"""The imported model computes the NIR equations, checked against tests/numpy_nir.py."""

import nir
import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional

import nirdeploy
from nets import NETS, spike_input
from numpy_nir import NumpyNIR


@pytest.mark.parametrize("name", sorted(NETS))
def test_import_matches_numpy_equations(name, tmp_path):
    make, shape = NETS[name]
    torch.manual_seed(0)
    path = tmp_path / f"{name}.nir"
    nirdeploy.export_to_nir(make(), torch.zeros(2, *shape), save_path=path, dt=1e-3)
    graph = nir.read(path, type_check=False)
    x = spike_input(shape, steps=80).double()

    gm = nirdeploy.import_from_nir(path, dt=1e-3, dtype=torch.float64, step_mode="m")
    functional.reset_net(gm)
    with torch.no_grad():
        actual = gm(x).numpy()
    expected = NumpyNIR(graph).run(x.numpy())

    assert expected.sum() > 0
    assert np.array_equal(actual, expected), f"{int((actual != expected).sum())} of {actual.size} spikes differ"


def test_numpy_reference_sees_hard_reset_without_metadata(tmp_path):
    """A plain NIR reader sees a soft-reset node as a hard reset to 0; nirdeploy honours the metadata."""
    from spikingjelly.activation_based import layer, neuron

    net = torch.nn.Sequential(layer.Linear(4, 3), neuron.IFNode(v_reset=None))
    graph = nirdeploy.export_to_nir(net, torch.zeros(1, 4))
    node = graph.nodes["1"]
    assert node.metadata["reset_mode"] == "subtract"
    assert np.all(node.v_reset == 0)
