"""The Xylo target: a NIR graph on SynSense Xylo through Rockpool 3.1 and XyloSim.

The pipeline is a Xylo user's: Rockpool modules (``LinearTorch``, ``LIFTorch``)
-> the chip's ``mapper`` -> ``global_quantize`` or ``channel_quantize`` ->
``XyloSim.from_specification`` -> evolve; ``write_hardware`` saves that specification for Rockpool's
``config_from_specification``, which needs samna, elsewhere. nirdeploy builds the Rockpool modules
from the NIR nodes itself: Rockpool's ``from_nir`` fails on NIR LIF, truncates
LI's tau, ignores CubaLIF's w_in and v_reset, adds v_leak as an unscaled bias
and guesses dt from r.

A Xylo neuron computes, per step (XyloSim's C++ and LIFTorch agree)::

    i = beta (i + x');  v = alpha v + i + b;  while v >= thr: spike, v -= thr

with ``alpha = 1 - 2**-dash_mem``, ``beta = 1 - 2**-dash_syn`` (4-bit dashes).
Each node's resolved dynamics (:class:`nirdeploy.semantics.Dynamics`:
``i = a_i i + b_i x``, ``h = a_v v + b_v i + drive``) maps to the dashes
nearest its decays, ``dash = round(log2(1 / (1 - a)))`` (``round(log2(tau/dt))``
for an Euler step), and keeps its steady state, so that rounding a decay to a
bit shift changes only the time course:

    x' = b_i b_v (1 - alpha)(1 - beta) / ((1 - a_i)(1 - a_v) beta) * W s,   b = (1 - alpha) drive / (1 - a_v)

which is the node's own equation exactly where its decays are bit shifts. A
LIF has no synaptic current (``a_i = 0``, ``b_i = 1``), and Xylo cannot pass an
input straight to the membrane (dash_syn = 0 clears the current before it is
added): a LIF gets the shortest synapse, dash_syn = 1, the same total input
spread over the following steps (half, a quarter, ...). An Affine's bias
becomes the neuron's bias with the same steady state.
docs/xylo.md has the rest (quantisation, delays, Rockpool bugs worked around).
"""

import copy
import importlib
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import nir
import numpy as np
import torch

from ..errors import InvalidArgumentError, TargetError, spell
from ..files import atomic_path
from ..progress import progress_bar
from ..semantics import Dynamics, Semantics
from .base import Deployment, Problem, Target

WEIGHTS = (nir.Affine, nir.Linear)
NEURONS = (nir.LIF, nir.CubaLIF)
MAX_DASH = 15                # 4-bit decays
WEIGHT_LIMIT = 127           # int8 weights
WEIGHT_BITS = 8              # Xylo's weight width; Rockpool's quantisers may use fewer (bits_per_weight)
THRESHOLD_LIMIT = 2**15 - 1  # int16 thresholds and states
HIDDEN_SPIKES_PER_STEP = 31  # XyloSim's caps (XyloIAFNeuron.h); the reference has 1
OUTPUT_SPIKES_PER_STEP = 1


def rockpool_xylo(variant: str) -> tuple:
    """(mapper, XyloSim, mapper options) for a chip variant, imported without samna.

    Why: ``import rockpool.devices.xylo`` runs its ``__init__``, which imports
    ``syns65302``, whose ``__init__`` imports ``afe_samna_pdm`` and so samna (not
    installable: its PyPI releases are stubs). Registering the package as an
    empty module with the real ``__path__`` skips those ``__init__`` files; the
    submodules the mapper and XyloSim live in import normally.
    """
    import rockpool.devices

    xylo_dir = Path(rockpool.devices.__file__).parent / "xylo"
    for package, folder in (("rockpool.devices.xylo", xylo_dir), ("rockpool.devices.xylo.syns65302", xylo_dir / "syns65302")):
        if package not in sys.modules:
            stub = types.ModuleType(package)
            stub.__path__, stub.__package__ = [str(folder)], package
            sys.modules[package] = stub
    sim = importlib.import_module("rockpool.devices.xylo.syns63300.xylo_sim").XyloSim
    if variant == "syns61201":
        module = importlib.import_module("rockpool.devices.xylo.syns61201")
        return module.mapper, module.XyloSim, {"max_hidden_neurons": 1000, "max_output_neurons": 8}
    mapper = importlib.import_module("rockpool.devices.xylo.syns65302.xylo_mapper").mapper
    if variant == "syns65302":
        return mapper, sim, {"max_hidden_neurons": 992, "max_output_neurons": 16}
    # The IMU's own mapper (syns63300) fails on a single hidden layer ("32 is not in
    # list"): the XyloAudio 3 mapper, bounded to the IMU's sizes, gives its layout.
    return mapper, sim, {"max_hidden_neurons": 496, "max_output_neurons": 16}


