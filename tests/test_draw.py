"""``nirdeploy draw``: every node with its type, shape and key parameters, loops marked, files never
overwritten unasked."""

import subprocess
import sys
from pathlib import Path

import networkx as nx
import nir
from matplotlib.patches import FancyArrowPatch
from PIL import Image

from graphs import conv, recurrent
from nirdeploy.draw import graph_figure, loop_edges

NIRDEPLOY = str(Path(sys.executable).parent / "nirdeploy")


def nirdeploy(*args):
    return subprocess.run([NIRDEPLOY, *map(str, args)], capture_output=True, text=True, timeout=120)


def boxes(figure) -> dict:
    """Node name (a box's first line) -> the box's lines."""
    lines = [text.get_text().split("\n") for text in figure.axes[0].texts]
    return {text[0]: text[1:] for text in lines}


def test_every_node_is_a_box_with_its_type_shape_and_parameters():
    graph, _ = recurrent()
    figure = graph_figure(graph)
    drawn = boxes(figure)
    # the subgraph rsyn is drawn flattened: its CubaLIF and recurrent weights are boxes of their own
    assert set(drawn) == {"input", "fc", "lif", "rec", "fc2", "rsyn.cuba", "rsyn.w_rec", "output"}
    threshold = graph.nodes["lif"].v_threshold
    assert drawn["lif"] == ["LIF", "out 12", "tau 0.005", f"v_threshold {threshold.min():.3g}..{threshold.max():.3g}"]
    assert drawn["fc"] == ["Affine", "out 12", "weight 12x10"]
    assert drawn["input"] == ["Input", "out 10"]
    assert figure.axes[0].get_title() == "NIR graph: 8 nodes, 9 edges"
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["input / output", "neuron", "weights", "other", "recurrent edge (closes a loop)"]


def test_each_loop_is_closed_by_one_dashed_edge():
    graph, _ = recurrent()
    figure = graph_figure(graph)
    arrows = [p for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch)]
    dashed = [a for a in arrows if a.get_linestyle() not in ("solid", "-")]
    assert len(arrows) == 9 and len(dashed) == 2
    flat = nx.DiGraph([("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"),
                       ("fc2", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "output")])
    assert sorted(loop_edges(flat, ["input"])) == [("rec", "lif"), ("w_rec", "cuba")]
    lonely = nx.DiGraph([("a", "b"), ("b", "a")])  # a loop no input reaches is found too
    assert loop_edges(lonely, []) in ([("b", "a")], [("a", "b")])


def test_draw_writes_png_and_svg_and_never_overwrites_unasked(tmp_path):
    graph, _ = conv()
    nir.write(tmp_path / "conv.nir", graph)
    done = nirdeploy("draw", tmp_path / "conv.nir", "-o", tmp_path / "conv.png")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "conv.png").format == "PNG"
    assert nirdeploy("draw", tmp_path / "conv.nir", "-o", tmp_path / "conv.svg").returncode == 0
    svg = (tmp_path / "conv.svg").read_text()
    assert "<svg" in svg and "SumPool2d" in svg and "weight 4x2x3x3" in svg  # text stays text
    (tmp_path / "mine.png").write_bytes(b"a user's picture")
    refused = nirdeploy("draw", tmp_path / "conv.nir", "-o", tmp_path / "mine.png")
    assert refused.returncode == 2 and "mine.png exists; add --overwrite to replace it" in refused.stderr
    assert (tmp_path / "mine.png").read_bytes() == b"a user's picture"
    assert nirdeploy("draw", tmp_path / "conv.nir", "-o", tmp_path / "mine.png", "--overwrite").returncode == 0
    assert Image.open(tmp_path / "mine.png").format == "PNG"
    wrong = nirdeploy("draw", tmp_path / "conv.nir", "-o", tmp_path / "conv.pdf")
    assert wrong.returncode == 2 and "draw writes .png or .svg" in wrong.stderr and "conv.png" in wrong.stderr
    assert not (tmp_path / "conv.pdf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.nir", "conv.png", "conv.svg", "mine.png"]


def test_a_missing_file_is_named():
    done = nirdeploy("draw", "/nonexistent/graph.nir", "-o", "/tmp/never.png")
    assert done.returncode == 2 and "/nonexistent/graph.nir" in done.stderr
