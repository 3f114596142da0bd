"""``nirdeploy sweep``: one run per cell of a grid over targets, chip variants, target options, dt and
steps, each cell a Ray task that writes its own run folder, and a summary (CSV, JSON, Markdown, plots).

    name: digits-weight-bits    # optional: the sweep folder is OUTPUT/NAME (default: the file's stem)
    output: ../runs             # optional, relative to this file (default: runs)
    samples: 100                # optional: evaluate this many samples of each config's input
    grids:                      # each grid: one base config, and lists of values per axis
      - config: ../configs/digits_conv.yaml
        target: [lava/fixed]    # run names; their options are the config's targets.NAME
        weight_bits: [4, 6, 8]  # any other key is a target option
      - config: ../configs/digits_mlp.yaml
        target: [xylo]
        variant: [syns65302]    # optional: chip variants (xylo -> xylo:syns65302)
        weight_bits: [4, 6, 8]
        dt: [1.0e-3]            # optional: the config's dt
        steps: [40]             # optional: the input's steps (a dataset or Poisson input)

Every cell is a config of its own, written to ``configs/CELL.yaml`` in the sweep folder and run as
``nirdeploy run`` would (the reference and the cell's one target), into ``cells/CELL-NNN``. Every cell
is validated before any runs. A cell is finished when its run folder holds ``report.md``, the last file a
run writes, under the same config; a rerun of the sweep skips finished cells, removes the folders of
cells that were cut off, and runs the rest.
"""

import csv
import io
import itertools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .config import load_config, read_yaml
from .errors import ConfigError, NirdeployError
from .files import atomic_path, file_stem
from .progress import progress_bar

TOP_KEYS = {"name", "output", "samples", "grids"}
AXES = ("target", "variant", "dt", "steps")  # every other key of a grid is a target option
METRICS = ("spike_train_match", "count_correlation", "class_agreement")
RESULTS = ("cell", "config", "target", "reference_accuracy", "accuracy", *METRICS, "ok", "error", "folder")


@dataclass
class Cell:
    name: str      # the cell's file and folder name
    config: str    # its config's YAML text
    grid: str      # the base config's stem
    origin: str    # where the sweep file gives it: its grid and base config
    run: str       # the run name of its target
    axes: dict     # axis -> value, as the sweep file gives them


@dataclass
class SweepResult:
    folder: Path
    rows: list     # one dict per cell (summary.json)
    skipped: list  # cells finished by an earlier run of the sweep
    ok: bool


def _error(source: Path, key: str, problem: str):
    raise ConfigError(f"sweep {source}: key '{key}' {problem}")


