"""The conventions nirdeploy's reference simulator follows, as recorded in a graph.

NIR files carry no dt and no discretisation; export writes both into
``graph.metadata`` so that import (and any other reader) can tell what the
numbers mean. docs/semantics.md states the same conventions in prose.
"""

import math
from typing import Optional

import nir

from . import __version__
from .errors import DtMismatchError, InvalidArgumentError

REFERENCE_CONVENTIONS = {
    "threshold": "spike when v >= v_threshold",
    "cuba_update": "current first, the new current drives v in the same step",
    "initial_state": "v = v_reset (0 with subtractive reset), i = 0",
    "integration": "forward Euler, one step per dt",
}


def check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise InvalidArgumentError(f"dt must be a positive number of seconds, got {dt!r}")
    return float(dt)


def graph_metadata(dt: float) -> dict:
    return {
        "dt": float(dt),
        "producer": "nirdeploy",
        "producer_version": __version__,
        "conventions": "spikingjelly",
        **REFERENCE_CONVENTIONS,
    }


def recorded_dt(graph: nir.NIRGraph) -> Optional[float]:
    dt = (graph.metadata or {}).get("dt")
    return None if dt is None else float(dt)


def resolve_dt(graph: nir.NIRGraph, dt: float, dt_override: bool, source: str) -> float:
    """The dt to simulate at; a contradiction with the recorded dt is an error unless overridden."""
    recorded = recorded_dt(graph)
    if recorded is None or dt_override or math.isclose(recorded, dt, rel_tol=1e-9):
        return dt
    raise DtMismatchError(
        f"{source} was exported with dt={recorded:g} s (graph.metadata['dt']) but import was asked "
        f"for dt={dt:g} s. Pass dt={recorded:g} to reproduce the exported network, or "
        f"dt_override=True to discretise its time constants at dt={dt:g} s instead."
    )
