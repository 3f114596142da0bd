"""A NIR graph as Lava populations (CUBA LIF) and projections (Dense), in float and in Loihi's fixed point.

Numpy and nir only: nirdeploy's checks use it on Python 3.11, the worker on 3.10.
Equations (docs/semantics.md, "Lava"): each population is normalised,
``v' = (v - v_reset) / (v_threshold - v_reset)``, so that Lava's reset to 0 and
threshold 1 are NIR's v_reset and per-neuron v_threshold; every other
per-neuron factor goes into the weights (``gain``) or into a constant per step
(``leak``).
"""

from dataclasses import dataclass, field

import nir
import numpy as np

NEURONS = (nir.IF, nir.LIF, nir.CubaLIF)
WEIGHTS = (nir.Affine, nir.Linear)
# Fixed point: threshold mantissa (vth << 6 = 2**18), so v and u saturate at 2**23 = 32 thresholds.
VTH_MANT = 2**12
ACTIVATION_SHIFT = 6
DECAY_UNIT = 4096
WEIGHT_EXPONENTS = range(0, 8)  # >= 0: netx stores the weights as integers (mantissa << exponent)
BIAS_MANT_MAX, BIAS_EXP_MAX = 4095, 7


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
    du: float
    dv: float
    gain: np.ndarray  # per neuron: multiplies every weight into it (NIR input units -> thresholds)
    leak: np.ndarray  # per neuron, thresholds per step
    depth: int

    def fixed(self) -> dict:
        """du, dv, vth, bias_mant, bias_exp for Loihi's fixed point (lava-nc's bit-accurate LIF)."""
        du = round(self.du * DECAY_UNIT) - 1  # the bit-accurate model decays u by (du + 1) / 4096
        dv = round(self.dv * DECAY_UNIT)
        for field_name, value in (("du (1/tau_syn)", du), ("dv (1/tau)", dv)):
            if not 0 <= value < DECAY_UNIT:
                raise MappingError(self.name, f"{field_name} is {value} in Loihi's 12-bit decay, outside "
                                   f"0..4095; keep tau between dt and 4096 dt")
        mant, exp = fixed_bias(self.name, self.leak)
        return {"du": du, "dv": dv, "vth": VTH_MANT, "bias_mant": mant, "bias_exp": exp}


@dataclass
class Projection:
    """A Dense process ``pre -> post`` with weights in thresholds per input spike (already times the gain)."""

    node: str
    pre: str
    post: str
    weights: np.ndarray  # [post, pre]

    def fixed(self) -> tuple:
        return quantise_weights(self.weights)


@dataclass
class Plan:
    inputs: dict  # Input node -> size
    populations: dict  # neuron node -> Population
    projections: list
    biases: dict = field(default_factory=dict)  # neuron node -> constant input per step (thresholds), from Affine biases
    outputs: dict = field(default_factory=dict)  # Output node -> neuron node feeding it

    @property
    def depth(self) -> int:
        return max((p.depth for p in self.populations.values()), default=0)


def _uniform(name: str, field_name: str, value) -> float:
    value = np.asarray(value, dtype=np.float64)
    if not np.all(value == value.flat[0]):
        raise MappingError(name, f"{field_name} differs between neurons ({len(np.unique(value))} values); "
                           "Lava's du and dv are one value per process: use one value per layer")
    return float(value.flat[0])


def population(name: str, node, dt: float, depth: int) -> Population:
    """The normalised CUBA LIF parameters that compute ``node``'s reference equations exactly (in real arithmetic)."""
    span = np.asarray(node.v_threshold - node.v_reset, dtype=np.float64).ravel()
    if np.any(span <= 0):
        raise MappingError(name, "v_threshold must exceed v_reset (Lava resets to 0 and fires above it)")
    size = span.size
    if isinstance(node, nir.IF):
        gain = np.asarray(node.r * dt, dtype=np.float64).ravel() / span
        return Population(name, size, 1.0, 0.0, gain, np.zeros(size), depth)
    if isinstance(node, nir.LIF):
        dv = dt / _uniform(name, "tau", node.tau)
        gain = np.asarray(node.r, dtype=np.float64).ravel() * dv / span
        leak = np.asarray(node.v_leak - node.v_reset, dtype=np.float64).ravel() * dv / span
        return Population(name, size, 1.0, dv, gain, leak, depth)
    du = dt / _uniform(name, "tau_syn", node.tau_syn)
    dv = dt / _uniform(name, "tau_mem", node.tau_mem)
    gain = np.asarray(node.r * node.w_in, dtype=np.float64).ravel() * du * dv / span
    leak = np.asarray(node.v_leak - node.v_reset, dtype=np.float64).ravel() * dv / span
    return Population(name, size, du, dv, gain, leak, depth)


