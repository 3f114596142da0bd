"""The validating reader: every graph, from a file or in memory, is checked here before anything is built.

Checks run in order of cost, so that a hostile file is refused before it is
allocated: the HDF5 layout and declared sizes (before nir.read reads a byte of
data), then each node's fields (real, finite, in range, integral where NIR
means integers), then the edges and the shapes along them. Every refusal is a
:class:`NirdeployError` naming the source, the node, the field, the value and
the fix.
"""

import dataclasses
import math
from collections import deque
import os
import re
from typing import Optional

import h5py
import nir
import numpy as np

from .errors import GraphFileError, InvalidArgumentError, MemoryBudgetError, UnsupportedNodeError, spell

BUDGET_VARIABLE = "NIRDEPLOY_MEMORY_BUDGET"
DEFAULT_BUDGET = 4 * 2**30
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def memory_budget() -> int:
    """Bytes one graph, input or run may need: ``$NIRDEPLOY_MEMORY_BUDGET`` ("8GiB", "500MB", bytes), else 4 GiB."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return DEFAULT_BUDGET
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)", text.lower())
    if not match or match.group(2) not in _UNITS:
        raise InvalidArgumentError(f"{BUDGET_VARIABLE}={text!r} is not a size; write bytes or a size such as "
                                   "8GiB or 500MB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def require_within_budget(needed: float, what: str, fix: str) -> None:
    """Refuse ``what`` (a phrase naming the thing and where it comes from) when it needs more than the budget."""
    budget = memory_budget()
    if needed > budget:
        raise MemoryBudgetError(
            f"{what} would need {format_bytes(needed)} ({int(needed)} bytes), over the memory budget of "
            f"{format_bytes(budget)}; {fix}, or raise the budget ({spell('os.environ', 'the environment variable')} "
            f"{BUDGET_VARIABLE}, e.g. {BUDGET_VARIABLE}=16GiB)")


# --- the file, before nir.read reads it ------------------------------------------------------------------
MAX_NESTING = 64  # subgraph levels below the graph itself; nir.read recurses once per level
# Fields every node of a type must carry in the file (nir fills some with defaults when they are missing,
# which would run a truncated file as if nothing were wrong); v_reset and input_shape predate NIR 1.0.
NOT_REQUIRED = {"input_type", "output_type", "metadata", "v_reset", "input_shape"}


def required_fields(kind: str) -> list:
    if kind in ("Input", "Output"):
        return ["shape"]
    node_type = getattr(nir, kind, None)
    if not (isinstance(node_type, type) and dataclasses.is_dataclass(node_type)):
        return []  # an unknown type: import and check name it
    return [f.name for f in dataclasses.fields(node_type) if f.name not in NOT_REQUIRED]


def _text(dataset) -> Optional[str]:
    value = dataset[()] if isinstance(dataset, h5py.Dataset) and dataset.size < 1000 else None
    return value.decode("utf8", "replace") if isinstance(value, bytes) else value if isinstance(value, str) else None


def check_file(file: h5py.File, source: str) -> None:
    """The file's NIR version, its nesting depth, the fields each node needs and its declared data size
    against the budget, read from the HDF5 layout without reading any array."""
    if "node" not in file or not isinstance(file["node"], h5py.Group):
        raise GraphFileError(f"{source} has no 'node' group: it is not a NIR file (nir.write writes one)")
    _check_version(file, source)
    stack = [(file["node"], "(graph)", 0)]  # a node's group, its name and the subgraph level it is at
    while stack:
        group, name, level = stack.pop()
        kind = _text(group.get("type"))
        missing = [field for field in required_fields(kind or "") if field not in group]
        if missing:
            raise GraphFileError(f"{source}: node '{name}' ({kind}) lacks the field(s) {', '.join(missing)}; the "
                                 "file is incomplete or was not written by nir.write")
        if kind != "NIRGraph" or not isinstance(group["nodes"], h5py.Group):
            continue
        if level > MAX_NESTING:
            raise GraphFileError(f"{source}: subgraph '{name}' is nested {level} levels deep; nirdeploy reads "
                                 f"at most {MAX_NESTING}. Inline the subgraphs.")
        prefix = "" if level == 0 else f"{name}."
        stack += [(node, f"{prefix}{child}", level + 1) for child, node in group["nodes"].items()
                  if isinstance(node, h5py.Group)]
    total = _declared_bytes(file["node"])
    require_within_budget(total, f"{source} declares {format_bytes(total)} of arrays; reading them",
                          "check that the file is the one meant")


def _declared_bytes(group: h5py.Group) -> int:
    """The bytes every dataset under ``group`` declares (shape x item size), from the layout alone."""
    total = 0

    def add(name: bytes, info) -> None:
        nonlocal total
        if info.type == h5py.h5o.TYPE_DATASET:
            dataset = h5py.h5d.open(group.id, name)
            total += dataset.get_space().get_simple_extent_npoints() * dataset.get_type().get_size()

    h5py.h5o.visit(group.id, add, info=True)
    return total


def _check_version(file: h5py.File, source: str) -> None:
    if "version" not in file:
        return
    item = file["version"]
    version = _text(item)
    major = version.split(".")[0] if version else ""
    if not major.isdigit() or int(major) > int(nir.version.split(".")[0]):
        found = repr(version) if version is not None else repr(item[()]) if isinstance(item, h5py.Dataset) and \
            item.size < 100 else f"a {type(item).__name__}"
        raise GraphFileError(f"{source} says it was written by NIR version {found} ('version'); nirdeploy reads "
                             f"NIR {nir.version.split('.')[0]}.x files (nir {nir.version}): write it with that nir")


# --- the graph, from a file or in memory -----------------------------------------------------------------
# Time constants and gains: positive. snnTorch's exporter writes a decay of exactly 1 as +inf in these.
POSITIVE = ("tau", "tau_mem", "tau_syn", "r", "w_in")
# Integer fields, with the least value each may take.
INTEGERS = {"stride": 1, "dilation": 1, "groups": 1, "kernel_size": 1, "padding": 0, "input_shape": 1}
PADDING_WORDS = ("same", "valid")


class _Refusal:
    """Builds the one message format of every refusal: source, node, field, value, fix."""

    def __init__(self, source: str, name: str, node):
        self.where = f"{source}: node '{name}' ({type(node).__name__})"

    def __call__(self, field: str, value, problem: str, fix: str) -> UnsupportedNodeError:
        return UnsupportedNodeError(f"{self.where} has {field} = {_show(value)}: {problem}. {fix}")


def _show(value) -> str:
    try:
        array = None if isinstance(value, str) else np.asarray(value)
    except ValueError:  # ragged
        array = None
    if array is None or array.size <= 4:
        text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
        return text if len(text) <= 200 else f"{text[:200]}..."
    return f"an array of shape {list(array.shape)} ({array.dtype}) holding {array.flat[0]!r}, ..."


def _numbers(refuse, field: str, value, allow_inf: bool) -> np.ndarray:
    """``value`` as a real float array, or a refusal: no complex, text or object values, no NaN or inf."""
    try:
        array = np.asarray(value)
    except Exception:
        array = np.asarray(None, dtype=object)
    if array.dtype.kind == "c":
        raise refuse(field, value, "complex values", "NIR parameters are real numbers; write the real part")
    if array.dtype.kind not in "biuf":
        raise refuse(field, value, f"{array.dtype} values, not numbers", "write a numeric array")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array) & ~(allow_inf & np.isposinf(array))
    if np.any(bad):
        raise refuse(field, value, f"{int(bad.sum())} non-finite value(s) ({array[bad].flat[0]})",
                     "every parameter must be a finite number")
    return array


def _word(value) -> Optional[str]:
    """A padding given as a word ('same', 'valid', or any text), else None."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8", "replace")
    return str(value) if isinstance(value, (str, np.str_)) else None


