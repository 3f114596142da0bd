"""``compare``: run the reference and each target on the same spikes and measure agreement."""

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import nir
import numpy as np
import torch

from .deploy import deploy_on
from .passes import synaptic_hops
from .semantics import Semantics, load
from .targets.base import graph_inputs, spike_inputs
from .table import format_table
from .targets import get_target


def agreement(reference: torch.Tensor, target: torch.Tensor, delay: int = 0, classifier: bool = False) -> dict:
    """Agreement of two spike tensors ``[T, B, ...]``, the target's shifted ``delay`` steps earlier.

    The target may have run longer than the reference (see :func:`run_targets`); the steps both
    cover are compared. With ``classifier`` (one vector per sample), spiking outputs also get the
    agreement of the most active class.
    """
    steps = min(reference.shape[0], target.shape[0] - delay)
    # [T, B, features]: targets may drop the unit dims an exporter left in a shape (Rockpool's [1, n])
    ref = reference[:steps].double().cpu().flatten(2)
    tgt = target[delay : delay + steps].double().cpu().flatten(2)
    differs = (ref != tgt).flatten(1).any(dim=1)
    ref_counts, tgt_counts = ref.sum(0).flatten(1), tgt.sum(0).flatten(1)
    result = {
        "steps_compared": steps,
        "delay_compensated": delay,
        "spike_train_match": float((ref == tgt).double().mean()),
        "spike_count_match": float((ref_counts == tgt_counts).double().mean()),
        "spikes_reference": float(ref_counts.sum()),
        "spikes_target": float(tgt_counts.sum()),
        "first_divergence": int(torch.nonzero(differs)[0]) if differs.any() else None,
        "count_correlation": count_correlation(ref_counts, tgt_counts),
        # Potentials (LI, I outputs) agree only to rounding; this says by how much.
        "max_abs_difference": float((ref - tgt).abs().max()) if ref.numel() else 0.0,
        "spikes": bool(torch.all((ref == 0) | (ref == 1))),
    }
    if classifier and result["spikes"]:
        result["class_agreement"] = float((ref_counts.argmax(1) == tgt_counts.argmax(1)).double().mean())
    return result


def count_correlation(reference: torch.Tensor, target: torch.Tensor) -> Optional[float]:
    """Pearson's r of the per-(sample, neuron) spike counts; 1 where they are equal, None where either is
    constant (r is undefined there)."""
    a, b = reference.flatten().numpy(), target.flatten().numpy()
    if np.array_equal(a, b):
        return 1.0
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


@dataclass
class CompareReport:
    dt: float
    steps: int
    producer: str = "spikingjelly"  # whose conventions the reference followed
    assumption: Optional[str] = None  # set where they were assumed, not named or recorded
    rows: list = field(default_factory=list)  # dicts: target, kind ("output"/"layer"), name, metrics...

    def for_target(self, target: str) -> list:
        return [row for row in self.rows if row["target"] == target]

    def to_dict(self) -> dict:
        return {"dt": self.dt, "steps": self.steps, "producer": self.producer, "assumption": self.assumption,
                "rows": self.rows}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        header = ("target", "kind", "name", "train match", "count match", "first diverge", "delay", "class agr.", "max |diff|")
        rows = [header] + [
            (
                r["target"], r["kind"], r["name"], f"{r['spike_train_match']:.4f}", f"{r['spike_count_match']:.4f}",
                "-" if r["first_divergence"] is None else str(r["first_divergence"]), str(r["delay_compensated"]),
                f"{r['class_agreement']:.4f}" if "class_agreement" in r else "-",
                f"{r['max_abs_difference']:.3g}",
            )
            for r in self.rows
        ]
        title = (f"agreement with the reference ({self.producer}'s conventions) over {self.steps} steps "
                 f"at dt={self.dt:g} s")
        notes = ["", f"warning: {self.assumption}"] if self.assumption else []
        return "\n".join([title, *notes, "", *format_table(rows)])


def as_tuple(outputs) -> tuple:
    return outputs if isinstance(outputs, tuple) else (outputs,)


def run_name(name: str) -> str:
    """The name a run of ``name`` ('xylo', 'xylo/float', ...) gets: the target's full name (with its
    chip variant) and the label."""
    base, slash, label = name.partition("/")
    return get_target(base).name + slash + label


