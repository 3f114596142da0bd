"""Graph passes: small functions on ``nir.NIRGraph`` used before a graph is simulated or checked."""

from typing import Optional

import nir

from .errors import UnsupportedNodeError
from .semantics import STATEFUL_TYPES, WEIGHT_TYPES


def node_fields(node: nir.NIRNode) -> dict:
    """A node's parameters: its fields without the derived types and the metadata."""
    return {k: v for k, v in vars(node).items() if k not in ("input_type", "output_type", "metadata")}


def _endpoint(name: str, sub: nir.NIRGraph, kind: type, prefix: str, source: str) -> str:
    """The inner Input/Output node that an outer edge end ``prefix`` or ``prefix.x`` denotes."""
    candidates = [n for n, node in sub.nodes.items() if isinstance(node, kind)]
    inner = name[len(prefix) + 1 :] if name != prefix else None
    if inner is None and len(candidates) == 1:
        return candidates[0]
    if inner in candidates:
        return inner
    raise UnsupportedNodeError(
        f"{source}: edge end '{name}' does not name one {kind.__name__} node of subgraph '{prefix}' (it has "
        f"{candidates}); name the subgraph's {kind.__name__} node as '{prefix}.NAME'"
    )


def flatten_subgraphs(graph: nir.NIRGraph, source: str = "the NIR graph") -> nir.NIRGraph:
    """Inline nested NIRGraph nodes, naming their nodes ``outer.inner``.

    An edge into a subgraph goes to the successors of its Input node; an edge out
    of it comes from the predecessors of its Output node. Subgraphs are inlined
    innermost first, without recursion, so that any nesting depth is handled.
    """
    order, stack = [], [graph]
    while stack:  # every graph before the subgraphs it holds
        current = stack.pop()
        order.append(current)
        stack += [node for node in current.nodes.values() if isinstance(node, nir.NIRGraph)]
    flat = {}
    for current in reversed(order):  # every subgraph inlined before the graph that holds it
        flat[id(current)] = _inline(current, flat, source)
    return flat[id(graph)]


def _inline(graph: nir.NIRGraph, flat: dict, source: str) -> nir.NIRGraph:
    """``graph`` with each subgraph node replaced by the nodes of its flattened form ``flat[id(subgraph)]``.
    A node named like an inlined one ('a.b' beside a subgraph 'a') is refused: the names would clash, and
    edge ends 'a.b' would be ambiguous."""
    subgraphs = [name for name, node in graph.nodes.items() if isinstance(node, nir.NIRGraph)]
    if not subgraphs:
        return graph
    nodes, inner_edges, entries, exits = {}, [], {}, {}
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            clash = next((sub for sub in subgraphs if name.startswith(f"{sub}.")), None)
            if clash is not None:
                raise UnsupportedNodeError(
                    f"{source}: node '{name}' ({type(node).__name__}) is named like a node of subgraph '{clash}', "
                    f"whose nodes are inlined as '{clash}.NAME'; rename node '{name}' (e.g. without the dot)")
            nodes[name] = node
            continue
        sub = flat[id(node)]
        io = {n for n, inner in sub.nodes.items() if isinstance(inner, (nir.Input, nir.Output))}
        nodes.update({f"{name}.{n}": inner for n, inner in sub.nodes.items() if n not in io})
        for pre, post in sub.edges:
            if pre in io and post in io:
                raise UnsupportedNodeError(f"{source}: subgraph '{name}' connects its input '{pre}' straight to its "
                                           f"output '{post}'; remove the subgraph or put a node between them")
            if pre not in io and post not in io:
                inner_edges.append((f"{name}.{pre}", f"{name}.{post}"))
        entries[name] = lambda end, sub=sub, name=name: [
            f"{name}.{post}" for pre, post in sub.edges if pre == _endpoint(end, sub, nir.Input, name, source)
        ]
        exits[name] = lambda end, sub=sub, name=name: [
            f"{name}.{pre}" for pre, post in sub.edges if post == _endpoint(end, sub, nir.Output, name, source)
        ]

    def owner(end: str, table: dict):
        return next((name for name in table if end == name or end.startswith(name + ".")), None)

    edges = list(inner_edges)
    for pre, post in graph.edges:
        sources = exits[owner(pre, exits)](pre) if owner(pre, exits) else [pre]
        targets = entries[owner(post, entries)](post) if owner(post, entries) else [post]
        edges += [(s, t) for s in sources for t in targets]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False)


_END = object()


def _first_cycle(names, edges: list, starts: list):
    """A cycle as its list of nodes, found depth-first from ``starts`` then every node, in order; or None.
    Iterative (a chain of any length), with the current path indexed for constant-time membership."""
    successors = {name: [] for name in names}
    for pre, post in edges:
        successors[pre].append(post)
    done = set()
    for start in starts + list(names):
        if start in done:
            continue
        path, position, pending = [start], {start: 0}, [iter(successors[start])]
        while pending:
            post = next(pending[-1], _END)
            if post is _END:
                name = path.pop()
                del position[name]
                done.add(name)
                pending.pop()
            elif post in position:
                return path[position[post]:]
            elif post not in done:
                position[post] = len(path)
                path.append(post)
                pending.append(iter(successors[post]))
    return None


def recurrent_edges(graph: nir.NIRGraph, source: str = "the NIR graph") -> list:
    """The edges that carry last step's value, one per cycle: the edge leaving the
    cycle's last neuron (or Delay), so that a recurrent connection carries last
    step's spikes, as in every torch executor. A cycle with no stateful node (an
    algebraic loop) is an error naming its nodes.
    """
    edges, delayed = list(graph.edges), []
    starts = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    while (cycle := _first_cycle(graph.nodes, edges, starts)) is not None:
        stateful = [i for i, name in enumerate(cycle) if isinstance(graph.nodes[name], STATEFUL_TYPES)]
        if not stateful:
            raise UnsupportedNodeError(
                f"the cycle {' -> '.join(cycle + cycle[:1])} has no neuron or delay in it: an algebraic "
                f"loop with no defined value, in {source}. Add a Delay or a neuron to the loop."
            )
        last = stateful[-1]
        edge = (cycle[last], cycle[(last + 1) % len(cycle)])
        edges.remove(edge)
        delayed.append(edge)
    return delayed


def synaptic_hops(graph: nir.NIRGraph, recurrent: Optional[list] = None) -> dict:
    """node -> the most weight layers (Affine, Linear, Conv) on a feed-forward path from an input to it;
    ``recurrent``: the graph's recurrent edges, where they are known already."""
    recurrent = recurrent_edges(graph) if recurrent is None else recurrent
    forward = [edge for edge in graph.edges if edge not in recurrent]
    hops = {name: 0 for name, node in graph.nodes.items() if isinstance(node, nir.Input)}
    changed = True
    while changed:
        changed = False
        for pre, post in forward:
            if pre in hops:
                value = hops[pre] + isinstance(graph.nodes[post], WEIGHT_TYPES)
                if value > hops.get(post, -1):
                    hops[post], changed = value, True
    return hops
