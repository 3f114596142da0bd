"""Run configurations (YAML) for ``nirdeploy run``, validated with messages that name key and file.

    model:                      # one of:
      nir: model.nir            #   a NIR file
      python: pkg.mod:build     #   or a function returning an nn.Module ("file.py:build" works too)
      weights: weights.pt       #   optional state dict, loaded with weights_only=True
      example_shape: [1, 16]    #   the example input export runs ([T, B, ...] for multi-step nets);
                                #   not needed when the function returns a nir.NIRGraph itself
      producer: snntorch        #   optional: the framework that wrote the graph (its conventions);
                                #   default: those the graph records, else SpikingJelly's, with a warning
      dt_override: false        #   optional: true runs at dt even where the graph records another dt
    dt: 1.0e-3                  # seconds
    input:                      # one of:
      poisson: {rate: 0.2, steps: 100, batch: 4, seed: 0}
      file: spikes.npy          #   .npy, or .npz with one array, laid out [T, B, ...]
      dataset: {name: digits, steps: 20, samples: 100, seed: 0, split: test, size: 8}  # encoded, with labels
    targets:                    # the first is the default target
      snntorch: {}              #   per-target options (device: cuda, ...)
      lava/fixed: {precision: fixed}  # target/label: the same target again with other options
    thresholds:                 # optional: the run fails (exit 1) below these
      spike_train_match: 0.99   #   for every target's outputs
      lava/fixed: {class_agreement: 0.95}  # for one target's
    output: runs                # folder that receives one new folder per run

Relative paths are relative to the config file.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .errors import ConfigError

TOP_KEYS = {"model", "dt", "input", "targets", "thresholds", "output"}
MODEL_KEYS = {"nir", "python", "weights", "example_shape", "producer", "dt_override"}
POISSON_KEYS = {"rate", "steps", "batch", "seed"}
DATASET_KEYS = {"name", "steps", "samples", "seed", "split", "size"}
THRESHOLD_KEYS = {"spike_train_match", "spike_count_match", "class_agreement"}
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000  # after expanding aliases: a config is a few hundred values


class ConfigLoader(yaml.SafeLoader):
    """YAML 1.1's safe loader, reading ``1e-3`` as a number as YAML 1.2 does (1.1 wants ``1.0e-3``)."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


@dataclass
class RunConfig:
    source: Path
    dt: float
    targets: dict  # name -> options
    output: Path
    nir_path: Optional[Path] = None
    python: Optional[str] = None
    weights: Optional[Path] = None
    example_shape: Optional[tuple] = None
    producer: Optional[str] = None
    dt_override: bool = False
    poisson: Optional[dict] = None
    input_file: Optional[Path] = None
    dataset: Optional[dict] = None
    thresholds: dict = field(default_factory=lambda: {"*": {}})  # run name or "*" -> {metric: minimum}

    @property
    def name(self) -> str:
        return self.source.stem


def _error(source, key: str, problem: str):
    raise ConfigError(f"config {source}: key '{key}' {problem}")


def _mapping(source, key, value, allowed: set) -> dict:
    if not isinstance(value, dict):
        _error(source, key, f"must be a mapping, got {type(value).__name__} ({value!r})")
    for sub in value:
        if sub not in allowed:
            _error(source, f"{key}.{sub}", f"is not a known key; known keys: {', '.join(sorted(allowed))}")
    return value


def _number(source, key, value, low=None, high=None, integer=False) -> float:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or (not integer and not math.isfinite(value)):
        _error(source, key, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        _error(source, key, f"must lie in [{low}, {high}], got {value!r}")
    return value


def _existing(source: Path, key: str, value) -> Path:
    if not isinstance(value, str):
        _error(source, key, f"must be a path (a string), got {value!r}")
    path = (source.parent / value).resolve()
    if not path.exists():
        _error(source, key, f"names {value}, which does not exist (looked for {path})")
    return path


def load_config(path) -> RunConfig:
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"config {source} does not exist")
    data = read_yaml(source)
    if isinstance(data, dict) and "producer" in data:
        _error(source, "producer", "belongs to the model: move it under 'model' (model.producer)")
    data = _mapping(source, "(top level)", data, TOP_KEYS)
    for key in ("model", "dt", "input", "targets"):
        if key not in data:
            _error(source, key, "is missing")
    model = _mapping(source, "model", data["model"], MODEL_KEYS)
    if ("nir" in model) == ("python" in model):
        _error(source, "model", "needs exactly one of 'nir' (a .nir file) or 'python' (module:function)")
    config = RunConfig(
        source=source,
        dt=_number(source, "dt", data["dt"], low=1e-9, high=1.0),
        targets=(targets := _targets(source, data["targets"])),
        output=(source.parent / str(data.get("output", "runs"))).resolve(),
        producer=_producer(source, model.get("producer")),
        dt_override=_flag(source, "model.dt_override", model.get("dt_override", False)),
        thresholds=_thresholds(source, data.get("thresholds", {}), targets),
    )
    if "nir" in model:
        config.nir_path = _existing(source, "model.nir", model["nir"])
    else:
        config.python = model["python"]
        if not isinstance(config.python, str) or ":" not in config.python:
            _error(source, "model.python", f"must look like 'package.module:function' or 'file.py:function', got {config.python!r}")
        shape = model.get("example_shape")
        if shape is not None:
            if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
                _error(source, "model.example_shape", f"must be a list of positive integers (with the batch dim), got {shape!r}")
            config.example_shape = tuple(shape)
        if "weights" in model:
            config.weights = _existing(source, "model.weights", model["weights"])
    _input(source, data["input"], config)
    return config


