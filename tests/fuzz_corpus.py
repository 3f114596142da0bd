"""Malformed and hostile NIR input, and the one place that runs it the way a user does and classifies what
happened (tests/test_fuzz.py and scripts/fuzz.py both use it).

The corpus is deterministic from a seed. Each FAMILY starts from small valid graphs (tests/graphs.py) and
mutates one thing; every case says what a correct reader must do with it, by construction:

- ``VALID``: a well-formed graph; every operation must give a valid result (a control);
- ``INVALID``: malformed by construction; every operation must refuse it with a NirdeployError (exit 2 on
  the command line); a valid result is *garbage accepted*;
- ``EITHER``: a refusal and a valid result are both right (a flipped byte that may land in padding, a
  recorded dt that contradicts the one asked for, ...); neither may crash or hang.

A case is a ``.nir`` file (written with nir.write, or layer by layer with h5py where the mutation is one
nir.write cannot make) or a graph kept in memory. The operations (:data:`OPERATIONS`) run in a worker
process under an address-space limit (``resource.RLIMIT_AS``) and the memory budget
``$NIRDEPLOY_MEMORY_BUDGET``, each within a time bound; a worker that overruns is killed (a *hang*) and
replaced. The console script runs as a subprocess under the same limits.
"""

import contextlib
import io
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import h5py
import nir
import numpy as np

import graphs

DT = graphs.DT
META = {"dt": DT, "conventions": "spikingjelly"}  # every case records its dt and conventions, so that
# `nirdeploy inspect` resolves (and so validates) it, and no ConventionsAssumedWarning muddies stderr
VALID, INVALID, EITHER = "valid", "invalid", "either"

BUDGET = "512MiB"  # $NIRDEPLOY_MEMORY_BUDGET in the worker and the console script
HEADROOM = 3 * 2**30  # address space a worker may add to what it holds after importing nirdeploy
TIME_LIMIT = 20.0  # seconds per operation
SCRIPT_TIME_LIMIT = 40.0  # seconds per console-script call (it imports torch first)
CONSOLE = Path(sys.executable).with_name("nirdeploy")

API_OPERATIONS = ("import:s", "import:m", "check:snntorch", "check:xylo", "check:lava")
CLI_OPERATIONS = ("cli:inspect", "cli:check")  # nirdeploy.cli.main in the worker: file cases only
SCRIPT_OPERATIONS = ("script:inspect", "script:check")  # the console script, a subprocess: a sample
OPERATIONS = API_OPERATIONS + CLI_OPERATIONS + SCRIPT_OPERATIONS
OUTCOMES = ("error", "valid", "crash", "hang")
VERDICTS = ("error", "valid", "crash", "hang", "garbage", "refused")  # garbage: an INVALID case accepted;
# refused: a VALID case (a control) refused


@dataclass
class Case:
    family: str
    index: int
    label: str  # what was mutated, in words
    expect: str  # VALID, INVALID or EITHER
    path: Optional[str] = None  # a .nir file, or
    graph: Any = None  # a graph (or whatever a user might pass) in memory, or
    build: Optional[tuple] = None  # (function, arguments) that builds it, for graphs too deep to pickle
    mentions: tuple = ()  # what a refusal must name (the node, the field)
    report_rule: Optional[str] = None  # check() may refuse by reporting this rule as an error instead

    @property
    def name(self) -> str:
        return f"{self.family}[{self.index}] {self.label}"

    @property
    def source(self):
        if self.build is not None:
            return self.build[0](*self.build[1])
        return self.path if self.path is not None else self.graph


# --- valid graphs to start from ----------------------------------------------------------------------------
def _seed(rng) -> int:
    return int(rng.integers(0, 2**31))


def _graph(nodes: dict, edges: list, **metadata) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={**META, **metadata}, type_check=False)


def _chain(nodes: dict, **metadata) -> nir.NIRGraph:
    names = list(nodes)
    return _graph(nodes, list(zip(names, names[1:])), **metadata)


def mlp(rng) -> nir.NIRGraph:
    """Input -> Affine -> LIF -> Affine -> CubaLIF -> Output, sizes and parameters from ``rng``."""
    n_in, n_hidden, n_out = (int(n) for n in rng.integers(2, 12, 3))
    s = _seed(rng)
    return _chain({"input": graphs.io(n_in)[0], "fc1": graphs.affine(n_hidden, n_in, s), "lif": graphs.lif(n_hidden, s + 1),
                   "fc2": graphs.affine(n_out, n_hidden, s + 2), "cuba": graphs.cuba(n_out, s + 3),
                   "output": graphs.io(n_out)[1]})


