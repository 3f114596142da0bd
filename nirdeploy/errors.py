"""Every error nirdeploy raises on purpose.

Each message names what was wrong (file, node or module path, field), the
value found and what to do instead, so a user never has to read a library
traceback to learn what to fix.
"""

import contextlib


class NirdeployError(Exception):
    """Base class of all nirdeploy errors."""


class UnsupportedModuleError(NirdeployError):
    """A torch / SpikingJelly module or operation that export cannot represent in NIR."""


class ExampleInputError(NirdeployError):
    """The example input given to export does not fit the network."""


class UnsupportedNodeError(NirdeployError):
    """A NIR node, or a parameter of one, that import cannot reproduce."""


class DtMismatchError(NirdeployError):
    """The dt asked for contradicts the dt recorded in the graph."""


class GraphFileError(NirdeployError):
    """A NIR file that is missing, unreadable or not a NIR graph."""


class InvalidArgumentError(NirdeployError, ValueError):
    """An argument outside its allowed values (dt, step_mode, ...)."""


class OutputExistsError(NirdeployError, FileExistsError):
    """A file nirdeploy was asked to write exists already and overwriting was not asked for."""


class ProfileError(NirdeployError):
    """A target profile (targets/*.yaml or a plugin's) that is malformed."""


class TargetError(NirdeployError):
    """A target that is unknown, not installed, or cannot run the graph."""


class ConfigError(NirdeployError):
    """A run configuration with a missing, unknown or mistyped key."""


class MemoryBudgetError(NirdeployError, MemoryError):
    """A graph, input or run that would need more memory than the budget allows (refused before allocating)."""


# Who reads the messages: Python callers are told keywords (dt_override=True), the command line's users
# flags (--dt-override). The CLI switches this around its work, so every message is built in its words.
_audience = {"cli": False}


@contextlib.contextmanager
def cli_words():
    """Messages built inside suggest flags; a Python caller of ``cli.main`` gets keywords back afterwards."""
    before = _audience["cli"]
    _audience["cli"] = True
    try:
        yield
    finally:
        _audience["cli"] = before


def spell(python: str, cli: str) -> str:
    """A fix in the words of whoever reads it: ``python`` for the API, ``cli`` on the command line."""
    return cli if _audience["cli"] else python
