"""Agreement of the Lava target, in floating and in fixed point, with the reference on the test graphs.

The graphs are tests/graphs.py's (feed-forward LIF/IF/CubaLIF, recurrent, conv + pooling, mixed time
constants; per-neuron thresholds, resets, leaks and gains), 250 steps x 4 samples of input spikes at
rate 0.3, dt = 1 ms. Per neuron layer: the share of equal (step, sample, neuron) spike entries after
the Lava delay is shifted out, the per-neuron spike-count correlation in fixed point, and the relative
RMS rounding error of the 8-bit weights into the layer. Writes docs/lava.md's table; the Lava target's
tests check that a run reproduces it.

    .venv/bin/python benchmarks/lava_agreement.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]

from docfigures import write_figures  # noqa: E402
from graphs import DT, GRAPHS, spikes  # noqa: E402
from nirdeploy.compare import agreement_report, run_targets  # noqa: E402
from nirdeploy.semantics import resolve  # noqa: E402
from nirdeploy.targets import get_target  # noqa: E402

STEPS, BATCH = 250, 4


def measure_graph(name: str) -> list:
    graph, n = GRAPHS[name]()
    semantics = resolve(graph, DT)
    runs = run_targets(semantics, (spikes(n, batch=BATCH, steps=STEPS),),
                       {"reference": {}, "lava": {}, "lava/fixed": {"precision": "fixed"}})
    report = agreement_report(semantics, runs)
    plan = get_target("lava").plan(semantics)
    rows = []
    for fixed in report.for_target("lava/fixed"):
        if fixed["kind"] != "layer":
            continue
        layer = fixed["name"]
        (floating,) = [r for r in report.for_target("lava") if r["kind"] == "layer" and r["name"] == layer]
        errors = [plan.fixed_weights(p.weights, layer)[1] for p in plan.projections if p.post == layer]
        rows.append({"graph": name, "layer": layer, "float_match": floating["spike_train_match"],
                     "float_steps": floating["steps_compared"], "spikes_reference": fixed["spikes_reference"],
                     "fixed_match": fixed["spike_train_match"], "count_correlation": fixed["count_correlation"],
                     "weight_errors": errors})
    return rows


def measure() -> list:
    return [row for name in GRAPHS for row in measure_graph(name)]


def render(rows: list) -> str:
    lines = ["| graph | layer | float: train match | fixed: train match | fixed: count correlation | "
             "fixed: weight error |", "|---|---|---|---|---|---|"]
    for r in rows:
        errors = ", ".join(f"{e:.2%}" for e in r["weight_errors"])
        lines.append(f"| {r['graph']} | {r['layer']} | {r['float_match']:.4f} | {r['fixed_match']:.4f} | "
                     f"{r['count_correlation']:.4f} | {errors} |")
    return "\n".join(lines)


def summary(rows: list) -> list:
    """The figures docs/lava.md's prose quotes: the fixed-point ranges."""
    matches = [r["fixed_match"] for r in rows]
    errors = [e for r in rows for e in r["weight_errors"]]
    return [f"{min(matches):.4f}", f"{max(matches):.4f}", f"{min(r['count_correlation'] for r in rows):.4f}",
            f"{min(errors):.2%}", f"{max(errors):.2%}"]


def main() -> None:
    rows = measure()
    print(render(rows))
    write_figures("lava-agreement", render(rows), rows, quotable=summary(rows))


if __name__ == "__main__":
    main()
