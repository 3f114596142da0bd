"""Agreement of the Xylo target with the reference on a 16-63-8 recurrent CubaLIF network.

The issue's goal: per-neuron spike-count correlation >= 0.99 and output spike
counts within 5%, over 1000 steps of Poisson input. Runs the reference, XyloSim
(global and channel quantisation) and Rockpool's float model with Xylo's
bit-shift decays, each layer's Xylo delay shifted out, and prints one table per
time-constant setting: taus that are powers of two times dt (bit shifts exact)
and taus that are not (decay error on top of quantisation).

    .venv/bin/python benchmarks/xylo_agreement.py
"""

import nir
import numpy as np
import torch

from nirdeploy.compare import run_targets
from nirdeploy.passes import synaptic_hops
from nirdeploy.semantics import resolve
from nirdeploy.targets import get_target

DT = 1e-3
STEPS, BATCH, RATE = 1000, 4, 0.1
RUNS = {"xylo": {}, "xylo/channel": {"quantisation": "channel"}, "xylo/float": {"simulator": "float"}}


def network(tau_mem: float, tau_syn: float, seed: int = 0) -> nir.NIRGraph:
    r = np.random.default_rng(seed)

    def cuba(n):
        return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.ones(n), w_in=np.ones(n),
                           v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                           metadata={"reset_mode": "subtract"})

    nodes = {"input": nir.Input(input_type={"input": np.array([16])}),
             "fc1": nir.Linear(r.normal(1.2, 1.0, (63, 16))), "hidden": cuba(63),
             "rec": nir.Linear(r.normal(0.0, 0.2, (63, 63))),
             "fc2": nir.Linear(r.normal(0.3, 0.6, (8, 63))), "out": cuba(8),
             "output": nir.Output(output_type={"output": np.array([8])})}
    edges = [("input", "fc1"), ("fc1", "hidden"), ("hidden", "rec"), ("rec", "hidden"), ("hidden", "fc2"),
             ("fc2", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def measure(graph: nir.NIRGraph, spikes: torch.Tensor) -> list:
    semantics = resolve(graph, DT)
    runs = run_targets(semantics, (spikes,), {"reference": {}, **RUNS})
    hops = synaptic_hops(semantics.graph)
    ref_out, ref_layers, _ = runs.pop("reference")
    rows = []
    for name, (out, layers, seconds) in runs.items():
        profile = get_target("xylo").profile
        for layer, ref, got in (("output", ref_out[0], out[0]), ("hidden", ref_layers["hidden"], layers["hidden"])):
            delay = profile.delay(hops[layer if layer == "output" else "hidden"])
            a = ref[: STEPS - delay].sum(0).flatten().numpy()
            b = got[delay:].sum(0).flatten().numpy()
            rows.append((name, layer, float(np.corrcoef(a, b)[0, 1]), a.sum(), b.sum(),
                         (b.sum() - a.sum()) / a.sum(), float((got > 1).double().mean()), seconds))
    return rows


def main():
    spikes = (torch.rand((STEPS, BATCH, 16), generator=torch.Generator().manual_seed(0)) < RATE).float()
    for tau_mem, tau_syn in ((16e-3, 8e-3), (20e-3, 10e-3)):
        print(f"\ntau_mem = {tau_mem * 1e3:g} ms, tau_syn = {tau_syn * 1e3:g} ms, dt = {DT * 1e3:g} ms, "
              f"{STEPS} steps x {BATCH} samples, Poisson rate {RATE}")
        print("run | layer | count correlation | reference spikes | target spikes | difference | steps with >1 spike | s")
        for name, layer, corr, ref, got, diff, multi, seconds in measure(network(tau_mem, tau_syn), spikes):
            print(f"{name} | {layer} | {corr:.4f} | {ref:.0f} | {got:.0f} | {diff:+.2%} | {multi:.2%} | {seconds:.1f}")


if __name__ == "__main__":
    main()
