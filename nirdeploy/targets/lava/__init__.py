"""The Lava target: Intel Loihi 2's CUBA LIF and Dense processes (lava-nc 0.10.0) in Lava's CPU simulator.

This package is the Lava backend: this adapter, the runtime (:mod:`.runtime`),
the mapping and the worker (:mod:`.lava_worker`, numpy, scipy and nir only, run inside
Lava's runtime), the worker's subprocess (:mod:`.worker`) and the fixed-point emulation (:mod:`.emulation`).

Lava runs in its own Python 3.10 runtime. Each run hands the worker a temporary folder holding the
plan built here from the resolved dynamics (``Plan.save``), the input spikes as
.npz and a small JSON request; :mod:`.worker` runs it in a subprocess with a timeout and ends its whole
process group however it ends (a hang, a kill, Ctrl-C), and the worker writes the spikes back, or its
error and traceback, which come back as a :class:`TargetError`. With ``simulator='emulation'``
a fixed-point run is :mod:`.emulation` instead, in this process, without Lava.
Mapping and equations: ``lava_worker/mapping.py`` here and docs/semantics.md ("Lava").

The weights of each path of stateless nodes are one sparse matrix (``lava_worker/linear.py``): check and
deploy work out its size from the shapes first and refuse a plan over the memory budget
(:func:`nirdeploy.validate.memory_budget`) before building it.
"""

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import nir
import numpy as np
import torch

from ...errors import InvalidArgumentError, OutputExistsError, TargetError, spell
from ...files import atomic_path
from ...passes import synaptic_hops
from ...progress import progress_bar
from ...semantics import Semantics
from ...validate import BUDGET_VARIABLE, format_bytes, memory_budget, require_within_budget
from .. import Deployment, Problem, Target
from . import runtime
from .emulation import Emulator
from .lava_worker.mapping import WEIGHT_BITS, MappingError, layout, population, with_projections
from .lava_worker.netx import write_netx
from .worker import run_worker

__all__ = ["LavaTarget", "run_worker"]

PRECISIONS = {"float": "floating_pt", "fixed": "fixed_pt"}
SIMULATORS = ("lava", "emulation")
MATRIX_FIX = ("the Lava target holds each path of stateless nodes (Conv2d, pooling, Affine, ...) between two layers "
              "as one matrix of its synapses: give the layers smaller inputs or fewer channels")


def _timing_problems(semantics: Semantics, routes: list, depths: dict) -> list:
    """Projections whose Lava delay (one step per Dense, on Lava's per-depth timeline) is not the reference's."""
    recurrent = set(semantics.recurrent_edges)
    problems = []
    for p in routes:
        delayed = any(edge in recurrent for edge in zip(p.path, p.path[1:]))
        if depths[p.post] != depths[p.pre] + 1 - delayed:
            problems.append(Problem(p.node, "Lava delay", f"{p.pre} (depth {depths[p.pre]}) -> {p.post} "
                                    f"(depth {depths[p.post]})", "one Dense step per depth",
                                    "paths of different lengths (or long recurrent loops) meet here: spikes arrive "
                                    "at other relative steps than in the reference", "warning"))
    return problems


def _fixed_point_problems(plan) -> list:
    problems = []
    for p in plan.projections:
        _, error = plan.fixed_weights(p.weights, p.post)
        problems.append(Problem(p.node, "fixed_pt weights", f"relative RMS error {error:.3%} at the vth mantissa "
                                f"{plan.threshold_mantissa(p.post)} of node '{p.post}'", "8-bit mantissa",
                                "precision='fixed' only; compare measures the effect", "warning"))
    for name in plan.populations:
        try:
            plan.fixed_population(name)
        except MappingError as error:
            problems.append(Problem(name, "fixed_pt parameters", error.detail, "Loihi's formats",
                                    "precision='fixed' cannot run this node; precision='float' can", "warning"))
    return problems


def _mapping_problem(error: MappingError) -> Problem:
    return Problem(error.node, "Lava mapping", error.detail, "CUBA LIF + Dense", "see docs/lava.md")