@dataclass
class XyloLayer:
    """One neuron population of the chain: the weights into it and its own recurrent weights."""

    neuron: str
    weight: str
    recurrent: Optional[str] = None


class ChainError(Exception):
    def __init__(self, node: str, found: str):
        super().__init__(found)
        self.node, self.found = node, found


def xylo_chain(graph: nir.NIRGraph) -> list:
    """The layers of a flat graph Input -> W -> N [<-> R] (-> W -> N)* -> Output, or ChainError
    naming the node where the graph leaves that form."""
    nodes = graph.nodes
    successors = {n: [b for a, b in graph.edges if a == n] for n in nodes}
    predecessors = {n: [a for a, b in graph.edges if b == n] for n in nodes}
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ChainError(",".join(inputs) or "(graph)", f"{len(inputs)} Input nodes; Xylo takes one")
    layers, current, seen = [], inputs[0], set(inputs)
    while True:
        ahead = [n for n in successors[current] if not (layers and n == layers[-1].recurrent)]
        if len(ahead) != 1:
            raise ChainError(current, f"feeds {len(ahead)} nodes ({', '.join(ahead)}); Xylo needs a chain of layers")
        (following,) = ahead
        if isinstance(nodes[following], nir.Output):
            if not layers:
                raise ChainError(following, "an input straight to the output")
            seen.add(following)
            break
        if not isinstance(nodes[following], WEIGHTS) or predecessors[following] != [current]:
            raise ChainError(following, f"{type(nodes[following]).__name__} after {current}; expected one Affine/Linear fed only by it")
        targets = successors[following]
        if len(targets) != 1 or not isinstance(nodes[targets[0]], NEURONS):
            raise ChainError(following, f"feeds {targets}; an Affine/Linear must feed one LIF/CubaLIF")
        neuron = targets[0]
        recurrent = [p for p in predecessors[neuron] if p != following]
        if len(recurrent) > 1 or (recurrent and not (
                isinstance(nodes[recurrent[0]], WEIGHTS) and predecessors[recurrent[0]] == [neuron]
                and successors[recurrent[0]] == [neuron])):
            raise ChainError(neuron, f"inputs from {predecessors[neuron]}; a neuron takes one layer and its own recurrent Affine/Linear")
        layers.append(XyloLayer(neuron, following, recurrent[0] if recurrent else None))
        seen.update({following, neuron, *recurrent})
        current = neuron
    left = [n for n in nodes if n not in seen]
    if left:
        raise ChainError(left[0], "not on the chain from the Input to the Output")
    return layers


def dash(decay) -> np.ndarray:
    """Xylo's bit-shift decay nearest the decay factor ``decay`` per step: round(log2(1 / (1 - decay)))."""
    with np.errstate(divide="ignore"):  # no decay at all is an infinite shift, beyond every 4-bit dash
        shifts = np.log2(1.0 / (1.0 - np.asarray(decay, dtype=np.float64)))
    return np.round(np.minimum(shifts, 63)).astype(int)


def decays(d: Dynamics) -> dict:
    """The decay factors of a node by the NIR field that sets each."""
    mem = {"tau": d.v_decay} if d.nir_type == "LIF" else {"tau_mem": d.v_decay}
    return {**mem, "tau_syn": d.i_decay} if d.has_current else mem


