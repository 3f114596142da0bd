"""A resolved graph as Lava populations (CUBA LIF) and projections (Dense), in float and in Loihi's fixed point.

Numpy, scipy and nir only: nirdeploy builds the plan on Python 3.11 from each neuron's
resolved dynamics (:class:`nirdeploy.semantics.Dynamics`), saves it, and the
worker loads it on 3.10. Equations (docs/semantics.md, "Lava"): each population
is normalised, ``v' = (v - v_reset) / (v_threshold - v_reset)``, so that Lava's
reset to 0 and threshold 1 are v_reset and per-neuron v_threshold; every other
per-neuron factor goes into the weights (``gain``) or into a constant per step
(``leak``).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np
from scipy.sparse import csr_matrix

from .linear import LINEAR, Trace, affine_map, trace, window
# Fixed point: each population's threshold mantissa vth is its weight scale (Loihi adds w << 6 to u and
# fires above vth << 6), chosen so that its largest incoming weight is the largest mantissa that
# weight_bits keep in every sign mode (largest_mantissa); at most VTH_MAX, so
# that v and u (24 bits, saturating at 2**23) keep at least 32 thresholds of range.
VTH_MAX = 2**12
WEIGHT_BITS = 8  # Loihi's full weight precision; Dense's num_weight_bits may take fewer
ACTIVATION_SHIFT = 6
DECAY_UNIT = 4096
BIAS_MANT_MAX, BIAS_EXP_MAX = 4095, 7
V_LIMIT = 2**23  # v is 24-bit


class MappingError(ValueError):
    """A node or parameter Lava cannot represent; the message names the node, the field and the fix."""

    def __init__(self, node: str, message: str):
        super().__init__(f"node '{node}': {message}")
        self.node = node
        self.detail = message


@dataclass
class Population:
    """A CUBA LIF process: ``u = u (1 - du) + a_in``, ``v = v (1 - dv) + u + leak``, spike if ``v >= 1``."""

    name: str
    size: int
    du: np.ndarray  # per neuron; Lava takes one du and one dv per process, so the network has one process
    dv: np.ndarray  # per group of neurons that share them (``groups``)
    gain: np.ndarray  # per neuron: multiplies every weight into it (NIR input units -> thresholds)
    leak: np.ndarray  # per neuron, thresholds per step: v_leak's pull (and, for IF/LIF, Affine biases)
    v_initial: np.ndarray  # per neuron, in thresholds: v when the population's first step starts
    depth: int
    strict: bool = False  # fire where v > 1 (the producer's test), else where v >= 1

    @property
    def groups(self) -> list:
        """Index arrays of the neurons that share du and dv, in order of first appearance."""
        pairs = np.stack([self.du, self.dv], axis=1)
        _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        return [np.flatnonzero(inverse.ravel() == group) for group in np.argsort(first)]

    def fixed(self, vth: int) -> dict:
        """du, dv (per neuron), vth, bias_mant, bias_exp for Loihi's fixed point (lava-nc's bit-accurate LIF)."""
        du = np.round(self.du * DECAY_UNIT).astype(np.int64) - 1  # the bit-accurate model decays u by (du + 1) / 4096
        dv = np.round(self.dv * DECAY_UNIT).astype(np.int64)
        for field_name, value in (("du (1/tau_syn)", du), ("dv (1/tau)", dv)):
            if np.any((value < 0) | (value >= DECAY_UNIT)):
                raise MappingError(self.name, f"{field_name} reaches {value[(value < 0) | (value >= DECAY_UNIT)][0]} "
                                   "in Loihi's 12-bit decay, outside 0..4095; keep tau between dt and 4096 dt")
        # Whole vth units, as netx's file holds them (its bias_exp is 6), so that the file runs as this network.
        mant, exp = fixed_bias(self.name, np.round(self.leak * vth))
        start = np.round(self.v_initial * vth * 2**ACTIVATION_SHIFT).astype(np.int64)
        if np.any(np.abs(start) >= V_LIMIT):
            raise MappingError(self.name, f"an initial potential of {np.max(np.abs(self.v_initial)):.3g} thresholds "
                               "exceeds Loihi's 24-bit v at this weight scale; start v nearer to v_reset")
        return {"du": du, "dv": dv, "vth": vth, "bias_mant": mant, "bias_exp": exp, "v_init": start}


POPULATION_ARRAYS = ("du", "dv", "gain", "leak", "v_initial")
CSR_PARTS = ("data", "indices", "indptr")  # a projection's weights in plan.npz


@dataclass
class Projection:
    """A Dense (or Sparse) process ``pre -> post``, weights in thresholds per input spike (gain included)."""

    via: tuple  # the stateless nodes it computes, in order
    pre: str
    post: str
    weights: csr_matrix  # [post, pre], no zeros held: an unrolled convolution is mostly zeros
    conv: dict = None  # where ``via`` is one Conv2d: its geometry (:func:`conv_geometry`), for netx's conv layers
    peak: float = field(init=False)  # the largest |weight|, which sets the threshold mantissa of post

    def __post_init__(self):
        self.peak = float(abs(self.weights).max()) if self.weights.nnz else 0.0

    @property
    def node(self) -> str:
        return "+".join(self.via)

    @property
    def path(self) -> list:
        return [self.pre, *self.via, self.post]


@dataclass
class Route:
    """The stateless nodes ``chain`` ([(name, node)]) from ``pre`` (an input or a neuron layer, of output shape
    ``shape``) to the neuron layer ``post``: a projection before its weights are computed, and what computing
    them would take (``trace``)."""

    pre: str
    chain: list
    post: str
    shape: tuple
    trace: Trace

    @property
    def via(self) -> tuple:
        return tuple(name for name, _ in self.chain)

    @property
    def node(self) -> str:
        return "+".join(self.via)

    @property
    def path(self) -> list:
        return [self.pre, *self.via, self.post]


@dataclass
class Plan:
    """The Lava network of a graph: sources, CUBA LIF populations and the connections between them."""

    inputs: dict  # Input node -> size
    populations: dict  # neuron node -> Population
    projections: list
    # neuron node -> constant input to u per step (thresholds), from Affine biases into CubaLIF; IF and LIF,
    # whose u carries nothing over, take theirs into ``leak``
    biases: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)  # Output node -> neuron node feeding it
    weight_bits: int = WEIGHT_BITS  # bits per weight mantissa, sign included (Dense's num_weight_bits)

    @property
    def depth(self) -> int:
        return max((p.depth for p in self.populations.values()), default=0)

    def threshold_mantissa(self, name: str) -> int:
        """The fixed-point vth of population ``name``: its largest incoming weight (biases included) maps to
        the largest mantissa of ``weight_bits``."""
        bias = np.abs(np.atleast_1d(self.biases.get(name, 0.0)))
        peak = max([p.peak for p in self.projections if p.post == name] + [float(np.max(bias))])
        return int(np.clip(np.floor(largest_mantissa(self.weight_bits) / peak), 1, VTH_MAX)) if peak > 0 else VTH_MAX

    def fixed_population(self, name: str) -> dict:
        return self.populations[name].fixed(self.threshold_mantissa(name))

    def fixed_weights(self, weights: np.ndarray, post: str) -> tuple:
        """(mantissas, relative RMS error) of weights into population ``post``."""
        return quantise_weights(weights, self.threshold_mantissa(post), self.weight_bits)

    def save(self, folder: Path) -> None:
        """plan.json and plan.npz in ``folder``, for :meth:`load` in the worker."""
        arrays = {}
        populations = []
        for pop in self.populations.values():
            populations.append({"name": pop.name, "size": pop.size, "depth": pop.depth, "strict": pop.strict})
            arrays.update({f"population {pop.name} {key}": getattr(pop, key) for key in POPULATION_ARRAYS})
        projections = []
        for index, p in enumerate(self.projections):
            projections.append({"via": list(p.via), "pre": p.pre, "post": p.post, "conv": p.conv,
                                "shape": list(p.weights.shape)})
            arrays.update({f"projection {index} {part}": getattr(p.weights, part) for part in CSR_PARTS})
        arrays.update({f"bias {name}": np.asarray(value) for name, value in self.biases.items()})
        structure = {"inputs": self.inputs, "populations": populations, "projections": projections,
                     "biases": list(self.biases), "outputs": self.outputs, "weight_bits": self.weight_bits}
        (Path(folder) / "plan.json").write_text(json.dumps(structure))
        np.savez(Path(folder) / "plan.npz", **arrays)

    @classmethod
    def load(cls, folder: Path) -> "Plan":
        structure = json.loads((Path(folder) / "plan.json").read_text())
        arrays = np.load(Path(folder) / "plan.npz")
        populations = {
            p["name"]: Population(p["name"], p["size"], **{key: arrays[f"population {p['name']} {key}"]
                                                           for key in POPULATION_ARRAYS}, depth=p["depth"],
                                  strict=p["strict"])
            for p in structure["populations"]
        }
        projections = [Projection(tuple(p["via"]), p["pre"], p["post"], csr_matrix(
            tuple(arrays[f"projection {index} {part}"] for part in CSR_PARTS), shape=p["shape"]), p["conv"])
            for index, p in enumerate(structure["projections"])]
        biases = {name: arrays[f"bias {name}"] for name in structure["biases"]}
        return cls(structure["inputs"], populations, projections, biases, structure["outputs"], structure["weight_bits"])


def population(name: str, d, depth: int) -> Population:
    """The normalised CUBA LIF parameters that compute dynamics ``d`` (a nirdeploy.semantics.Dynamics)
    exactly, in real arithmetic: with ``D = v_threshold - v_reset``, ``u = v_gain i / D`` (du = 1 - i_decay;
    without a current du = 1 and ``u = v_gain x / D``), ``dv = 1 - v_decay``, the constant
    ``(drive - dv v_reset) / D`` per step and v starting at ``(v_initial - v_reset) / D``."""
    span = np.asarray(d.v_threshold - d.v_reset, dtype=np.float64).ravel()
    if np.any(span <= 0):
        raise MappingError(name, "v_threshold must exceed v_reset (Lava resets to 0 and fires above it)")
    size = span.size

    def per_neuron(value) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64).ravel(), (size,)).copy()

    dv = per_neuron(1.0 - d.v_decay)
    leak = (per_neuron(d.drive) - dv * per_neuron(d.v_reset)) / span
    start = (per_neuron(d.v_initial) - per_neuron(d.v_reset)) / span
    strict = d.threshold_test == ">"
    if d.i_decay is None:
        return Population(name, size, np.ones(size), dv, per_neuron(d.v_gain) / span, leak, start, depth, strict)
    gain = per_neuron(d.v_gain * d.i_gain) / span
    return Population(name, size, per_neuron(1.0 - d.i_decay), dv, gain, leak, start, depth, strict)


def layout(graph: nir.NIRGraph, dynamics: dict, depths: dict) -> tuple:
    """(a plan without projections, [Route]) of a flat graph (no subgraphs) whose neuron nodes have
    ``dynamics``; ``depths`` are the weight hops from the inputs. Shapes only: no weight matrix is computed.

    Every path of stateless nodes (LINEAR) from an input or a neuron layer to a neuron layer is one route.
    """
    preds = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
    succs = {name: [b for a, b in graph.edges if a == name] for name in graph.nodes}
    plan, shapes = Plan({}, {}, []), {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            shapes[name] = tuple(int(d) for d in node.input_type["input"])
            plan.inputs[name] = int(np.prod(shapes[name]))
        elif name in dynamics:
            shapes[name] = tuple(int(d) for d in node.output_type["output"])
            plan.populations[name] = population(name, dynamics[name], depths[name])
        elif isinstance(node, nir.Output):
            if len(preds[name]) != 1 or preds[name][0] not in dynamics:
                raise MappingError(name, f"is fed by {preds[name]}: Lava records spikes, so an output "
                                   "must be fed by one spiking neuron layer (IF, LIF, CubaLIF)")
            plan.outputs[name] = preds[name][0]
        elif not isinstance(node, LINEAR):
            raise MappingError(name, f"is a {type(node).__name__}, which the Lava target does not map; supported: "
                               "Input, Output, Affine, Linear, Conv2d, AvgPool2d, SumPool2d, Flatten, IF, LIF, CubaLIF")
    routes = [_route(plan, source, path, post, shapes[source])
              for source in [*plan.inputs, *plan.populations]
              for path, post in _paths(graph, set(dynamics), preds, succs, source)]
    return plan, routes


def _route(plan: Plan, source: str, path: list, post: str, shape: tuple) -> Route:
    try:
        traced = trace(path, shape)
    except ValueError as error:
        raise MappingError(path[0][0], f"cannot be applied to the {shape} output of '{source}': {error}") from None
    size, expected = int(np.prod(traced.shapes[-1])), plan.populations[post].size
    if size != expected:
        raise MappingError(path[-1][0], f"gives {size} values but '{post}' has {expected} neurons")
    return Route(source, path, post, shape, traced)


def make_plan(graph: nir.NIRGraph, dynamics: dict, depths: dict) -> Plan:
    """:func:`layout`'s plan with every projection."""
    return with_projections(*layout(graph, dynamics, depths))