def _population_errors(semantics: Semantics) -> list:
    errors = []
    for name, dynamics in semantics.dynamics.items():
        try:
            population(name, dynamics, depth=0)
        except MappingError as error:
            errors.append(error)
    return errors


def hops(semantics: Semantics) -> dict:
    return synaptic_hops(semantics.graph, semantics.recurrent_edges)


def plan_bytes(routes: list) -> int:
    """Memory building a plan's weights takes at its peak: every finished matrix held, and the largest
    computation of one (``affine_map``'s product along its path)."""
    return sum(r.trace.matrix_bytes for r in routes) + max((r.trace.peak_bytes for r in routes), default=0)


def _matrix(route) -> str:
    rows, columns = route.trace.connectivity.matrix_shape
    return f"a {rows} x {columns} matrix of {route.trace.connectivity.synapses} synapses"


def _memory_problems(routes: list) -> list:
    """An error per weight matrix that alone would need more than the memory budget, else one for the plan
    if all of them together would."""
    budget, fix = memory_budget(), f"{MATRIX_FIX}, or raise the budget ({BUDGET_VARIABLE}=16GiB, say)"
    limit = f"{format_bytes(budget)} (memory budget)"
    problems = [Problem(r.node, "Lava weight matrix", f"{_matrix(r)}: building it needs {_bytes(r.trace.peak_bytes)}",
                        limit, fix) for r in routes if r.trace.peak_bytes > budget]
    needed = plan_bytes(routes)
    if not problems and needed > budget:
        problems.append(Problem("(graph)", "Lava weight matrices", f"{len(routes)} matrices need "
                                f"{_bytes(needed)} together", limit, fix))
    return problems


def _bytes(count: int) -> str:
    return f"{format_bytes(count)} ({count} bytes)"


