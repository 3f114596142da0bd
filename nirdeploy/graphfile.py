""".nir files. Reading: the layout checked first (:func:`nirdeploy.validate.check_file`), then nir.read with
the leniency real exporters need, and errors that name the file and the node. Writing: nir.write's layout,
each array stored as it is cheapest to write and read."""

import dataclasses
from pathlib import Path
from typing import Union

import h5py
import nir
import numpy as np

from .errors import GraphFileError, NirdeployError
from .validate import check_file


def read_graph(path: Union[str, Path]) -> nir.NIRGraph:
    """The graph in ``path``; its fields and edges are validated when it is resolved (nirdeploy.semantics)."""
    path, source = Path(path), f"NIR file {path}"
    try:
        exists = path.is_file()
    except OSError as error:  # e.g. a name longer than the file system allows
        raise GraphFileError(f"{source} cannot be opened: {error.strerror}") from None
    if not exists:
        raise GraphFileError(f"{source} does not exist (or is not a file)")
    try:
        with h5py.File(path, "r") as file:
            check_file(file, source)
        # nir 1.0.8's type check ignores Conv groups, and several exporters leave batch dims in
        # Input/Output types: files load unchecked, and nirdeploy's own checks judge the shapes.
        return nir.read(path, type_check=False)
    except NirdeployError:
        raise
    except Exception as error:
        raise GraphFileError(
            f"{source} could not be read as a NIR graph: {_diagnose(path, error)}. "
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


FILLED = 1024  # arrays of at least this many values, all one value, are stored as that value alone


def write_graph(path: Union[str, Path], graph: nir.NIRGraph) -> None:
    """``graph`` in nir.write's layout (the datasets and groups of ``graph.to_dict()``), which nir.read and every
    HDF5 reader read back. An array of one value repeated (a layer's per-neuron constants) is an unwritten
    chunked dataset whose HDF5 fill value is that value: no bytes to compress or store. Other arrays are
    stored uncompressed: weights do not compress, and gzip cost more time than the bytes it saved."""
    with h5py.File(path, "w") as file:
        file.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        _write_fields(file.create_group("node"), _fields(graph))


def _fields(node) -> dict:
    """``node.to_dict()``, but for a graph without NIRGraph.to_dict's deep copy of every node before it
    serialises each node again."""
    if not isinstance(node, nir.NIRGraph):
        return node.to_dict()
    fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(node) if f.name not in ("input_type",
                                                                                                  "output_type")}
    fields["nodes"] = {name: _fields(child) for name, child in node.nodes.items()}
    return {**fields, "type": type(node).__name__}


def _write_fields(group: h5py.Group, fields: dict) -> None:
    for key, value in fields.items():
        if isinstance(value, dict):
            if value or key != "metadata":  # nir.write leaves empty metadata out
                _write_fields(group.create_group(str(key)), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, np.ndarray) and value.size >= FILLED and np.all(value == value.flat[0]):
            group.create_dataset(key, shape=value.shape, dtype=value.dtype, chunks=True, fillvalue=value.flat[0])
        else:
            group.create_dataset(key, data=value)
