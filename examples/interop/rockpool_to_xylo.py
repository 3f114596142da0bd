"""A Rockpool network for Xylo, exported with Rockpool's own exporter (configs/interop_rockpool.yaml).

Rockpool's file records no dt and no reset; the config names the producer, so nirdeploy reads
LIFTorch with Rockpool's own rules (exp(-dt/tau) decays, v >= threshold, several spikes per step,
subtractive reset) and runs it on the reference, on snnTorch and on Xylo's XyloSim.
"""

import nir
import torch
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFTorch, LinearTorch
from rockpool.nn.modules import to_nir


def export() -> nir.NIRGraph:
    generator = torch.Generator().manual_seed(0)
    net = Sequential(
        LinearTorch((16, 32), weight=0.03 * torch.rand(16, 32, generator=generator) - 0.006),
        LIFTorch(32, tau_mem=0.016, tau_syn=0.004, threshold=1.0, dt=1e-3),
        LinearTorch((32, 8), weight=0.06 * torch.rand(32, 8, generator=generator) - 0.015),
        LIFTorch(8, tau_mem=0.016, tau_syn=0.004, threshold=1.0, dt=1e-3),
    )
    return to_nir(net)
