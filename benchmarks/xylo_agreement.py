"""Agreement of the Xylo target with the reference on a 16-63-8 recurrent CubaLIF network.

The goal (issue 6): per-neuron spike-count correlation >= 0.99 and output spike counts within 5%,
over 1000 steps of Poisson input. Runs the reference, XyloSim (global and channel quantisation) and
Rockpool's float model with Xylo's bit-shift decays, each layer's Xylo delay shifted out, for taus that
are powers of two times dt (bit shifts exact) and taus that are not (decay error on top of
quantisation), and writes docs/xylo.md's table (tests/test_xylo_target.py checks that a run
reproduces it).

    .venv/bin/python benchmarks/xylo_agreement.py
"""

import sys
from pathlib import Path

import nir
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docfigures import write_figures  # noqa: E402
from nirdeploy.compare import agreement_report, run_targets  # noqa: E402
from nirdeploy.semantics import resolve  # noqa: E402

DT = 1e-3
STEPS, BATCH, RATE = 1000, 4, 0.1
RUNS = {"xylo": "XyloSim, global", "xylo/channel": "XyloSim, channel", "xylo/float": "float bit-shift model"}
OPTIONS = {"xylo": {}, "xylo/channel": {"quantisation": "channel"}, "xylo/float": {"simulator": "float"}}
TAUS = {"16 / 8 ms (powers of two)": (16e-3, 8e-3), "20 / 10 ms": (20e-3, 10e-3)}


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
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT, "conventions": "spikingjelly"})


def inputs() -> torch.Tensor:
    return (torch.rand((STEPS, BATCH, 16), generator=torch.Generator().manual_seed(0)) < RATE).float()


def measure_taus(graph: nir.NIRGraph, spikes: torch.Tensor) -> list:
    """One row per run and layer: every reference step against the target's, its Xylo delay shifted out
    (run_targets gives each target the extra zero steps its delay needs)."""
    semantics = resolve(graph)
    runs = run_targets(semantics, (spikes,), {"reference": {}, **OPTIONS})
    rows = []
    for row in agreement_report(semantics, runs).rows:
        run = row["target"].replace(":syns61201", "")
        outputs, layers, _ = runs[row["target"]]
        got = outputs[0] if row["kind"] == "output" else layers[row["name"]]
        rows.append({"run": RUNS[run], "layer": row["name"], "correlation": row["count_correlation"],
                     "reference_spikes": int(row["spikes_reference"]), "target_spikes": int(row["spikes_target"]),
                     "several_per_step": float((got > 1).double().mean())})
    return rows


def measure() -> dict:
    spikes = inputs()
    return {taus: measure_taus(network(*values), spikes) for taus, values in TAUS.items()}


def render(found: dict) -> str:
    lines = ["| taus | run | output r | output spikes | hidden r | hidden spikes |", "|---|---|---|---|---|---|"]
    for taus, rows in found.items():
        by_run = {}
        for row in rows:
            by_run.setdefault(row["run"], {})[row["layer"]] = row
        for index, (run, layers) in enumerate(by_run.items()):
            out, hidden = layers["output"], layers["hidden"]
            change = lambda r: f"{r['target_spikes']} ({(r['target_spikes'] - r['reference_spikes']) / r['reference_spikes']:+.2%})"
            label = f"{taus} (reference: {out['reference_spikes']} output spikes)" if index == 0 else ""
            lines.append(f"| {label} | {run} | {out['correlation']:.4f} | {change(out)} | {hidden['correlation']:.4f} "
                         f"| {change(hidden)} |")
    several = max(row["several_per_step"] for rows in found.values() for row in rows)
    lines += ["", f"Steps in which a neuron spiked more than once: {several:.2%} at most."]
    return "\n".join(lines)


def main() -> None:
    found = measure()
    print(render(found))
    write_figures("xylo-agreement", render(found), found)


if __name__ == "__main__":
    main()
