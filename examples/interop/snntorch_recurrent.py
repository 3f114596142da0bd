"""A recurrent snnTorch network exported with snnTorch's own exporter (configs/interop_snntorch.yaml).

snnTorch's file records no dt and no reset convention; the config says `producer: snntorch`,
so nirdeploy reads it with snnTorch's discretisation (beta = 1 - 1e-4/tau, delayed subtractive
reset) on the reference, and runs it on snnTorch's own Leaky / Synaptic neurons on the snnTorch target.
"""

import nir
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 24),
        snn.RLeaky(beta=0.9, linear_features=24, init_hidden=True),
        torch.nn.Linear(24, 6),
        snn.RSynaptic(alpha=0.8, beta=0.85, linear_features=6, init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[0].weight.add_(0.15)
        net[2].weight.mul_(2.0).add_(0.1)
    return net


def export() -> nir.NIRGraph:
    net = build()
    return export_to_nir(net, torch.zeros(1, 10), ignore_dims=[0])