def with_projections(plan: Plan, routes: list) -> Plan:
    """``plan`` with each route's projection: its affine map, computed by :func:`linear.affine_map` as a sparse
    matrix (:attr:`Route.trace` says how large before it is built)."""
    for route in routes:
        _add_projection(plan, route)
    return plan


def _paths(graph, neurons: set, preds: dict, succs: dict, source: str) -> list:
    """([(name, node)], neuron) for every path of stateless nodes from ``source`` to a neuron layer."""
    found = []

    def walk(name: str, path: list) -> None:
        for post in succs[name]:
            node = graph.nodes[post]
            if post in neurons:
                if not path:
                    raise MappingError(post, f"is fed by '{source}' directly: on Lava a neuron layer takes input "
                                       "only through weights; insert an identity Linear")
                found.append((path, post))
            elif isinstance(node, LINEAR):
                if len(preds[post]) != 1 or post in [n for n, _ in path]:
                    raise MappingError(post, f"is fed by {preds[post]}: the Lava target maps stateless nodes with "
                                       "one input each (no sums of paths, no loops without a neuron)")
                walk(post, path + [(post, node)])
            elif path:
                raise MappingError(post, f"is fed by '{path[-1][0]}': Lava records spikes, so weights must feed "
                                   "neuron layers")

    walk(source, [])
    return found