@dataclass
class NeuronConstants:
    """A population in Xylo's terms, in float: per-neuron arrays."""

    dash_mem: np.ndarray
    dash_syn: np.ndarray
    gain: np.ndarray       # multiplies the NIR weights into this population
    bias: np.ndarray
    threshold: np.ndarray


def neuron_constants(d: Dynamics, size: int, input_bias=0.0) -> NeuronConstants:
    """The mapping of the module docstring; ``input_bias`` the summed Affine biases into the node."""
    per_neuron = lambda value: np.broadcast_to(np.asarray(value, dtype=np.float64), (size,)).copy()
    dash_mem = per_neuron(dash(d.v_decay))
    if d.has_current:
        dash_syn, current_decay, current_gain = per_neuron(dash(d.i_decay)), d.i_decay, d.i_gain
    else:
        dash_syn, current_decay, current_gain = np.ones(size), 0.0, 1.0
    leak, syn_leak = 2.0**-dash_mem, 2.0**-dash_syn
    steady = per_neuron(current_gain * d.v_gain / ((1 - current_decay) * (1 - d.v_decay)))  # v per unit of input
    gain = steady * leak * syn_leak / (1 - syn_leak)
    bias = leak * (per_neuron(d.drive / (1 - d.v_decay)) + steady * input_bias)
    return NeuronConstants(dash_mem.astype(int), dash_syn.astype(int), gain, bias, per_neuron(d.v_threshold))


def _weight(node) -> np.ndarray:
    return np.asarray(node.weight, dtype=np.float64)


def _bias(node) -> np.ndarray:
    return np.asarray(getattr(node, "bias", 0.0), dtype=np.float64)


def layer_constants(semantics: Semantics, layers: list) -> list:
    """(NeuronConstants, input weights [post, pre], recurrent weights or None) per layer, in Xylo's units."""
    graph, mapped = semantics.graph, []
    for layer in layers:
        weight, rec = graph.nodes[layer.weight], graph.nodes[layer.recurrent] if layer.recurrent else None
        size = int(np.prod(graph.nodes[layer.neuron].output_type["output"]))
        constants = neuron_constants(semantics[layer.neuron], size, _bias(weight) + (_bias(rec) if rec else 0.0))
        scale = constants.gain[:, None]
        mapped.append((constants, _weight(weight) * scale, _weight(rec) * scale if rec else None))
    return mapped


def _relative_rms(values: np.ndarray, scale: float) -> float:
    norm = np.sqrt(np.mean(values**2))
    return 0.0 if norm == 0 else float(np.sqrt(np.mean((np.round(values * scale) / scale - values) ** 2)) / norm)


def group_scale(weights: list, constants: list) -> tuple:
    """(scale, unlimited scale) of Rockpool's global quantisation for a group of layers: 127 over the
    largest weight or bias, lowered where a threshold would then need more than 16 bits."""
    peak = max([np.max(np.abs(w)) for w in weights] + [np.max(np.abs(c.bias)) for c in constants])
    scale = WEIGHT_LIMIT / peak if peak else 1.0
    return min(scale, THRESHOLD_LIMIT / max(np.max(c.threshold) for c in constants)), scale


def quantisation_groups(mapped: list) -> list:
    """(scale, unlimited scale) per layer: hidden layers share one (input and recurrent weights), the output has its own."""
    hidden = mapped[:-1]
    hidden_scale = group_scale([w for _, w_in, w_rec in hidden for w in (w_in, w_rec) if w is not None],
                               [c for c, _, _ in hidden])
    return [hidden_scale] * len(hidden) + [group_scale([mapped[-1][1]], [mapped[-1][0]])]


@dataclass
class XyloHardware:
    """What a chip needs of a deployment: the quantised specification its XyloSim runs, and what maps where."""

    variant: str
    quantisation: str
    weight_bits: int
    specification: dict   # XyloSim.from_specification's keyword arguments
    input_node: str
    layers: list          # XyloLayer per neuron layer, the output layer last
    hidden_ids: list      # hidden hardware ids per hidden layer


@dataclass
class XyloDeployment(Deployment):
    hardware: Optional[XyloHardware] = None  # None for the float simulator, which runs no chip's numbers


