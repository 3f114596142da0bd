"""``deploy``: hand a graph to a target, after the same dt resolution ``check`` uses."""

from typing import Optional, Union

import nir

from .conventions import check_dt, recorded_dt
from .errors import InvalidArgumentError
from .from_nir import read_graph
from .targets import Deployment, Target, get_target


def resolve_graph_and_dt(graph: Union[nir.NIRGraph, str], dt: Optional[float]) -> tuple:
    """The graph (read from a path if need be) and the dt to run it at (default: its recorded dt)."""
    graph = graph if isinstance(graph, nir.NIRGraph) else read_graph(graph)
    dt = dt if dt is not None else recorded_dt(graph)
    if dt is None:
        raise InvalidArgumentError("the graph records no dt (graph.metadata['dt']); pass dt=... in seconds")
    return graph, check_dt(dt)


def deploy(graph: Union[nir.NIRGraph, str], target: Union[str, Target], dt: Optional[float] = None, **options) -> Deployment:
    """Convert ``graph`` for ``target``; ``deployment.run(spikes)`` runs it on ``[T, B, ...]`` spikes."""
    graph, dt = resolve_graph_and_dt(graph, dt)
    target = get_target(target) if isinstance(target, str) else target
    return target.deploy(graph, dt, **options)
