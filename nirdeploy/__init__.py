"""nirdeploy: take spiking neural networks to neuromorphic hardware through NIR."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    DtMismatchError,
    ExampleInputError,
    GraphFileError,
    InvalidArgumentError,
    NirdeployError,
    OutputExistsError,
    ProfileError,
    TargetError,
    UnsupportedModuleError,
    UnsupportedNodeError,
)
from .from_nir import import_from_nir  # noqa: E402
from .to_nir import export_to_nir  # noqa: E402
from .check import CheckReport, check  # noqa: E402
from .compare import CompareReport, compare  # noqa: E402
from .deploy import deploy  # noqa: E402

__all__ = [
    "export_to_nir",
    "import_from_nir",
    "check",
    "deploy",
    "compare",
    "CheckReport",
    "CompareReport",
    "NirdeployError",
    "UnsupportedModuleError",
    "ExampleInputError",
    "UnsupportedNodeError",
    "DtMismatchError",
    "GraphFileError",
    "InvalidArgumentError",
    "OutputExistsError",
    "ProfileError",
    "TargetError",
]