def make_plan(graph: nir.NIRGraph, dt: float, depths: dict) -> Plan:
    """Populations and projections of a flat graph (no subgraphs); ``depths`` are the Dense hops from the inputs."""
    preds = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
    succs = {name: [b for a, b in graph.edges if a == name] for name in graph.nodes}
    plan = Plan({}, {}, [])
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            plan.inputs[name] = int(np.prod(node.input_type["input"]))
        elif isinstance(node, NEURONS):
            if any(not isinstance(graph.nodes[p], WEIGHTS) for p in preds[name]):
                raise MappingError(name, f"is fed by {preds[name]}: on Lava a neuron layer takes input only "
                                   "through weights (Affine / Linear); insert an identity Linear")
            plan.populations[name] = population(name, node, dt, depths[name])
        elif isinstance(node, nir.Output):
            if len(preds[name]) != 1 or not isinstance(graph.nodes[preds[name][0]], NEURONS):
                raise MappingError(name, f"is fed by {preds[name]}: Lava records spikes, so an output "
                                   "must be fed by one spiking neuron layer (IF, LIF, CubaLIF)")
            plan.outputs[name] = preds[name][0]
        elif not isinstance(node, WEIGHTS):
            raise MappingError(name, f"is a {type(node).__name__}, which the Lava target does not map yet; "
                               "supported: Input, Output, Affine, Linear, IF, LIF, CubaLIF")
    for name, node in graph.nodes.items():
        if isinstance(node, WEIGHTS):
            _add_projections(plan, graph, name, node, preds[name], succs[name])
    return plan


def _add_projections(plan: Plan, graph, name: str, node, preds: list, succs: list) -> None:
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (nir.Input, *NEURONS)):
        raise MappingError(name, f"is fed by {preds}: a Dense process takes one input or neuron layer; "
                           "fuse consecutive weight layers into one first")
    if not succs or any(s not in plan.populations for s in succs):
        raise MappingError(name, f"feeds {succs}: on Lava weights must feed neuron layers")
    weight = np.asarray(node.weight, dtype=np.float64)
    for post in succs:
        gain = plan.populations[post].gain
        plan.projections.append(Projection(name, preds[0], post, weight * gain[:, None]))
        if isinstance(node, nir.Affine):
            plan.biases[post] = plan.biases.get(post, 0.0) + np.asarray(node.bias, dtype=np.float64) * gain


def quantise_weights(weights: np.ndarray) -> tuple:
    """(mantissas, weight_exp, relative RMS error) of Lava's 8-bit Dense weights for ``weights`` in thresholds.

    Loihi adds ``w << weight_exp`` to u at ``<< 6``, against a threshold ``VTH_MANT << 6``. With mixed
    signs lava-nc keeps only even mantissas in -256..254. The exponent is the one of WEIGHT_EXPONENTS
    with the smallest RMS error (clipping included).
    """
    target = weights * VTH_MANT
    mixed = np.min(weights) < 0 < np.max(weights)
    low, high = (-256, 254) if mixed else ((-255, 0) if np.max(weights) <= 0 else (0, 255))
    step = 2 if mixed else 1
    best = None
    for exp in WEIGHT_EXPONENTS:
        mant = np.clip(np.round(target / 2.0**exp / step) * step, low, high)
        error = np.sqrt(np.mean((mant * 2.0**exp - target) ** 2))
        if best is None or error < best[2]:
            best = (mant.astype(np.int32), exp, error)
    rms = np.sqrt(np.mean(target**2))
    return best[0], best[1], float(best[2] / rms) if rms > 0 else 0.0


def fixed_bias(name: str, bias: np.ndarray) -> tuple:
    """Per neuron (bias_mant, bias_exp) with ``bias_mant << bias_exp`` = bias in v's units, 13-bit mantissa."""
    value = np.asarray(bias, dtype=np.float64) * VTH_MANT * 2**ACTIVATION_SHIFT
    exp = np.clip(np.ceil(np.log2(np.maximum(np.abs(value), 1) / BIAS_MANT_MAX)), 0, None).astype(np.int32)
    if np.any(exp > BIAS_EXP_MAX):
        raise MappingError(name, f"a constant drive of {np.max(np.abs(bias)):.3g} thresholds per step "
                           f"exceeds Loihi's bias range ({BIAS_MANT_MAX} << {BIAS_EXP_MAX}); lower v_leak")
    return np.round(value / 2.0**exp).astype(np.int32), exp