def conv_output(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """One spatial dim of a convolution or pool, as torch computes it."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(rng, c_in=None, c_out=None, size=None, kernel=None, stride=1, padding=1, dilation=1, groups=1
           ) -> nir.NIRGraph:
    """Input (c, h, w) -> Conv2d -> IF -> Flatten -> Affine -> LIF -> Output, every shape computed here.
    ``kernel``: an int or (kh, kw)."""
    c_in = c_in or int(rng.integers(1, 4)) * groups
    c_out = c_out or int(rng.integers(1, 4)) * groups
    h, w = size or (int(rng.integers(5, 9)), int(rng.integers(5, 9)))
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel or (3, 3)
    oh, ow = conv_output(h, kh, stride, padding, dilation), conv_output(w, kw, stride, padding, dilation)
    r = graphs.rng(_seed(rng))
    flat, n_out = c_out * oh * ow, int(rng.integers(2, 6))
    nodes = {
        "input": graphs.io((c_in, h, w))[0],
        "conv": nir.Conv2d(input_shape=(h, w), weight=r.uniform(-0.4, 1.0, (c_out, c_in // groups, kh, kw)),
                           stride=stride, padding=padding, dilation=dilation, groups=groups, bias=r.uniform(0, 0.1, c_out)),
        "if": graphs.uniform_if((c_out, oh, ow), v_threshold=0.8),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([c_out, oh, ow])}),
        "fc": graphs.affine(n_out, flat, _seed(rng)),
        "lif": graphs.lif(n_out, _seed(rng)),
        "output": graphs.io(n_out)[1],
    }
    return _chain(nodes)


def conv1d(rng) -> nir.NIRGraph:
    """Input (c, n) -> Conv1d -> IF -> Flatten -> Affine -> LI -> Output."""
    c_in, c_out, length = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(6, 12))
    kernel, stride = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    out = conv_output(length, kernel, stride, 0, 1)
    r = graphs.rng(_seed(rng))
    return _chain({
        "input": graphs.io((c_in, length))[0],
        "conv": nir.Conv1d(input_shape=length, weight=r.uniform(-0.5, 1.0, (c_out, c_in, kernel)), stride=stride,
                           padding=0, dilation=1, groups=1, bias=r.uniform(0, 0.1, c_out)),
        "if": graphs.uniform_if((c_out, out), v_threshold=0.7),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([c_out, out])}),
        "fc": graphs.affine(3, c_out * out, _seed(rng)),
        "li": graphs.uniform_li(3),
        "output": graphs.io(3)[1],
    })


def with_meta(graph: nir.NIRGraph) -> nir.NIRGraph:
    graph.metadata = dict(META)
    return graph


def recurrent(rng) -> nir.NIRGraph:
    """tests/graphs.py's recurrent graph: a recurrent LIF layer and a nested recurrent CubaLIF subgraph 'rsyn'."""
    return with_meta(graphs.recurrent()[0])


def feedforward(rng) -> nir.NIRGraph:
    """tests/graphs.py's LIF / IF / CubaLIF chain with Affine and Linear weights."""
    return with_meta(graphs.feedforward()[0])


def pooled(rng) -> nir.NIRGraph:
    """tests/graphs.py's conv graph: Conv2d, AvgPool2d 'pool', SumPool2d 'sum', Flatten 'flat'."""
    return with_meta(graphs.conv()[0])


def delayed(rng, delay=None) -> nir.NIRGraph:
    """Input -> Affine -> Delay -> LIF -> Output; delays whole multiples of dt unless given."""
    n_in, n = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    delay = rng.integers(0, 5, n) * DT if delay is None else np.broadcast_to(np.asarray(delay, dtype=float), (n,)).copy()
    return _chain({"input": graphs.io(n_in)[0], "fc": graphs.affine(n, n_in, _seed(rng)), "delay": nir.Delay(delay),
                   "lif": graphs.lif(n, _seed(rng)), "output": graphs.io(n)[1]})


def scaled(rng) -> nir.NIRGraph:
    """Input -> Scale -> Threshold -> Linear -> LI -> Output."""
    n = int(rng.integers(2, 8))
    r = graphs.rng(_seed(rng))
    return _chain({"input": graphs.io(n)[0], "scale": nir.Scale(r.uniform(0.5, 2.0, n)),
                   "threshold": nir.Threshold(r.uniform(0.1, 0.5, n)), "linear": nir.Linear(r.uniform(-1, 1, (3, n))),
                   "li": graphs.uniform_li(3), "output": graphs.io(3)[1]})


BASES = {"mlp": mlp, "conv2d": conv2d, "conv1d": conv1d, "recurrent": recurrent, "feedforward": feedforward,
         "pooled": pooled, "delayed": delayed, "scaled": scaled}


def deep_chain(layers: int, rng, recurrent_every: int = 0) -> nir.NIRGraph:
    """Input -> (Affine -> LIF) x ``layers`` -> Output; a recurrent Affine on every ``recurrent_every``-th LIF."""
    nodes, edges, previous = {"input": graphs.io(4)[0]}, [], "input"
    for i in range(layers):
        nodes[f"fc{i}"], nodes[f"lif{i}"] = graphs.affine(4, 4, i, gain=0.8), graphs.uniform_lif(4, tau=4e-3)
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        if recurrent_every and i % recurrent_every == 0:
            nodes[f"rec{i}"] = graphs.affine(4, 4, 10_000 + i, gain=0.3)
            edges += [(f"lif{i}", f"rec{i}"), (f"rec{i}", f"lif{i}")]
        previous = f"lif{i}"
    nodes["output"] = graphs.io(4)[1]
    return _graph(nodes, edges + [(previous, "output")])


def nested(depth: int) -> nir.NIRGraph:
    """A LIF inside ``depth`` levels of subgraphs, each Input -> sub -> Output (built without recursion)."""
    graph = nir.NIRGraph(nodes={"input": graphs.io(4)[0], "lif": graphs.uniform_lif(4), "output": graphs.io(4)[1]},
                         edges=[("input", "lif"), ("lif", "output")], metadata={}, type_check=False)
    for _ in range(depth):
        graph = nir.NIRGraph(nodes={"input": graphs.io(4)[0], "sub": graph, "output": graphs.io(4)[1]},
                             edges=[("input", "sub"), ("sub", "output")], metadata={}, type_check=False)
    graph.metadata = dict(META)
    return graph


# --- edits, applied alike to a graph in memory and to the dict a file is written from ------------------------
DELETE = "<delete>"


@dataclass
class Edit:
    """Set (or delete, with DELETE) ``field`` of the node at ``node`` (a tuple of names, through subgraphs;
    () is the graph itself); ``key`` picks an entry of a dict field (metadata)."""

    node: tuple
    field: str
    value: Any
    key: Optional[str] = None


def _object_at(graph, path: tuple):
    for name in path:
        graph = graph.nodes[name]
    return graph


def _entry_at(tree: dict, path: tuple) -> dict:
    for name in path:
        tree = tree["nodes"][name]
    return tree


def apply_to_object(graph, edit: Edit) -> None:
    node = _object_at(graph, edit.node)
    if edit.key is not None:
        target = getattr(node, edit.field)
        target.pop(edit.key, None) if edit.value is DELETE else target.__setitem__(edit.key, edit.value)
    elif edit.field == "shape" and isinstance(node, (nir.Input, nir.Output)):  # what nir.Input(value) would store
        node.input_type, node.output_type = {"input": edit.value}, {"output": edit.value}
    elif edit.value is DELETE:
        vars(node).pop(edit.field, None)
    else:
        setattr(node, edit.field, edit.value)


def apply_to_tree(tree: dict, edit: Edit) -> None:
    entry = _entry_at(tree, edit.node)
    if edit.key is not None:
        entry = entry.setdefault(edit.field, {})
    key = edit.key or edit.field
    entry.pop(key, None) if edit.value is DELETE else entry.__setitem__(key, edit.value)


@dataclass(frozen=True)
class Declared:
    """A dataset declared with ``shape`` but holding no data: chunked and compressed, so the file stays tiny."""

    shape: tuple
    dtype: str = "float64"


@dataclass(frozen=True)
class HugeView:
    """In memory: a read-only view of one value broadcast to ``shape``, huge but holding 8 bytes; made in
    the worker (pickling it would write every element)."""

    shape: tuple


def with_edits(graph: nir.NIRGraph, edits: list) -> nir.NIRGraph:
    """``graph`` with ``edits`` applied, each HugeView value made a view."""
    for edit in edits:
        value = np.broadcast_to(np.float64(0.5), edit.value.shape) if isinstance(edit.value, HugeView) else edit.value
        apply_to_object(graph, Edit(edit.node, edit.field, value, edit.key))
    return graph


class AsGroup:
    """A value written as an (empty) HDF5 group where a dataset belongs."""


def tree_of(graph: nir.NIRGraph) -> dict:
    """``graph.to_dict()`` without recursion (deep nesting)."""
    root = {}
    stack = [(graph, root)]
    while stack:
        node, entry = stack.pop()
        if isinstance(node, nir.NIRGraph):
            entry.update(type="NIRGraph", edges=list(node.edges), metadata=dict(node.metadata), nodes={})
            for name, inner in node.nodes.items():
                entry["nodes"][name] = {}
                stack.append((inner, entry["nodes"][name]))
        else:
            entry.update(node.to_dict())
    return root


def write_tree(path: Path, tree: dict, version: Any = nir.version) -> Path:
    """Write ``tree`` as nir.write lays it out (without recursion); ``version`` None leaves it out."""
    with h5py.File(path, "w") as file:
        if version is not None:
            _write_value(file, "version", version)
        stack = [(file.create_group("node"), tree)]
        while stack:
            group, entry = stack.pop()
            for key, value in entry.items():
                if isinstance(value, dict):
                    if key != "metadata" or value:
                        stack.append((group.create_group(str(key)), value))
                else:
                    _write_value(group, key, value)
    return path


def _write_value(group, key: str, value) -> None:
    if isinstance(value, AsGroup):
        group.create_group(key)
    elif isinstance(value, Declared):
        group.create_dataset(key, shape=value.shape, dtype=value.dtype, compression="gzip",
                             chunks=tuple(min(d, 64) for d in value.shape))
    elif isinstance(value, str):
        group.create_dataset(key, data=value, dtype=h5py.string_dtype())
    elif isinstance(value, np.ndarray) and value.size > 64 and value.dtype.kind not in "OUS":
        group.create_dataset(key, data=value, compression="gzip")
    elif isinstance(value, np.ndarray) and value.dtype.kind == "U":
        group.create_dataset(key, data=value.astype(object), dtype=h5py.string_dtype())
    else:
        group.create_dataset(key, data=value)


# --- families -------------------------------------------------------------------------------------------------
FAMILIES = {}  # name -> (builder(variant) -> Case, description, share of the cases)


def family(name: str, description: str, share: float = 1.0):
    def register(builder: Callable) -> Callable:
        FAMILIES[name] = (builder, description, share)
        return builder
    return register


@dataclass
class Variant:
    family: str
    index: int
    rng: np.random.Generator
    folder: Path

    def pick(self, options):
        options = list(options)
        return options[int(self.rng.integers(len(options)))]

    def cycle(self, options):
        """The options in turn, one per variant index."""
        options = list(options)
        return options[self.index % len(options)]

    def base(self, *names) -> tuple:
        name = self.pick(names or BASES)
        return name, BASES[name](self.rng)

    @property
    def file(self) -> Path:
        return self.folder / f"{self.family}-{self.index}.nir"

    def case(self, graph, edits=(), expect=INVALID, label="", memory: Optional[bool] = None, version=nir.version,
             mentions=None, writer="tree", **extra) -> Case:
        """The case of ``graph`` with ``edits``: in memory (every third variant, unless ``memory`` says),
        else written to a file (by nir.write with ``writer='nir'``)."""
        memory = self.index % 3 == 2 if memory is None else memory
        if mentions is None:
            mentions = tuple(dict.fromkeys(e.node[-1] for e in edits if e.node))
        common = dict(family=self.family, index=self.index, label=label, expect=expect, mentions=mentions, **extra)
        if memory:
            for edit in edits:
                apply_to_object(graph, edit)
            return Case(graph=graph, **common)
        if writer == "nir" and not edits:
            nir.write(self.file, graph)
        else:
            tree = tree_of(graph)
            for edit in edits:
                apply_to_tree(tree, edit)
            write_tree(self.file, tree, version)
        return Case(path=str(self.file), **common)


def nodes_of(graph: nir.NIRGraph, *types) -> list:
    """(path, node) of every node of ``types`` (all but Input/Output without types), through subgraphs."""
    found, stack = [], [((), graph)]
    while stack:
        prefix, current = stack.pop()
        for name, node in current.nodes.items():
            if isinstance(node, nir.NIRGraph):
                stack.append(((*prefix, name), node))
            elif isinstance(node, types) if types else not isinstance(node, (nir.Input, nir.Output)):
                found.append(((*prefix, name), node))
    return sorted(found, key=lambda item: item[0])


def _pick_node(v: Variant, graph, *types) -> tuple:
    return v.pick(nodes_of(graph, *types))


def _shape_of(node) -> tuple:
    return tuple(int(d) for d in np.atleast_1d((node.output_type or {}).get("output")))


@family("control", "valid graphs of each node type nirdeploy imports, from nir.write files or in memory")
def _control(v: Variant) -> Case:
    name, graph = v.base()
    return v.case(graph, expect=VALID, label=name, writer="nir")


@family("truncated", "a valid file cut short, from 0 bytes to one byte short of its end")
def _truncated(v: Variant) -> Case:
    name, graph = v.base()
    nir.write(v.file, graph)
    data = v.file.read_bytes()
    cut = v.cycle([0, 1, 8, 96, 512, len(data) - 1, int(len(data) * v.rng.uniform(0.05, 0.99))])
    v.file.write_bytes(data[:cut])
    return Case(v.family, v.index, f"{name} cut to {cut} of {len(data)} bytes", INVALID, path=str(v.file))


@family("byte_flip", "a valid file with 1 to 16 bytes overwritten at random places")
def _byte_flip(v: Variant) -> Case:
    name, graph = v.base()
    nir.write(v.file, graph)
    data = bytearray(v.file.read_bytes())
    places = v.rng.integers(0, len(data), int(v.rng.integers(1, 17)))
    for place in places:
        data[place] ^= int(v.rng.integers(1, 256))
    v.file.write_bytes(bytes(data))
    return Case(v.family, v.index, f"{name}, {len(places)} byte(s) flipped", EITHER, path=str(v.file))


@family("not_nir", "files that are not NIR graphs: empty, random bytes, text, HDF5 without a graph, a folder, "
        "no file at all, a name too long for the file system")
def _not_nir(v: Variant) -> Case:
    path, kind = v.file, v.cycle(["empty", "random", "text", "json", "no node", "node dataset", "folder", "missing",
                                  "long name", "hdf5 signature", "untyped node", "empty graph"])
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(v.rng.integers(0, 256, int(v.rng.integers(1, 5000)), dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("this is not a NIR graph\n" * 5)
    elif kind == "json":
        path.write_text(json.dumps({"nodes": {"input": {"type": "Input", "shape": [3]}}, "edges": []}))
    elif kind == "hdf5 signature":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + v.rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif kind == "folder":
        path.mkdir()
    elif kind == "missing":
        path = v.folder / f"missing-{v.index}.nir"
    elif kind == "long name":
        path = v.folder / ("x" * 300 + ".nir")
    else:
        with h5py.File(path, "w") as file:
            file.create_dataset("version", data=nir.version)
            if kind == "node dataset":
                file.create_dataset("node", data=np.arange(3))
            elif kind == "untyped node":
                file.create_group("node").create_dataset("edges", data=np.zeros((0, 2), dtype="S1"))
            elif kind == "empty graph":
                node = file.create_group("node")
                node.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
                node.create_group("nodes")
                node.create_dataset("edges", data=np.zeros((0, 2), dtype="S1"))
    return Case(v.family, v.index, kind, INVALID, path=str(path))


MISSING_NAMES = ["ghost", "", "Input", "input ", "lif0", "x" * 400, "rsyn.nothing", "ünïcode", "output.x"]


@family("edge_missing_node", "an edge to or from a node the graph does not define")
def _edge_missing(v: Variant) -> Case:
    name, graph = v.base()
    missing = v.cycle(MISSING_NAMES + ["a\x00b"] if v.index % 3 == 2 else MISSING_NAMES)
    edges = list(graph.edges)
    i = int(v.rng.integers(len(edges)))
    pre, post = edges[i]
    edges[i] = (missing, post) if v.rng.random() < 0.5 else (pre, missing)
    if v.index % 4 == 3:
        edges = list(graph.edges) + [(missing, pre)]
    return v.case(graph, [Edit((), "edges", edges)], label=f"{name}: edge {edges[i]}", mentions=(f"'{missing}'",)
                  if missing else ())


@family("edge_direction", "edges out of an Output node or into an Input node")
def _edge_direction(v: Variant) -> Case:
    name, graph = v.base()
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    inner = [n for n, node in graph.nodes.items() if not isinstance(node, (nir.Input, nir.Output))]
    edge = v.cycle([(outputs[0], v.pick(inner)), (v.pick(inner), inputs[0]), (outputs[0], inputs[0]),
                    (inputs[0], inputs[0]), (outputs[0], outputs[0])])
    return v.case(graph, [Edit((), "edges", [*graph.edges, edge])], label=f"{name}: edge {edge}",
                  mentions=(f"{edge[0]} -> {edge[1]}",))


@family("edge_duplicate", "an edge listed twice, in the graph or in a subgraph")
def _edge_duplicate(v: Variant) -> Case:
    name, graph = v.base()
    where = () if name != "recurrent" or v.index % 2 else ("rsyn",)
    holder = _object_at(graph, where)
    edge = v.pick(holder.edges)
    edges = list(holder.edges)
    edges.insert(int(v.rng.integers(len(edges) + 1)), edge)
    return v.case(graph, [Edit(where, "edges", edges)], label=f"{name}: {edge} twice in {where or 'the graph'}",
                  mentions=edge)


@family("edge_malformed", "edges that are not pairs of node names: numbers, None, triples, bytes; edges that "
        "are not a list")
def _edge_malformed(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "scaled")
    first = graph.edges[0]
    in_memory = [("an int pair", [*graph.edges, (1, 2)]), ("None", [*graph.edges, None]),
                 ("a triple", [*graph.edges, (*first, "x")]), ("a single name", [*graph.edges, (first[0],)]),
                 ("a string", [*graph.edges, "input->output"]), ("bytes", [*graph.edges, tuple(e.encode() for e in first)]),
                 ("a dict", [*graph.edges, {"pre": first[0]}]), ("edges None", None), ("edges a dict", {"a": "b"}),
                 ("edges a string", "input->output"), ("a name and an int", [*graph.edges, (first[0], 3)]),
                 ("a nested pair", [*graph.edges, ((first[0],), (first[1],))])]
    in_file = [("int edges", np.arange(2 * len(graph.edges)).reshape(-1, 2)),
               ("a 1-d list of names", np.array(list(graph.nodes), dtype=object).astype("S")),
               ("three columns", np.array([(*e, e[0]) for e in graph.edges], dtype="S")),
               ("float edges", np.ones((3, 2))), ("no edges", np.zeros((0, 2), dtype="S1")),
               ("a scalar", np.array(b"input"))]
    memory = v.index % 2 == 0
    label, edges = v.cycle(in_memory if memory else in_file)
    return v.case(graph, [Edit((), "edges", edges)], label=f"{name}: {label}", memory=memory, mentions=())


@family("deep_chain", "chains of 200 to 1200 Affine+LIF layers (some recurrent): no recursion limit anywhere",
        share=0.25)
def _deep_chain(v: Variant) -> Case:
    layers = v.cycle([1200, 600, 300, 1200, 200])
    graph = deep_chain(layers, v.rng, recurrent_every=v.cycle([0, 0, 7, 50, 0, 3]))
    return v.case(graph, expect=VALID, label=f"{layers} layers", memory=v.index % 3 != 2)


FX_NAMES = ["forward", "meta", "code", "graph", "training", "\ufb01lter", "filter", "class", "def", "None", "True",
            "lambda", "__init__", "__class__", "_modules", "add_module", "to", "state_dict", "cuda", "type", "T", "0",
            "1abc", "a.b", "x" * 300, "y" * 3000, "日本語", "ñ", "e\u0301", "😀", "a-b", "a b", "self", "input_1",
            "steps", "previous_lif_to_fc", "graph_module", "__call__", "_", "__", "n_0", "x" * 64 + "1", "x" * 64 + "2"]


@family("fx_names", "node names that clash with torch.fx GraphModule attributes (forward, meta, code, graph, training, "
        "the ligature in 'ﬁlter'), keywords, very long names, dots, unicode")
def _fx_names(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "conv2d", "scaled", "delayed")
    pool = FX_NAMES + (["a/b", ".", "..", "tab\there", "nul\x00"] if v.index % 3 == 2 else [])
    order = v.rng.permutation(len(pool))
    old = list(graph.nodes)
    renames = {n: pool[i] for n, i in zip(old, order) if v.rng.random() < 0.8 or n not in ("input", "output")}
    renames = {n: renames.get(n, n) for n in old}
    if len(set(renames.values())) < len(renames):
        renames = {n: n for n in old}
    renamed = _graph({renames[n]: node for n, node in graph.nodes.items()},
                     [(renames[a], renames[b]) for a, b in graph.edges])
    return v.case(renamed, expect=VALID, label=f"{name}: {', '.join(repr(n)[:20] for n in renamed.nodes)}")


@family("conv_groups", "Conv2d groups 0, negative, 3, fractional, text, an array; and groups that fit")
def _conv_groups(v: Variant) -> Case:
    good = v.cycle([None, 1, None, 2, None, 4])
    if good:
        graph = conv2d(v.rng, c_in=4, c_out=4 * int(v.rng.integers(1, 3)), groups=good)
        return v.case(graph, expect=VALID, label=f"groups={good} (fits)")
    graph = conv2d(v.rng, c_in=6, c_out=6)
    value = v.pick([0, -1, -2, 3, 4, 5, 1.5, np.nan, np.inf, np.array([1, 1]), np.array([[1]]), 10**12, 7,
                    np.array("two"), np.array(1 + 1j)])
    return v.case(graph, [Edit(("conv",), "groups", value)], label=f"groups={value!r}")


@family("conv_geometry", "kernel_size, stride, padding, dilation and input_shape of wrong shape, negative, zero, "
        "fractional, text or huge; and geometries that fit, square or not")
def _conv_geometry(v: Variant) -> Case:
    if v.index % 3 == 0:  # a geometry that fits, built with every shape computed by torch's formula
        kernel = v.pick([1, 2, 3, (3, 5), (1, 3), (4, 2)])
        stride, padding, dilation = v.pick([1, 2, 3]), v.pick([0, 1, 2]), v.pick([1, 2])
        graph = conv2d(v.rng, size=(9, 10), kernel=kernel, stride=stride, padding=padding, dilation=dilation)
        return v.case(graph, expect=VALID, label=f"kernel={kernel} stride={stride} padding={padding} dilation={dilation}",
                      memory=v.index % 2 == 1)
    graph = conv2d(v.rng, size=(6, 6))
    field, value = v.pick([
        ("stride", 0), ("stride", -1), ("stride", np.array([1, 1, 1])), ("stride", np.array([2, -1])), ("stride", 1.5),
        ("stride", np.nan), ("stride", 10**12), ("stride", np.array([[1, 1]])), ("padding", -1),
        ("padding", np.array([1, 1, 1])), ("padding", "banana"), ("padding", 10**9), ("padding", 0.5),
        ("dilation", 0), ("dilation", -2), ("dilation", np.array([1, 2, 3])), ("dilation", 10**6),
        ("input_shape", np.array([7, 6])), ("input_shape", np.array([6, 6, 6])), ("input_shape", np.array([-6, 6])),
        ("input_shape", np.array([0, 6])), ("input_shape", "banana"),
        ("weight", graphs.rng(1).uniform(-1, 1, (2, 2, 9, 9))), ("weight", graphs.rng(1).uniform(-1, 1, (2, 2, 3))),
        ("weight", graphs.rng(1).uniform(-1, 1, (2, 2, 0, 3))), ("weight", graphs.rng(1).uniform(-1, 1, (2, 2, 3, 3, 3)))])
    return v.case(graph, [Edit(("conv",), field, value)], label=f"{field}={value!r}"[:80])


@family("pool_geometry", "AvgPool2d / SumPool2d kernel, stride and padding that change the shape the next layer "
        "expects, or that no pool can have; and ones that keep it")
def _pool_geometry(v: Variant) -> Case:
    graph = pooled(v.rng)
    node = v.pick(["pool", "sum"])
    size = {"pool": 8, "sum": 4}[node]  # its input, from tests/graphs.py's conv graph; it must give size / 2
    kernel, stride, padding = v.pick([
        (2, 2, 0), (1, 2, 0), (3, 2, 1), (4, 2, 1), (2, 1, 0), (3, 2, 0), (3, 3, 0), (2, 2, 1), (0, 2, 0), (2, 0, 0),
        (-2, 2, 0), (2, 2, -1), (1, 1, 1), (2.5, 2, 0), (np.nan, 2, 0), (2, 2, 3), (9, 9, 0), ((2, 2, 2), 2, 0),
        ("two", 2, 0), (10**9, 2, 0)])
    ints = all(isinstance(x, int) for x in (kernel, stride, padding))
    fits = ints and kernel >= 1 and stride >= 1 and 0 <= padding <= kernel // 2 and \
        conv_output(size, kernel, stride, padding, 1) == size // 2
    as_array = lambda x: np.array(x) if isinstance(x, tuple) else x if isinstance(x, str) else np.array([x, x])
    edits = [Edit((node,), f, as_array(x)) for f, x in (("kernel_size", kernel), ("stride", stride), ("padding", padding))]
    return v.case(graph, edits, expect=VALID if fits else INVALID, label=f"{node}: kernel={kernel} stride={stride} "
                  f"padding={padding}", mentions=())  # a shape that no longer fits shows where it arrives


@family("flatten_dims", "Flatten start_dim / end_dim out of range, reversed, fractional or text; and ranges that fit")
def _flatten_dims(v: Variant) -> Case:
    graph = pooled(v.rng)  # 'flat' takes [6, 2, 2] and must give [24]
    start, end = v.pick([(0, -1), (0, 2), (-3, -1), (-3, 2), (1, -1), (0, 1), (3, -1), (-4, -1), (2, 0), (0, 5),
                         (10**9, -1), (0, -10**9), (1.5, -1), ("0", -1), (np.array([0, 1]), -1), (np.nan, -1), (-1, -3)])
    fits = isinstance(start, int) and isinstance(end, int) and -3 <= start <= 2 and -3 <= end <= 2 and \
        start % 3 == 0 and end % 3 == 2
    if v.index % 5 == 4:  # the declared input shape instead
        shape, fits = v.pick([(np.array([6, 4]), None), (np.array([7, 2, 2]), False), (np.array([24]), None),
                              (np.array([6, 2, 2, 1]), None), (np.array([-6, 2, 2]), False)])
        expect = EITHER if fits is None else INVALID
        return v.case(graph, [Edit(("flat",), "input_type", shape)], expect=expect, label=f"input_type={shape.tolist()}",
                      memory=False)
    edits = [Edit(("flat",), "start_dim", start), Edit(("flat",), "end_dim", end)]
    return v.case(graph, edits, expect=VALID if fits else INVALID, label=f"start_dim={start!r} end_dim={end!r}",
                  mentions=() if fits else ("flat",))


@family("dt_metadata", "the recorded dt as text, negative, zero, NaN, infinite, a list, bytes, complex; or a number "
        "that contradicts the dt asked for")
def _dt_metadata(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "scaled")
    value, expect = v.cycle([("banana", INVALID), ("", INVALID), (-1e-3, INVALID), (0.0, INVALID), (np.nan, INVALID),
                             (np.inf, INVALID), (-np.inf, INVALID), (np.array([1e-3, 2e-3]), INVALID),
                             (b"\xff\xfe", INVALID), (1e-3 + 1e-3j, INVALID), ("1e-3", EITHER), (1e300, EITHER),
                             (2e-3, EITHER), (np.array(1e-3, dtype=np.float32), EITHER), ("-1e-3", INVALID),
                             (np.array([[1e-3]]), EITHER), (AsGroup(), INVALID), (1e-320, EITHER), (True, EITHER),
                             (DELETE, EITHER)])  # no dt: imported at the dt given; `nirdeploy check` asks for one
    memory = v.index % 3 == 2 and not isinstance(value, AsGroup)
    return v.case(graph, [Edit((), "metadata", value, key="dt")], expect=expect, label=f"{name}: dt={value!r}",
                  memory=memory, mentions=("dt",) if expect == INVALID else ())


@family("input_shape", "an Input shape that is text, a scalar, zero, negative, fractional, NaN, empty, 2-d or "
        "complex")
def _input_shape(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "scaled", "delayed")
    value = v.cycle([np.array("banana"), np.array(5), np.array([0]), np.array([-3]), np.array([2.5]), np.array([np.nan]),
                     np.zeros(0), np.array([[4]]), np.array([1e20]), np.array([4 + 0j]), np.array([-1, 4]),
                     np.array([np.inf]), "4"])
    return v.case(graph, [Edit(("input",), "shape", value)], label=f"{name}: shape={value!r}",
                  mentions=("input", "shape"))


@family("nir_version", "the file's NIR version as 'banana', '99.0', empty, bytes, a number, an array or a group; "
        "or missing, or one nirdeploy reads")
def _nir_version(v: Variant) -> Case:
    name, graph = v.base()
    version, expect = v.cycle([("banana", INVALID), ("99.0", INVALID), ("2.0", INVALID), ("", INVALID),
                               (b"\xff\xfe", INVALID), (7, INVALID), (np.array(["1.0", "2.0"]), INVALID),
                               (AsGroup(), INVALID), (None, VALID), (nir.version, VALID), ("1.0", VALID),
                               ("0.5", VALID), (" 1.0", EITHER), (1.0, INVALID), ("v1.0", INVALID)])
    return v.case(graph, expect=expect, label=f"{name}: version={version!r}", memory=False, version=version,
                  mentions=("version",) if expect == INVALID else ())


@family("huge_delay", "Delay nodes of 1e6 s and more, infinite, NaN, negative or not whole steps; and small ones")
def _huge_delay(v: Variant) -> Case:
    delay, expect = v.cycle([(1e6, INVALID), (1e12, INVALID), (1e300, INVALID), (np.inf, INVALID), (np.nan, INVALID),
                             (-1.0, INVALID), (-1e-3, INVALID), (1.5e-3, INVALID), (1e-9, INVALID), (0.0, VALID),
                             (2e-3, VALID), (0.5, VALID), ([0.0, 1e6], INVALID), (10.0, VALID)])
    graph = delayed(v.rng)
    n = len(graph.nodes["delay"].delay)
    value = np.resize(np.asarray(delay, dtype=float), n)
    return v.case(graph, [Edit(("delay",), "delay", value)], expect=expect, label=f"delay={delay!r} s",
                  mentions=("delay",) if expect == INVALID else ())


@family("huge_shapes", "Input and Output shapes of 1e9 x 1e9 and larger, with no data behind them")
def _huge_shapes(v: Variant) -> Case:
    shape, expect = v.cycle([([10**9, 10**9], INVALID), ([2**31, 2**31], INVALID), ([2**62, 4], INVALID),
                             ([10**9] * 4, INVALID), ([2**40, 2**40], INVALID), ([10**8], INVALID), ([1000, 1000], VALID),
                             ([3, 10**9], INVALID)])
    shape = np.array(shape, dtype=np.int64)
    kind = v.pick(["direct", "flatten", "scale"])
    nodes = {"input": nir.Input(input_type={"input": shape})}
    if kind == "flatten":
        flat = nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": shape})
        nodes["flat"] = flat
        nodes["output"] = nir.Output(output_type={"output": flat.output_type["output"]})
    elif kind == "scale" and expect == VALID:
        nodes["scale"] = nir.Scale(np.full(shape, 0.5))
        nodes["output"] = nir.Output(output_type={"output": shape})
    else:
        kind = "direct"
        nodes["output"] = nir.Output(output_type={"output": shape})
    return v.case(_chain(nodes), expect=expect, label=f"{kind}: shape {shape.tolist()}")


@family("huge_weight", "weights, biases and time constants declared huge in a tiny file (a chunked, compressed "
        "dataset with nothing written) or as a huge read-only view in memory")
def _huge_weight(v: Variant) -> Case:
    name, graph = v.base("mlp", "conv2d")
    target = v.pick([(p, n) for p, n in nodes_of(graph, nir.Affine, nir.Conv2d, nir.LIF)])
    path, node = target
    shape = v.cycle([(40000, 10000), (10**6, 10**6), (2**20, 2**20, 3, 3), (10**9,), (200000, 1000), (3, 2**40)])
    field = {nir.Affine: v.pick(["weight", "weight", "bias"]), nir.Conv2d: "weight", nir.LIF: v.pick(["tau", "r"])}[type(node)]
    if field in ("bias", "tau", "r"):
        shape = (math.prod(shape),)
    label = f"{name}: {path[-1]}.{field} of shape {list(shape)}"
    if v.index % 3 == 2:
        return Case(v.family, v.index, label, INVALID, build=(with_edits, (graph, [Edit(path, field, HugeView(shape))])))
    return v.case(graph, [Edit(path, field, Declared(shape))], label=label, memory=False, mentions=())


NEURON_FIELDS = {nir.LIF: ["tau", "r", "v_leak", "v_threshold", "v_reset"], nir.IF: ["r", "v_threshold", "v_reset"],
                 nir.CubaLIF: ["tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset"],
                 nir.LI: ["tau", "r", "v_leak"], nir.Affine: ["weight", "bias"], nir.Linear: ["weight"],
                 nir.Conv2d: ["weight", "bias"], nir.Conv1d: ["weight", "bias"], nir.Scale: ["scale"],
                 nir.Threshold: ["threshold"], nir.Delay: ["delay"]}


def _field_target(v: Variant, *bases) -> tuple:
    name, graph = v.base(*bases)
    path, node = _pick_node(v, graph, *NEURON_FIELDS)
    return name, graph, path, node, v.pick(NEURON_FIELDS[type(node)])


@family("complex_params", "complex weights, biases, time constants, gains, thresholds and delays")
def _complex_params(v: Variant) -> Case:
    name, graph, path, node, field = _field_target(v)
    value = np.asarray(getattr(node, field), dtype=np.complex128)
    if v.index % 2:
        value = value + 1j * v.rng.uniform(0.1, 1.0, value.shape)
    return v.case(graph, [Edit(path, field, value)], label=f"{name}: {path[-1]}.{field} complex")


@family("nonfinite_params", "NaN, inf, -inf in any parameter; zero or negative time constants, gains (r, w_in); "
        "thresholds at or below the reset potential")
def _nonfinite_params(v: Variant) -> Case:
    name, graph, path, node, field = _field_target(v)
    value = np.array(getattr(node, field), dtype=np.float64, copy=True)
    kind = v.cycle(["nan", "inf", "-inf", "zero", "negative", "threshold"])
    positive = field in ("tau", "tau_syn", "tau_mem", "r", "w_in")
    if kind in ("zero", "negative") and not positive or kind == "threshold":
        neuron = [(p, n) for p, n in nodes_of(graph, nir.LIF, nir.IF, nir.CubaLIF)]
        if not neuron:
            kind = "nan"
        else:
            path, node = v.pick(neuron)
            field, value = "v_threshold", np.asarray(node.v_reset, dtype=float) - v.pick([0.0, 0.1, 5.0])
            return v.case(graph, [Edit(path, field, value)], label=f"{name}: {path[-1]}.v_threshold <= v_reset")
    flat = value.reshape(-1)
    where = int(v.rng.integers(flat.size)) if flat.size else 0
    if flat.size:
        flat[where] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "zero": 0.0,
                       "negative": -abs(flat[where]) - 1e-3}[kind]
    else:
        value = np.float64({"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(kind, -1.0))
    return v.case(graph, [Edit(path, field, value)], label=f"{name}: {path[-1]}.{field}[{where}] {kind}")


REQUIRED = {nir.LIF: ["tau", "r", "v_leak", "v_threshold"], nir.CubaLIF: ["tau_syn", "tau_mem", "w_in", "r", "v_leak",
                                                                          "v_threshold"],
            nir.IF: ["r", "v_threshold"], nir.LI: ["tau", "r", "v_leak"], nir.Affine: ["weight", "bias"],
            nir.Linear: ["weight"], nir.Conv2d: ["weight", "bias", "stride", "padding", "dilation", "groups"],
            nir.Conv1d: ["weight", "stride", "groups"], nir.Flatten: ["start_dim", "end_dim"], nir.Delay: ["delay"],
            nir.Scale: ["scale"], nir.Threshold: ["threshold"], nir.AvgPool2d: ["kernel_size", "stride", "padding"],
            nir.SumPool2d: ["kernel_size", "stride", "padding"], nir.Input: ["shape"], nir.Output: ["shape"]}


@family("missing_field", "a node without w_in, tau, weight, r, its type or shape; a graph without edges or nodes")
def _missing_field(v: Variant) -> Case:
    name, graph = v.base()
    if v.index % 7 == 6:
        field = v.pick(["edges", "nodes", "type"])
        return v.case(graph, [Edit((), field, DELETE)], label=f"{name}: the graph's {field}", memory=False,
                      mentions=())
    path, node = _pick_node(v, graph, *REQUIRED)
    field = v.pick(REQUIRED[type(node)] + (["type"] if v.index % 3 != 2 else []))
    memory = v.index % 3 == 2 and field != "shape"
    return v.case(graph, [Edit(path, field, DELETE)], label=f"{name}: {path[-1]} without {field}", memory=memory)


@family("output_shape", "Output shapes that differ from what feeds them: longer, shorter, other rank, zero, "
        "negative, text; and with leading batch dims (allowed)")
def _output_shape(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "scaled", "conv1d")
    n = int(graph.nodes["output"].output_type["output"][0])
    value, expect = v.cycle([(np.array([n + 1]), INVALID), (np.array([n - 1 or 7]), INVALID), (np.array([n, 2]), INVALID),
                             (np.array([0]), INVALID), (np.array([-n]), INVALID), (np.array("x"), INVALID),
                             (np.array([1, n]), EITHER), (np.array([n * 2]), INVALID), (np.array([n, 1]), INVALID),
                             (np.array([n + 0.5]), INVALID)])
    return v.case(graph, [Edit(("output",), "shape", value)], expect=expect, label=f"{name}: shape {value.tolist()}",
                  mentions=("output",) if expect == INVALID else ())


@family("shape_disagree", "connected nodes whose shapes disagree: a weight of another size, neuron parameters of "
        "another length, parameters of one neuron that differ in length, a conv input_shape that is not its input")
def _shape_disagree(v: Variant) -> Case:
    kind = v.cycle(["weight out", "weight in", "neuron", "one field", "conv input", "weight rank", "bias"])
    if kind == "conv input":
        graph = conv2d(v.rng, size=(6, 6))
        return v.case(graph, [Edit(("conv",), "input_shape", np.array([5, 6]))], label=kind)
    graph = mlp(v.rng)
    fc, lif = graph.nodes["fc1"], graph.nodes["lif"]
    out, inp = fc.weight.shape
    r = graphs.rng(_seed(v.rng))
    if kind == "weight out":
        edits = [Edit(("fc1",), "weight", r.uniform(-1, 1, (out + 1, inp))), Edit(("fc1",), "bias", np.zeros(out + 1))]
    elif kind == "weight in":
        edits = [Edit(("fc1",), "weight", r.uniform(-1, 1, (out, inp + 2)))]
    elif kind == "weight rank":
        edits = [Edit(("fc1",), "weight", r.uniform(-1, 1, (2, out, inp)))]
    elif kind == "bias":
        edits = [Edit(("fc1",), "bias", np.zeros(out + 3))]
    elif kind == "neuron":
        edits = [Edit(("lif",), f, np.resize(getattr(lif, f), out + 1)) for f in ("tau", "r", "v_leak", "v_threshold", "v_reset")]
    else:
        field = v.pick(["tau", "r", "v_leak", "v_threshold", "v_reset"])
        edits = [Edit(("lif",), field, np.resize(getattr(lif, field), out + 2))]
    return v.case(graph, edits, label=kind, mentions=())


@family("nesting", "subgraphs nested 1 to 2000 levels deep (at most 64 are read)")
def _nesting(v: Variant) -> Case:
    depth = v.cycle([1, 3, 64, 65, 80, 200, 1000, 2000, 10, 40])
    expect, label = VALID if depth <= 64 else INVALID, f"{depth} levels"
    if v.index % 3 == 2:
        return Case(v.family, v.index, label, expect, build=(nested, (depth,)))
    return v.case(nested(depth), expect=expect, label=label, mentions=())


@family("flat_name_clash", "a node named like an inlined subgraph node ('a.b' beside subgraph 'a' holding 'b')")
def _flat_name_clash(v: Variant) -> Case:
    kind = v.cycle(["a.b beside a holding b", "a.x beside a", "a.b.c beside a holding b holding c",
                    "rsyn.cuba beside rsyn", "b.c inside a beside a.b holding c"])
    lif = lambda: graphs.uniform_lif(4)
    inner = lambda *names: nir.NIRGraph(nodes={"input": graphs.io(4)[0], **{n: lif() for n in names}, "output": graphs.io(4)[1]},
                                        edges=list(zip(["input", *names], [*names, "output"])), metadata={}, type_check=False)
    if kind == "rsyn.cuba beside rsyn":
        graph = recurrent(v.rng)
        graph.nodes["rsyn.cuba"] = graphs.uniform_cuba(6)
        graph.edges = [*graph.edges, ("fc2", "rsyn.cuba"), ("rsyn.cuba", "output")]
        clash = "rsyn.cuba"
    else:
        if kind == "a.b beside a holding b":
            sub, clash = inner("b"), "a.b"
        elif kind == "a.x beside a":
            sub, clash = inner("b"), "a.x"
        elif kind == "a.b.c beside a holding b holding c":
            sub, clash = nir.NIRGraph(nodes={"input": graphs.io(4)[0], "b": inner("c"), "output": graphs.io(4)[1]},
                                      edges=[("input", "b"), ("b", "output")], metadata={}, type_check=False), "a.b.c"
        else:
            sub = nir.NIRGraph(nodes={"input": graphs.io(4)[0], "b.c": lif(), "b": inner("c"), "output": graphs.io(4)[1]},
                               edges=[("input", "b.c"), ("b.c", "b"), ("b", "output")], metadata={}, type_check=False)
            clash = "b.c"
        nodes = {"input": graphs.io(4)[0], "a": sub, clash: lif(), "output": graphs.io(4)[1]}
        if kind == "b.c inside a beside a.b holding c":
            nodes.pop(clash)
            graph = _graph(nodes, [("input", "a"), ("a", "output")])
        else:
            graph = _graph(nodes, [("input", "a"), ("a", clash), (clash, "output")])
    return v.case(graph, label=kind, mentions=(f"'{clash}'",))


class Foreign(nir.NIRNode):
    """A node type that no NIR reader knows."""

    def __init__(self, gain):
        self.gain, self.metadata = gain, {}
        self.input_type, self.output_type = {"input": np.array([3])}, {"output": np.array([3])}


@family("alien_nodes", "nodes that are not NIR nodes (None, numbers, text, dicts, unknown types), graphs that are "
        "not graphs, and files whose node types are unknown or mistyped")
def _alien_nodes(v: Variant) -> Case:
    name, graph = v.base("mlp", "feedforward", "scaled")
    victim = v.pick([n for n, node in graph.nodes.items() if not isinstance(node, (nir.Input, nir.Output))])
    if v.index % 2:  # a file
        value = v.cycle(["Banana", 42, b"\xff", "NIRGraph", "Input", "nir.LIF", "", "Conv3d"])
        return v.case(graph, [Edit((victim,), "type", value)], label=f"{name}: {victim} of type {value!r}", memory=False,
                      mentions=(victim,))
    kind = v.cycle(["None", "int", "text", "dict", "array", "foreign", "graph None", "graph dict", "graph int",
                    "nodes a list", "graph a path of nothing", "graph a list"])
    if kind.startswith("graph"):
        value = {"graph None": None, "graph dict": {"nodes": {}, "edges": []}, "graph int": 42,
                 "graph a path of nothing": str(v.folder / "nothing.nir"), "graph a list": [graph]}[kind]
        return Case(v.family, v.index, kind, INVALID, graph=value)
    if kind == "nodes a list":
        graph.nodes = list(graph.nodes.values())
        return Case(v.family, v.index, kind, INVALID, graph=graph)
    graph.nodes[victim] = {"None": None, "int": 3, "text": "LIF", "dict": {"type": "LIF", "tau": 1.0},
                           "array": np.zeros(3), "foreign": Foreign(2.0)}[kind]
    rule = "node type" if kind == "foreign" else None  # a NIRNode of a type nirdeploy lacks: check reports it
    return Case(v.family, v.index, f"{name}: {victim} is {kind}", INVALID, graph=graph, mentions=(victim,),
                report_rule=rule)


@family("wrong_dtypes", "parameters of text, object, bool, integer, float16 or date type; lists, tuples and None "
        "in memory")
def _wrong_dtypes(v: Variant) -> Case:
    name, graph, path, node, field = _field_target(v, "mlp", "feedforward", "scaled", "delayed")
    current = np.asarray(getattr(node, field))
    options = [("text", np.full(current.shape, "fast"), INVALID), ("bytes", np.full(current.shape, b"x"), INVALID),
               ("float16", current.astype(np.float16), EITHER), ("float32", current.astype(np.float32), VALID),
               ("bool", current != 0, EITHER), ("int", np.rint(current).astype(np.int64), EITHER)]
    if v.index % 3 == 2:
        options += [("a list", current.tolist(), EITHER), ("a tuple", tuple(current.ravel().tolist()), EITHER),
                    ("None", None, INVALID), ("dates", np.full(current.shape, np.datetime64("2024-01-01")), INVALID),
                    ("a ragged list", [[1.0], [1.0, 2.0]], INVALID),
                    ("a dict", {"value": 1.0}, INVALID), ("object array", np.array([object()] * max(current.size, 1)), INVALID)]
    label, value, expect = v.cycle(options)
    return v.case(graph, [Edit(path, field, value)], expect=expect, label=f"{name}: {path[-1]}.{field} as {label}",
                  mentions=(path[-1], field) if expect == INVALID else ())


@family("recurrence", "algebraic loops (cycles with no neuron or delay), self-loops, recurrent neurons, cycles "
        "through a Delay, a cycle no input reaches")
def _recurrence(v: Variant) -> Case:
    kind = v.cycle(["algebraic", "affine self-loop", "recurrent lif", "through delay", "unreached cycle",
                    "lif self-loop", "scale loop"])
    r = graphs.rng(_seed(v.rng))
    a = lambda: graphs.affine(4, 4, int(r.integers(1000)), gain=0.4)
    nodes = {"input": graphs.io(4)[0], "fc": a(), "lif": graphs.uniform_lif(4), "output": graphs.io(4)[1]}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output")]
    expect, rule = VALID, None
    if kind == "algebraic":
        nodes["back"] = a()
        edges += [("fc", "back"), ("back", "fc")]
        expect, rule = INVALID, "algebraic loop"
    elif kind == "affine self-loop":
        edges += [("fc", "fc")]
        expect, rule = INVALID, "algebraic loop"
    elif kind == "scale loop":
        nodes["scale"] = nir.Scale(np.full(4, 0.5))
        edges += [("fc", "scale"), ("scale", "fc")]
        expect, rule = INVALID, "algebraic loop"
    elif kind == "recurrent lif":
        nodes["rec"] = a()
        edges += [("lif", "rec"), ("rec", "lif")]
    elif kind == "lif self-loop":
        edges += [("lif", "lif")]
    elif kind == "through delay":
        nodes["delay"], nodes["back"] = nir.Delay(np.full(4, 2 * DT)), a()
        edges += [("fc", "delay"), ("delay", "back"), ("back", "fc")]
    else:
        nodes["x"], nodes["y"] = graphs.uniform_lif(4), a()
        edges += [("x", "y"), ("y", "x")]
        expect = EITHER
    return v.case(_graph(nodes, edges), expect=expect, label=kind, report_rule=rule, mentions=())


# --- the corpus -------------------------------------------------------------------------------------------------
def counts(total: int) -> dict:
    """Cases per family for about ``total`` cases in all, by each family's share (at least one each)."""
    shares = {name: share for name, (_, _, share) in FAMILIES.items()}
    scale = total / sum(shares.values())
    return {name: max(1, round(share * scale)) for name, share in shares.items()}


def generate(total: int, folder: Path, seed: int = 0, families=None) -> list:
    """About ``total`` cases over every family (or those named), files written under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, count in counts(total).items():
        if families and name not in families:
            continue
        builder = FAMILIES[name][0]
        for index in range(count):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), index])
            cases.append(builder(Variant(name, index, rng, folder)))
    return cases


def default_cases(fallback: int) -> int:
    """Cases in all: ``$NIRDEPLOY_FUZZ_CASES``, else ``fallback``."""
    return int(os.environ.get("NIRDEPLOY_FUZZ_CASES", fallback))


# --- one operation, in the worker -----------------------------------------------------------------------------
def operations_for(case: Case, script: bool) -> list:
    """The operations a case goes through: the API always; the command line for files; the console script
    where ``script``."""
    ops = list(API_OPERATIONS)
    if case.path is not None:
        ops += CLI_OPERATIONS + (SCRIPT_OPERATIONS if script else ())
    return ops


def perform(case: Case, op: str) -> dict:
    """Run ``op`` on ``case`` here: {'outcome': error|valid|crash, 'detail': ...}."""
    from nirdeploy.errors import NirdeployError

    kind, _, argument = op.partition(":")
    try:
        if kind == "import":
            detail = _import(case, argument)
        elif kind == "check":
            detail = _check(case, argument)
        else:
            return _cli_in_process(case, argument)
    except NirdeployError as error:
        return {"outcome": "error", "detail": f"{type(error).__name__}: {error}"}
    except (Exception, SystemExit) as error:
        return {"outcome": "crash", "detail": "".join(traceback.format_exception(error))[-3000:]}
    return {"outcome": "valid", "detail": detail}


def _import(case: Case, step_mode: str) -> str:
    """Import, then run a few steps: the model must take the declared inputs and give the declared outputs,
    with one module per NIR node."""
    import torch

    import nirdeploy

    gm = nirdeploy.import_from_nir(case.source, dt=DT, step_mode=step_mode)
    graph = nir.read(case.path, type_check=False) if case.path is not None else case.source
    inputs = [_declared(node) for node in graph.nodes.values() if isinstance(node, nir.Input)]
    outputs = [_declared(node) for node in graph.nodes.values() if isinstance(node, nir.Output)]
    assert isinstance(gm, torch.fx.GraphModule), f"import returned a {type(gm).__name__}"
    assert set(gm.meta["nir_modules"]) == set(inner_names(graph)), "one module per NIR node, by NIR name"
    steps, batch = 3, 2
    generator = torch.Generator().manual_seed(case.index)
    spikes = [(torch.rand((steps, batch, *shape), generator=generator) < 0.3).float() for shape in inputs]
    if step_mode == "m":
        results = [_as_tuple(gm(*spikes))]
        lead = (steps, batch)
    else:
        results = [_as_tuple(gm(*(x[t] for x in spikes))) for t in range(steps)]
        lead = (batch,)
    for result in results:
        assert len(result) == len(outputs), f"{len(result)} outputs for {len(outputs)} Output nodes"
        for tensor, declared in zip(result, outputs):
            tail = tuple(tensor.shape[len(lead):])
            assert tuple(tensor.shape[:len(lead)]) == lead and declared[len(declared) - len(tail):] == tail, \
                f"an output of shape {list(tensor.shape)} for a declared {list(declared)}"
            assert tensor.dtype == torch.float32
    return f"ran {steps} steps"


def _declared(node) -> tuple:
    value = node.input_type["input"] if isinstance(node, nir.Input) else node.output_type["output"]
    return tuple(int(d) for d in np.atleast_1d(value))


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def inner_names(graph: nir.NIRGraph) -> list:
    """Every node but the graph's own Inputs and Outputs, named 'sub.node' through subgraphs (whose
    Inputs and Outputs are dropped)."""
    names, stack = [], [("", graph)]
    while stack:
        prefix, current = stack.pop()
        for name, node in current.nodes.items():
            if isinstance(node, nir.NIRGraph):
                stack.append((f"{prefix}{name}.", node))
            elif not isinstance(node, (nir.Input, nir.Output)):
                names.append(prefix + name)
    return names


def _check(case: Case, target: str) -> str:
    import nirdeploy

    report = nirdeploy.check(case.source, target, dt=DT)
    assert isinstance(report, nirdeploy.CheckReport), f"check returned a {type(report).__name__}"
    json.dumps(report.to_dict())
    str(report)
    for problem in report.problems:
        assert all(isinstance(getattr(problem, f), str) for f in ("node", "rule", "found", "limit", "suggestion"))
    for resource_name, used in report.resources.items():
        assert isinstance(used["used"], int) and used["used"] >= 0, f"resource {resource_name} used {used['used']!r}"
    refused = [p for p in report.errors if p.rule == case.report_rule]
    return f"refused by report: {refused[0].found}" if refused else f"ok={report.ok}"


def _cli_arguments(case: Case, command: str) -> list:
    return [command, case.path] + (["--target", "snntorch"] if command == "check" else [])


def _cli_in_process(case: Case, command: str) -> dict:
    """``nirdeploy.cli.main``, as the console script calls it, with its output captured."""
    from nirdeploy import cli

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(_cli_arguments(case, command))
            except SystemExit as exit_:
                code = exit_.code
    except Exception as error:
        return {"outcome": "crash", "detail": "".join(traceback.format_exception(error))[-3000:]}
    return cli_outcome(command, code, err.getvalue())


def cli_outcome(command: str, code, stderr: str) -> dict:
    """Exit 0 (inspect) or 0/1 (check): a valid result; exit 2 with one paragraph 'nirdeploy COMMAND: ...'
    and no traceback: a clean error; anything else a crash."""
    if "Traceback" in stderr:
        return {"outcome": "crash", "detail": stderr[-3000:]}
    if code == 2:
        starts = [i for i, line in enumerate(stderr.splitlines()) if line.startswith(f"nirdeploy {command}: ")]
        message = "\n".join(stderr.splitlines()[starts[0]:]).strip() if len(starts) == 1 else ""
        if not message or "\n\n" in message:
            return {"outcome": "crash", "detail": f"exit 2 without one paragraph 'nirdeploy {command}: ...': {stderr[-2000:]}"}
        return {"outcome": "error", "detail": message}
    if code == 0 or (code == 1 and command == "check"):
        return {"outcome": "valid", "detail": f"exit {code}"}
    return {"outcome": "crash", "detail": f"exit {code}: {stderr[-2000:]}"}


def _address_space() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _serve(connection, budget: str, headroom: int) -> None:
    """The worker: limits set once, then one operation per request until told to stop."""
    import warnings

    os.environ["NIRDEPLOY_MEMORY_BUDGET"] = budget
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(1)
    import nirdeploy.cli  # noqa: F401  (everything an operation needs, loaded before the limit)

    limit = _address_space() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    connection.send(("ready", limit))
    while (request := connection.recv()) is not None:
        case, op = request
        start = time.perf_counter()
        result = perform(case, op)
        result.update(seconds=time.perf_counter() - start, peak_rss=_peak_rss())
        connection.send(result)


class Worker:
    """A process that runs operations under an address-space limit; one that overruns the time bound is
    killed and replaced (the operation is a hang), one that dies is a crash."""

    def __init__(self, budget: str = BUDGET, headroom: int = HEADROOM, time_limit: float = TIME_LIMIT):
        self.budget, self.headroom, self.time_limit = budget, headroom, time_limit
        self.process = None
        self.limit = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, self.budget, self.headroom), daemon=True)
        self.process.start()
        child.close()
        if not self.connection.poll(180):
            raise RuntimeError("the fuzz worker did not start within 180 s")
        _, self.limit = self.connection.recv()

    def run(self, case: Case, op: str) -> dict:
        if self.process is None or not self.process.is_alive():
            self._start()
        start = time.perf_counter()
        self.connection.send((case, op))
        try:
            if self.connection.poll(self.time_limit):
                return self.connection.recv()
        except EOFError:
            self.process.join(5)
            return {"outcome": "crash", "detail": f"the worker died (exit code {self.process.exitcode})",
                    "seconds": time.perf_counter() - start, "peak_rss": 0}
        self.close(kill=True)
        return {"outcome": "hang", "detail": f"no result within {self.time_limit:g} s", "seconds": self.time_limit,
                "peak_rss": 0}

    def close(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(Exception):
                self.connection.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process = None


def run_script(case: Case, command: str, budget: str = BUDGET, headroom: int = HEADROOM,
               time_limit: float = SCRIPT_TIME_LIMIT) -> dict:
    """The console script, as a user runs it, under the same budget and an address-space limit."""
    limit = 2**30 + headroom  # what a fresh interpreter holds after importing torch, and the headroom

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "NIRDEPLOY_MEMORY_BUDGET": budget, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run([str(CONSOLE), *_cli_arguments(case, command)], capture_output=True, text=True,
                              timeout=time_limit, env=env, preexec_fn=limited)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "detail": f"no exit within {time_limit:g} s", "seconds": time_limit, "peak_rss": 0}
    result = cli_outcome(command, done.returncode, done.stderr)
    result.update(seconds=time.perf_counter() - start, peak_rss=0)
    return result


# --- a run of the corpus, and its verdicts ----------------------------------------------------------------------
@dataclass
class Record:
    case: Case
    op: str
    outcome: str
    detail: str
    seconds: float
    peak_rss: int
    verdict: str = field(init=False)
    unnamed: tuple = field(init=False)  # what a refusal should name and does not

    def __post_init__(self):
        self.verdict = verdict(self.case, self.op, self.outcome, self.detail)
        names = self.case.mentions + ((self.case.path,) if self.case.path is not None else ())
        self.unnamed = tuple(m for m in names if m not in self.detail) if self.outcome == "error" else ()

    @property
    def failed(self) -> bool:
        return self.verdict in ("crash", "hang", "garbage", "refused")

    def describe(self) -> str:
        return f"{self.case.name} [{self.op}]: {self.verdict}: {self.detail.strip()[-1500:]}"


def verdict(case: Case, op: str, outcome: str, detail: str) -> str:
    """The outcome judged against what the case expects. A case with a ``report_rule`` (an algebraic loop:
    well formed, but with no value to compute) is refused by import, reported as an error by check (exit 1
    on the command line), and may be shown by inspect."""
    if outcome in ("crash", "hang"):
        return outcome
    if outcome == "valid" and case.expect == INVALID:
        if case.report_rule and (detail.startswith("refused by report") or detail == "exit 1"):
            return "error"
        return "valid" if case.report_rule and op.endswith("inspect") else "garbage"
    if outcome == "error" and case.expect == VALID:
        return "refused"
    return outcome


def script_sample(cases: list, count: Optional[int] = None) -> set:
    """(family, index) of the cases the console script runs: the first file case of each family in turn,
    ``count`` in all (None: one per family)."""
    firsts = {}
    for case in cases:
        if case.path is not None:
            firsts.setdefault(case.family, (case.family, case.index))
    chosen = list(firsts.values())
    return set(chosen if count is None else chosen[::max(1, len(chosen) // max(count, 1))][:count])


def run_corpus(cases: list, script_cases: Optional[int] = None, progress: Optional[Callable] = None, **limits
               ) -> list:
    """Every case through its operations: the API and in-process CLI in a :class:`Worker`, the console script
    (on ``script_cases`` file cases, spread over the families; None: one per family) in subprocesses
    alongside. A list of :class:`Record`."""
    sample = script_sample(cases, script_cases)
    worker, records = Worker(**limits), []
    script_limits = {k: v for k, v in limits.items() if k in ("budget", "headroom")}
    with ThreadPoolExecutor(max_workers=1) as pool:
        scripts = [(case, op, pool.submit(run_script, case, op.split(":")[1], **script_limits))
                   for case in cases if (case.family, case.index) in sample
                   for op in SCRIPT_OPERATIONS if case.path is not None]
        try:
            for number, case in enumerate(cases, 1):
                for op in operations_for(case, script=False):
                    result = worker.run(case, op)
                    records.append(Record(case, op, result["outcome"], result["detail"], result["seconds"],
                                          result["peak_rss"]))
                if progress:
                    progress(number, len(cases), case)
        finally:
            worker.close()
        for case, op, future in scripts:
            result = future.result()
            records.append(Record(case, op, result["outcome"], result["detail"], result["seconds"], result["peak_rss"]))
    return records


def summary(records: list) -> dict:
    """Per family: cases, operations, each verdict's count, the slowest operation and the peak RSS."""
    table = defaultdict(lambda: {"cases": set(), "operations": 0, **{v: 0 for v in VERDICTS}, "slowest_s": 0.0,
                                 "peak_rss_mib": 0.0})
    for record in records:
        row = table[record.case.family]
        row["cases"].add(record.case.index)
        row["operations"] += 1
        row[record.verdict] += 1
        row["slowest_s"] = max(row["slowest_s"], record.seconds)
        row["peak_rss_mib"] = max(row["peak_rss_mib"], record.peak_rss / 2**20)
    return {name: {**row, "cases": len(row["cases"])} for name, row in table.items()}


def format_summary(table: dict) -> str:
    """The per-family table, in Markdown."""
    columns = ["cases", "operations", "error", "valid", "crash", "hang", "garbage", "refused", "slowest_s"]
    heads = ["family", "cases", "operations", "clean error", "valid result", "crash", "hang", "garbage accepted",
             "control refused", "slowest operation"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    total = Counter()
    for name, row in table.items():
        total.update({c: row[c] for c in columns if c != "slowest_s"})
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f} s" if c == "slowest_s" else str(row[c])
                                                  for c in columns) + " |")
    slowest = max((row["slowest_s"] for row in table.values()), default=0.0)
    lines.append("| **all** | " + " | ".join(f"{slowest:.2f} s" if c == "slowest_s" else f"**{total[c]}**"
                                             for c in columns) + " |")
    return "\n".join(lines)
