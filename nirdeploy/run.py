"""``nirdeploy run``: a config in, a run folder out (graph, checks, agreement, report, plots)."""

import importlib
import importlib.util
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import nir
import numpy as np
import torch

from .check import check
from .compare import agreement_report, run_name, run_targets
from .config import RunConfig
from .datasets import load_dataset
from .draw import draw_graph
from .deploy import check_options
from .errors import ConfigError, ExampleInputError, InvalidArgumentError, NirdeployError, TargetError
from .files import atomic_path, file_stem
from .graphfile import read_graph, write_graph
from .report import write_report
from .semantics import load
from .targets import get_target
from .targets.base import graph_inputs, spike_inputs
from .to_nir import export_to_nir
from .validate import BYTES_PER_VALUE, element_count, require_within_budget


@dataclass
class RunResult:
    folder: Path
    ok: bool
    report: dict


def new_run_folder(parent: Path, name: str) -> Path:
    """``parent/name-NNN`` with the first number not yet taken: runs never overwrite each other."""
    parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 100000):
        folder = parent / f"{name}-{number:03d}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise ConfigError(f"{parent} holds 99999 runs of {name}; choose another output folder")


def load_python_model(reference: str, weights: Optional[Path], base: Path, origin: str):
    """Call ``module:function`` (or ``file.py:function``, relative to ``base``): an nn.Module with
    ``weights`` loaded, or a nir.NIRGraph another framework exported. ``origin`` names where the
    reference came from in error messages."""
    target, _, function = reference.rpartition(":")
    try:
        if target.endswith(".py"):
            path = (base / target).resolve()
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if str(base) not in sys.path:
                sys.path.insert(0, str(base))
            module = importlib.import_module(target)
        net = getattr(module, function)()
    except Exception as error:
        raise ConfigError(f"{origin} ({reference}) failed: {type(error).__name__}: {error}") from error
    if isinstance(net, nir.NIRGraph):
        return net
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"{origin} ({reference}) returned {type(net).__name__}, not a torch.nn.Module or a nir.NIRGraph")
    if weights is not None:
        try:
            net.load_state_dict(torch.load(weights, weights_only=True))
        except Exception as error:  # not a state dict, or the weights of another network
            detail = str(error).strip().splitlines()
            raise ConfigError(f"the weights {weights} do not fit {origin} ({reference}): "
                              f"{type(error).__name__}: {' '.join(detail[:3])}; give the state dict saved from "
                              "this model (torch.save(model.state_dict(), path))") from error
    return net.eval()


def export_model(net: torch.nn.Module, example_shape: tuple, path: Path, dt: float, overwrite: bool,
                 shape_key: str) -> nir.NIRGraph:
    """``export_to_nir`` on zeros of ``example_shape``; a failure names ``shape_key`` (where the shape was
    given) instead of ending in torch's traceback."""
    try:
        return export_to_nir(net, torch.zeros(example_shape), save_path=path, dt=dt, overwrite=overwrite)
    except ExampleInputError as error:
        cause = error.__cause__ or error
        raise ConfigError(f"the model does not run on an example input of shape {list(example_shape)} "
                          f"({shape_key}): {type(cause).__name__}: {cause}. Give the shape the model takes, with "
                          "the batch dim ([B, ...], or [T, B, ...] for a multi-step model)") from error


def prepare_graph(config: RunConfig, folder: Path) -> tuple:
    """The graph, written into the run folder, and the seconds its export took."""
    path = folder / "model.nir"
    start = time.perf_counter()
    if config.nir_path is not None:
        with atomic_path(path) as partial:
            shutil.copyfile(config.nir_path, partial)
    elif isinstance(model := load_python_model(config.python, config.weights, config.source.parent,
                                               f"config {config.source}: key 'model.python'"), nir.NIRGraph):
        with atomic_path(path) as partial:
            write_graph(partial, model)  # a graph another framework's exporter wrote
    elif config.example_shape is None:
        raise ConfigError(f"config {config.source}: key 'model.example_shape' is missing; exporting a torch model needs it")
    else:
        export_model(model, config.example_shape, path, config.dt, False,
                     f"config {config.source}: key 'model.example_shape'")
    return read_graph(path), time.perf_counter() - start


def planned_runs(config: RunConfig, names: Sequence[str]) -> dict:
    """run name -> deploy options, each target, chip variant and option name checked: before any export."""
    runs = {}
    for name in names:
        if "/" in name and name not in config.targets:  # a label names options; without them it would mislead
            base = name.partition("/")[0]
            raise ConfigError(f"config {config.source}: --target {name}: a target/label runs {base} with the options "
                              f"the config gives under targets.{name}, and it gives none; add them there (e.g. "
                              f"{name}: {{...}}) or pass --target {base}")
        options = config.targets.get(name, {})
        try:
            check_options(get_target(name.partition("/")[0]), options)
        except NirdeployError as error:
            where = f"key 'targets.{name}'" if name in config.targets else f"--target {name}"
            raise ConfigError(f"config {config.source}: {where}: {error}") from None
        runs[name] = options
    return runs