class LavaTarget(Target):
    def __init__(self, profile):
        super().__init__(profile)
        self._planned = None  # (semantics, its plan): check and deploy build the weights once

    def runtime_status(self) -> tuple:
        ready, detail = runtime.status()
        return ready, detail if ready else f"{detail} (without it, precision='fixed', simulator='emulation' runs)"

    def layout(self, semantics: Semantics) -> tuple:
        """(the plan without weights, its routes), from the shapes: see ``mapping.layout``."""
        return layout(semantics.graph, semantics.dynamics, hops(semantics))

    def plan(self, semantics: Semantics, layout: tuple = None):
        """The Lava network of ``semantics``, built once per semantics by this target, from ``layout`` where the
        caller has it; a MemoryBudgetError, before any weight is computed, where its weight matrices would
        need more than the memory budget."""
        if self._planned is not None and self._planned[0] is semantics:
            return self._planned[1]
        plan, routes = layout or self.layout(semantics)
        largest = max(routes, key=lambda r: r.trace.peak_bytes, default=None)
        if largest is not None:
            require_within_budget(plan_bytes(routes), f"the Lava target's weights ({len(routes)} matrices, the "
                                  f"largest {_matrix(largest)} at node '{largest.node}')", MATRIX_FIX)
        self._planned = semantics, with_projections(plan, routes)
        return self._planned[1]

    def resources(self, semantics: Semantics) -> dict:
        """Neurons, synapses and the largest fan-in of the Lava network, from the shapes (no weight is computed):
        a convolution's synapses are the uses of its kernel, one per input a window covers, and a path's are
        the pairs of neurons it connects. Empty where the graph does not map (check says why)."""
        if not self._layers_map(semantics):
            return {}
        try:
            plan, routes = self.layout(semantics)
        except MappingError:
            return {}
        fan_in = {}
        for route in routes:
            fan_in[route.post] = fan_in.get(route.post, 0) + route.trace.connectivity.fan_in()
        return {"neurons": sum(p.size for p in plan.populations.values()),
                "synapses": sum(route.trace.connectivity.synapses for route in routes),
                "fan_in": max((int(np.max(counts)) for counts in fan_in.values()), default=0)}

    def _layers_map(self, semantics: Semantics) -> bool:
        """Whether every node is a type Lava takes and every layer's parameters map: layout assumes both."""
        types_map = all(type(node).__name__ in self.profile.nodes for node in semantics.graph.nodes.values())
        return types_map and not _population_errors(semantics)

    def check_graph(self, semantics: Semantics) -> list:
        if any(type(node).__name__ not in self.profile.nodes for node in semantics.graph.nodes.values()):
            return []  # the generic node-type rule reports them
        # Each layer's parameters first, so that every such problem is listed; the graph's structure after.
        problems = [_mapping_problem(error) for error in _population_errors(semantics)]
        if problems:
            return problems
        try:
            plan, routes = self.layout(semantics)
        except MappingError as error:
            return [_mapping_problem(error)]
        problems = _timing_problems(semantics, routes, hops(semantics)) + _memory_problems(routes)
        if any(p.severity == "error" for p in problems):
            return problems  # the weights, which the fixed-point checks need, would not fit
        return problems + _fixed_point_problems(self.plan(semantics, (plan, routes)))

    def check_option_values(self, options: dict) -> None:
        _check_options(options["precision"], options["simulator"], options["timeout"], options["weight_bits"])

    def deploy(self, semantics: Semantics, precision: str = "float", timeout: float = 300,
               netx_path=None, overwrite: bool = False, simulator: str = "lava",
               weight_bits: int = WEIGHT_BITS) -> Deployment:
        """``precision`` 'float' (Lava's floating_pt models) or 'fixed' (fixed_pt, bit-accurate to Loihi 2);
        ``simulator`` 'lava' (Lava's own simulator, in its runtime) or, for fixed point, 'emulation' (the
        same integer arithmetic compiled by numba, :mod:`.emulation`; needs no Lava runtime); ``timeout`` bounds each
        run in Lava, in seconds; ``weight_bits`` (fixed point, 2 to 8) the bits per weight mantissa, sign
        included, that each Dense keeps (lava-nc's ``num_weight_bits``);
        ``netx_path`` writes the network as lava-dl netx's .net file (never over an existing file unless
        ``overwrite``). ``run`` returns spikes on Lava's timeline: a layer ``h`` Dense hops from the input
        fires ``h`` steps after the reference (compare shifts it back)."""
        _check_options(precision, simulator, timeout, weight_bits)
        if simulator == "lava":
            ready, detail = self.runtime_status()
            if not ready:
                raise TargetError(detail)
        plan = replace(self.plan(semantics), weight_bits=weight_bits)  # the shared plan keeps its own
        artifacts = {}
        try:
            if precision == "fixed" or netx_path is not None:
                for name in plan.populations:
                    plan.fixed_population(name)
            if netx_path is not None:
                _write_netx(plan, Path(netx_path), overwrite)
                artifacts["netx"] = Path(netx_path)
        except MappingError as error:
            raise TargetError(f"Loihi's fixed point or netx's file cannot hold this graph: {error}") from None
        simulate = _emulation(plan) if simulator == "emulation" else _lava_simulation(precision, timeout)
        return Deployment(self.name, plan, _runner(semantics.graph, plan, simulate), artifacts)

    def write_hardware(self, deployment: Deployment, folder) -> list:
        """lava-dl netx's ``network.net``, which Loihi 2's toolchain loads, in Loihi's fixed point, and
        ``network.json``: how to read it, its layers, its latency and where its spikes differ from the
        deployment's."""
        net, about = Path(folder) / "network.net", Path(folder) / "network.json"
        try:
            description = _write_netx(deployment.native, net, overwrite=False)
        except MappingError as error:
            raise TargetError(f"netx's file cannot hold this graph: {error}") from None
        with atomic_path(about) as partial:
            partial.write_text(json.dumps({"file": net.name, **description}, indent=1))
        return [net, about]


