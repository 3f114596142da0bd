"""``check``: every problem a graph has on a target, found at once, before deployment."""

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

import nir
import numpy as np

from .errors import UnsupportedNodeError, spell
from .passes import node_fields
from .semantics import NEURON_TYPES, WEIGHT_TYPES, Semantics, load, recorded_dt
from .table import format_table
from .targets import Problem, Target, get_target



@dataclass
class CheckReport:
    target: str
    dt: float
    problems: list = field(default_factory=list)
    resources: dict = field(default_factory=dict)  # name -> {"used": n, "limit": n or None}

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "dt": self.dt,
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "resources": self.resources,
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        verdict = "passes" if self.ok else f"fails: {len(self.errors)} error(s)"
        lines = [f"check against {self.target} at dt={self.dt:g} s: {verdict}, {len(self.warnings)} warning(s)"]
        if self.problems:
            rows = [("severity", "node", "rule", "found", "limit", "suggestion")]
            rows += [(p.severity, p.node, p.rule, p.found, p.limit, p.suggestion) for p in self.problems]
            lines += ["", *format_table(rows, last_below=True)]
        rows = [("resource", "used", "limit")]
        rows += [(name, str(r["used"]), "-" if r["limit"] is None else str(r["limit"])) for name, r in self.resources.items()]
        return "\n".join(lines + ["", *format_table(rows)])


def check(
    graph: Union[nir.NIRGraph, str, Semantics],
    target: Union[str, Target],
    dt: Optional[float] = None,
    variant: Optional[str] = None,
    producer: Optional[str] = None,
    dt_override: bool = False,
) -> CheckReport:
    """Check ``graph`` against ``target`` at ``dt`` (default: the graph's recorded dt), judged by the
    dynamics of the framework that wrote it (``producer``; default: the recorded conventions, else
    SpikingJelly's, which the report then names as an assumption).

    Returns a :class:`CheckReport` listing every problem at once, each with the node,
    the rule, the value found, the limit and a suggestion, and the resources the
    graph would use against the target's limits. A dt that contradicts the recorded
    one is an error unless ``dt_override``.
    """
    if isinstance(graph, Semantics):
        semantics, dt_override = graph, graph.dt_override
    else:  # resolved even at a contradicting dt, so that the contradiction is one problem among all the others
        semantics = load(graph, dt, producer, dt_override=True)
    target = get_target(target, variant) if isinstance(target, str) else target
    report = CheckReport(target.name, semantics.dt)
    if semantics.assumed:
        report.problems.append(Problem("(graph)", "producer conventions", "none named or recorded",
                                       "the producer's", semantics.assumption(), "warning"))
    flat, profile = semantics.graph, target.profile
    report.problems += _node_types(flat, profile)
    report.problems += _recurrence(semantics, profile)
    report.problems += _dt(flat, profile, semantics.dt, recorded_dt(flat), dt_override)
    report.problems += _parameters(flat, profile)
    report.problems += _dynamics(semantics, profile)
    report.problems += _delays(profile)
    report.problems += _weight_formats(flat, profile)
    report.resources, limit_problems = _resources(semantics, target)
    report.problems += limit_problems
    report.problems += target.check_graph(semantics)
    return report


def _node_types(graph, profile) -> list:
    return [
        Problem(name, "node type", type(node).__name__, ", ".join(profile.nodes),
                "replace it with supported nodes or choose another target")
        for name, node in graph.nodes.items()
        if type(node).__name__ not in profile.nodes
    ]


def _recurrence(semantics: Semantics, profile) -> list:
    try:
        edges = semantics.recurrent_edges
    except UnsupportedNodeError as error:
        return [Problem("(graph)", "algebraic loop", str(error).split(":")[0], "a neuron or Delay in every cycle",
                        "add a Delay or a neuron to the loop")]
    if profile.recurrent:
        return []
    return [Problem(post, "recurrence", f"recurrent edge {pre} -> {post}", "feed-forward only",
                    "unroll the recurrence or choose a target with recurrent connections") for pre, post in edges]


def _dt(graph, profile, dt, recorded, dt_override) -> list:
    problems, rule = [], profile.dt
    if rule["mode"] == "fixed" and not math.isclose(dt, rule["value"], rel_tol=1e-9):
        problems.append(Problem("(graph)", "dt", f"{dt:g} s", f"{rule['value']:g} s (fixed)",
                                f"re-export the network at dt={rule['value']:g}"))
    if rule["mode"] == "range" and not rule["min"] <= dt <= rule["max"]:
        problems.append(Problem("(graph)", "dt", f"{dt:g} s", f"{rule['min']:g}..{rule['max']:g} s",
                                "choose a dt inside the target's range"))
    if recorded is not None and not math.isclose(recorded, dt, rel_tol=1e-9):
        problems.append(Problem(
            "(graph)", "recorded dt", f"exported at {recorded:g} s", f"runs at {dt:g} s",
            f"time constants are re-discretised: tau/dt changes by a factor {recorded / dt:.3g}, so the dynamics "
            f"differ from training; run at dt={recorded:g} to reproduce it", "warning") if dt_override else Problem(
            "(graph)", "recorded dt", f"exported at {recorded:g} s", f"asked for {dt:g} s",
            f"run at {spell(f'dt={recorded:g}', f'--dt {recorded:g}')}, or "
            f"{spell('pass dt_override=True', 'add --dt-override (model.dt_override: true in a config)')} to "
            "re-discretise every time constant at the new dt"))
    return problems