class XyloTarget(Target):
    @property
    def variant(self) -> str:
        return self.profile.name.partition(":")[2] or self.profile.default_variant

    def runtime_status(self) -> tuple:
        try:
            import xylosim  # noqa: F401  (without it Rockpool's XyloSim is a placeholder that fails when called)

            rockpool_xylo(self.variant)
        except ImportError as error:
            return False, (f"Xylo's runtime is missing ({error}); pip install xylosim==0.1.3 (builds from source: "
                           "needs g++ and the Python headers) and pip install --no-deps rockpool==3.1.0")
        from importlib.metadata import version

        return True, f"rockpool {version('rockpool')}, xylosim {version('xylosim')} ({self.variant})"

    def check_graph(self, semantics: Semantics) -> list:
        graph = semantics.graph
        if any(type(node).__name__ not in self.profile.nodes for node in graph.nodes.values()):
            return []  # the generic node-type rule reports them
        try:
            layers = xylo_chain(graph)
        except ChainError as error:
            return [Problem(error.node, "layer chain", error.found,
                            "Input -> Affine/Linear -> LIF/CubaLIF [+ recurrent Affine/Linear] (-> ...)* -> Output",
                            "restructure the network as a chain of layers")]
        problems = _structure_problems(layers) + _neuron_problems(semantics, layers)
        if not any(p.severity == "error" for p in problems):
            problems += _quantisation_problems(semantics, layers)
        return problems

    def check_option_values(self, options: dict) -> None:
        if options["quantisation"] not in ("global", "channel"):
            raise TargetError(f"xylo: quantisation must be 'global' or 'channel', got {options['quantisation']!r}")
        if options["simulator"] not in ("xylosim", "float"):
            raise TargetError(f"xylo: simulator must be 'xylosim' or 'float', got {options['simulator']!r}")
        bits = options["weight_bits"]
        if type(bits) is not int or not 2 <= bits <= WEIGHT_BITS:
            fix = spell("pass e.g. weight_bits=4", "set the target option weight_bits, e.g. weight_bits: 4")
            raise InvalidArgumentError(f"weight_bits={bits!r} for the Xylo target is not a whole number of bits from "
                                       f"2 to {WEIGHT_BITS}; {fix}")
        if bits != WEIGHT_BITS and options["simulator"] == "float":
            fix = spell("pass simulator='xylosim'", "set simulator: xylosim")
            raise InvalidArgumentError(f"weight_bits={bits} sets how Rockpool quantises the weights, and the float "
                                       f"simulator runs unquantised ones; {fix}")

    def deploy(self, semantics: Semantics, quantisation: str = "global",
               simulator: str = "xylosim", weight_bits: int = WEIGHT_BITS) -> Deployment:
        """``quantisation``: 'global' or 'channel' (Rockpool's quantisers); ``simulator``: 'xylosim' (the
        bit-accurate simulator) or 'float' (Rockpool's float LIFTorch with Xylo's bit-shift decays and spike
        caps, delayed as Xylo delays each layer: no integer rounding); ``weight_bits`` (2 to 8): the signed
        weight width the quantiser scales to (its ``bits_per_weight``), held in Xylo's 8-bit weights."""
        self.check_option_values({"quantisation": quantisation, "simulator": simulator, "weight_bits": weight_bits})
        ready, detail = self.runtime_status()
        if not ready:
            raise TargetError(detail)
        layers = xylo_chain(semantics.graph)
        net = rockpool_network(layers, layer_constants(semantics, layers), semantics.dt)
        if simulator == "float":
            return XyloDeployment(self.name, net, _float_runner(net, layers))
        spec, hidden_ids = xylo_specification(net, self.variant, quantisation, weight_bits)
        _, xylo_sim, _ = rockpool_xylo(self.variant)
        sim = xylo_sim.from_specification(**spec)
        (input_node,) = [n for n, node in semantics.graph.nodes.items() if isinstance(node, nir.Input)]
        hardware = XyloHardware(self.variant, quantisation, weight_bits, spec, input_node, layers, hidden_ids)
        return XyloDeployment(self.name, sim, _xylosim_runner(sim, layers, hidden_ids), hardware=hardware)

    def write_hardware(self, deployment: Deployment, folder: Path) -> list:
        """The chip hand-off of a XyloSim deployment, written into ``folder``: ``xylo_<variant>_spec.npz`` (the
        array arguments of Rockpool's ``config_from_specification``, the integers XyloSim ran),
        ``xylo_<variant>_spec.json`` (its other arguments, dt, what maps where, versions) and
        ``load_xylo_<variant>.py`` (builds, validates and writes the configuration to a board; needs samna).
        Returns their paths."""
        hardware = getattr(deployment, "hardware", None)
        if hardware is None:
            raise TargetError(f"target '{deployment.target}': the float simulator runs no quantised specification, "
                              "so there is no chip configuration to write; deploy with simulator='xylosim' for one")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arguments = config_arguments(hardware.specification, hardware.variant)
        npz = folder / f"xylo_{hardware.variant}_spec.npz"
        with atomic_path(npz) as partial:
            np.savez(partial, **{k: v for k, v in arguments.items() if isinstance(v, np.ndarray)})
        metadata = self.hardware_metadata(hardware, arguments, npz.name, type(deployment.native).__module__)
        texts = {npz.with_suffix(".json"): json.dumps(metadata, indent=1, default=_plain),
                 folder / f"load_xylo_{hardware.variant}.py": LOADER.read_text()}
        for path, text in texts.items():
            with atomic_path(path) as partial:
                partial.write_text(text)
        return [npz, *texts]

    def hardware_metadata(self, hardware: XyloHardware, arguments: dict, arrays: str, simulator: str) -> dict:
        """The JSON beside the arrays: what the loader calls with them, and what a reader needs to know."""
        from importlib.metadata import version

        variant, module = hardware.variant, f"rockpool.devices.xylo.{hardware.variant}"
        keys = {k: {"file": "npz", "shape": list(v.shape), "dtype": str(v.dtype)} if isinstance(v, np.ndarray)
                else {"file": "json", "type": type(v).__name__} for k, v in arguments.items()}
        return {
            "variant": variant, "chip": self.profile.variants[variant]["description"],
            "module": module, "function": "config_from_specification", "defined_in": f"{module}.xylo_samna",
            "needs": f"samna: {module}.xylo_samna imports it, as rockpool.devices.xylo's __init__ does (through "
                     "syns65302)",
            "arrays": arrays, "arguments": {k: v for k, v in arguments.items() if not isinstance(v, np.ndarray)},
            "keys": keys, "dt": hardware.specification["dt"], "quantisation": hardware.quantisation,
            "weight_bits": hardware.weight_bits,
            # one 8-bit entry per weight the specification holds, zeros included: the chip's weight memory used
            "weight_bytes": sum(int(v.size) for k, v in arguments.items() if k.startswith("weights_")),
            "nodes": hardware_nodes(hardware),
            # XyloSim takes the same numbers where samna is missing (how nirdeploy ran them).
            "simulator": {"module": simulator, "method": "XyloSim.from_specification",
                          "renamed": {new: old for old, new in CONFIG_NAMES.items()}},
            "cost_estimate": {
                "source": f"rockpool.devices.xylo.{CYCLES_MODEL[variant]}.power_cycles_model's cycles_model and "
                          "est_clock_freq",
                "cycles_per_step": None, "min_clock_hz": None,
                "why_none": "the model imports samna and reads the samna configuration config_from_specification "
                            f"builds; load_xylo_{variant}.py prints both where samna is installed"},
            "versions": {name: version(name) for name in ("nirdeploy", "rockpool", "xylosim", "numpy")},
        }