def _check_options(precision: str, simulator: str, timeout, weight_bits) -> None:
    if precision not in PRECISIONS:
        raise TargetError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)} for the Lava target")
    if simulator not in SIMULATORS:
        raise TargetError(f"simulator={simulator!r} is not one of {', '.join(SIMULATORS)} for the Lava target")
    if simulator == "emulation" and precision != "fixed":
        fix = spell("pass precision='fixed', or simulator='lava'", "set precision: fixed, or simulator: lava")
        raise TargetError(f"simulator 'emulation' emulates Loihi's fixed point only; {fix} for floating point")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        fix = spell("pass e.g. timeout=600", "set the target option timeout, e.g. timeout: 600")
        raise InvalidArgumentError(f"timeout={timeout!r} for the Lava target is not a number of seconds above 0; {fix}")
    if type(weight_bits) is not int or not 2 <= weight_bits <= WEIGHT_BITS:
        fix = spell("pass e.g. weight_bits=4", "set the target option weight_bits, e.g. weight_bits: 4")
        raise InvalidArgumentError(f"weight_bits={weight_bits!r} for the Lava target is not a whole number of bits "
                                   f"from 2 to {WEIGHT_BITS}; {fix}")
    if weight_bits != WEIGHT_BITS and precision != "fixed":
        fix = spell("pass precision='fixed'", "set precision: fixed")
        raise InvalidArgumentError(f"weight_bits={weight_bits} limits Loihi's fixed-point weights, and floating "
                                   f"point has none; {fix}")


def _write_netx(plan, path: Path, overwrite: bool) -> dict:
    """Writes netx's file at ``path``; returns :func:`write_netx`'s description of it."""
    if path.exists() and not overwrite:
        fix = spell("pass overwrite=True", "set the target option overwrite: true")
        raise OutputExistsError(f"{path} exists; {fix} to replace it")
    with atomic_path(path) as partial:
        return write_netx(plan, partial)


def _runner(flat: nir.NIRGraph, plan, simulate):
    """``simulate(plan, arrays, steps, progress)`` -> population -> ``[steps, B, n]`` spikes on Lava's timeline."""
    input_names = [n for n, node in flat.nodes.items() if isinstance(node, nir.Input)]

    def run(inputs, record: bool, progress: bool = False):
        if len(inputs) != len(input_names):
            raise TargetError(f"the graph has inputs {input_names}; got {len(inputs)} input tensor(s)")
        arrays = {name: np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
                  for name, x in zip(input_names, inputs)}
        for name, x in arrays.items():
            if not np.all((x == 0) | (x == 1)):
                raise TargetError(f"input '{name}' holds values other than 0 and 1; Lava's Dense takes spikes")
        steps = next(iter(arrays.values())).shape[0]
        layers = {}
        for name, value in simulate(plan, arrays, steps, progress).items():
            shape = np.shape(flat.nodes[name].v_threshold)
            layers[name] = torch.as_tensor(value[:steps]).to(torch.float32).reshape(steps, value.shape[1], *shape)
        outputs = tuple(layers[neuron] for neuron in plan.outputs.values())
        return (outputs[0] if len(outputs) == 1 else outputs), layers

    return run


def _lava_simulation(precision: str, timeout: float):
    def simulate(plan, arrays: dict, steps: int, progress: bool) -> dict:
        with tempfile.TemporaryDirectory(prefix="nirdeploy-lava-") as folder, progress_bar(
                label=f"Lava ({'fixed' if precision == 'fixed' else 'floating'} point)", enabled=progress, total=next(iter(arrays.values())).shape[1],
                unit="sample") as bar:
            folder = Path(folder)
            plan.save(folder)
            np.savez(folder / "inputs.npz", **arrays)
            request = {"precision": precision, "steps": steps + plan.depth}
            (folder / "request.json").write_text(json.dumps(request))
            run_worker(folder, timeout, on_progress=lambda done, total: bar.update(done - bar.n))
            bar.update(bar.total - bar.n)
            return dict(np.load(folder / "spikes.npz"))

    return simulate


def _emulation(plan):
    emulator = Emulator(plan)

    def simulate(plan, arrays: dict, steps: int, progress: bool) -> dict:  # no bar: it takes milliseconds
        return emulator.run(arrays)

    return simulate
