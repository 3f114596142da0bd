"""nirdeploy: take spiking neural networks to neuromorphic hardware through NIR."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    DtMismatchError,
    ExampleInputError,
    GraphFileError,
    InvalidArgumentError,
    NirdeployError,
    OutputExistsError,
    UnsupportedModuleError,
    UnsupportedNodeError,
)
from .from_nir import import_from_nir  # noqa: E402
from .to_nir import export_to_nir  # noqa: E402

__all__ = [
    "export_to_nir",
    "import_from_nir",
    "NirdeployError",
    "UnsupportedModuleError",
    "ExampleInputError",
    "UnsupportedNodeError",
    "DtMismatchError",
    "GraphFileError",
    "InvalidArgumentError",
    "OutputExistsError",
]