def read_input_file(config: RunConfig) -> tuple:
    """The arrays of ``input.file`` (.npy, or .npz in file order), without pickles."""
    try:
        data = np.load(config.input_file, allow_pickle=False)
        return tuple(data[key] for key in data.files) if hasattr(data, "files") else (data,)
    except Exception as error:
        raise ConfigError(f"config {config.source}: key 'input.file' ({config.input_file}) cannot be read as "
                          f"numpy arrays: {type(error).__name__}: {error}; save spikes with numpy.save") from None


def make_inputs(config: RunConfig, graph: nir.NIRGraph, arrays: Optional[tuple], runs: int) -> tuple:
    """(input spikes, one tensor per graph input, laid out [T, B, ...]; labels or None), each checked
    against the graph's inputs and the memory budget before it is made."""
    expected = graph_inputs(graph)
    if arrays is not None:
        try:
            return spike_inputs(arrays, expected, "the network"), None
        except InvalidArgumentError as error:
            raise ConfigError(f"config {config.source}: key 'input.file' ({config.input_file}): {error}") from None
    key, drawn = ("input.dataset", config.dataset) if config.dataset is not None else ("input.poisson", config.poisson)
    steps, batch = drawn["steps"], drawn.get("samples", drawn.get("batch"))
    values = sum(element_count((node.output_type or {}).get("output")) for node in graph.nodes.values())
    require_within_budget(steps * batch * values * BYTES_PER_VALUE * runs,
                          f"config {config.source}: key '{key}': {steps} steps x {batch} samples on {runs} run(s)",
                          "run fewer steps or samples")
    if config.dataset is not None:
        spikes, labels = load_dataset(**config.dataset)
        name, shape = expected[0]
        if len(expected) != 1 or spikes[0, 0].numel() != math.prod(shape):
            raise ConfigError(f"config {config.source}: key 'input.dataset' gives {spikes[0, 0].numel()} values per "
                              f"sample (size {config.dataset['size']}: that many pixels squared) but the network "
                              f"takes {', '.join(f'{list(s)} at {n}' for n, s in expected)}; choose the size (or the "
                              "model) so that they fit")
        return (spikes.reshape(*spikes.shape[:2], *shape),), labels
    generator = torch.Generator().manual_seed(drawn["seed"])
    return tuple((torch.rand((steps, batch, *shape), generator=generator) < drawn["rate"]).float()
                 for _, shape in expected), None


def accuracy(outputs: tuple, labels: torch.Tensor, steps: int, delay: int) -> float:
    """Share of samples whose most active output neuron over the ``steps`` steps after ``delay`` (the
    target's lag behind the reference) is their label."""
    counts = outputs[0][delay : delay + steps].sum(0).flatten(1)
    return float((counts.argmax(1) == labels).double().mean())


def output_delay(agreement, name: str) -> int:
    """The steps run ``name``'s first output lags the reference (0 for the reference itself)."""
    return next((r["delay_compensated"] for r in agreement.for_target(name) if r["kind"] == "output"), 0)


def in_folder(options: dict, folder: Path) -> dict:
    """A target's options with a relative file path (netx_path) inside the run folder, not the working one."""
    path = options.get("netx_path")
    return {**options, "netx_path": folder / path} if path is not None and not Path(path).is_absolute() else options


def copy_config(config: RunConfig, folder: Path) -> None:
    with atomic_path(folder / "config.yaml") as partial:
        shutil.copyfile(config.source, partial)


def hardware_writer(folder: Path, written: dict, checks: dict):
    """A ``run_targets`` callback that writes each deployment's hardware files into ``folder/hardware/RUN``,
    with ``resources.json`` (check's counts against the chip's limits, from ``checks``: run name ->
    CheckReport), and records, per run, the files (relative to ``folder``) or why the target has none for
    this graph."""
    def write(name: str, target, deployment) -> None:
        into = folder / "hardware" / file_stem(name)
        into.mkdir(parents=True, exist_ok=True)
        try:
            paths = target.write_hardware(deployment, into)
        except TargetError as error:
            paths, written[name] = [], {"files": [], "not written": str(error)}
        if paths:
            with atomic_path(into / "resources.json") as partial:
                partial.write_text(json.dumps(checks[run_name(name.partition("/")[0])].resources, indent=1))
            paths = [*paths, into / "resources.json"]
            written[name] = {"files": [str(Path(p).relative_to(folder)) for p in paths]}
        for empty in (into, into.parent):  # a target without hardware leaves no folder
            if not any(empty.iterdir()):
                empty.rmdir()

    return write


