"""The Lava target: Intel Loihi 2's CUBA LIF and Dense processes (lava-nc 0.10.0) in Lava's CPU simulator.

This package is the Lava backend: this adapter, the runtime (:mod:`.runtime`),
the mapping and the worker (:mod:`.lava_worker`, numpy and nir only, run inside
Lava's runtime) and the fixed-point emulation (:mod:`.emulation`).

Lava runs in its own Python 3.10 runtime. Each run hands the worker a temporary folder holding the
plan built here from the resolved dynamics (``Plan.save``), the input spikes as
.npz and a small JSON request; the worker runs in a subprocess with a timeout (its whole process
group is killed when it hangs) and writes the spikes back, or its error and
traceback, which come back as a :class:`TargetError`. With ``simulator='emulation'``
a fixed-point run is :mod:`.emulation` instead, in this process, without Lava.
Mapping and equations: ``lava_worker/mapping.py`` here and docs/semantics.md ("Lava").
"""

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import nir
import numpy as np
import torch

from ...errors import OutputExistsError, TargetError
from ...passes import synaptic_hops
from ...semantics import Semantics
from .. import Deployment, Problem, Target
from . import lava_worker, runtime
from .emulation import emulate
from .lava_worker.mapping import MappingError, make_plan, population
from .lava_worker.netx import write_netx

PRECISIONS = {"float": "floating_pt", "fixed": "fixed_pt"}
SIMULATORS = ("lava", "emulation")


def run_worker(folder: Path, timeout: float, python: Optional[Path] = None) -> None:
    """Run the worker on ``folder``; its failure or a hang (killed after ``timeout`` s) is a TargetError."""
    python = python or runtime.runtime_python()
    with tempfile.TemporaryDirectory(prefix="nirdeploy-lava-path-") as path_dir:
        # PYTHONPATH exposes only the worker package, so nothing that imports torch can be reached.
        os.symlink(Path(lava_worker.__file__).parent, Path(path_dir) / "lava_worker")
        env = {**os.environ, "PYTHONPATH": path_dir}
        process = subprocess.Popen([str(python), "-m", "lava_worker", str(folder)], cwd=folder, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # Lava forks one process per process model
            process.communicate()
            raise TargetError(f"the Lava worker did not finish within {timeout:g} s and was killed; "
                              "pass a larger timeout=... to deploy, or run fewer steps") from None
    error_file = Path(folder) / "error.json"
    if error_file.exists():
        error = json.loads(error_file.read_text())
        raise TargetError(f"the Lava worker failed: {error['type']}: {error['message']}\n"
                          f"worker traceback:\n{error['traceback']}")
    if process.returncode != 0:
        raise TargetError(f"the Lava worker exited with status {process.returncode}:\n{output[-3000:]}")


def _timing_problems(semantics: Semantics, plan, depths: dict) -> list:
    """Projections whose Lava delay (one step per Dense, on Lava's per-depth timeline) is not the reference's."""
    recurrent = set(semantics.recurrent_edges)
    problems = []
    for p in plan.projections:
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


class LavaTarget(Target):
    def runtime_status(self) -> tuple:
        ready, detail = runtime.status()
        return ready, detail if ready else f"{detail} (without it, precision='fixed', simulator='emulation' runs)"

    def plan(self, semantics: Semantics):
        return make_plan(semantics.graph, semantics.dynamics, hops(semantics))

    def check_graph(self, semantics: Semantics) -> list:
        if any(type(node).__name__ not in self.profile.nodes for node in semantics.graph.nodes.values()):
            return []  # the generic node-type rule reports them
        # Each layer's parameters first, so that every such problem is listed; the graph's structure after.
        problems = [_mapping_problem(error) for error in _population_errors(semantics)]
        if problems:
            return problems
        try:
            plan = self.plan(semantics)
        except MappingError as error:
            return [_mapping_problem(error)]
        return _timing_problems(semantics, plan, hops(semantics)) + _fixed_point_problems(plan)

    def deploy(self, semantics: Semantics, precision: str = "float", timeout: float = 300,
               netx_path=None, overwrite: bool = False, simulator: str = "lava") -> Deployment:
        """``precision`` 'float' (Lava's floating_pt models) or 'fixed' (fixed_pt, bit-accurate to Loihi 2);
        ``simulator`` 'lava' (Lava's own simulator, in its runtime) or, for fixed point, 'emulation' (the
        same integer arithmetic in torch, :mod:`.emulation`; needs no Lava runtime);
        ``netx_path`` writes the network as lava-dl netx's .net file (never over an existing file unless
        ``overwrite``). ``run`` returns spikes on Lava's timeline: a layer ``h`` Dense hops from the input
        fires ``h`` steps after the reference (compare shifts it back)."""
        if precision not in PRECISIONS:
            raise TargetError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)} for the Lava target")
        if simulator not in SIMULATORS:
            raise TargetError(f"simulator={simulator!r} is not one of {', '.join(SIMULATORS)} for the Lava target")
        if simulator == "emulation" and precision != "fixed":
            raise TargetError("simulator='emulation' emulates Loihi's fixed point only; pass precision='fixed', "
                              "or simulator='lava' for floating point")
        if simulator == "lava":
            ready, detail = self.runtime_status()
            if not ready:
                raise TargetError(detail)
        plan = self.plan(semantics)
        artifacts = {}
        try:
            if precision == "fixed" or netx_path is not None:
                for name in plan.populations:
                    plan.fixed_population(name)
            if netx_path is not None:
                netx_path = Path(netx_path)
                if netx_path.exists() and not overwrite:
                    raise OutputExistsError(f"{netx_path} exists; pass overwrite=True to replace it")
                write_netx(plan, netx_path)
                artifacts["netx"] = netx_path
        except MappingError as error:
            raise TargetError(f"Loihi's fixed point or netx's file cannot hold this graph: {error}") from None
        simulate = _emulation if simulator == "emulation" else _lava_simulation(precision, timeout)
        return Deployment(self.name, None, _runner(semantics.graph, plan, simulate), artifacts)