def load_sweep(path) -> tuple:
    """(name, output folder, cells) of the sweep file ``path``, every cell's config validated."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"sweep {source} does not exist")
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ConfigError(f"sweep {source} must be a mapping with a 'grids' list (see `nirdeploy sweep --help`)")
    for key in data:
        if key not in TOP_KEYS:
            _error(source, key, f"is not a known key; known keys: {', '.join(sorted(TOP_KEYS))}")
    grids = data.get("grids")
    if not isinstance(grids, list) or not grids:
        _error(source, "grids", "must be a list of grids, each a mapping with 'config' and 'target'")
    samples = data.get("samples")
    if samples is not None and (type(samples) is not int or samples < 1):
        _error(source, "samples", f"must be a whole number of samples, 1 or more, got {samples!r}")
    cells = [cell for index, grid in enumerate(grids) for cell in _grid_cells(source, index, grid, samples)]
    names = [cell.name for cell in cells]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        _error(source, "grids", f"give the cell(s) {', '.join(repeated)} more than once; list each value once")
    with tempfile.TemporaryDirectory(prefix="nirdeploy-sweep-") as folder:
        for cell in cells:
            _validated(Path(folder) / f"{cell.name}.yaml", cell, source)
    return str(data.get("name", source.stem)), (source.parent / str(data.get("output", "runs"))).resolve(), cells


def _grid_cells(source: Path, index: int, grid, samples: Optional[int]) -> list:
    where = f"grids[{index}]"
    if not isinstance(grid, dict) or "config" not in grid or "target" not in grid:
        _error(source, where, "must be a mapping with 'config' (a run config) and 'target' (a list of run names)")
    axes = {key: value for key, value in grid.items() if key != "config"}
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            _error(source, f"{where}.{key}", f"must be a list of values, got {values!r}")
    config_path = (source.parent / str(grid["config"])).resolve()
    if not config_path.is_file():
        _error(source, f"{where}.config", f"names {config_path}, which does not exist")
    base = read_yaml(config_path)
    cells = []
    for values in itertools.product(*axes.values()):
        chosen = dict(zip(axes, values))
        text, run = _cell_config(base, config_path, chosen, samples, source, where)
        label = "-".join(f"{key}{value}" for key, value in chosen.items() if key != "target")
        name = file_stem("-".join(filter(None, [config_path.stem, run, label])))
        cells.append(Cell(name, text, config_path.stem, f"{where} ({config_path})",
                          _run_name(source, f"{where}.target", run), chosen))
    return cells


def _cell_config(base: dict, config_path: Path, chosen: dict, samples: Optional[int], source: Path,
                 where: str) -> tuple:
    """(YAML text, run name) of one cell: the base config with the cell's target, options, dt, steps and
    samples, its paths made absolute so that it runs from any folder."""
    data = json.loads(json.dumps(base))  # a deep copy of plain YAML data
    target, variant = chosen["target"], chosen.get("variant")
    if not isinstance(target, str):
        _error(source, f"{where}.target", f"must list run names (text), got {target!r}")
    base_targets = data.get("targets") if isinstance(data.get("targets"), dict) else {}
    options = dict(base_targets.get(target) or {})
    options.update({key: value for key, value in chosen.items() if key not in AXES})
    run = target
    if variant is not None:
        name, _, label = target.partition("/")
        run = f"{name.partition(':')[0]}:{variant}" + (f"/{label}" if label else "")
    data["targets"] = {run: options}
    data["thresholds"] = {}  # a sweep measures; the base config's limits would judge cells it was not made for
    if "dt" in chosen:
        data["dt"] = chosen["dt"]
    inputs = data.get("input") if isinstance(data.get("input"), dict) else {}
    kind = next((k for k in ("dataset", "poisson") if isinstance(inputs.get(k), dict)), None)
    for key, value in ((f"{where}.steps", chosen.get("steps")), ("samples", samples)):
        if value is not None:
            if kind is None:
                _error(source, key, f"sets the input's {key.rpartition('.')[2]}, and {config_path} reads its "
                                    "input from a file")
            inputs[kind]["batch" if (kind, key) == ("poisson", "samples") else key.rpartition(".")[2]] = value
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    for key in ("nir", "weights"):
        if isinstance(model.get(key), str):
            model[key] = str((config_path.parent / model[key]).resolve())
    if isinstance(model.get("python"), str) and model["python"].rpartition(":")[0].endswith(".py"):
        module, _, function = model["python"].rpartition(":")
        model["python"] = f"{(config_path.parent / module).resolve()}:{function}"
    if isinstance(inputs.get("file"), str):
        inputs["file"] = str((config_path.parent / inputs["file"]).resolve())
    data.pop("output", None)
    header = f"# a cell of a sweep: {config_path} with {json.dumps(chosen)}\n"
    return header + yaml.safe_dump(data, sort_keys=False), run


def _run_name(source: Path, key: str, run: str) -> str:
    from .compare import run_name

    try:
        return run_name(run)
    except NirdeployError as error:
        _error(source, key, str(error))


def _validated(path: Path, cell: Cell, source: Path):
    """The cell's RunConfig, loaded from ``path`` (written here) with its target and options checked."""
    from .run import planned_runs

    path.write_text(cell.config)
    try:
        config = load_config(path)
        planned_runs(config, list(config.targets))
    except NirdeployError as error:
        axes = ", ".join(f"{key} {value}" for key, value in cell.axes.items())
        problem = str(error).replace(f"config {path}: ", "the cell's ")
        raise ConfigError(f"sweep {source}: {cell.origin}, the cell with {axes}: {problem}") from None
    return config


def run_cell(config_path: str, out: str) -> str:
    """The run folder of one cell, run as ``nirdeploy run`` runs a config; a Ray task."""
    from .run import run_config

    return str(run_config(load_config(config_path), out=Path(out)).folder)


def finished_folder(cells: Path, cell: Cell) -> Optional[Path]:
    """The run folder of ``cell`` that an earlier run finished under the same config; removes those cut off."""
    found = None
    for folder in sorted(cells.glob(f"{cell.name}-[0-9][0-9][0-9]")):
        if not (folder / "report.md").is_file():
            shutil.rmtree(folder)  # a cell cut off mid-run: the sweep's own half-made folder
        elif (folder / "config.yaml").read_text() == cell.config:
            found = folder
    return found


