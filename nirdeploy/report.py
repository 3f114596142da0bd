"""A run's report: report.json for machines, report.md for people, and PNG plots.

Each file is written whole or not at all (:func:`nirdeploy.files.atomic_path`).
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_path  # noqa: E402


def write_report(folder: Path, report: dict, checks: dict, agreement, runs: dict) -> None:
    _write_text(folder / "report.json", json.dumps(report, indent=2))
    plots = []
    reference_out, reference_layers, _ = runs["reference"]
    for name, (out, layers, _) in runs.items():
        if name != "reference":
            plots += plot_target(folder, name, reference_out, out, reference_layers, layers)
    _write_text(folder / "report.md", markdown(report, checks, agreement, plots))


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text)


def _save_png(figure, path: Path) -> None:
    try:
        with atomic_path(path) as partial:
            figure.savefig(partial, dpi=100, format="png")
    finally:
        plt.close(figure)  # pyplot keeps every open figure alive


def markdown(report: dict, checks: dict, agreement, plots: list) -> str:
    verdict = "passed" if report["ok"] else "FAILED: " + "; ".join(report["failures"])
    lines = [f"# nirdeploy run: {verdict}", "", f"- config: `{report['config']}`", f"- graph: `{report['graph']}`",
             f"- dt: {report['dt']:g} s", f"- producer conventions: {report['producer']}",
             *([f"- **warning**: {report['assumption']}"] if report["assumption"] else []), "", "## Summary", "",
             "| target | accuracy | output spike-train match | spikes per sample | simulated time | wall time |",
             "|---|---|---|---|---|---|"]
    for name, row in report["summary"].items():
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
        match = "-" if row["output_train_match"] is None else f"{row['output_train_match']:.4f}"
        lines.append(f"| {name} | {accuracy} | {match} | {row['spikes_per_sample']:.1f} | "
                     f"{row['simulated_s']:.3g} s | {row['wall_s']:.3f} s |")
    lines += ["", *accuracy_notes(report["summary"], checks), *_targets(report), ""]
    for name, check_report in checks.items():
        lines += [f"## Check: {name}", "", "```", str(check_report), "```", ""]
    lines += ["## Agreement with the reference", "", "```", str(agreement), "```", "", "## Timings", ""]
    lines += [f"- {what}: {seconds:.3f} s" for what, seconds in report["timings_s"].items()]
    found = {k: v for k, v in report["versions"].items() if k != "runtimes"}
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in found.items()]
    lines += [f"- {target}'s runtime: {v}" for target, v in report["versions"]["runtimes"].items()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def _targets(report: dict) -> list:
    """Each run's options, as the config gave them, and the hardware files it wrote (or why none)."""
    lines = ["## Targets", ""]
    for name, options in report["targets"].items():
        given = ", ".join(f"{k}: {v}" for k, v in options.items()) or "defaults"
        hardware = report["hardware"].get(name)
        files = "" if hardware is None else "; hardware: " + (
            ", ".join(f"`{f}`" for f in hardware["files"]) or f"none ({hardware['not written']})")
        lines.append(f"- {name}: {given}{files}")
    return lines


def accuracy_notes(summary: dict, checks: dict, tolerance: float = 0.01) -> list:
    """One line per target whose accuracy is more than ``tolerance`` from the reference's: by how
    much, and the check's warnings that say why (quantisation, decay rounding, timing...)."""
    reference = summary["reference"]["accuracy"]
    notes = []
    for name, row in summary.items():
        if reference is None or abs(row["accuracy"] - reference) <= tolerance:
            continue
        check = checks.get(name.partition("/")[0])  # the reference has no check
        causes = "; ".join(sorted({f"{p.rule} ({p.found})" for p in check.warnings})) if check else ""
        notes.append(f"- {name}: {100 * (row['accuracy'] - reference):+.2f} percentage points from the reference. "
                     f"Its check warns: {causes or 'nothing that explains it'}.")
    return notes + [""] if notes else []


def _raster(axis, spikes, title):
    """Spikes of the first sample, neurons flattened, as dots over time."""
    sample = spikes[:, 0].reshape(spikes.shape[0], -1)
    steps, neurons = (sample > 0).nonzero(as_tuple=True)
    axis.scatter(steps.numpy(), neurons.numpy(), s=4, marker="|")
    axis.set_ylim(-0.5, sample.shape[1] - 0.5)
    axis.set_title(title, fontsize=9)
    axis.set_ylabel("neuron")


def plot_target(folder: Path, name: str, ref_out: tuple, out: tuple, ref_layers: dict, layers: dict) -> list:
    hidden = next((layer for layer in layers if layer in ref_layers), None)
    panels = [("output (reference)", ref_out[0]), (f"output ({name})", out[0])]
    if hidden is not None:
        panels += [(f"layer {hidden} (reference)", ref_layers[hidden]), (f"layer {hidden} ({name})", layers[hidden])]
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2 * len(panels)), sharex=True)
    for axis, (title, spikes) in zip(axes, panels):
        _raster(axis, spikes, title)
    axes[-1].set_xlabel("time step")
    figure.tight_layout()
    stem = name.replace("/", "-")  # a run named target/label
    raster = folder / f"raster_{stem}.png"
    _save_png(figure, raster)

    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    pairs = [(r, t) for r, t in zip(ref_out, out)] + [(ref_layers[k], v) for k, v in layers.items() if k in ref_layers]
    for ref, got in pairs:
        axis.scatter(ref.sum(0).flatten().numpy(), got.sum(0).flatten().numpy(), s=6, alpha=0.6)
    top = max([float(r.sum(0).max()) for r, _ in pairs] + [1.0])
    axis.plot([0, top], [0, top], color="grey", linewidth=0.8)
    axis.set_xlabel("spike count, reference")
    axis.set_ylabel(f"spike count, {name}")
    axis.set_title("per-neuron spike counts", fontsize=9)
    figure.tight_layout()
    counts = folder / f"counts_{stem}.png"
    _save_png(figure, counts)
    return [raster, counts]