def _structure_problems(layers) -> list:
    problems = []
    if len(layers) < 2:
        problems.append(Problem(layers[0].neuron, "two neuron layers", "1 neuron layer", ">= 2 (hidden and output)",
                                "add a hidden layer: Xylo's output neurons take input only from hidden neurons"))
    if layers[-1].recurrent:
        problems.append(Problem(layers[-1].neuron, "output neurons not recurrent", f"recurrent via {layers[-1].recurrent}",
                                "no recurrent weights on output neurons", "move the recurrence to a hidden layer"))
    return problems


def _neuron_problems(semantics: Semantics, layers) -> list:
    problems, dt = [], semantics.dt
    for layer in layers:
        name, node, d = layer.neuron, semantics.graph.nodes[layer.neuron], semantics[layer.neuron]
        for field, decay in decays(d).items():
            with np.errstate(divide="ignore"):
                shifts, steps = dash(decay), 1.0 / (1.0 - np.asarray(decay))
            if np.any(shifts < 1):
                problems.append(Problem(name, f"{field} >= 1.42 dt", f"min {np.min(steps) * dt:.3g} s (dash {np.min(shifts)})",
                                        f"dash 1..{MAX_DASH}: {np.sqrt(2) * dt:.3g} s",
                                        "dash = round(log2(tau/dt)) = 0 is no decay Xylo can run; lengthen tau or lower dt"))
            if np.any(shifts > MAX_DASH):
                problems.append(Problem(name, f"{field} fits 4-bit dash", f"max {np.max(steps) * dt:.3g} s (dash {np.max(shifts)})",
                                        f"{2 ** (MAX_DASH + 0.5) * dt:.3g} s at dt={dt:g}",
                                        "shorten tau or raise dt"))
            error = np.max(np.abs(2.0**shifts / steps - 1))
            if error > 0.01:
                problems.append(Problem(name, f"{field} as a bit shift", f"decay rate off by up to {error:.1%}",
                                        "tau = 2**dash dt is exact", "choose tau/dt a power of two to remove decay error",
                                        "warning"))
        if not d.has_current:
            problems.append(Problem(name, "LIF synapse", "LIF has no synaptic current", "Xylo neurons have one",
                                    "the input reaches the membrane over the following steps (dash_syn = 1); "
                                    "use CubaLIF for exact timing", "warning"))
        if np.any(d.v_threshold <= 0):
            problems.append(Problem(name, "v_threshold > 0", f"min {np.min(d.v_threshold):.3g}", "> 0",
                                    "Xylo fires at a positive threshold above its 0 rest"))
        if d.reset != "hard" and np.any(d.v_reset != 0):
            problems.append(Problem(name, "v_reset = 0", f"v_reset up to {np.max(np.abs(d.v_reset)):.3g}", "0",
                                    "Xylo's potentials start at 0: shift v_reset, v_leak, v_threshold by -v_reset"))
        node_dt = node.metadata.get("dt")
        if node_dt is not None and not np.isclose(float(node_dt), dt):
            problems.append(Problem(name, "one dt for all neurons", f"{float(node_dt):g} s", f"{dt:g} s (the graph's)",
                                    "Xylo runs every neuron at one dt: re-export the layer at the graph's dt"))
    return problems