def run_targets(semantics: Semantics, inputs: tuple, targets: dict, progress: bool = False,
                deployed: Optional[Callable] = None, cluster=None) -> dict:
    """run name -> (outputs tuple, layers dict, seconds), each of ``targets`` (name -> deploy
    options) run on the same inputs. A name ``target/label`` runs ``target`` again under its own
    name, so that one target can run with several options (``xylo`` and ``xylo/float``).

    A target whose layers lag the reference (``Profile.delay``) gets as many extra steps of zero
    input as its deepest layer lags, so that its outputs cover every step of the reference's.
    ``deployed(run name, target, deployment)``, where given, sees each deployment after its (timed) run.
    With a :class:`nirdeploy.scaleout.Cluster`, each target's samples run sharded over its Ray workers
    (the deployment made here is the one ``deployed`` sees, and the one that writes files).
    """
    inputs = spike_inputs(inputs if isinstance(inputs, (tuple, list)) else (inputs,), graph_inputs(semantics.graph),
                          "the graph")
    deepest = max(synaptic_hops(semantics.graph, semantics.recurrent_edges).values(), default=0)
    runs = {}
    for name, options in targets.items():
        target = get_target(name.partition("/")[0])
        extra = target.profile.delay(deepest)
        padded = tuple(torch.cat([x, x.new_zeros(extra, *x.shape[1:])]) for x in inputs) if extra else inputs
        start = time.perf_counter()
        deployment = deploy_on(target, semantics, options)
        if cluster is None:
            outputs, layers = deployment.run(*padded, record=True, progress=progress)
        else:
            outputs, layers = cluster.run(semantics, name, options, padded, progress)
        runs[run_name(name)] = (as_tuple(outputs), layers, time.perf_counter() - start)
        if deployed is not None:
            deployed(run_name(name), target, deployment)
    return runs


def agreement_report(semantics: Semantics, runs: dict, reference: str = "reference") -> CompareReport:
    """Compare every run in ``runs`` with the ``reference`` run, shifting out each target's hop delay."""
    graph = semantics.graph
    hops = synaptic_hops(graph, semantics.recurrent_edges)
    output_names = [name for name, node in graph.nodes.items() if isinstance(node, nir.Output)]
    ref_out, ref_layers, _ = runs[reference]
    report = CompareReport(semantics.dt, ref_out[0].shape[0], semantics.producer, semantics.assumption())
    for name, (out, layers, _) in runs.items():
        if name == reference:
            continue
        profile = get_target(name.partition("/")[0]).profile
        for output_name, ref, got in zip(output_names, ref_out, out, strict=True):
            classifier = sum(size > 1 for size in ref.shape[2:]) == 1  # one vector per sample
            metrics = agreement(ref, got, profile.delay(hops.get(output_name, 0)), classifier)
            report.rows.append({"target": name, "kind": "output", "name": output_name, **metrics})
        for layer, got in layers.items():
            if layer in ref_layers:
                metrics = agreement(ref_layers[layer], got, profile.delay(hops.get(layer, 0)))
                report.rows.append({"target": name, "kind": "layer", "name": layer, **metrics})
    return report


def compare(
    graph: Union[nir.NIRGraph, str],
    inputs,
    targets: Union[Sequence[str], dict] = ("snntorch",),
    dt: Optional[float] = None,
    reference: str = "reference",
    producer: Optional[str] = None,
    dt_override: bool = False,
    **options,
) -> CompareReport:
    """Run ``reference`` and each of ``targets`` on ``inputs`` (``[T, B, ...]``, one per graph input).

    Reports, per output and per neuron layer the target exposes: exact spike-train
    match rate, spike-count match, first divergence step and, for a classifier
    output (one vector per sample), the agreement of the most active class. A
    target's known per-hop delay is shifted out before comparing. ``targets`` may
    be a mapping of run names to deploy options (laid over ``options``), where
    ``target/label`` names a second run of a target, e.g.
    ``{"xylo": {}, "xylo/float": {"simulator": "float"}}``. ``dt``, ``producer`` and
    ``dt_override`` resolve the graph as in :func:`nirdeploy.deploy`, once for every target.
    """
    semantics = load(graph, dt, producer, dt_override)
    targets = targets if isinstance(targets, dict) else {name: {} for name in targets}
    runs = {name: {**options, **own} for name, own in {reference: {}, **targets}.items()}
    runs = run_targets(semantics, inputs, runs)
    return agreement_report(semantics, runs, reference)
