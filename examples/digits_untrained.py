"""An untrained 64-32-10 LIF network for rate-encoded 8x8 digits (configs/digits_untrained.yaml)."""

import torch
from spikingjelly.activation_based import layer, neuron


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Linear(64, 32), neuron.LIFNode(tau=2.0), layer.Linear(32, 10), neuron.LIFNode(tau=2.0))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.mul_(4.0).add_(0.3)
    return net
