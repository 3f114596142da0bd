"""nirdeploy: take spiking neural networks to neuromorphic hardware through NIR."""

import importlib
import sys
import types

from .errors import (
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

__version__ = "0.1.0"

# The API that needs torch loads on first use, so that the command line's --help and --version stay fast.
_LAZY = {"import_from_nir": "from_nir", "export_to_nir": "to_nir", "check": "check", "CheckReport": "check",
         "compare": "compare", "CompareReport": "compare", "deploy": "deploy"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'nirdeploy' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


class _Package(types.ModuleType):
    """Importing the submodule ``nirdeploy.check`` binds it on the package; the name stays the function."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
