"""A Norse network for Loihi 2, exported with Norse's own exporter (configs/interop_norse.yaml).

Norse's file records no dt; the config names the producer and the dt Norse exported with, so
nirdeploy reads the cells with Norse's rules (tau_inv = dt/tau as its exporter wrote it, v > threshold,
reset to v_reset in the spiking step) and runs them on the reference, on snnTorch and on Lava.
"""

import nir
import norse.torch as norse
import torch
from norse.torch.utils.export_nir import to_nir


def export() -> nir.NIRGraph:
    torch.manual_seed(0)
    first, second = torch.nn.Linear(12, 24), torch.nn.Linear(24, 6)
    with torch.no_grad():
        first.weight.mul_(3.0).add_(0.3)
        second.weight.mul_(2.0).add_(0.2)
    net = norse.SequentialState(
        first,
        norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((24,), 100.0), v_th=torch.full((24,), 0.3),
                                                v_leak=torch.zeros(24)), dt=1e-3),
        second,
        norse.LIFCell(norse.LIFParameters(tau_syn_inv=torch.full((6,), 200.0), tau_mem_inv=torch.full((6,), 100.0),
                                          v_th=torch.full((6,), 0.3), v_leak=torch.zeros(6), v_reset=torch.zeros(6)),
                      dt=1e-3),
    )
    return to_nir(net, torch.zeros(1, 12), dt=1e-3)
