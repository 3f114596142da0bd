"""A small SpikingJelly network for the quickstart config: 16 inputs, 64 LIF, 4 LIF outputs."""

import torch
from spikingjelly.activation_based import layer, neuron


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        layer.Linear(16, 64),
        neuron.LIFNode(tau=2.0),
        layer.Linear(64, 4),
        neuron.LIFNode(tau=3.0, v_threshold=0.8),
    )
    with torch.no_grad():  # untrained weights, scaled so that every layer fires
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0).add_(0.6)
    return net
