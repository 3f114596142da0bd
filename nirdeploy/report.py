"""A run's report: report.json for machines, report.md for people, and PNG plots.

Each file is written whole or not at all (:func:`nirdeploy.files.atomic_path`).
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_path, file_stem  # noqa: E402


def write_report(folder: Path, report: dict, checks: dict, agreement, runs: dict) -> None:
    _write_text(folder / "report.json", json.dumps(report, indent=2))
    plots = []
    reference = runs["reference"][:2]
    for name, (out, layers, _) in runs.items():
        if name != "reference":
            delays = {(row["kind"], row["name"]): row["delay_compensated"] for row in agreement.for_target(name)}
            plots += plot_target(folder, name, reference, (out, layers), delays)
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
    lines += _scaleout(report.get("scaleout"))
    found = {k: v for k, v in report["versions"].items() if k != "runtimes"}
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in found.items()]
    lines += [f"- {target}'s runtime: {v}" for target, v in report["versions"]["runtimes"].items()]
    lines += ["", "## Plots", "", f"![graph]({report['drawing']})"] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def _scaleout(record) -> list:
    """Where the samples ran, when they were sharded over Ray workers, and which shards Ray ran again."""
    if record is None:
        return []
    retried = "; ".join(f"{run}: shard(s) {', '.join(map(str, shards))}"
                        for run, shards in record["retried_shards"].items() if shards)
    return [f"- samples sharded over {record['workers']} Ray workers ({record['address']}), shards "
            + ", ".join(f"{a}-{b - 1}" for a, b in record["shards"]),
            f"- shards run again after their worker died: {retried or 'none'}"]


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


def plot_target(folder: Path, name: str, reference: tuple, target: tuple, delays: dict) -> list:
    """raster_<run>.png and counts_<run>.png for run ``name``; ``reference`` and ``target`` are (outputs,
    layers), ``delays`` the steps each layer (by name) lags the reference."""
    panels = aligned_panels(reference, target, delays)
    stem = file_stem(name)
    raster, counts = folder / f"raster_{stem}.png", folder / f"counts_{stem}.png"
    _save_png(raster_figure(name, panels), raster)
    _save_png(counts_figure(name, panels), counts)
    return [raster, counts]


def aligned_panels(reference: tuple, target: tuple, delays: dict) -> list:
    """[(layer title, reference spikes, target spikes, delay)] for every neuron layer both recorded (the
    outputs where they share none), the target shifted back by its delay: both [steps, samples, neurons]
    over the steps they have in common."""
    (ref_outputs, ref_layers), (outputs, layers) = reference, target
    pairs = [(f"layer {k}", ref_layers[k], v, delays.get(("layer", k), 0)) for k, v in layers.items() if k in ref_layers]
    if not pairs:
        output_delays = [d for (kind, _), d in delays.items() if kind == "output"] or [0] * len(outputs)
        pairs = [(f"output {i}", r, t, d) for i, (r, t, d) in enumerate(zip(ref_outputs, outputs, output_delays))]
    panels = []
    for title, ref, got, delay in pairs:
        steps = min(ref.shape[0], got.shape[0] - delay)
        flat = lambda x: x.reshape(x.shape[0], x.shape[1], -1)  # noqa: E731
        panels.append((title, flat(ref[:steps]), flat(got[delay : delay + steps]), delay))
    return panels


def raster_figure(name: str, panels: list):
    """The first sample's spikes, one panel per layer: the reference's and the target's (delay-aligned)
    on the same axes, so that a dot inside a square is a spike both gave."""
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 1.2 + 1.8 * len(panels)), sharex=True, squeeze=False)
    for axis, (title, ref, got, delay) in zip(axes[:, 0], panels):
        for spikes, style in ((ref, dict(marker="s", s=16, color="0.75", label="reference")),
                              (got, dict(marker=".", s=6, color="tab:red", label=_shifted(name, delay)))):
            steps, neurons = (spikes[:, 0] > 0).nonzero(as_tuple=True)
            axis.scatter(steps.numpy(), neurons.numpy(), linewidths=0, **style)
        axis.set_ylim(-0.5, ref.shape[2] - 0.5)
        axis.set_title(f"{title}: sample 0 of {ref.shape[1]}", fontsize=9)
        axis.set_ylabel("neuron")
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, markerscale=1.5)
    axes[-1, 0].set_xlabel("reference time step")
    figure.suptitle(f"spikes: reference and {name}", fontsize=10)
    figure.tight_layout()
    return figure


def counts_figure(name: str, panels: list):
    """Each neuron's spike count summed over all samples and the compared steps, target against reference,
    one colour per layer."""
    figure, axis = plt.subplots(figsize=(5.5, 5.5))
    top = 1.0
    for title, ref, got, delay in panels:
        ref_counts, got_counts = ref.sum((0, 1)).numpy(), got.sum((0, 1)).numpy()
        axis.scatter(ref_counts, got_counts, s=8, alpha=0.6, label=f"{title} ({ref_counts.size} neurons)")
        top = max(top, float(ref_counts.max()), float(got_counts.max()))
    axis.plot([0, top], [0, top], color="grey", linewidth=0.8, label="equal counts")
    samples, steps = panels[0][1].shape[1], panels[0][1].shape[0]
    axis.set_xlabel("spike count per neuron, reference")
    axis.set_ylabel(f"spike count per neuron, {name}")
    axis.set_title(f"per-neuron spike counts, summed over {samples} samples x {steps} steps", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def _shifted(name: str, delay: int) -> str:
    return f"{name}, shifted back {delay} step{'s' if delay != 1 else ''}\n(its delay)" if delay else name


def sweep_figure(path: Path, axis: str, groups: dict, metric: str) -> None:
    """A sweep's plot over ``axis``: accuracy (the target's solid, its reference's dashed) above, ``metric``
    below, one colour per group (label -> rows sorted by ``axis``)."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for index, (label, rows) in enumerate(groups.items()):
        colour = f"C{index % 10}"
        for axes, key, style, name in ((top, "accuracy", "o-", label), (top, "reference_accuracy", "--",
                                        f"{label}: reference"), (bottom, metric, "o-", label)):
            points = [(row[axis], row[key]) for row in rows if row.get(key) is not None]
            if points:
                axes.plot(*zip(*points), style, color=colour, label=name)
    top.set_ylabel("accuracy")
    bottom.set_ylabel(f"outputs' {metric.replace('_', ' ')}\nwith the reference")
    bottom.set_xlabel(axis.replace("_", " "))
    bottom.set_xticks(sorted({row[axis] for rows in groups.values() for row in rows}))
    top.set_title(f"accuracy and agreement against {axis.replace('_', ' ')}", fontsize=10)
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    figure.tight_layout()
    _save_png(figure, path)
