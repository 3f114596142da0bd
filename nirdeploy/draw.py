"""``nirdeploy draw``: a NIR graph as a picture, laid out in layers by networkx and drawn by matplotlib.

Subgraphs are drawn flattened (their nodes named ``outer.inner``). Each node shows its name, type,
output shape and key parameters; an edge that closes a loop (a recurrent connection) is drawn as a
dashed arc, the others as arrows from left to right.
"""

from pathlib import Path
from typing import Union

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import nir  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from .errors import InvalidArgumentError, OutputExistsError, spell  # noqa: E402
from .files import atomic_path  # noqa: E402
from .passes import flatten_subgraphs  # noqa: E402

FORMATS = ("png", "svg")
KEY_FIELDS = {  # the parameters a node's box shows, beyond its weight's shape
    "LIF": ("tau", "v_threshold"), "CubaLIF": ("tau_syn", "tau_mem", "v_threshold"), "IF": ("v_threshold",),
    "LI": ("tau",), "CubaLI": ("tau_syn", "tau_mem"), "Conv1d": ("stride", "padding"),
    "Conv2d": ("stride", "padding"), "AvgPool2d": ("kernel_size", "stride"), "SumPool2d": ("kernel_size", "stride"),
    "Delay": ("delay",), "Threshold": ("threshold",), "Scale": ("scale",),
}
FONT_WIDTH = 4.2  # points per character at font size 7
COLOURS = {"io": "#dddddd", "neuron": "#f6c28b", "weights": "#a9c8ec", "other": "#c5e3b5"}
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I, nir.Threshold)
WEIGHTS = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)


def draw_graph(graph: Union[nir.NIRGraph, str, Path], output: Union[str, Path], overwrite: bool = False) -> Path:
    """Draws ``graph`` (a NIRGraph or a .nir file) into ``output`` (.png or .svg); an existing file is
    replaced only with ``overwrite``."""
    output = Path(output)
    kind = output.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise InvalidArgumentError(f"{output}: draw writes {' or '.join('.' + f for f in FORMATS)}; "
                                   f"name the file e.g. {output.with_suffix('.png').name}")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; {spell('pass overwrite=True', 'add --overwrite')} to replace it")
    if not isinstance(graph, nir.NIRGraph):
        from .graphfile import read_graph

        graph = read_graph(graph)
    figure = graph_figure(graph)
    try:
        with atomic_path(output) as partial, plt.rc_context({"svg.fonttype": "none"}):  # SVG text stays text
            figure.savefig(partial, format=kind, dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)
    return output


def graph_figure(graph: nir.NIRGraph):
    """The drawing as a matplotlib figure."""
    flat = flatten_subgraphs(graph)
    layout = nx.DiGraph(flat.edges)
    layout.add_nodes_from(flat.nodes)
    loops = loop_edges(layout, [n for n, node in flat.nodes.items() if isinstance(node, nir.Input)])
    forward = [e for e in layout.edges if e not in loops]
    acyclic = nx.DiGraph(forward)
    acyclic.add_nodes_from(flat.nodes)
    for depth, names in enumerate(nx.topological_generations(acyclic)):
        for name in names:
            layout.nodes[name]["depth"] = depth
    positions = nx.multipartite_layout(layout, subset_key="depth", align="vertical", scale=1.0)
    columns = 1 + max(layout.nodes[n]["depth"] for n in layout)
    rows = max(sum(1 for n in layout if layout.nodes[n]["depth"] == d) for d in range(columns))
    figure, axis = plt.subplots(figsize=(max(6.0, 1.8 * columns), max(3.0, 1.9 * rows)))
    labels = {n: label(n, flat.nodes[n]) for n in layout}
    # Arrows stop at a box's side: networkx shrinks them by a round marker's size (points squared), so each
    # node gets its box's width.
    sizes = [(FONT_WIDTH * max(map(len, labels[n].split("\n"))) + 12) ** 2 for n in layout]
    for edges, style in ((forward, dict(edge_color="0.35")),
                         (loops, dict(edge_color="tab:red", style="dashed", connectionstyle="arc3,rad=0.45"))):
        nx.draw_networkx_edges(layout, positions, edgelist=edges, nodelist=list(layout), node_size=sizes, ax=axis,
                               arrows=True, arrowsize=14, **style)
    for kind, colour in COLOURS.items():
        labels_of_kind = {n: text for n, text in labels.items() if _kind(flat.nodes[n]) == kind}
        nx.draw_networkx_labels(layout, positions, labels=labels_of_kind, ax=axis, font_size=7,
                                bbox=dict(boxstyle="round,pad=0.4", facecolor=colour, edgecolor="0.4"))
    handles = [Line2D([], [], marker="s", linestyle="", markersize=9, markerfacecolor=c, markeredgecolor="0.4",
                      label=k if k != "io" else "input / output") for k, c in COLOURS.items()]
    handles.append(Line2D([], [], color="tab:red", linestyle="--", label="recurrent edge (closes a loop)"))
    axis.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=len(handles), fontsize=7,
                frameon=False)
    axis.set_title(f"NIR graph: {len(flat.nodes)} nodes, {len(flat.edges)} edges", fontsize=9)
    axis.margins(x=0.12, y=0.2)
    axis.axis("off")
    return figure


def loop_edges(layout: nx.DiGraph, inputs: list) -> list:
    """The edges that close a cycle, found depth first from the inputs: one per loop, the edge back into a
    node already on the path (``lif -> rec -> lif`` gives ``rec -> lif``)."""
    remaining, closing = layout.copy(), []
    for source in (inputs or None, None):  # then loops no input reaches
        while True:
            try:
                edge = nx.find_cycle(remaining, source=source)[-1][:2]
            except nx.NetworkXNoCycle:
                break
            closing.append(edge)
            remaining.remove_edge(*edge)
    return closing


def label(name: str, node) -> str:
    lines = [name, type(node).__name__]
    shape = (node.output_type or {}).get("output")
    if shape is not None and np.size(shape):
        lines.append("out " + "x".join(str(int(d)) for d in np.atleast_1d(shape)))
    weight = getattr(node, "weight", None)
    if weight is not None:
        lines.append("weight " + "x".join(str(d) for d in np.shape(weight)))
    fields = {k: getattr(node, k) for k in KEY_FIELDS.get(type(node).__name__, ()) if getattr(node, k, None) is not None}
    lines += [f"{k} {_value(v)}" for k, v in fields.items()]
    return "\n".join(lines)


def _value(value) -> str:
    """One number where a field is uniform, else its range."""
    array = np.asarray(value, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    return f"{low:.3g}" if low == high else f"{low:.3g}..{high:.3g}"


def _kind(node) -> str:
    if isinstance(node, (nir.Input, nir.Output)):
        return "io"
    if isinstance(node, NEURONS):
        return "neuron"
    return "weights" if isinstance(node, WEIGHTS) else "other"