def _quantisation_problems(semantics: Semantics, layers) -> list:
    mapped = layer_constants(semantics, layers)
    problems = []
    for layer, (constants, w_in, w_rec), (scale, unlimited) in zip(layers, mapped, quantisation_groups(mapped)):
        if scale < unlimited:
            problems.append(Problem(layer.neuron, "16-bit threshold",
                                    f"threshold {np.max(constants.threshold):.3g} needs {np.max(constants.threshold) * unlimited:.0f} at the weights' scale",
                                    str(THRESHOLD_LIMIT), "the quantiser scales the weights down by "
                                    f"{unlimited / scale:.3g}x to fit; lower v_threshold relative to the weights", "warning"))
        for name, weights in ((layer.weight, w_in), (layer.recurrent, w_rec)):
            error = 0.0 if weights is None else _relative_rms(weights, scale)
            if error > 0.01:
                problems.append(Problem(name, "8-bit weights", f"relative RMS error {error:.2%} after global scaling",
                                        "1%", "the weights need more than 8 bits at Xylo's scale; compare measures "
                                        "the effect (channel quantisation scales per neuron)", "warning"))
        lost = (constants.bias != 0) & (np.round(constants.bias * scale) == 0)
        if np.any(lost):
            problems.append(Problem(layer.neuron, "bias survives quantisation",
                                    f"{int(lost.sum())} nonzero bias(es) round to 0 (largest {np.max(np.abs(constants.bias[lost])):.3g})",
                                    f"|bias| >= {0.5 / scale:.3g}", "raise v_leak / the Affine bias, or drop it", "warning"))
    return problems


