"""export -> HDF5 -> import reproduces the original SpikingJelly model bit for bit."""

import copy

import nir
import pytest
import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.functional.conv_bn_fusion import fuse_conv_bn_eval_modules

import nirdeploy
from nets import NETS, batchnorm_net, imported_potentials, neuron_modules, run, spike_input

MODES = [("s", "s"), ("m", "m"), ("s", "m"), ("m", "s")]


def export_and_import(net, shape, export_mode, import_mode, path):
    functional.set_step_mode(net, export_mode)
    example = torch.zeros((4, 2, *shape) if export_mode == "m" else (2, *shape))
    graph = nirdeploy.export_to_nir(net, example, save_path=path, dt=1e-3)
    assert path.exists()
    return graph, nirdeploy.import_from_nir(path, dt=1e-3, step_mode=import_mode)


@pytest.mark.parametrize("export_mode,import_mode", MODES)
@pytest.mark.parametrize("name", sorted(NETS))
def test_roundtrip_is_bit_exact(name, export_mode, import_mode, tmp_path):
    make, shape = NETS[name]
    torch.manual_seed(0)
    net = make()
    x = spike_input(shape)
    # The truth for BatchNorm folding is SpikingJelly's own Conv-BN fusion of the original.
    truth = fuse_conv_bn_eval_modules(copy.deepcopy(net)) if name == "conv_batchnorm" else net
    graph, gm = export_and_import(net, shape, export_mode, import_mode, tmp_path / f"{name}.nir")

    # The graph does not depend on the mode it was exported in; the truth runs in the
    # import's mode because torch's matmul rounds [T*B, F] and [B, F] batches differently.
    expected, expected_v = run(truth, x, import_mode)
    actual, actual_v = run(gm, x, import_mode)

    assert expected.sum() > 0, "the test input must make the output layer spike"
    assert all(v.abs().sum() > 0 for v in expected_v.values())
    assert (actual - expected).abs().max().item() == 0
    actual_v = imported_potentials(gm, actual_v)
    assert set(actual_v) == set(expected_v) == {n for n in graph.nodes if isinstance(graph.nodes[n], (nir.IF, nir.LIF, nir.CubaLIF))}
    for layer_name, v in expected_v.items():
        assert (actual_v[layer_name] - v).abs().max().item() == 0, layer_name


def test_every_hidden_layer_is_active():
    for name, (make, shape) in NETS.items():
        torch.manual_seed(0)
        net = make()
        functional.set_step_mode(net, "m")
        functional.reset_net(net)
        counts = {}
        for layer_name, module in neuron_modules(net).items():
            module.register_forward_hook(lambda m, i, o, key=layer_name: counts.__setitem__(key, o.sum().item()))
        with torch.no_grad():
            net(spike_input(shape))
        assert all(c > 0 for c in counts.values()), (name, counts)


def test_linear_batchnorm_folding_keeps_spikes(tmp_path):
    """Folding BN into a Linear is exact in real arithmetic; float32 rounding moves v by ~1e-7."""
    torch.manual_seed(0)
    net = batchnorm_net(with_linear_bn=True)
    x = spike_input((2, 6, 6))
    _, gm = export_and_import(net, (2, 6, 6), "m", "m", tmp_path / "bn.nir")
    expected, expected_v = run(net, x, "m")
    actual, actual_v = run(gm, x, "m")
    assert expected.sum() > 0
    assert torch.equal(actual, expected)
    for layer_name, v in imported_potentials(gm, actual_v).items():
        torch.testing.assert_close(v, expected_v[layer_name], rtol=0, atol=1e-5)