def _add_projection(plan: Plan, route: Route) -> None:
    matrix, constant = affine_map(route.chain, route.shape)
    population = plan.populations[route.post]
    matrix.data *= np.repeat(population.gain, np.diff(matrix.indptr))  # row i times gain i, in place
    plan.projections.append(Projection(route.via, route.pre, route.post, matrix, conv_geometry(route)))
    bias = constant * population.gain
    if not np.any(bias):
        return
    if np.all(population.du == 1.0):  # u carries nothing over: a constant input is a constant on v
        population.leak = population.leak + bias
    else:
        plan.biases[route.post] = plan.biases.get(route.post, 0.0) + bias


def conv_geometry(route: Route):
    """The shapes, kernel shape, stride, padding, dilation and groups of a route that is one Conv2d, else None."""
    if len(route.chain) != 1 or not isinstance(route.chain[0][1], nir.Conv2d):
        return None
    name, node = route.chain[0]
    _, stride, padding, dilation = window(name, node)
    return {"input_shape": list(route.shape), "output_shape": list(route.trace.shapes[-1]),
            "kernel_shape": list(np.shape(node.weight)), "stride": list(stride), "padding": list(padding),
            "dilation": list(dilation), "groups": int(node.groups)}


def weight_step(bits: int, mixed: bool) -> int:
    """The spacing of the mantissas lava-nc keeps with ``bits`` per weight: it drops 8 - bits low bits,
    one more with mixed signs (``truncate_weights``)."""
    return 2 ** (WEIGHT_BITS - bits + int(mixed))