def rockpool_network(layers: list, mapped: list, dt: float):
    """Rockpool's Sequential(LinearTorch, LIFTorch, ...) computing the mapped layers, float."""
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    modules, size_in = [], mapped[0][1].shape[1]
    for index, (constants, w_in, w_rec) in enumerate(mapped):
        last = index == len(mapped) - 1
        tensor = lambda value: torch.as_tensor(np.asarray(value), dtype=torch.float32)
        modules.append(LinearTorch((size_in, w_in.shape[0]), weight=tensor(w_in.T), has_bias=False))
        modules.append(LIFTorch(
            w_in.shape[0], leak_mode="bitshifts", dash_mem=tensor(constants.dash_mem),
            dash_syn=tensor(constants.dash_syn[:, None]), threshold=tensor(constants.threshold),
            bias=tensor(constants.bias), has_rec=w_rec is not None,
            w_rec=tensor(w_rec.T) if w_rec is not None else None, dt=dt,
            max_spikes_per_dt=OUTPUT_SPIKES_PER_STEP if last else HIDDEN_SPIKES_PER_STEP))
        size_in = w_in.shape[0]
    return Sequential(*modules)


def xylo_specification(net, variant: str, quantisation: str = "global", weight_bits: int = WEIGHT_BITS) -> tuple:
    """(the quantised specification XyloSim.from_specification takes, hidden hardware ids per layer), its
    weights scaled to ``weight_bits`` signed bits."""
    from rockpool.transform.quantize_methods import channel_quantize, global_quantize

    mapper, _, sizes = rockpool_xylo(variant)
    spec = mapper(net.as_graph(), weight_dtype="float", threshold_dtype="float", dash_dtype="float", **sizes)
    spec.pop("mapped_graph")
    neurons = list(net.modules().values())[1::2]
    hidden_ids = [list(m._hw_ids) for m in neurons[:-1]]
    output_ids = [i - sizes["max_hidden_neurons"] for i in neurons[-1]._hw_ids]
    # Our dashes, thresholds and biases, placed by hardware id: the mapper would take the
    # dashes from as_graph's taus (a float log2 of a tau converted back from the dash).
    for ids, module, suffix in [(ids, m, "") for ids, m in zip(hidden_ids, neurons)] + [(output_ids, neurons[-1], "_out")]:
        spec[f"dash_mem{suffix}"][ids] = module.dash_mem.detach().numpy()
        spec[f"dash_syn{suffix}"][ids] = module.dash_syn.detach().numpy()[:, 0]
        spec[f"threshold{suffix}"][ids] = module.threshold.detach().numpy()
        spec[f"bias{suffix}"][ids] = module.bias.detach().numpy()
    quantiser = global_quantize if quantisation == "global" else channel_quantize
    floats = dict(spec)
    spec.update(quantiser(**copy.deepcopy(floats), bits_per_weight=weight_bits))  # channel_quantize writes into the arrays it is given
    # Rockpool 3.1 quantiser bugs: channel_quantize leaves hidden biases unscaled with one synapse
    # per neuron (rounded to 0), global_quantize scales output biases by the hidden scale. Each
    # bias takes its own neuron's scale, the one its threshold got.
    for suffix in ("", "_out"):
        threshold = floats[f"threshold{suffix}"]
        ratio = np.divide(spec[f"threshold{suffix}"], threshold, out=np.zeros_like(threshold), where=threshold != 0)
        spec[f"bias{suffix}"] = np.round(floats[f"bias{suffix}"] * ratio).astype(int)
    return spec, hidden_ids