def _runner(flat: nir.NIRGraph, plan, simulate):
    """``simulate(plan, arrays, steps)`` -> population -> ``[steps, B, n]`` spikes on Lava's timeline."""
    input_names = [n for n, node in flat.nodes.items() if isinstance(node, nir.Input)]

    def run(inputs, record: bool, progress: bool = False):
        if len(inputs) != len(input_names):
            raise TargetError(f"the graph has inputs {input_names}; got {len(inputs)} input tensor(s)")
        arrays = {name: np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
                  for name, x in zip(input_names, inputs)}
        for name, x in arrays.items():
            if not np.all((x == 0) | (x == 1)):
                raise TargetError(f"input '{name}' holds values other than 0 and 1; Lava's Dense takes spikes")
        steps = next(iter(arrays.values())).shape[0]
        layers = {}
        for name, value in simulate(plan, arrays, steps).items():
            shape = np.shape(flat.nodes[name].v_threshold)
            layers[name] = torch.as_tensor(value[:steps]).to(torch.float32).reshape(steps, value.shape[1], *shape)
        outputs = tuple(layers[neuron] for neuron in plan.outputs.values())
        return (outputs[0] if len(outputs) == 1 else outputs), layers

    return run


def _lava_simulation(precision: str, timeout: float):
    def simulate(plan, arrays: dict, steps: int) -> dict:
        with tempfile.TemporaryDirectory(prefix="nirdeploy-lava-") as folder:
            folder = Path(folder)
            plan.save(folder)
            np.savez(folder / "inputs.npz", **arrays)
            request = {"precision": precision, "steps": steps + plan.depth}
            (folder / "request.json").write_text(json.dumps(request))
            run_worker(folder, timeout)
            return dict(np.load(folder / "spikes.npz"))

    return simulate


def _emulation(plan, arrays: dict, steps: int) -> dict:
    return emulate(plan, {name: torch.from_numpy(x).reshape(steps, x.shape[1], -1) for name, x in arrays.items()})
