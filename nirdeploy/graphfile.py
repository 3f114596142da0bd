"""Reading a .nir file: nir.read with the leniency real exporters need, and errors that name the node."""

from pathlib import Path
from typing import Optional, Union

import h5py
import nir
import numpy as np

from .errors import GraphFileError


def read_graph(path: Union[str, Path]) -> nir.NIRGraph:
    path = Path(path)
    if not path.is_file():
        raise GraphFileError(f"NIR file {path} does not exist (or is not a file)")
    try:
        try:
            return nir.read(path)
        except ValueError:
            # nir 1.0.8's type check ignores Conv groups, and several exporters leave batch
            # dims in Input/Output types: such files load unchecked, then pass our own check.
            graph = nir.read(path, type_check=False)
            mismatches = type_mismatches(graph)
            if mismatches:
                raise ValueError("shapes of connected nodes disagree: " + "; ".join(mismatches)) from None
            return graph
    except Exception as error:
        raise GraphFileError(
            f"{path} could not be read as a NIR graph: {_diagnose(path, error)}. "
            "NIR files are HDF5 files written by nir.write; check that the file is complete."
        ) from error


def _diagnose(path: Path, error: Exception) -> str:
    """Name the node that nir.read tripped over, where the file gets that far."""
    try:
        with h5py.File(path, "r") as file:
            nodes = nir.serialization.hdf2dict(file["node"]).get("nodes", {})
    except Exception:
        return f"{type(error).__name__}: {error}"
    for name, fields in nodes.items():
        try:
            nir.dict2NIRNode({**fields, "type_check": False} if fields.get("type") == "NIRGraph" else fields)
        except Exception as node_error:
            kind = fields.get("type", "<no type>")
            return f"node '{name}' ({kind}) is malformed: {type(node_error).__name__}: {node_error}"
    return f"{type(error).__name__}: {error}"


def _input_shape(node) -> Optional[np.ndarray]:
    if isinstance(node, (nir.Conv1d, nir.Conv2d)) and node.input_shape is not None:
        return np.array([node.weight.shape[1] * int(np.asarray(node.groups)), *np.atleast_1d(node.input_shape)])
    return (node.input_type or {}).get("input")


def type_mismatches(graph: nir.NIRGraph) -> list:
    """Edges whose ends declare different shapes, ignoring Input/Output nodes (whose
    declared shapes often keep an exporter's batch or time dims)."""
    mismatches = []
    for pre, post in graph.edges:
        a, b = graph.nodes.get(pre), graph.nodes.get(post)
        if a is None or b is None or isinstance(a, (nir.Input, nir.NIRGraph)) or isinstance(b, (nir.Output, nir.NIRGraph)):
            continue
        out, inp = (a.output_type or {}).get("output"), _input_shape(b)
        if out is not None and inp is not None and not np.array_equal(out, inp):
            mismatches.append(f"'{pre}' gives {[int(d) for d in out]} but '{post}' takes {[int(d) for d in inp]}")
    return mismatches
