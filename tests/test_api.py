"""The public API: names, signatures, SpikingJelly behaviour, and files other tools read."""

import inspect

import h5py
import nir
import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.nir_exchange import export_to_nir as sj_export
from spikingjelly.activation_based.nir_exchange import import_from_nir as sj_import

import nirdeploy
import nirdeploy.from_nir
import nirdeploy.to_nir
from nets import mlp, run, spike_input


def sj_compatible_net():
    torch.manual_seed(1)
    return mlp(neuron.LIFNode(tau=2.0, v_reset=-0.1), neuron.CUBALIFNode(0.6, 0.7, 0.8))


def test_names_are_reachable():
    assert nirdeploy.export_to_nir is nirdeploy.to_nir.export_to_nir
    assert nirdeploy.import_from_nir is nirdeploy.from_nir.import_from_nir


@pytest.mark.parametrize("ours,theirs", [(nirdeploy.export_to_nir, sj_export), (nirdeploy.import_from_nir, sj_import)])
def test_signatures_match_spikingjelly(ours, theirs):
    """Same positional parameters and defaults; nirdeploy only adds keyword-only options."""
    mine = [p for p in inspect.signature(ours).parameters.values() if p.kind != p.KEYWORD_ONLY]
    sj = list(inspect.signature(theirs).parameters.values())
    assert [(p.name, p.default) for p in mine] == [(p.name, p.default) for p in sj]


def test_reset_net_and_state_behave_like_spikingjelly(tmp_path):
    net = sj_compatible_net()
    gm = nirdeploy.import_from_nir(nirdeploy.export_to_nir(net, torch.zeros(1, 12), dt=1e-4))
    x = spike_input((12,), steps=30)
    first, _ = run(gm, x, "s")
    with torch.no_grad():
        gm(x[0])  # leaves state behind
    second, _ = run(gm, x, "s")  # run() calls functional.reset_net first
    assert first.sum() > 0 and torch.equal(first, second)
    functional.set_step_mode(gm, "m")
    functional.reset_net(gm)
    with torch.no_grad():
        halves = torch.cat([gm(x[:12]), gm(x[12:])])  # state carries over between calls
        functional.reset_net(gm)
        assert torch.equal(gm(x), halves)
    assert torch.equal(halves, first)


def test_file_is_plain_nir_with_dt_and_conventions(tmp_path):
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(sj_compatible_net(), torch.zeros(1, 12), save_path=path, dt=5e-4)
    graph = nir.read(path)
    assert float(graph.metadata["dt"]) == 5e-4
    assert graph.metadata["threshold"] == "spike when v >= v_threshold"
    assert [type(graph.nodes[n]).__name__ for n in ("input", "0", "1", "2", "3", "output")] == [
        "Input", "Affine", "LIF", "Affine", "CubaLIF", "Output"
    ]
    np.testing.assert_allclose(graph.nodes["1"].tau, 2.0 * 5e-4)


def test_spikingjelly_reads_our_file_and_computes_the_same(tmp_path):
    """SpikingJelly's own nir_exchange importer, run on nirdeploy's file, gives the original spikes."""
    net = sj_compatible_net()
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(net, torch.zeros(1, 12), save_path=path)
    x = spike_input((12,))
    expected, _ = run(net, x, "s")
    theirs = sj_import(path)
    state, outs = None, []
    with torch.no_grad():
        for x_t in x:
            out, state = theirs(x_t, state)
            outs.append(out)
    assert expected.sum() > 0 and torch.equal(torch.stack(outs), expected)


def test_we_read_spikingjelly_files_bit_exactly(tmp_path):
    net = sj_compatible_net()
    path = tmp_path / "sj.nir"
    sj_export(net, torch.zeros(1, 12), save_path=path)
    x = spike_input((12,))
    expected, _ = run(net, x, "m")
    actual, _ = run(nirdeploy.import_from_nir(path, step_mode="m"), x, "m")
    assert expected.sum() > 0 and torch.equal(actual, expected)


def test_two_heads_become_two_outputs():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = layer.Linear(6, 4)
            self.sn = neuron.IFNode(v_threshold=0.1)
            self.head_a, self.head_b = layer.Linear(4, 2), layer.Linear(4, 3)

        def forward(self, x):
            s = self.sn(self.fc(x))
            return self.head_a(s), self.head_b(s)

    torch.manual_seed(0)
    net = TwoHeads()
    graph = nirdeploy.export_to_nir(net, torch.zeros(2, 6))
    assert {"output_0", "output_1"} <= set(graph.nodes)
    gm = nirdeploy.import_from_nir(graph)
    x = torch.rand(5, 6)
    with torch.no_grad():
        expected, actual = net(x), gm(x)
    assert all(torch.equal(a, e) for a, e in zip(actual, expected, strict=True))


def conv_net_with_large_layers():
    """Conv -> LIF over 8 x 16 x 16 = 2048 neurons: per-neuron constants large enough to be stored as one value."""
    torch.manual_seed(3)
    net = nn.Sequential(layer.Conv2d(2, 8, 3, padding=1), neuron.LIFNode(tau=2.0, v_reset=-0.1),
                        layer.Conv2d(8, 4, 3, padding=1), neuron.IFNode())
    for conv in (net[0], net[2]):
        conv.weight.data *= 4.0
    return net


def datasets(path) -> dict:
    found = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: found.update({name: (item.dtype, item[()])})
                        if isinstance(item, h5py.Dataset) else None)
    return found


def test_our_file_holds_what_nir_write_writes_and_spikingjelly_runs_it(tmp_path):
    """The datasets of nir.write's file of the same graph, value for value and dtype for dtype; the constant
    per-neuron arrays take no storage; SpikingJelly's importer gives the original network's spikes."""
    net = conv_net_with_large_layers()
    path = tmp_path / "ours.nir"
    graph = nirdeploy.export_to_nir(net, torch.zeros(1, 2, 16, 16), save_path=path)
    nir.write(tmp_path / "nir.nir", graph)
    ours, theirs = datasets(path), datasets(tmp_path / "nir.nir")
    assert ours.keys() == theirs.keys()
    for name, (dtype, value) in theirs.items():
        assert ours[name][0] == dtype and np.array_equal(ours[name][1], value), name
    with h5py.File(path, "r") as file:
        assert file["node/nodes/1/tau"].shape == (8, 16, 16) and file["node/nodes/1/tau"].id.get_storage_size() == 0
    x = spike_input((2, 16, 16), steps=20)
    expected, _ = run(net, x, "s")
    imported, state, outs = sj_import(path), None, []
    with torch.no_grad():
        for x_t in x:
            out, state = imported(x_t, state)
            outs.append(out)
    assert expected.sum() > 0 and torch.equal(torch.stack(outs), expected)