def read_yaml(source: Path):
    """The YAML in ``source``, refused when it is larger than a config can be, also once its aliases are
    expanded (nine aliases nested nine deep are 9**9 values), before anything is built from it."""
    if source.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {source} is {source.stat().st_size} bytes; a run configuration is a few "
                          f"hundred bytes (at most {MAX_CONFIG_BYTES}): is it the file meant?")
    try:
        loader = ConfigLoader(source.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            _require_few_values(node, source)
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise ConfigError(f"config {source} is not valid YAML: {error}") from error
    except (UnicodeDecodeError, RecursionError) as error:
        raise ConfigError(f"config {source} is not a readable YAML text ({type(error).__name__}); write the "
                          "config as UTF-8 YAML mappings") from None


def _require_few_values(root, source: Path) -> None:
    """Count the values ``root`` expands to (an alias counts its whole target again), without expanding;
    an alias inside its own anchor would expand forever."""
    sizes, open_nodes, stack = {}, set(), [(root, False)] if root is not None else []
    while stack:
        node, children_done = stack.pop()
        children = [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        if children_done or not children:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_CONFIG_VALUES:
                raise ConfigError(f"config {source} expands to more than {MAX_CONFIG_VALUES} values (aliases "
                                  "nested in aliases); write the values out, without nested aliases")
        elif id(node) not in sizes:
            if any(id(child) in open_nodes or child is node for child in children):
                raise ConfigError(f"config {source} has an alias inside its own anchor (line "
                                  f"{node.start_mark.line + 1}); a config cannot contain itself")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack += [(child, False) for child in children if id(child) not in sizes]


def _producer(source, value) -> Optional[str]:
    from .semantics import PRODUCERS

    if value is not None and value not in PRODUCERS:
        _error(source, "model.producer", f"must be one of {', '.join(PRODUCERS)}, got {value!r}")
    return value


def _flag(source, key: str, value) -> bool:
    if not isinstance(value, bool):
        _error(source, key, f"must be true or false, got {value!r}")
    return value


def _targets(source, value) -> dict:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = {name: {} for name in value}
    if not isinstance(value, dict) or not value:
        _error(source, "targets", f"must name at least one target (a list, or a mapping of options), got {value!r}")
    from .targets import available_targets

    known = available_targets()
    for name, options in value.items():
        if not isinstance(name, str):
            _error(source, f"targets.{name}", "must be a target's name (text), e.g. snntorch or xylo:syns63300")
        if name.partition("/")[0].partition(":")[0] not in known:
            _error(source, f"targets.{name}", f"is not a known target; known: {', '.join(sorted(known))} "
                                              "(a second run of one target with other options: target/label)")
        if not isinstance(options or {}, dict):
            _error(source, f"targets.{name}", f"options must be a mapping, got {options!r}")
    return {name: options or {} for name, options in value.items()}


def _thresholds(source, value, targets: dict) -> dict:
    """{run: {metric: minimum}}, run "*" for every target: a metric at the top applies to all
    targets, a target's name holds its own metrics."""
    value = _mapping(source, "thresholds", value, THRESHOLD_KEYS | set(targets))
    limits = {"*": {k: v for k, v in value.items() if k in THRESHOLD_KEYS}}
    limits.update({k: _mapping(source, f"thresholds.{k}", v, THRESHOLD_KEYS) for k, v in value.items() if k in targets})
    return {run: {metric: _number(source, f"thresholds.{'' if run == '*' else run + '.'}{metric}", v, 0.0, 1.0)
                  for metric, v in metrics.items()} for run, metrics in limits.items()}


def _input(source, value, config: RunConfig) -> None:
    value = _mapping(source, "input", value, {"poisson", "file", "dataset"})
    if len(value) != 1:
        _error(source, "input", "needs exactly one of 'poisson', 'file' or 'dataset'")
    if "dataset" in value:
        dataset = _mapping(source, "input.dataset", value["dataset"], DATASET_KEYS)
        from .datasets import DATASETS

        if dataset.get("name") not in DATASETS:
            _error(source, "input.dataset.name", f"must be one of {', '.join(DATASETS)}, got {dataset.get('name')!r}")
        if dataset.get("split", "test") not in ("train", "test"):
            _error(source, "input.dataset.split", f"must be 'train' or 'test', got {dataset['split']!r}")
        config.dataset = {
            "name": dataset["name"],
            "steps": _number(source, "input.dataset.steps", dataset.get("steps", 20), 1, 10**6, integer=True),
            "samples": _number(source, "input.dataset.samples", dataset.get("samples", 100), 1, 10**6, integer=True),
            "seed": _number(source, "input.dataset.seed", dataset.get("seed", 0), 0, None, integer=True),
            "split": dataset.get("split", "test"),
            "size": _number(source, "input.dataset.size", dataset.get("size", 8), 4, 8, integer=True),
        }
        return
    if "file" in value:
        config.input_file = _existing(source, "input.file", value["file"])
        if config.input_file.suffix not in (".npy", ".npz"):
            _error(source, "input.file", f"must be a .npy or .npz file, got {config.input_file.name}")
        return
    poisson = _mapping(source, "input.poisson", value["poisson"], POISSON_KEYS)
    for key in ("rate", "steps", "batch"):
        if key not in poisson:
            _error(source, f"input.poisson.{key}", "is missing")
    config.poisson = {
        "rate": _number(source, "input.poisson.rate", poisson["rate"], 0.0, 1.0),
        "steps": _number(source, "input.poisson.steps", poisson["steps"], 1, 10**7, integer=True),
        "batch": _number(source, "input.poisson.batch", poisson["batch"], 1, 10**6, integer=True),
        "seed": _number(source, "input.poisson.seed", poisson.get("seed", 0), 0, None, integer=True),
    }