def _integers(refuse, field: str, value, least: int) -> np.ndarray:
    word = _word(value) if field == "padding" else None
    if word is not None:
        if word not in PADDING_WORDS:
            raise refuse(field, value, "not a padding", f"write {' or '.join(PADDING_WORDS)} or integers")
        return np.zeros(1)
    array = _numbers(refuse, field, value, allow_inf=False)
    if array.ndim > 1 or array.size == 0 or np.any(array != np.rint(array)) or np.any(array < least):
        raise refuse(field, value, f"not {'a positive' if least else 'a non-negative'} integer (or one per dim)",
                     f"write whole numbers >= {least}")
    return array.ravel()


def _shape(refuse, field: str, value) -> tuple:
    """A declared shape: a 1-d array of positive integers."""
    try:
        array = np.asarray(value)
    except Exception:
        array = np.asarray(None, dtype=object)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)) \
            or np.any(array != np.rint(array)) or np.any(array < 1):
        raise refuse(field, value, "not a shape", "a shape is a list of positive integers, e.g. [16] or [2, 34, 34]")
    return tuple(int(d) for d in array)


def _check_spatial(refuse, node, fields: dict, dims: int) -> None:
    for field, value in fields.items():
        if field in INTEGERS and value is not None:
            array = _integers(refuse, field, value, INTEGERS[field])
            if array.size not in (1, dims) and field != "groups":
                raise refuse(field, value, f"{array.size} values for {dims} spatial dim(s)", f"give 1 or {dims}")


