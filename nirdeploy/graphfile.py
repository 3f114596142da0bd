"""Reading a .nir file: the layout checked first (:func:`nirdeploy.validate.check_file`), then nir.read with the
leniency real exporters need, and errors that name the file and the node."""

from pathlib import Path
from typing import Union

import h5py
import nir

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