def _parameters(graph, profile) -> list:
    problems = []
    for name, node in graph.nodes.items():
        if not isinstance(node, NEURON_TYPES):
            continue
        for field_name, value in node_fields(node).items():
            if not isinstance(value, np.ndarray):
                continue
            uniform = value.size == 0 or np.all(value == value.flat[0])
            if not uniform and not profile.per_neuron_parameters:
                problems.append(Problem(name, "uniform parameters", f"{field_name} differs per neuron",
                                        "one value per population", "use one value per layer"))
            elif not uniform and field_name in profile.uniform_per_population:
                count = len(np.unique(value))
                problems.append(Problem(name, "one value per process", f"{count} distinct {field_name}",
                                        "one value per population",
                                        f"the population is split into {count} processes", "warning"))
    return problems


RESET_WORDS = {"hard": "a reset to v_reset", "subtract": "subtracting the threshold",
               "subtract-delayed": "subtracting the threshold one step late"}


def _dynamics(semantics: Semantics, profile) -> list:
    """The producer's rules each neuron follows, against what the target computes."""
    problems = []
    test = profile.conventions.get("threshold", ">=")
    for name, d in semantics.dynamics.items():
        for what, decay in (("v", d.v_decay), ("i", d.i_decay)):
            if decay is not None and np.any(decay < 0):
                problems.append(Problem(name, "tau >= dt", f"{what} decays by {np.min(decay):.3g} per step",
                                        "a factor in [0, 1]", "a time constant shorter than dt makes the Euler "
                                        "step overshoot; lower dt"))
        if not d.spiking:
            continue
        if d.reset not in profile.reset_modes:
            problems.append(_reset_problem(name, d, profile))
        if test not in (d.threshold_test, "any"):
            problems.append(Problem(name, "threshold comparison", f"{d.rule}: v {d.threshold_test} v_threshold",
                                    f"v {test} v_threshold ({profile.name})",
                                    "spikes differ where v equals the threshold exactly", "warning"))
        if d.spikes_per_step != "one" and float(profile.conventions.get("spikes_per_step", 1)) < d.max_spikes:
            problems.append(Problem(name, "spikes per step", f"{d.rule}: up to {d.max_spikes:g}",
                                    f"{profile.conventions.get('spikes_per_step', 1)} ({profile.name})",
                                    "steps where v exceeds several thresholds differ; compare measures it", "warning"))
        if d.v_min is not None and profile.conventions.get("lower_bound") != "any":
            problems.append(Problem(name, "lower bound on v", f"{d.rule}: v >= {np.min(d.v_min):.3g}",
                                    f"no bound ({profile.name})", "differs where inhibition drives v below the bound",
                                    "warning"))
        at_rest = d.v_reset if d.reset == "hard" else 0.0
        if profile.conventions.get("initial_state") != "any" and np.any(d.v_initial != at_rest):
            problems.append(Problem(name, "initial v", f"{d.rule}: v starts at {np.max(np.abs(d.v_initial)):.3g}",
                                    "v_reset (0 with subtractive reset)", f"{profile.name} starts every neuron "
                                    "at its reset potential; set v_reset to the resting potential", "error"))
    return problems


def _reset_problem(name: str, d, profile) -> Problem:
    """A reset the target does not perform: an error, except snnTorch's delayed subtraction on a target that
    subtracts in the same step (they differ only while v stays above threshold)."""
    offered = [RESET_WORDS[mode] for mode in profile.reset_modes]
    found = f"{d.rule}: {RESET_WORDS[d.reset]}"
    if d.reset == "subtract-delayed" and "subtract" in profile.reset_modes:
        return Problem(name, "reset mode", found, ", ".join(offered), "spikes differ only while v stays above "
                       "threshold after a reset; compare measures it", "warning")
    return Problem(name, "reset mode", found, ", ".join(offered), f"{profile.name} cannot reset this way; retrain "
                   f"with {' or '.join(offered)} (in SpikingJelly, v_reset=None subtracts the threshold, a number "
                   "resets to it)")


def _delays(profile) -> list:
    first = profile.delay(1)
    if not (profile.hop_delay or first):
        return []
    found = (f"{profile.hop_delay} step(s) per synaptic hop" if first == profile.hop_delay else
             f"{first} step(s) for the first synaptic hop, {profile.hop_delay} for each later one")
    return [Problem("(all layers)", "per-hop delay", found, "0 in the reference",
                    "outputs arrive later; compare compensates", "warning")]