def _check_weights(refuse, node, fields: dict) -> None:
    weight = _numbers(refuse, "weight", fields["weight"], allow_inf=False)
    dims = {nir.Affine: 0, nir.Linear: 0, nir.Conv1d: 1, nir.Conv2d: 2}[type(node)]
    if weight.ndim != dims + 2 or 0 in weight.shape:
        raise refuse("weight", fields["weight"], f"shape {list(weight.shape)}",
                     f"a {type(node).__name__} weight has {dims + 2} non-empty dims")
    if "bias" in fields:
        bias = _numbers(refuse, "bias", fields["bias"], allow_inf=False)
        if bias.shape not in ((weight.shape[0],), ()):
            raise refuse("bias", fields["bias"], f"shape {list(bias.shape)}",
                         f"one bias per output ({weight.shape[0]})")
    if dims:
        _check_spatial(refuse, node, fields, dims)
        if _word(fields["padding"]) == "same" and np.any(np.asarray(fields["stride"]) != 1):
            raise refuse("padding", fields["padding"], f"'same' with stride {_show(fields['stride'])}", "'same' "
                         "padding is defined for stride 1 only (as in torch): give the padding as integers")
        groups = _integers(refuse, "groups", fields["groups"], 1)
        if groups.size != 1 or weight.shape[0] % int(groups[0]):
            raise refuse("groups", fields["groups"], f"not one number dividing the {weight.shape[0]} output "
                         "channels", "write the groups the convolution was trained with")


def _check_neuron(refuse, node, fields: dict, producer: str) -> None:
    from .semantics import reset_mode

    arrays = {}
    for field, value in fields.items():
        allow_inf = producer == "snntorch" and field in POSITIVE
        arrays[field] = _numbers(refuse, field, value, allow_inf)
        if field in POSITIVE and np.any(arrays[field] <= 0):
            raise refuse(field, value, "a value <= 0", "time constants and gains must be positive")
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = {field: list(a.shape) for field, a in arrays.items()}
        raise refuse("its parameters", shapes, "shapes that do not fit one population",
                     "give every parameter one value per neuron, or one value") from None
    threshold = arrays.get("v_threshold")
    if threshold is None:
        return
    floor = 0.0 if reset_mode(node) == "subtract" else arrays.get("v_reset")
    if floor is not None and np.any(threshold <= floor):
        raise refuse("v_threshold", fields["v_threshold"], "not above the reset potential" if reset_mode(node) ==
                     "hard" else "not positive, with subtractive reset", "a neuron fires when v crosses its "
                     "threshold from its reset potential: v_threshold must exceed v_reset")


