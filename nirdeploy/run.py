"""``nirdeploy run``: a config in, a run folder out (graph, checks, agreement, report, plots)."""

import importlib
import importlib.util
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
from .errors import ConfigError
from .graphfile import read_graph
from .report import write_report
from .semantics import load
from .to_nir import export_to_nir


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
        net.load_state_dict(torch.load(weights, weights_only=True))
    return net.eval()


def prepare_graph(config: RunConfig, folder: Path) -> tuple:
    """The graph, written into the run folder, and the seconds its export took."""
    path = folder / "model.nir"
    start = time.perf_counter()
    if config.nir_path is not None:
        shutil.copyfile(config.nir_path, path)
    elif isinstance(model := load_python_model(config.python, config.weights, config.source.parent,
                                               f"config {config.source}: key 'model.python'"), nir.NIRGraph):
        nir.write(path, model)  # a graph another framework's exporter wrote
    elif config.example_shape is None:
        raise ConfigError(f"config {config.source}: key 'model.example_shape' is missing; exporting a torch model needs it")
    else:
        export_to_nir(model, torch.zeros(config.example_shape), save_path=path, dt=config.dt)
    return read_graph(path), time.perf_counter() - start


def make_inputs(config: RunConfig, graph: nir.NIRGraph) -> tuple:
    """(input spikes, one tensor per graph input, laid out [T, B, ...]; labels or None)."""
    shapes = [tuple(int(d) for d in node.input_type["input"]) for node in graph.nodes.values() if isinstance(node, nir.Input)]
    if config.input_file is not None:
        data = np.load(config.input_file)
        arrays = [data[key] for key in data.files] if hasattr(data, "files") else [data]
        return tuple(torch.as_tensor(a, dtype=torch.float32) for a in arrays), None
    if config.dataset is not None:
        spikes, labels = load_dataset(**config.dataset)
        return (spikes.reshape(spikes.shape[0], spikes.shape[1], *shapes[0]),), labels
    p = config.poisson
    generator = torch.Generator().manual_seed(p["seed"])
    spikes = tuple((torch.rand((p["steps"], p["batch"], *shape), generator=generator) < p["rate"]).float() for shape in shapes)
    return spikes, None


def accuracy(outputs: tuple, labels: torch.Tensor, steps: int, delay: int) -> float:
    """Share of samples whose most active output neuron over the ``steps`` steps after ``delay`` (the
    target's lag behind the reference) is their label."""
    counts = outputs[0][delay : delay + steps].sum(0).flatten(1)
    return float((counts.argmax(1) == labels).double().mean())


def output_delay(agreement, name: str) -> int:
    """The steps run ``name``'s first output lags the reference (0 for the reference itself)."""
    return next((r["delay_compensated"] for r in agreement.for_target(name) if r["kind"] == "output"), 0)


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


def run_config(config: RunConfig, targets: Optional[Sequence[str]] = None, out: Optional[Path] = None,
               progress: bool = False) -> RunResult:
    """Everything ``nirdeploy run`` does, as a function: see the module docstring of nirdeploy.config."""
    names = list(targets) if targets else list(config.targets)
    folder = new_run_folder(Path(out) if out else config.output, config.name)
    graph, export_seconds = prepare_graph(config, folder)
    semantics = load(graph, config.dt, config.producer, config.dt_override)
    inputs, labels = make_inputs(config, graph)
    # A run named target/label (one target with other options) shares its target's check.
    checks = {run_name(base): check(semantics, base) for base in dict.fromkeys(n.partition("/")[0] for n in names)}
    deployable = {name: config.targets.get(name, {}) for name in names if checks[run_name(name.partition("/")[0])].ok}
    runs = run_targets(semantics, inputs, {"reference": {}, **deployable}, progress=progress)
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
        "dt": config.dt,
        "producer": semantics.producer,
        "assumption": semantics.assumption(),
        "ok": not failures,
        "failures": failures,
        "checks": {name: r.to_dict() for name, r in checks.items()},
        "agreement": agreement.to_dict(),
        "summary": summary,
        "timings_s": {"export": export_seconds, **{f"run {name}": seconds for name, (_, _, seconds) in runs.items()}},
        "versions": versions(),
    }
    write_report(folder, report, checks, agreement, runs)
    return RunResult(folder, not failures, report)
