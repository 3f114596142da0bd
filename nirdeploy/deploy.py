"""``deploy``: hand a graph to a target, after the same dt resolution ``check`` uses."""

import inspect
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
    return deploy_on(target, graph, dt, options)


def deploy_on(target: Target, graph: nir.NIRGraph, dt: float, options: dict) -> Deployment:
    """``target.deploy`` with ``options``, refusing an option the adapter does not take, by name."""
    parameters = inspect.signature(target.deploy).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):  # the base class takes any, and refuses
        accepted = [name for name in parameters if name not in ("graph", "dt")]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise InvalidArgumentError(f"target '{target.name}' takes no deploy option(s) {', '.join(unknown)}; "
                                       f"its options: {', '.join(accepted) or 'none'}")
    return target.deploy(graph, dt, **options)
