"""Test networks with real spiking activity, and helpers to run them step by step."""

import nir
import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import base, functional, layer, neuron

from nirdeploy.neurons import CubaLIFNeuron, IFNeuron, LIFNeuron

T = 60


def _amplify(net: nn.Module, gain: float, last_gain: float = 1.0) -> nn.Module:
    """Scale weights so that sparse input spikes drive every layer to fire."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    with torch.no_grad():
        for module in layers:
            module.weight.mul_(gain)
        layers[-1].weight.mul_(last_gain)
    return net


def mlp(node_a, node_b):
    return _amplify(nn.Sequential(layer.Linear(12, 24), node_a, layer.Linear(24, 6), node_b), 4.0)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_in = layer.Linear(12, 16)
        self.sn_in = neuron.LIFNode(tau=2.0)
        self.fc_mid = layer.Linear(16, 16)
        self.sn_mid = neuron.IFNode(v_threshold=0.8)
        self.fc_out = layer.Linear(16, 5, bias=False)
        self.sn_out = neuron.LIFNode(tau=3.0, decay_input=False)

    def forward(self, x):
        a = self.sn_in(self.fc_in(x))
        b = self.sn_mid(self.fc_mid(a)) + a
        return self.sn_out(self.fc_out(b))


def conv_net():
    return _amplify(
        nn.Sequential(
            layer.Conv2d(2, 4, 3, padding=1),
            neuron.LIFNode(tau=2.0),
            layer.AvgPool2d(2),
            layer.Conv2d(4, 6, 3, stride=2, dilation=1, groups=2),
            neuron.IFNode(),
            layer.Flatten(),
            layer.Linear(6, 5),
            neuron.LIFNode(tau=4.0, v_reset=-0.2, v_threshold=0.6),
        ),
        3.0,
        last_gain=4.0,
    )


def conv1d_net():
    return _amplify(
        nn.Sequential(
            layer.Conv1d(3, 5, 3, padding=2, dilation=2),
            neuron.IFNode(v_threshold=0.5),
            layer.Flatten(),
            layer.Linear(5 * 10, 4),
            neuron.LIFNode(tau=2.5),
        ),
        3.0,
        last_gain=3.0,
    )


def batchnorm_net(with_linear_bn=False):
    net = _amplify(
        nn.Sequential(
            layer.Conv2d(2, 4, 3, padding=1),
            layer.BatchNorm2d(4),
            neuron.IFNode(),
            layer.Flatten(),
            nn.Dropout(0.5),
            layer.Linear(4 * 6 * 6, 8),
            *([layer.BatchNorm1d(8)] if with_linear_bn else []),
            nn.Identity(),
            neuron.LIFNode(tau=2.0),
        ),
        3.0,
        last_gain=2.0,
    )
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return net.eval()


def per_neuron_net():
    rng = np.random.default_rng(3)
    n = 16
    return _amplify(
        nn.Sequential(
            nn.Linear(12, n),
            LIFNeuron(
                leak=rng.uniform(1.5, 6.0, n),
                input_gain=1.0,
                v_leak=rng.uniform(-0.2, 0.2, n),
                v_threshold=rng.uniform(0.5, 1.5, n),
                v_reset=rng.uniform(-0.3, 0.0, n),
            ),
            nn.Linear(n, 8),
            CubaLIFNeuron(
                current_decay=rng.uniform(0.3, 0.9, 8),
                current_gain=rng.uniform(0.5, 1.5, 8),
                voltage_decay=rng.uniform(0.5, 0.95, 8),
                voltage_gain=rng.uniform(0.5, 1.5, 8),
                v_leak=rng.uniform(-0.1, 0.1, 8),
                v_threshold=rng.uniform(0.4, 1.0, 8),
                v_reset=rng.uniform(-0.2, 0.1, 8),
            ),
            nn.Linear(8, 4),
            IFNeuron(input_gain=rng.uniform(0.5, 2.0, 4), v_threshold=rng.uniform(0.3, 1.0, 4), soft_reset=True),
        ),
        3.0,
    )


NETS = {
    "mlp_if_lif_decay_input": (lambda: mlp(neuron.IFNode(), neuron.LIFNode(tau=2.5)), (12,)),
    "mlp_lif_no_decay_input": (
        lambda: mlp(neuron.LIFNode(tau=3.0, decay_input=False, v_reset=0.2, v_threshold=1.2), neuron.IFNode()),
        (12,),
    ),
    "conv": (conv_net, (2, 8, 8)),
    "conv1d": (conv1d_net, (3, 10)),
    "plif": (lambda: mlp(neuron.ParametricLIFNode(init_tau=3.3), neuron.ParametricLIFNode(decay_input=False)), (12,)),
    "cuba_lif": (lambda: mlp(neuron.CUBALIFNode(0.7, 0.8, 1.0), neuron.CUBALIFNode(0.37, 0.55, 0.5, -0.1)), (12,)),
    "residual": (lambda: _amplify(Residual(), 4.0), (12,)),
    "per_neuron": (per_neuron_net, (12,)),
    "conv_batchnorm": (batchnorm_net, (2, 6, 6)),
    "soft_reset": (
        lambda: mlp(neuron.IFNode(v_reset=None), neuron.LIFNode(tau=2.0, v_reset=None, v_threshold=0.7)),
        (12,),
    ),
}


def spike_input(shape, batch=3, steps=T, rate=0.3, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((steps, batch, *shape), generator=generator) < rate).float()


def neuron_modules(model: nn.Module) -> dict:
    """name -> module for every stateful neuron, named by the path in the model."""
    return {name: m for name, m in model.named_modules() if isinstance(m, base.MemoryModule) and "v" in m._memories}


def run(model: nn.Module, x: torch.Tensor, step_mode: str):
    """Output spikes [T, B, ...] and each neuron's membrane potential after the last step."""
    functional.reset_net(model)
    functional.set_step_mode(model, step_mode)
    with torch.no_grad():
        out = torch.stack([model(x_t) for x_t in x]) if step_mode == "s" else model(x)
    return out, {name: m.v.clone() for name, m in neuron_modules(model).items()}


def imported_potentials(gm, potentials_by_nir_name: dict) -> dict:
    return {nir_name: potentials_by_nir_name[attr] for nir_name, attr in gm.meta["nir_modules"].items() if attr in potentials_by_nir_name}


def nir_neuron_names(graph: nir.NIRGraph) -> list:
    return [name for name, node in graph.nodes.items() if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF))]