def _check_pool(refuse, node, fields: dict) -> None:
    _check_spatial(refuse, node, fields, 2)
    kernel, padding = (np.resize(_integers(refuse, f, fields[f], INTEGERS[f]), 2) for f in ("kernel_size", "padding"))
    if np.any(padding > kernel // 2):
        raise refuse("padding", fields["padding"], f"more than half the kernel {kernel.tolist()}", "a pool pads at "
                     "most half its kernel (as in torch); pad the input with a layer before it instead")


def _check_flatten(refuse, node, fields: dict) -> None:
    shape = (node.input_type or {}).get("input")
    start, end = (_integers(refuse, f, fields[f], -10**9) for f in ("start_dim", "end_dim"))
    if start.size != 1 or end.size != 1:
        raise refuse("start_dim", fields["start_dim"], "not one integer", "give one dim each")
    if shape is None:
        return
    rank = len(_shape(refuse, "input_type", shape))
    first, last = (int(d[0]) + rank if d[0] < 0 else int(d[0]) for d in (start, end))
    if not 0 <= first <= last < rank:
        raise refuse("start_dim, end_dim", [int(start[0]), int(end[0])], f"outside the input's {rank} dims or in "
                     "the wrong order", f"give dims in -{rank}..{rank - 1}, start_dim <= end_dim")


def check_node(name: str, node, source: str, producer: str) -> None:
    """One node's fields: real, finite, integral where NIR means integers, in range, of fitting shapes."""
    from .passes import node_fields
    from .semantics import NEURON_TYPES, WEIGHT_TYPES

    refuse, fields = _Refusal(source, name, node), node_fields(node)
    kind = type(node).__name__
    for field in required_fields(kind) if not isinstance(node, (nir.Input, nir.Output)) else ():
        if fields.get(field) is None:
            raise refuse(field, None, "missing", f"every {kind} node needs its {field}")
    if isinstance(node, (nir.Input, nir.Output)):
        key = "input" if isinstance(node, nir.Input) else "output"
        _shape(refuse, "shape", (getattr(node, f"{key}_type") or {}).get(key))
    elif isinstance(node, WEIGHT_TYPES):
        _check_weights(refuse, node, fields)
    elif isinstance(node, NEURON_TYPES):
        _check_neuron(refuse, node, fields, producer)
    elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        _check_pool(refuse, node, fields)
    elif isinstance(node, nir.Flatten):
        _check_flatten(refuse, node, fields)
    elif isinstance(node, (nir.Scale, nir.Threshold, nir.Delay)):
        field = next(iter(fields))
        array = _numbers(refuse, field, fields[field], allow_inf=False)
        if isinstance(node, nir.Delay) and np.any(array < 0):
            raise refuse("delay", fields["delay"], "a negative delay", "delays are seconds >= 0")


def _check_edges(graph: nir.NIRGraph, where: str) -> None:
    subgraphs = [n for n, node in graph.nodes.items() if isinstance(node, nir.NIRGraph)]
    seen = set()
    for edge in graph.edges:
        if not (isinstance(edge, (tuple, list)) and len(edge) == 2 and all(isinstance(e, str) for e in edge)):
            raise UnsupportedNodeError(f"{where} has an edge {edge!r} that is not a pair of node names")
        pre, post = edge
        for end in edge:
            if end not in graph.nodes and not any(end.startswith(f"{s}.") for s in subgraphs):
                raise UnsupportedNodeError(f"{where} has an edge {pre} -> {post} to a node '{end}' it does not "
                                           "define; remove the edge or add the node")
        if isinstance(graph.nodes.get(pre), nir.Output):
            raise UnsupportedNodeError(f"{where} has an edge {pre} -> {post} out of its Output node '{pre}'; "
                                       "an Output ends the graph: connect the node that feeds it instead")
        if isinstance(graph.nodes.get(post), nir.Input):
            raise UnsupportedNodeError(f"{where} has an edge {pre} -> {post} into its Input node '{post}'; "
                                       "inputs are fed from outside the graph")
        if (pre, post) in seen:
            raise UnsupportedNodeError(f"{where} lists the edge {pre} -> {post} twice; list each edge once")
        seen.add((pre, post))
    for kind in (nir.Input, nir.Output):
        if not any(isinstance(node, kind) for node in graph.nodes.values()):
            raise UnsupportedNodeError(f"{where} has no {kind.__name__} node; a graph needs at least one")


def validate_graph(graph, source: str, producer: str) -> None:
    """Structure and fields of ``graph`` and every subgraph (iteratively: any depth), judged with the
    conventions of ``producer``; a NirdeployError naming node, field, value and fix otherwise."""
    if not isinstance(graph, nir.NIRGraph):
        raise InvalidArgumentError(f"{source} is a {type(graph).__name__}, not a nir.NIRGraph")
    stack, values = [(graph, "", 0)], 0
    while stack:
        current, prefix, depth = stack.pop()
        where = f"{source}, subgraph '{prefix[:-1]}'," if prefix else source
        if depth > MAX_NESTING:
            raise UnsupportedNodeError(f"{where} is nested {depth} levels deep; at most {MAX_NESTING}")
        if not isinstance(current.nodes, dict) or not isinstance(current.edges, (list, tuple)):
            raise UnsupportedNodeError(f"{where} needs a dict of nodes and a list of edges")
        for name, node in current.nodes.items():
            if not isinstance(name, str) or not name or "." in name and isinstance(node, nir.NIRGraph):
                raise UnsupportedNodeError(f"{where} has a node named {name!r}: node names are non-empty text "
                                           "(subgraph names without dots)")
            if not isinstance(node, nir.NIRNode):
                raise UnsupportedNodeError(f"{where} has node '{name}' that is a {type(node).__name__}, not a NIR "
                                           "node; build nodes from nir's classes (nir.LIF, nir.Affine, ...)")
            if isinstance(node, nir.NIRGraph):
                stack.append((node, f"{prefix}{name}.", depth + 1))
                continue
            values += sum(v.size for v in vars(node).values() if isinstance(v, np.ndarray))
            require_within_budget(values * 8, f"{where} holds {values} parameter values up to node '{prefix}{name}'; "
                                  "checking them as float64", "check the shapes of its arrays")
            check_node(prefix + name, node, source, producer)
        _check_edges(current, where)
    recorded_dt(graph, source)


def recorded_dt(graph: nir.NIRGraph, source: str = "the NIR graph") -> Optional[float]:
    """The dt ``graph.metadata['dt']`` records: None, or a positive number of seconds (a number, or text or
    bytes that spell one); anything else is refused."""
    dt = (graph.metadata or {}).get("dt")
    if dt is None:
        return None
    try:
        text = dt.decode() if isinstance(dt, bytes) else dt
        array = np.asarray(float(text) if isinstance(text, str) else text)
        value = float(array.reshape(())) if array.dtype.kind in "iuf" and array.size == 1 else math.nan
    except (TypeError, ValueError, UnicodeDecodeError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidArgumentError(
            f"{source} records dt = {_show(dt)} (graph.metadata['dt']), which is not a positive number of seconds; "
            f"give the time step yourself ({spell('dt=...', '--dt')}) after removing or fixing the record")
    return value


# --- the flattened graph at its dt -----------------------------------------------------------------------
BYTES_PER_VALUE = 16  # float32 state, input and output of each value, and one recorded copy


def element_count(shape) -> int:
    return 0 if shape is None else math.prod(int(d) for d in np.atleast_1d(shape))


def check_sizes(flat: nir.NIRGraph, shapes: dict, dt: float, source: str) -> None:
    """Per sample, the values every layer holds (``shapes``: what each node computes) and every Delay
    buffers, against the budget."""
    sizes = {name: element_count(shapes.get(name)) for name in flat.nodes}
    largest = max(sizes, key=sizes.get)
    require_within_budget(sum(sizes.values()) * BYTES_PER_VALUE,
                          f"{source}: one sample through its layers (node '{largest}' alone holds "
                          f"{sizes[largest]} values)", "check the declared shapes")
    for name, node in flat.nodes.items():
        if isinstance(node, nir.Delay):
            steps = float(np.max(np.asarray(node.delay, dtype=np.float64), initial=0.0)) / dt
            require_within_budget(steps * max(sizes[name], 1) * 4, f"{source}: Delay node '{name}' of "
                                  f"{steps:.3g} steps at dt={dt:g} s", "check its delay (in seconds)")


def check_delays(flat: nir.NIRGraph, dt: float, source: str) -> None:
    """Every delay a whole number of steps at ``dt`` (to float32 precision: exporters write float32)."""
    for name, node in flat.nodes.items():
        if isinstance(node, nir.Delay):
            steps = np.asarray(node.delay, dtype=np.float64) / dt
            if np.any(np.abs(steps - np.rint(steps)) > 1e-7 * np.maximum(1.0, steps)):
                raise UnsupportedNodeError(
                    f"{source}: Delay node '{name}' has delay = {_show(node.delay)} s, not whole multiples of "
                    f"dt={dt:g} s. Import at a dt that divides every delay.")


PARAMETRISED = (nir.IF, nir.LIF, nir.CubaLIF, nir.I, nir.LI, nir.CubaLI, nir.Scale, nir.Threshold, nir.Delay)


def _parameter_shape(node) -> tuple:
    """The one population a neuron, Scale, Threshold or Delay node's parameters describe (checked to broadcast)."""
    from .passes import node_fields

    return np.broadcast_shapes(*(np.shape(v) for v in node_fields(node).values()))


def _per_dim(value, dims: int) -> np.ndarray:
    return np.resize(np.atleast_1d(np.asarray(value)).astype(np.int64), dims)


def _takes(node) -> Optional[tuple]:
    """The input shape a node's own fields fix, if they do."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        return (np.shape(node.weight)[1],)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)) and node.input_shape is not None:
        spatial = tuple(int(d) for d in np.atleast_1d(node.input_shape))
        return (np.shape(node.weight)[1] * int(np.asarray(node.groups)), *spatial)
    if isinstance(node, PARAMETRISED):
        return _parameter_shape(node) or None
    if isinstance(node, nir.Output):
        return tuple(int(d) for d in np.atleast_1d(node.output_type["output"]))
    return None


def _onto(parameters: tuple, given: tuple) -> bool:
    """Whether parameters of shape ``parameters`` apply to an input of shape ``given`` (broadcast onto it)."""
    try:
        return np.broadcast_shapes(parameters, given) == given
    except ValueError:
        return False


def _spatial_output(given: tuple, kernel, stride, padding, dilation) -> tuple:
    """Each spatial dim of a convolution or pool, as torch computes it (padding 'same' keeps the size)."""
    dims = len(kernel)
    if _word(padding) is not None:
        return tuple(given) if _word(padding) == "same" else _spatial_output(given, kernel, stride, 0, dilation)
    stride, padding, dilation = (_per_dim(v, dims) for v in (stride, padding, dilation))
    return tuple(int((n + 2 * p - d * (k - 1) - 1) // s + 1)
                 for n, k, s, p, d in zip(given, kernel, stride, padding, dilation))


def _computes(name: str, node, given: Optional[tuple], pre: str, source: str) -> Optional[tuple]:
    """The shape ``node`` computes from an input of shape ``given`` (None: unknown), or a refusal naming the
    edge ``pre -> name`` when it cannot take it."""

    def disagree(takes, why: str = "") -> UnsupportedNodeError:
        return UnsupportedNodeError(
            f"{source}: shapes of connected nodes disagree: '{pre}' gives {list(given)} but '{name}' takes {takes} "
            f"({type(node).__name__}{why}). Fix the shapes (or the weights) so that each node takes what its source "
            "gives")

    takes = _takes(node)
    if isinstance(node, nir.Output):
        if given is not None and takes[len(takes) - len(given):] != given:  # an Output may add leading batch dims
            raise disagree(list(takes))
        return given
    if given is None:
        return None if isinstance(node, (nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, nir.Flatten)) else \
            (np.shape(node.weight)[0],) if isinstance(node, (nir.Affine, nir.Linear)) else takes
    if isinstance(node, (nir.Affine, nir.Linear)):
        if given != takes:
            raise disagree(list(takes))
        return (np.shape(node.weight)[0],)
    if isinstance(node, PARAMETRISED):
        if takes is not None and not _onto(takes, given):
            raise disagree(list(takes), ": the shape of its parameters")
        return given
    if isinstance(node, (nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d)):
        conv = isinstance(node, (nir.Conv1d, nir.Conv2d))
        kernel = np.shape(node.weight)[2:] if conv else tuple(_per_dim(node.kernel_size, 2))
        channels = (np.shape(node.weight)[1] * int(np.asarray(node.groups)),) if conv else given[:1]
        if len(given) != len(kernel) + 1 or given[:1] != channels or conv and takes is not None and given != takes:
            raise disagree(list(takes) if takes else f"[{channels[0] if channels else 'C'}, ...] with "
                           f"{len(kernel)} spatial dim(s)")
        spatial = _spatial_output(given[1:], kernel, node.stride, node.padding, node.dilation if conv else 1)
        if min(spatial) < 1:
            raise UnsupportedNodeError(
                f"{source}: node '{name}' ({type(node).__name__}) computes nothing from its input {list(given)}: "
                f"kernel {list(kernel)}, stride {_show(node.stride)}, padding {_show(node.padding)} leave "
                f"{list(spatial)}. Use a kernel that fits the (padded) input")
        return ((np.shape(node.weight)[0],) if conv else given[:1]) + spatial
    if isinstance(node, nir.Flatten):
        rank = len(given)
        first, last = (int(np.asarray(d).reshape(-1)[0]) for d in (node.start_dim, node.end_dim))
        first, last = (d + rank if d < 0 else d for d in (first, last))
        if not 0 <= first <= last < rank:
            raise UnsupportedNodeError(
                f"{source}: node '{name}' (Flatten) has start_dim, end_dim = {_show([node.start_dim, node.end_dim])} "
                f"outside its input's {rank} dims {list(given)} or in the wrong order; give dims in "
                f"-{rank}..{rank - 1}, start_dim <= end_dim")
        return given[:first] + (math.prod(given[first:last + 1]),) + given[last + 1:]
    return None


def propagate_shapes(flat: nir.NIRGraph, source: str) -> dict:
    """node -> the shape it computes, propagated from the Inputs along the edges (declared output types are
    not trusted: nir 1.0.8 derives a Conv2d's from one kernel dim, pools have none, and a node edited in
    memory keeps its old ones). An Input may declare leading batch dims its successor does not take. Refuses
    an edge whose ends disagree and a node no Input reaches."""
    successors = {name: [] for name in flat.nodes}
    for pre, post in flat.edges:
        successors[pre].append(post)
    shapes, given_to = {}, {}
    queue = deque(name for name, node in flat.nodes.items() if isinstance(node, nir.Input))
    for name in queue:
        shapes[name] = tuple(int(d) for d in np.atleast_1d(flat.nodes[name].input_type["input"]))
    while queue:
        pre = queue.popleft()
        for post in successors[pre]:
            node, given = flat.nodes[post], shapes[pre]
            takes = _takes(node)
            if isinstance(flat.nodes[pre], nir.Input) and given is not None and takes is not None and \
                    len(given) > len(takes) and given[len(given) - len(takes):] == takes:
                given = takes  # leading batch (or time) dims, as several exporters declare them
            if post in given_to:
                if given_to[post] != given and None not in (given, given_to[post]):
                    raise UnsupportedNodeError(
                        f"{source}: node '{post}' ({type(node).__name__}) is fed {list(given_to[post])} and, from "
                        f"'{pre}', {list(given)}; every input of a node must have one shape. Fix the shapes of its "
                        "sources")
                continue
            given_to[post] = given
            shapes[post] = _computes(post, node, given, pre, source)
            queue.append(post)
    fed = {post for _, post in flat.edges}
    for name, node in flat.nodes.items():
        if name not in shapes:
            why = "it has no incoming edge" if name not in fed else "only nodes no Input reaches feed it"
            raise UnsupportedNodeError(f"{source}: node '{name}' ({type(node).__name__}) is not reached from any "
                                       f"Input ({why}), so nothing drives it; connect it or remove it")
    return shapes


def check_flat(flat: nir.NIRGraph, dt: float, source: str) -> dict:
    """The flattened graph at ``dt``: shapes along every edge, every node reached, delays in whole steps,
    sizes within budget. Returns what each node computes (node -> shape)."""
    shapes = propagate_shapes(flat, source)
    check_delays(flat, dt, source)
    check_sizes(flat, shapes, dt, source)
    return shapes