def _weight_formats(graph, profile) -> list:
    bits = profile.formats.get("weight_bits")
    problems = []
    for name, node in graph.nodes.items():
        if bits is None or not isinstance(node, WEIGHT_TYPES):
            continue
        error = quantisation_error(np.asarray(node.weight), int(bits))
        if error > 0.01:
            problems.append(Problem(name, f"{bits}-bit weights", f"relative RMS error {error:.2%}", "1%",
                                    "quantisation changes this layer's output; compare measures the effect",
                                    "warning"))
    return problems


def quantisation_error(weight: np.ndarray, bits: int) -> float:
    """Relative RMS error of rounding ``weight`` to signed ``bits``-bit integers with one scale per layer."""
    peak = np.max(np.abs(weight))
    if peak == 0:
        return 0.0
    scale = peak / (2 ** (bits - 1) - 1)
    error = np.sqrt(np.mean((weight - np.round(weight / scale) * scale) ** 2))
    return float(error / np.sqrt(np.mean(weight**2)))


def _size(node) -> int:
    shape = (node.output_type or {}).get("output")
    return 0 if shape is None else int(np.prod(shape))


def _fan_in(node) -> int:
    weight = np.asarray(node.weight)
    return int(np.prod(weight.shape[1:]))


def _taps_inside(size: int, kernel: int, stride: int, padding, dilation: int) -> int:
    """(output position, kernel tap) pairs of one dim whose tap falls on an input, not on padding."""
    span = dilation * (kernel - 1) + 1
    if padding == "same":  # stride 1; torch pads the smaller half before
        outputs, padding = size, (span - 1) // 2
    else:
        padding = 0 if padding == "valid" else padding
        outputs = (size + 2 * padding - span) // stride + 1
    position = np.arange(max(outputs, 0))[:, None] * stride - padding + np.arange(kernel)[None, :] * dilation
    return int(np.count_nonzero((position >= 0) & (position < size)))


def _synapses(node) -> int:
    """A dense layer's weights; a convolution's kernel uses, one per (output, input) pair a window covers,
    counted per dim from the shapes (never unrolled)."""
    weight = np.asarray(node.weight)
    if not isinstance(node, (nir.Conv1d, nir.Conv2d)) or node.input_shape is None:
        return int(weight.size)
    kernel = weight.shape[2:]
    spatial = np.atleast_1d(node.input_shape)
    pairs = math.prod(_taps_inside(int(size), int(k), int(stride), padding, int(dilation)) for size, k, stride, padding,
                      dilation in zip(spatial, kernel, *(_per_dim(getattr(node, f), len(kernel))
                                                          for f in ("stride", "padding", "dilation"))))
    return int(weight.shape[0] * weight.shape[1]) * pairs


def _per_dim(value, dims: int) -> list:
    return [value] * dims if isinstance(value, str) else list(np.resize(np.asarray(value).astype(int), dims))


def _resources(semantics: Semantics, target: Target) -> tuple:
    """(resources, limit problems): the generic counts from the graph's nodes, replaced by the target's own
    where its adapter counts them from its mapping."""
    graph, profile = semantics.graph, target.profile
    neurons = {n: node for n, node in graph.nodes.items() if isinstance(node, NEURON_TYPES)}
    feeds_output = {pre for pre, post in graph.edges if isinstance(graph.nodes[post], nir.Output)}
    fan_in = {n: sum(_fan_in(graph.nodes[pre]) for pre, post in graph.edges
                     if post == n and isinstance(graph.nodes[pre], WEIGHT_TYPES)) for n in neurons}
    used = {
        "neurons": sum(_size(node) for node in neurons.values()),
        "hidden_neurons": sum(_size(node) for n, node in neurons.items() if n not in feeds_output),
        "outputs": sum(_size(graph.nodes[pre]) for pre, post in graph.edges if isinstance(graph.nodes[post], nir.Output)),
        "inputs": sum(_size(node) for node in graph.nodes.values() if isinstance(node, nir.Input)),
        "fan_in": max(fan_in.values(), default=0),
        "synapses": sum(_synapses(node) for node in graph.nodes.values() if isinstance(node, WEIGHT_TYPES)),
    }
    if "neurons_per_core" in profile.limits:
        per_core = profile.limits["neurons_per_core"]
        used["cores"] = sum(math.ceil(_size(node) / per_core) for node in neurons.values())
    used.update(target.resources(semantics))
    resources = {name: {"used": value, "limit": profile.limits.get(name)} for name, value in used.items()}
    problems = [
        Problem("(graph)" if name not in ("fan_in",) else _worst(fan_in), f"{name} limit", str(r["used"]), str(r["limit"]),
                f"shrink the network or split it: {profile.name} allows {r['limit']} {name.replace('_', ' ')}")
        for name, r in resources.items()
        if r["limit"] is not None and r["used"] > r["limit"]
    ]
    return resources, problems


def _worst(fan_in: dict) -> str:
    return max(fan_in, key=fan_in.get)
