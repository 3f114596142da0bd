"""``deploy``: hand a resolved graph to a target."""

import inspect
from typing import Optional, Union

import nir

from .check import check
from .errors import InvalidArgumentError, TargetError, spell
from .semantics import Semantics, load
from .targets import Deployment, Target, get_target
from .targets.base import graph_inputs
from .validate import element_count


def deploy(graph: Union[nir.NIRGraph, str], target: Union[str, Target], dt: Optional[float] = None,
           producer: Optional[str] = None, dt_override: bool = False, **options) -> Deployment:
    """Convert ``graph`` for ``target``; ``deployment.run(spikes)`` runs it on ``[T, B, ...]`` spikes.

    ``dt`` defaults to the graph's recorded one (a contradiction raises DtMismatchError unless
    ``dt_override``); ``producer`` names the framework that wrote the graph (see nirdeploy.semantics)."""
    semantics = load(graph, dt, producer, dt_override)
    target = get_target(target) if isinstance(target, str) else target
    return deploy_on(target, semantics, options)


def check_options(target: Target, options: dict) -> None:
    """Refuse, by name, an option that ``target``'s adapter does not take, and then a value it cannot use:
    both before any export, build or run."""
    signature = inspect.signature(target.deploy)
    parameters = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):  # the base class takes any, and refuses
        return
    accepted = [name for name in parameters if name != "semantics"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        graph_words = (" (the producer and dt belong to the graph: " +
                       spell("nirdeploy.deploy(..., producer=, dt=)", "--producer / --dt, or model.producer and dt "
                             "in a config") + ")" if {"producer", "dt", "dt_override"} & set(unknown) else "")
        raise InvalidArgumentError(f"target '{target.name}' takes no deploy option(s) {', '.join(unknown)}; "
                                   f"its options: {', '.join(accepted) or 'none'}{graph_words}")
    values = signature.bind_partial(**options)
    values.apply_defaults()
    target.check_option_values(values.arguments)


def deploy_on(target: Target, semantics: Semantics, options: dict) -> Deployment:
    """``target.deploy`` with ``options``, refusing an option the adapter does not take, by name, and a
    graph that fails the target's check, listing every reason."""
    check_options(target, options)
    report = check(semantics, target)
    if not report.ok:
        reasons = "; ".join(f"node {p.node}: {p.rule} ({p.found}; {p.suggestion})" for p in report.errors)
        raise TargetError(f"target '{target.name}' cannot run this graph: {reasons}")
    deployment = target.deploy(semantics, **options)
    deployment.inputs = graph_inputs(semantics.graph)
    deployment.values_per_sample = sum(element_count((node.output_type or {}).get("output"))
                                       for node in semantics.graph.nodes.values())
    return deployment
