"""Fold a chain of linear layers into one Affine, for targets whose synapses take spikes only.

On Loihi 2 a Dense or Conv process receives spikes and feeds a neuron, so a
pooling layer followed by a Linear layer (``pool -> flatten -> fc``, as most
conv nets end) has no direct mapping. The chain is a linear map ``y = A x + b``
of the spikes that enter it, so it can be replaced by one ``Flatten -> Affine``
that computes the same values (exactly in real arithmetic; the product is formed
in float64 and rounded once to float32 weights).
"""

import nir
import numpy as np
import torch

from .errors import UnsupportedNodeError
from .from_nir import node_to_module
from .producers import PRODUCERS

LINEAR_NODES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, nir.Flatten, nir.Scale)
CHAIN_ENDS = (nir.Affine, nir.Linear)
# A folded chain becomes a dense [outputs, inputs] matrix: refuse to build one beyond this.
MAX_FOLDED_WEIGHTS = 50_000_000


def linear_chains(graph: nir.NIRGraph) -> list:
    """Chains (lists of node names, first to last) of two or more weighted linear nodes in a row
    that end in an Affine or Linear node and have no branch inside."""
    predecessors = {name: [] for name in graph.nodes}
    successors = {name: [] for name in graph.nodes}
    for pre, post in graph.edges:
        predecessors[post].append(pre)
        successors[pre].append(post)
    chains = []
    for name, node in graph.nodes.items():
        if not isinstance(node, CHAIN_ENDS):
            continue
        chain = [name]
        while len(predecessors[chain[0]]) == 1:
            pre = predecessors[chain[0]][0]
            if not isinstance(graph.nodes[pre], LINEAR_NODES) or len(successors[pre]) != 1:
                break
            chain.insert(0, pre)
        if sum(not isinstance(graph.nodes[n], nir.Flatten) for n in chain) >= 2:
            chains.append(chain)
    return chains


def folded_affine(graph: nir.NIRGraph, chain: list) -> tuple:
    """(input shape, weight [out, in] float64, bias [out] float64) of the map the chain computes."""
    first = graph.nodes[chain[0]]
    shape = tuple(int(d) for d in first.input_type["input"])
    size = int(np.prod(shape))
    outputs = int(graph.nodes[chain[-1]].weight.shape[0])
    if size * outputs > MAX_FOLDED_WEIGHTS:
        raise UnsupportedNodeError(
            f"the layers {' -> '.join(chain)} form a linear chain that would fold into a {outputs}x{size} matrix, "
            f"more than {MAX_FOLDED_WEIGHTS} weights; put a neuron layer between them")
    modules = [node_to_module(n, graph.nodes[n], 1.0, "the NIR graph", PRODUCERS["spikingjelly"]).double()
               for n in chain]
    # Probe the chain with the zero input (the bias) and each unit input (a column of the weight).
    probes = torch.cat([torch.zeros(1, size), torch.eye(size)]).double().reshape(size + 1, *shape)
    with torch.no_grad():
        for module in modules:
            probes = module(probes)
    bias = probes[0]
    return shape, (probes[1:] - bias).T.numpy(), bias.numpy()


def fold_linear_chains(graph: nir.NIRGraph) -> nir.NIRGraph:
    """The graph with each chain of :func:`linear_chains` replaced by ``Flatten -> Affine``, named
    ``first+...+last`` (and ``....flatten``). A graph without such chains comes back as it is."""
    chains = linear_chains(graph)
    if not chains:
        return graph
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for chain in chains:
        shape, weight, bias = folded_affine(graph, chain)
        name = "+".join(chain)
        affine = nir.Affine(weight=weight.astype(np.float32), bias=bias.astype(np.float32))
        head = name
        if len(shape) > 1:
            head = f"{name}.flatten"
            nodes[head] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        for n in chain:
            del nodes[n]
        nodes[name] = affine
        inside = set(chain)
        edges = [(name if pre == chain[-1] else pre, head if post == chain[0] else post)
                 for pre, post in edges if not (pre in inside and post in inside)]
        if head != name:
            edges.append((head, name))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False)