def versions() -> dict:
    import platform

    from . import __version__

    found = {"python": platform.python_version(), "nirdeploy": __version__, "torch": torch.__version__,
             "nir": nir.version, "numpy": np.__version__}
    for name in ("spikingjelly", "snntorch"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def runtime_versions(names: list) -> dict:
    """Each target that ran -> its runtime as the adapter reports it (lava-nc and the Lava runtime's Python,
    rockpool and xylosim...)."""
    targets = {run_name(name.partition("/")[0]): get_target(name.partition("/")[0]) for name in names}
    return {name: target.runtime_status()[1] for name, target in targets.items()}


def run_config(config: RunConfig, targets: Optional[Sequence[str]] = None, out: Optional[Path] = None,
               progress: bool = False, workers: Optional[int] = None, address: Optional[str] = None) -> RunResult:
    """Everything ``nirdeploy run`` does, as a function: see the module docstring of nirdeploy.config.
    With ``workers`` or ``address``, every target's samples are sharded over Ray workers
    (:mod:`nirdeploy.scaleout`); the figures are the same as in one process."""
    runs = planned_runs(config, list(targets) if targets else list(config.targets))
    arrays = read_input_file(config) if config.input_file is not None else None
    cluster = None
    if workers is not None or address is not None:
        from .scaleout import Cluster

        cluster = Cluster(workers, address)  # refuses a bad count, or a missing Ray, before the folder exists
    folder = new_run_folder(Path(out) if out else config.output, config.name)
    try:
        if cluster is None:
            return _run(config, runs, arrays, folder, progress)
        with cluster:
            return _run(config, runs, arrays, folder, progress, cluster)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a failed run leaves no half-made folder
        raise


def _run(config: RunConfig, planned: dict, arrays: Optional[tuple], folder: Path, progress: bool,
         cluster=None) -> RunResult:
    copy_config(config, folder)
    graph, export_seconds = prepare_graph(config, folder)
    semantics = load(graph, config.dt, config.producer, config.dt_override)
    inputs, labels = make_inputs(config, semantics.graph, arrays, len(planned) + 1)
    draw_graph(graph, folder / "graph.png")
    # A run named target/label (one target with other options) shares its target's check.
    checks = {run_name(base): check(semantics, base) for base in dict.fromkeys(n.partition("/")[0] for n in planned)}
    deployable = {name: in_folder(options, folder) for name, options in planned.items()
                  if checks[run_name(name.partition("/")[0])].ok}
    hardware = {}
    runs = run_targets(semantics, inputs, {"reference": {}, **deployable}, progress=progress,
                       deployed=hardware_writer(folder, hardware, checks), cluster=cluster)
    agreement = agreement_report(semantics, runs)
    failures = [f"{name}: check failed" for name, report in checks.items() if not report.ok]
    limits = {run_name(name): metrics for name, metrics in config.thresholds.items() if name != "*"}
    for row in agreement.rows:
        for metric, minimum in {**config.thresholds["*"], **limits.get(row["target"], {})}.items():
            if row["kind"] == "output" and row.get(metric, 1.0) < minimum:
                failures.append(f"{row['target']} {row['name']}: {metric} {row[metric]:.4f} < {minimum}")
    steps, batch = inputs[0].shape[:2]
    summary = {
        name: {
            "accuracy": None if labels is None else accuracy(out, labels, steps, output_delay(agreement, name)),
            "output_train_match": 1.0 if name == "reference" else min(
                (r["spike_train_match"] for r in agreement.for_target(name) if r["kind"] == "output"), default=None),
            "spikes_per_sample": sum(float(spikes.sum()) for spikes in layers.values()) / batch,
            "simulated_s": steps * config.dt,
            "wall_s": seconds,
        }
        for name, (out, layers, seconds) in runs.items()
    }
    report = {
        "config": str(config.source),
        "graph": str(folder / "model.nir"),
        "drawing": "graph.png",
        "dt": config.dt,
        "producer": semantics.producer,
        "assumption": semantics.assumption(),
        "ok": not failures,
        "failures": failures,
        "checks": {name: r.to_dict() for name, r in checks.items()},
        "agreement": agreement.to_dict(),
        "summary": summary,
        "targets": {run_name(name): {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                                     for k, v in in_folder(options, folder).items()} for name, options in planned.items()},
        "hardware": hardware,
        "timings_s": {"export": export_seconds, **{f"run {name}": seconds for name, (_, _, seconds) in runs.items()}},
        "versions": {**versions(), "runtimes": runtime_versions(list(deployable))},
        **({} if cluster is None else {"scaleout": cluster.record()}),
    }
    write_report(folder, report, checks, agreement, runs)
    return RunResult(folder, not failures, report)