def quantised_specification(semantics: Semantics, variant: str, quantisation: str = "global",
                            weight_bits: int = WEIGHT_BITS) -> tuple:
    """(specification, hidden hardware ids per layer) of a resolved graph, as :func:`xylo_specification`."""
    layers = xylo_chain(semantics.graph)
    return xylo_specification(rockpool_network(layers, layer_constants(semantics, layers), semantics.dt), variant,
                              quantisation, weight_bits)


# Rockpool's config_from_specification (<variant>/xylo_samna.py) calls XyloSim's `bias` `bias_hidden`, and the
# IMU's takes no dash_syn_2 (one synapse); neither takes dt. A key it does not name would vanish into its
# **kwargs, so the hand-off holds exactly the ones it names.
CONFIG_NAMES = {"bias": "bias_hidden"}
NOT_CONFIG = {"syns61201": {"dt"}, "syns65302": {"dt"}, "syns63300": {"dt", "dash_syn_2"}}
CYCLES_MODEL = {"syns61201": "syns61201", "syns65302": "syns63300", "syns63300": "syns63300"}  # XyloAudio 3: the IMU's
LOADER = Path(__file__).with_name("xylo_loader_template.py")


def config_arguments(spec: dict, variant: str) -> dict:
    """The keyword arguments of ``variant``'s config_from_specification, from XyloSim's specification."""
    return {CONFIG_NAMES.get(k, k): v for k, v in spec.items() if k not in NOT_CONFIG[variant]}


def hardware_nodes(hardware: XyloHardware) -> dict:
    """The NIR nodes behind each part of the specification: the first hidden layer's weights are weights_in,
    later hidden layers' and recurrent weights are blocks of weights_rec (rows and columns by hardware id)."""
    *hidden, output = hardware.layers
    return {"input": hardware.input_node,
            "hidden": [{"neurons": layer.neuron, "weights": layer.weight, "recurrent": layer.recurrent,
                        "hardware_ids": ids} for layer, ids in zip(hidden, hardware.hidden_ids)],
            "output": {"neurons": output.neuron, "weights": output.weight}}


def _plain(value):
    """json.dumps's fallback for numpy scalars (aliases, weight shifts)."""
    return value.item() if isinstance(value, np.generic) else value.tolist()


def _float_runner(net, layers: list):
    """Rockpool's float modules, each layer's output delayed as Xylo delays it (0 for the first layer, one
    more step per later layer): in a time-invariant chain starting at rest, delaying a layer's input
    equals delaying its output."""

    def run(inputs, record: bool, progress: bool = False):
        (x,) = inputs
        signal, recorded = x.flatten(2).transpose(0, 1).float(), {}  # Rockpool's [B, T, channels]
        with torch.no_grad():
            modules = list(net.modules().values())
            for index, layer in enumerate(layers):
                for module in modules[2 * index : 2 * index + 2]:
                    module.reset_state()
                    signal, _, _ = module(signal)
                recorded[layer.neuron] = _delayed(signal.transpose(0, 1), index)
        outputs = recorded.pop(layers[-1].neuron)
        return outputs, recorded

    return run


def _delayed(spikes: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.cat([torch.zeros_like(spikes[:steps]), spikes[: spikes.shape[0] - steps]]) if steps else spikes


def _xylosim_runner(sim, layers: list, hidden_ids: list):
    """XyloSim, one sample at a time from reset; outputs [T, B, n_out], hidden layers' spike counts by node."""

    def run(inputs, record: bool, progress: bool = False):
        (x,) = inputs
        outputs, hidden = [], []
        samples = x.flatten(2).transpose(0, 1).cpu().numpy().astype(int)  # [T, channels] each
        for sample in progress_bar(samples, label="Xylo (XyloSim)", enabled=progress, unit="sample"):
            sim.reset_state()
            out, _, recording = sim.evolve(sample, record=True)
            outputs.append(torch.as_tensor(out, dtype=torch.float32))
            hidden.append(torch.as_tensor(recording["Spikes"], dtype=torch.float32))
        outputs, hidden = torch.stack(outputs, 1), torch.stack(hidden, 1)
        layer_spikes = {layer.neuron: hidden[..., ids] for layer, ids in zip(layers, hidden_ids)}
        return outputs, layer_spikes

    return run
