"""``nirdeploy inspect``: what a NIR graph holds, as data and as a readable table."""

import nir
import numpy as np

from .table import format_table
from .passes import node_fields


def _summary(value) -> str:
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        return str(value)
    if array.size == 0:
        return "[]"
    if np.all(array == array.flat[0]):
        return f"{array.flat[0]:.4g}" + (f" x{array.size}" if array.size > 1 else "")
    return f"[{array.min():.4g}..{array.max():.4g}] shape {list(array.shape)}"


def _shape(types) -> str:
    value = (types or {}).get("input", (types or {}).get("output"))
    return "?" if value is None else str([int(d) for d in np.atleast_1d(value)])


def describe_graph(graph: nir.NIRGraph, semantics=None, prefix: str = "") -> dict:
    """Nodes, edges and metadata; with a resolved graph (nirdeploy.semantics.Semantics), also each
    neuron's per-step dynamics under the producer's conventions."""
    nodes = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes += describe_graph(node, prefix=f"{prefix}{name}.")["nodes"]
            continue
        fields = {k: _summary(v) for k, v in node_fields(node).items()}
        nodes.append({"name": prefix + name, "type": type(node).__name__, "input": _shape(node.input_type),
                      "output": _shape(node.output_type), "parameters": fields,
                      "metadata": {k: str(v) for k, v in node.metadata.items()}})
    description = {"nodes": nodes, "edges": [[prefix + a, prefix + b] for a, b in graph.edges],
                   "metadata": {k: str(v) for k, v in (graph.metadata or {}).items()}}
    description["dynamics"] = None if semantics is None else {
        "producer": semantics.producer,
        "dt": semantics.dt,
        "assumption": semantics.assumption(),
        "neurons": {name: _dynamics(d) for name, d in semantics.dynamics.items()},
    }
    return description


def _dynamics(d) -> dict:
    fields = {"rule": d.rule, "v_decay": _summary(d.v_decay), "v_gain": _summary(d.v_gain), "drive": _summary(d.drive)}
    if d.has_current:
        fields.update(i_decay=_summary(d.i_decay), i_gain=_summary(d.i_gain))
    if d.spiking:
        fields.update(threshold=f"v {d.threshold_test} {_summary(d.v_threshold)}", reset=d.reset,
                      spikes_per_step=d.spikes_per_step)
    fields["v_initial"] = _summary(d.v_initial)
    if d.v_min is not None:
        fields["v_min"] = _summary(d.v_min)
    return fields


def format_description(description: dict) -> str:
    rows = [("node", "type", "input", "output", "parameters")]
    rows += [(n["name"], n["type"], n["input"], n["output"],
              ", ".join(f"{k}={v}" for k, v in n["parameters"].items())) for n in description["nodes"]]
    edges = ", ".join(f"{a} -> {b}" for a, b in description["edges"])
    metadata = [f"  {k}: {v}" for k, v in description["metadata"].items()] or ["  (none: the producer recorded no dt)"]
    lines = [*format_table(rows), "", f"edges: {edges}", "", "metadata:", *metadata]
    dynamics = description["dynamics"]
    if dynamics is None:
        lines += ["", "dynamics per step: the graph records no dt; give --dt (and --producer) to see them"]
    else:
        lines += ["", f"dynamics per step ({dynamics['producer']}'s conventions, dt={dynamics['dt']:g} s):"]
        rows = [("node", "rule", "per step")]
        rows += [(name, d["rule"], ", ".join(f"{k}={v}" for k, v in d.items() if k != "rule"))
                 for name, d in dynamics["neurons"].items()]
        lines += format_table(rows)
        if dynamics["assumption"]:
            lines += ["", f"warning: {dynamics['assumption']}"]
    return "\n".join(lines)