def largest_mantissa(bits: int) -> int:
    """The largest mantissa that ``bits`` per weight keep in every sign mode (254 at 8 bits)."""
    return 256 - weight_step(bits, mixed=True)


def quantise_weights(weights, vth: int, bits: int = WEIGHT_BITS) -> tuple:
    """(mantissas, relative RMS error) of ``weights`` (thresholds per spike; an array, or a CSR matrix whose
    mantissas are one too, without zeros) for a population with threshold mantissa ``vth``, rounded to the
    nearest mantissa that lava-nc keeps with ``bits`` per weight: with mixed signs multiples of 2 ** (9 - bits)
    in -256..256 - 2 ** (9 - bits), with one sign multiples of 2 ** (8 - bits) up to 256 - 2 ** (8 - bits) in
    size. Lava's truncation then leaves them as they are. weight_exp stays 0, as netx's integer weights need."""
    if isinstance(weights, csr_matrix):
        data, error = quantise_weights(weights.data, vth, bits)
        # copy: eliminate_zeros rewrites the index arrays in place, which would corrupt ``weights``
        mantissas = csr_matrix((data, weights.indices, weights.indptr), shape=weights.shape, copy=True)
        mantissas.eliminate_zeros()  # weights that round to 0
        return mantissas, error
    weights = np.asarray(weights, dtype=np.float64)
    held = weights != 0  # zeros stay 0 and add no error
    target = weights[held] * vth
    mixed = target.size > 0 and np.min(target) < 0 < np.max(target)
    step = weight_step(bits, mixed)
    high = 256 - step
    mant = np.zeros(weights.shape, dtype=np.int32)
    mant[held] = np.clip(np.round(target / step) * step, -256 if mixed else -high, high)
    power = np.sum(target**2)
    error = np.sqrt(np.sum((mant[held] - target) ** 2) / power) if power > 0 else 0.0
    return mant, float(error)


def fixed_bias(name: str, bias: np.ndarray) -> tuple:
    """Per neuron (bias_mant, bias_exp) with ``bias_mant << bias_exp`` = ``bias << 6`` (bias in units of the
    threshold mantissa, v's units being 64 times finer), in a 13-bit mantissa."""
    value = np.asarray(bias, dtype=np.float64) * 2**ACTIVATION_SHIFT
    exp = np.clip(np.ceil(np.log2(np.maximum(np.abs(value), 1) / BIAS_MANT_MAX)), 0, None).astype(np.int32)
    if np.any(exp > BIAS_EXP_MAX):
        raise MappingError(name, f"a constant drive of {np.max(np.abs(bias)):.3g} (vth mantissa units) per step "
                           f"exceeds Loihi's bias range ({BIAS_MANT_MAX} << {BIAS_EXP_MAX}); lower v_leak")
    return np.round(value / 2.0**exp).astype(np.int32), exp
