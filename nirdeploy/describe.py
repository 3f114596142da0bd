"""``nirdeploy inspect``: what a NIR graph holds, as data and as a readable table."""

import nir
import numpy as np

from .check import format_table
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


def describe_graph(graph: nir.NIRGraph, prefix: str = "") -> dict:
    nodes = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes += describe_graph(node, f"{prefix}{name}.")["nodes"]
            continue
        fields = {k: _summary(v) for k, v in node_fields(node).items()}
        nodes.append({"name": prefix + name, "type": type(node).__name__, "input": _shape(node.input_type),
                      "output": _shape(node.output_type), "parameters": fields,
                      "metadata": {k: str(v) for k, v in node.metadata.items()}})
    return {"nodes": nodes, "edges": [[prefix + a, prefix + b] for a, b in graph.edges],
            "metadata": {k: str(v) for k, v in (graph.metadata or {}).items()}}


def format_description(description: dict) -> str:
    rows = [("node", "type", "input", "output", "parameters")]
    rows += [(n["name"], n["type"], n["input"], n["output"],
              ", ".join(f"{k}={v}" for k, v in n["parameters"].items())) for n in description["nodes"]]
    edges = ", ".join(f"{a} -> {b}" for a, b in description["edges"])
    metadata = [f"  {k}: {v}" for k, v in description["metadata"].items()] or ["  (none: the producer recorded no dt)"]
    return "\n".join([*format_table(rows), "", f"edges: {edges}", "", "metadata:", *metadata])