def run_sweep(path, out: Optional[Path] = None, workers: Optional[int] = None, address: Optional[str] = None,
              progress: bool = False) -> SweepResult:
    """Everything ``nirdeploy sweep`` does: see the module docstring. The cells run as Ray tasks on
    ``workers`` local CPUs (default: every CPU here) or on the cluster at ``address``."""
    from .scaleout import RETRIES, Cluster

    name, output, cells = load_sweep(path)
    cluster = Cluster(workers, address)  # refuses a bad count, or a missing Ray, before the folder exists
    folder = (Path(out).resolve() if out else output) / file_stem(name)
    for sub in ("configs", "cells"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "sweep.yaml") as partial:
        shutil.copyfile(path, partial)
    done, errors = {}, {}
    for cell in cells:
        with atomic_path(folder / "configs" / f"{cell.name}.yaml") as partial:
            partial.write_text(cell.config)
        done[cell.name] = finished_folder(folder / "cells", cell)
    skipped = [cell.name for cell in cells if done[cell.name] is not None]
    pending = [cell for cell in cells if done[cell.name] is None]
    if pending:
        with cluster:
            ray = cluster.ray
            task = ray.remote(num_cpus=1, max_retries=RETRIES)(run_cell)
            refs = {task.remote(str(folder / "configs" / f"{cell.name}.yaml"), str(folder / "cells")): cell
                    for cell in pending}
            with progress_bar(label=f"sweep {name}", enabled=progress, total=len(cells), unit="cell") as bar:
                bar.update(len(skipped))
                waiting = list(refs)
                while waiting:
                    ready, waiting = ray.wait(waiting, num_returns=1)
                    cell = refs[ready[0]]
                    try:
                        done[cell.name] = Path(ray.get(ready[0]))
                    except ray.exceptions.RayError as error:
                        cause = getattr(error, "cause", None)
                        errors[cell.name] = str(cause if isinstance(cause, NirdeployError) else error)
                    bar.update(1)
    rows = [_row(cell, done[cell.name], errors.get(cell.name)) for cell in cells]
    write_summary(folder, rows)
    return SweepResult(folder, rows, skipped, all(row["ok"] for row in rows))


def _row(cell: Cell, folder: Optional[Path], error: Optional[str]) -> dict:
    row = {"cell": cell.name, "config": cell.grid, "target": cell.run,
           **{key: value for key, value in cell.axes.items() if key != "target"}}
    if folder is None:
        return {**row, "ok": False, "error": error, "folder": None}
    report = json.loads((folder / "report.json").read_text())
    outputs = [r for r in report["agreement"]["rows"] if r["target"] == cell.run and r["kind"] == "output"]
    row.update({"reference_accuracy": report["summary"]["reference"]["accuracy"],
                "accuracy": report["summary"][cell.run]["accuracy"]})
    row.update({metric: min((r[metric] for r in outputs if r.get(metric) is not None), default=None)
                for metric in METRICS})
    return {**row, "ok": report["ok"], "error": "; ".join(report["failures"]) or None,
            "folder": str(folder.relative_to(folder.parent.parent))}


def write_summary(folder: Path, rows: list) -> None:
    """summary.json, summary.csv, summary.md and one plot per numeric axis with more than one value."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    plots = plot_sweep(folder, rows)
    shown = [key for key in columns if key not in ("cell", "folder")]
    table = [f"| {' | '.join(key.replace('_', ' ') for key in shown)} | run folder |",
             "|" + "---|" * (len(shown) + 1)]
    table += [f"| {' | '.join(_cell_text(row.get(key)) for key in shown)} | {row['folder'] or '(none)'} |"
              for row in rows]
    markdown = "\n".join([f"# Sweep {folder.name}", "", f"{len(rows)} cells. Agreement figures are the target's "
                          "outputs against the reference's (the lowest over outputs).", "", *table, "",
                          *[f"![{p.stem}]({p.name})" for p in plots]]) + "\n"
    for name, content in (("summary.json", json.dumps(rows, indent=1)), ("summary.csv", text.getvalue()),
                          ("summary.md", markdown)):
        with atomic_path(folder / name) as partial:
            partial.write_text(content)


def _cell_text(value) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "/")


def plot_sweep(folder: Path, rows: list) -> list:
    """plot_AXIS.png per numeric axis with several values: accuracy and output agreement against it, one
    line per config, target and value of the other axes."""
    from .report import sweep_figure

    measured = [row for row in rows if row.get("folder")]
    axes = sorted({key for row in rows for key in row if key not in RESULTS})
    plots = []
    for axis in axes:
        values = {row.get(axis) for row in measured}
        if len(values) < 2 or not all(type(v) in (int, float) for v in values):
            continue
        groups = {}
        for row in sorted(measured, key=lambda r: r[axis]):
            others = [f"{key} {row[key]}" for key in axes if key != axis and row.get(key) is not None]
            groups.setdefault(" ".join([row["config"], row["target"], *others]), []).append(row)
        path = folder / f"plot_{file_stem(axis)}.png"
        sweep_figure(path, axis, groups, METRICS[0])
        plots.append(path)
    return plots
