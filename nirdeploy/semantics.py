"""The one model of what a graph computes per step: resolved once, read by every backend.

NIR states continuous-time equations and stores no dt; every framework that
writes NIR discretises them its own way. :func:`resolve` turns a graph, the
dt and the producer (named, recorded in the graph, or assumed) into one
:class:`Dynamics` per neuron node. Every neuron of every producer is one case
of the same per-step update, with ``x`` the summed input of the step::

    i = i_decay * i + i_gain * x                  # CubaLIF / CubaLI only; otherwise i = x
    h = v_decay * v + v_gain * i + drive          # the potential before the threshold
    n = spikes(h)                                 # 0 or 1; several where spikes_per_step says so
    v = reset(h, n)                               # hard: v_reset where n > 0; subtract: h - n v_threshold
    v = max(v, v_min)                             # where the producer bounds v from below

Backends keep their own arithmetic (float orders, Loihi integers, Xylo bit
shifts) but take every coefficient and rule from here; the reference
simulator computes each producer's float arithmetic exactly (``arithmetic``
names it, ``native`` holds its parameters). docs/semantics.md states the same
model in prose and lists every producer rule.
"""

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import nir
import numpy as np

from . import __version__
from .errors import DtMismatchError, InvalidArgumentError, UnsupportedNodeError, spell
from .validate import check_flat, recorded_dt, validate_graph

NEURON_TYPES = (nir.IF, nir.LIF, nir.CubaLIF, nir.I, nir.LI, nir.CubaLI)
WEIGHT_TYPES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)
STATEFUL_TYPES = NEURON_TYPES + (nir.Delay,)

# Metadata keys a neuron node carries where NIR's fields do not say how it was
# discretised; absent, a node means NIR's plain semantics (hard reset to
# v_reset, division by tau/dt, input leaked with v exactly when r == 1).
RESET_MODE = "reset_mode"  # "subtract": v -= v_threshold at a spike
LEAK_FORM = "leak_form"  # "multiply": by dt/tau instead of dividing by tau/dt
DECAY_INPUT = "decay_input"  # "true" / "false" where r alone would mislead

ROCKPOOL_MAX_SPIKES = 2.0**16
SNNTORCH_DT = 1e-4  # snnTorch's exporter writes tau = dt / (1 - beta) with this dt, whatever the user's


@dataclass(frozen=True)
class Dynamics:
    """One neuron node's update per step (module docstring); arrays are float64, one value per neuron
    or one shared value.

    ``reset``: 'hard' (v = v_reset in the spiking step), 'subtract' (v = h - n v_threshold) or
    'subtract-delayed' (snnTorch: the threshold is subtracted in the step after v exceeded it).
    ``threshold_test``: '>=' or '>'. ``spikes_per_step``: 'one', or 'floor' (``floor(h / thr)``
    where the test passes) / 'trunc' (``trunc(h / thr)`` where ``h > 0``), at most ``max_spikes``.
    """

    node: str
    nir_type: str
    producer: str
    rule: str  # the producer's neuron this node stands for, e.g. "snnTorch Leaky"
    v_decay: np.ndarray
    v_gain: np.ndarray
    drive: np.ndarray
    arithmetic: str  # the float evaluation order the reference uses (nirdeploy.neurons)
    native: dict  # that arithmetic's own parameters
    v_initial: np.ndarray = field(default_factory=lambda: np.zeros(()))
    i_decay: Optional[np.ndarray] = None
    i_gain: Optional[np.ndarray] = None
    v_threshold: Optional[np.ndarray] = None  # None: no spikes, the output is the potential
    v_reset: np.ndarray = field(default_factory=lambda: np.zeros(()))
    reset: str = "hard"
    threshold_test: str = ">="
    spikes_per_step: str = "one"
    max_spikes: float = 1.0
    v_min: Optional[np.ndarray] = None

    @property
    def spiking(self) -> bool:
        return self.v_threshold is not None

    @property
    def has_current(self) -> bool:
        return self.i_decay is not None

    @property
    def rest(self) -> np.ndarray:
        """The potential v settles at without input, ``drive / (1 - v_decay)`` (0 where v does not decay)."""
        leak = 1.0 - self.v_decay
        return np.divide(self.drive, leak, out=np.zeros(np.broadcast(self.drive, leak).shape), where=leak != 0)


@dataclass
class Semantics:
    """A flattened graph, its dt and its neurons' resolved dynamics, with how they were resolved."""

    graph: nir.NIRGraph  # subgraphs inlined
    dt: float
    producer: str
    dynamics: dict  # neuron node name -> Dynamics
    assumed: bool = False  # no producer was named or recorded: the default was assumed
    source: str = "the NIR graph"
    dt_override: bool = False  # dt may contradict the recorded one: time constants re-discretised
    suspects: list = field(default_factory=list)  # producers whose fingerprints the graph shows
    shapes: dict = field(default_factory=dict)  # node -> the shape it computes (nirdeploy.validate.propagate_shapes)

    def __getitem__(self, name: str) -> Dynamics:
        return self.dynamics[name]

    @functools.cached_property
    def recurrent_edges(self) -> list:
        """The edges that carry last step's value, one per cycle (the recurrence rule of every producer:
        docs/semantics.md, "Time"); an algebraic loop raises UnsupportedNodeError naming its nodes."""
        from .passes import recurrent_edges

        return recurrent_edges(self.graph, self.source)

    def assumption(self) -> Optional[str]:
        """The sentence that says which conventions were assumed and how to change that, if any were."""
        if not self.assumed:
            return None
        hint = f" Its fields fit the export of {' or '.join(self.suspects)}." if self.suspects else ""
        return (f"{self.source} records no producer (graph.metadata['conventions']), so SpikingJelly's "
                f"conventions (nirdeploy's reference) were assumed.{hint} Name the framework that wrote it "
                f"({spell('producer=...', '--producer, or model.producer in a config')}): one of "
                f"{', '.join(PRODUCERS)}.")


def _array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _membrane_tau(node) -> np.ndarray:
    """A leaky neuron's membrane time constant: LIF / LI's ``tau``, CubaLIF / CubaLI's ``tau_mem``."""
    return _array(node.tau if hasattr(node, "tau") else node.tau_mem)


def _require(name: str, node, condition, what: str, producer: str) -> None:
    if not np.all(condition):
        raise UnsupportedNodeError(
            f"node '{name}' ({type(node).__name__}) has {what}, which {producer}'s neurons cannot express; "
            f"if another framework wrote the file, name it ({spell('producer=...', '--producer')}); "
            + spell("producer='spikingjelly'", "--producer spikingjelly")
            + " reads it with nirdeploy's reference conventions"
        )


def reset_mode(node: nir.NIRNode) -> str:
    """'subtract' where the node's metadata says so, else NIR's 'hard' reset to v_reset."""
    return "subtract" if str(node.metadata.get(RESET_MODE, "hard")) == "subtract" else "hard"


# --- SpikingJelly, nirdeploy's reference (docs/semantics.md, "Neurons, per step") ----------------------
def _threshold(node, spiking_type) -> dict:
    if type(node) is not spiking_type:
        return {}
    subtract = reset_mode(node) == "subtract"
    return dict(v_threshold=_array(node.v_threshold), v_reset=_array(node.v_reset), reset=reset_mode(node),
                v_initial=np.zeros(()) if subtract else _array(node.v_reset))


def spikingjelly_i(name, node, dt) -> Dynamics:
    """IF / I: ``h = v + r dt x``."""
    gain = _array(node.r) * dt
    return Dynamics(name, type(node).__name__, "spikingjelly", "SpikingJelly IFNode", np.ones(()), gain, np.zeros(()),
                    "spikingjelly.if", {"input_gain": gain}, **_threshold(node, nir.IF))


def spikingjelly_li(name, node, dt) -> Dynamics:
    """LIF / LI, forward Euler of ``tau dv/dt = (v_leak - v) + r x`` with ``k = tau/dt``:
    ``h = v + (r x - (v - v_leak)) / k`` where r == 1 (SpikingJelly's decay_input), else
    ``h = v - (v - v_leak) / k + (r / k) x``."""
    steps = _array(node.tau) / dt
    leak_form = str(node.metadata.get(LEAK_FORM, "divide"))
    recorded = node.metadata.get(DECAY_INPUT)
    decay_input = bool(np.all(node.r == 1.0)) if recorded is None else str(recorded) == "true"
    native = dict(leak=steps if leak_form == "divide" else 1.0 / steps,
                  input_gain=_array(node.r) if decay_input else _array(node.r) / steps,
                  v_leak=_array(node.v_leak), decay_input=decay_input, leak_form=leak_form)
    return Dynamics(name, type(node).__name__, "spikingjelly", "SpikingJelly LIFNode", 1.0 - 1.0 / steps,
                    _array(node.r) / steps, _array(node.v_leak) / steps, "spikingjelly.lif", native,
                    **_threshold(node, nir.LIF))


def spikingjelly_cubali(name, node, dt) -> Dynamics:
    """CubaLIF / CubaLI: ``i = i (1 - dt/tau_syn) + (w_in dt/tau_syn) x`` first, then the *new* current
    drives ``h = v (1 - dt/tau_mem) + (r dt/tau_mem) i + v_leak dt/tau_mem`` (as SpikingJelly and snnTorch)."""
    syn, mem = dt / _array(node.tau_syn), dt / _array(node.tau_mem)
    native = dict(current_decay=1.0 - syn, current_gain=_array(node.w_in) * syn, voltage_decay=1.0 - mem,
                  voltage_gain=_array(node.r) * mem, v_leak=_array(node.v_leak))
    return Dynamics(name, type(node).__name__, "spikingjelly", "SpikingJelly CUBALIFNode", 1.0 - mem,
                    _array(node.r) * mem, _array(node.v_leak) * mem, "spikingjelly.cubalif", native,
                    i_decay=1.0 - syn, i_gain=_array(node.w_in) * syn, **_threshold(node, nir.CubaLIF))


# --- snnTorch 1.0.0: Leaky / Synaptic with the default subtractive, delayed reset ----------------------
def nearest_float32(estimate: np.ndarray, exporter: Callable, observed: tuple) -> np.ndarray:
    """The float32 values within 4 ulps of ``estimate`` that ``exporter`` maps to ``observed``.

    Exporters compute NIR fields from float32 parameters in float32; inverting
    their formula in float64 can land an ulp away, which this search undoes.
    """
    best = np.asarray(estimate, dtype=np.float32).copy()
    candidates = [best]
    for direction in (np.inf, -np.inf):
        value = best
        for _ in range(4):
            value = np.nextafter(value, np.float32(direction))
            candidates.append(value)
    found = np.zeros(best.shape, dtype=bool)
    for candidate in candidates:
        match = np.logical_and.reduce([np.asarray(a) == b for a, b in zip(exporter(candidate), observed)]) & ~found
        best = np.where(match, candidate, best)
        found |= match
    return best


def _snntorch_decay(tau, scale) -> np.ndarray:
    """Recover snnTorch's float32 decay from ``tau = dt/(1-decay)`` and ``scale = tau/dt``."""
    dt, one = np.float32(SNNTORCH_DT), np.float32(1)
    observed = (np.asarray(tau, np.float32), np.asarray(scale, np.float32))
    estimate = 1.0 - SNNTORCH_DT / np.asarray(tau, np.float64)
    with np.errstate(divide="ignore"):  # a decay of 1 was written as tau = inf
        return nearest_float32(estimate, lambda d: (dt / (one - d), dt / (one - d) / dt), observed).astype(np.float64)


def _per_step(tau, gain) -> np.ndarray:
    """``gain dt / tau`` with snnTorch's dt; 1 where both are infinite (its exporter's beta = 1)."""
    tau, gain = _array(tau), _array(gain)
    both = np.isinf(tau) & np.isinf(gain)
    return np.where(both, 1.0, gain * SNNTORCH_DT / np.where(both, 1.0, tau))


def snntorch_parameters(name, node) -> dict:
    """snnTorch's own parameters behind a LIF (Leaky) or CubaLIF (Synaptic) node its exporter wrote."""
    _require(name, node, node.v_leak == 0, "v_leak != 0", "snnTorch")
    _require(name, node, node.v_reset == 0, "v_reset != 0", "snnTorch")
    tau = _membrane_tau(node)
    _require(name, node, np.isclose(_per_step(tau, node.r), 1, rtol=1e-5), "r != tau/dt", "snnTorch")
    parameters = dict(beta=_snntorch_decay(tau, node.r), v_threshold=_array(node.v_threshold))
    if isinstance(node, nir.CubaLIF):
        _require(name, node, np.isclose(_per_step(node.tau_syn, node.w_in), 1, rtol=1e-5), "w_in != tau_syn/dt",
                 "snnTorch")
        parameters["alpha"] = _snntorch_decay(node.tau_syn, node.w_in)
    return parameters


def snntorch_neuron(name, node, dt) -> Dynamics:
    """Leaky: ``h = beta v + x``; Synaptic: ``i = alpha i + x``, ``h = beta v + i``. Spike if ``h > thr``;
    the threshold is subtracted one step late, and the spike test already sees that pending reset
    (``reset``: 'subtract-delayed'). snnTorch's exporter writes ``tau = 1e-4 / (1 - beta)``, ``r = tau/1e-4``."""
    p = snntorch_parameters(name, node)
    current = dict(i_decay=p["alpha"], i_gain=np.ones(())) if "alpha" in p else {}
    rule = "snnTorch Synaptic" if current else "snnTorch Leaky"
    return Dynamics(name, type(node).__name__, "snntorch", rule, p["beta"], np.ones(()), np.zeros(()),
                    "snntorch.synaptic" if current else "snntorch.leaky", p, v_threshold=p["v_threshold"],
                    reset="subtract-delayed", threshold_test=">", **current)


# --- Norse 1.1.0. Its exporter writes tau = dt / tau_inv (norse issue #411): dt * tau_inv = dt / tau ---------
def _unit_gains(name, node, fields) -> None:
    for field_name in fields:
        _require(name, node, getattr(node, field_name) == 1, f"{field_name} != 1", "Norse")


def _norse_inv(tau, dt) -> np.ndarray:
    """Norse's float32 ``tau_inv = dt / tau``, undoing its exporter's ``tau = dt / tau_inv``."""
    return np.float32(dt) / np.asarray(tau, np.float32)


def _norse_rate(tau_inv, dt) -> np.ndarray:
    """``dt * tau_inv``, the per-step factor, as Norse computes it in float32."""
    return (np.float32(dt) * tau_inv).astype(np.float64)


def _norse_spiking(node) -> dict:
    return dict(v_threshold=_array(node.v_threshold), v_reset=_array(node.v_reset), threshold_test=">")


def norse_cubalif(name, node, dt) -> Dynamics:
    """LIFCell: ``j = i + x``; ``h = v + dt/tau_mem ((v_leak - v) + j)``; then ``i = j - dt/tau_syn j``.
    In the model's terms the current is ``j``: ``i_decay = 1 - dt/tau_syn``, ``i_gain = 1``. v starts at v_leak."""
    _unit_gains(name, node, ("r", "w_in"))
    native = dict(tau_mem_inv=_norse_inv(node.tau_mem, dt), tau_syn_inv=_norse_inv(node.tau_syn, dt),
                  v_leak=_array(node.v_leak), v_threshold=_array(node.v_threshold), v_reset=_array(node.v_reset), dt=dt)
    mem, syn = _norse_rate(native["tau_mem_inv"], dt), _norse_rate(native["tau_syn_inv"], dt)
    return Dynamics(name, "CubaLIF", "norse", "Norse LIFCell", 1.0 - mem, mem, mem * _array(node.v_leak),
                    "norse.lif_cell", native, v_initial=_array(node.v_leak), i_decay=1.0 - syn, i_gain=np.ones(()),
                    **_norse_spiking(node))


def norse_lif(name, node, dt) -> Dynamics:
    """LIFBoxCell: ``h = v + dt/tau (x + v_leak - v)``; v starts at v_leak."""
    _unit_gains(name, node, ("r",))
    native = dict(tau_mem_inv=_norse_inv(node.tau, dt), v_leak=_array(node.v_leak),
                  v_threshold=_array(node.v_threshold), v_reset=_array(node.v_reset), dt=dt)
    mem = _norse_rate(native["tau_mem_inv"], dt)
    return Dynamics(name, "LIF", "norse", "Norse LIFBoxCell", 1.0 - mem, mem, mem * _array(node.v_leak),
                    "norse.lif_box", native, v_initial=_array(node.v_leak), **_norse_spiking(node))


def norse_li(name, node, dt) -> Dynamics:
    """LIBoxCell: ``v = v + dt/tau ((v_leak - v) + x)``, the output; v starts at v_leak."""
    _unit_gains(name, node, ("r",))
    native = dict(tau_mem_inv=_norse_inv(node.tau, dt), v_leak=_array(node.v_leak), dt=dt)
    mem = _norse_rate(native["tau_mem_inv"], dt)
    return Dynamics(name, "LI", "norse", "Norse LIBoxCell", 1.0 - mem, mem, mem * _array(node.v_leak),
                    "norse.li_box", native, v_initial=_array(node.v_leak))


def norse_if(name, node, dt) -> Dynamics:
    """IAFCell: ``h = v + x``; v starts at v_reset."""
    _unit_gains(name, node, ("r",))
    native = dict(v_threshold=_array(node.v_threshold), v_reset=_array(node.v_reset))
    return Dynamics(name, "IF", "norse", "Norse IAFCell", np.ones(()), np.ones(()), np.zeros(()),
                    "norse.iaf", native, v_initial=_array(node.v_reset), **_norse_spiking(node))


# --- Rockpool 3.1.0 ---------------------------------------------------------------------------------------
def rockpool_dts(tau, r) -> np.ndarray:
    """Per neuron, the dt that solves Rockpool's ``r dt = tau exp(-dt / tau)`` (it stores no dt): with
    ``u = dt / tau``, ``r = exp(-u) / u`` decreases in u, so u is found by bisection (in log u)."""
    r = _array(r)
    low, high = np.full(r.shape, 1e-9), np.full(r.shape, 50.0)
    for _ in range(80):
        mid = np.sqrt(low * high)
        above = np.exp(-mid) / mid > r
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return (low * _array(tau)).ravel()


def _rockpool_dt_matches(name, node, tau, dt) -> None:
    written_for = float(np.float32(rockpool_dts(tau, node.r)[0]))
    if not np.isclose(written_for, dt, rtol=1e-5):
        raise UnsupportedNodeError(
            f"node '{name}' ({type(node).__name__}) was written by Rockpool for dt={written_for:g} s (its "
            f"r = tau exp(-dt/tau)/dt says so) but dt={dt:g} s was given; "
            f"{spell(f'pass dt={written_for:g}', f'run with --dt {written_for:g}')}"
        )


def _float32_exp_decay(tau, dt) -> np.ndarray:
    """``exp(-dt / tau)`` in float32, as Rockpool computes its decays at every call."""
    import torch

    return torch.exp(-dt / torch.as_tensor(np.asarray(tau, np.float32))).numpy().astype(np.float64)


def rockpool_cubalif(name, node, dt) -> Dynamics:
    """LIFTorch: ``i = beta (i + x)``, ``h = alpha v + i + v_leak``, decays ``exp(-dt/tau)``; spikes
    ``floor(h / thr)`` where ``h >= thr`` (at most 2**16), subtracted from v."""
    _require(name, node, node.w_in == 1, "w_in != 1", "Rockpool")
    _require(name, node, node.v_reset == 0, "v_reset != 0", "Rockpool")
    _rockpool_dt_matches(name, node, _membrane_tau(node), dt)
    alpha, beta = _float32_exp_decay(node.tau_mem, dt), _float32_exp_decay(node.tau_syn, dt)
    native = dict(alpha=alpha, beta=beta, v_leak=_array(node.v_leak), v_threshold=_array(node.v_threshold))
    return Dynamics(name, "CubaLIF", "rockpool", "Rockpool LIFTorch", alpha, np.ones(()), _array(node.v_leak),
                    "rockpool.lif", native, i_decay=beta, i_gain=beta,
                    v_threshold=_array(node.v_threshold), reset="subtract", spikes_per_step="floor",
                    max_spikes=ROCKPOOL_MAX_SPIKES)


def rockpool_lif(name, node, dt) -> Dynamics:
    """LIFNeuronTorch: ``h = alpha v + x + v_leak``, ``alpha = exp(-dt/tau)``; spikes ``floor(h / thr)``
    where ``h >= thr`` (at most 2**16), subtracted from v. Its exporter writes ``r = tau exp(-dt/tau)/dt``
    and drops the bias (v_leak = 0 in the file)."""
    _require(name, node, node.v_reset == 0, "v_reset != 0", "Rockpool")
    _rockpool_dt_matches(name, node, _membrane_tau(node), dt)
    alpha = _float32_exp_decay(node.tau, dt)
    native = dict(alpha=alpha, v_leak=_array(node.v_leak), v_threshold=_array(node.v_threshold))
    return Dynamics(name, "LIF", "rockpool", "Rockpool LIFNeuronTorch", alpha, np.ones(()), _array(node.v_leak),
                    "rockpool.lif_neuron", native, v_threshold=_array(node.v_threshold), reset="subtract",
                    spikes_per_step="floor", max_spikes=ROCKPOOL_MAX_SPIKES)


# --- Sinabs 3.1.3: tau in time steps; what sinabs.from_nir builds --------------------------------------
def _sinabs_plain(name, node) -> None:
    _require(name, node, node.r == 1, "r != 1", "Sinabs")
    _require(name, node, node.v_reset == 0, "v_reset != 0", "Sinabs")


def sinabs_if(name, node, dt) -> Dynamics:
    """IAF as sinabs.from_nir builds it: ``h = v + x``; ``n = trunc(h / thr)`` where ``h > 0``;
    ``v = max(h - n thr, -thr)`` (from_nir sets min_v_mem = -v_threshold)."""
    _sinabs_plain(name, node)
    threshold = _array(node.v_threshold)
    return Dynamics(name, "IF", "sinabs", "Sinabs IAF", np.ones(()), np.ones(()), np.zeros(()),
                    "sinabs.iaf", {"v_threshold": threshold, "v_min": -threshold}, v_threshold=threshold,
                    reset="subtract", spikes_per_step="trunc", max_spikes=np.inf, v_min=-threshold)


def sinabs_lif(name, node, dt) -> Dynamics:
    """LIF as sinabs.from_nir builds it (norm_input=False): ``h = alpha v + x``, ``alpha = exp(-1/tau)``
    (tau in steps); spikes and reset as IAF, no lower bound."""
    _sinabs_plain(name, node)
    _require(name, node, node.v_leak == 0, "v_leak != 0", "Sinabs")
    alpha = _float32_exp_decay(node.tau, 1.0)
    threshold = _array(node.v_threshold)
    return Dynamics(name, "LIF", "sinabs", "Sinabs LIF", alpha, np.ones(()), np.zeros(()),
                    "sinabs.lif", {"alpha": alpha, "v_threshold": threshold}, v_threshold=threshold,
                    reset="subtract", spikes_per_step="trunc", max_spikes=np.inf)


@dataclass(frozen=True)
class Producer:
    name: str
    summary: str
    neurons: dict = field(default_factory=dict)  # NIR node type -> resolver(name, node, dt) -> Dynamics


REFERENCE_NEURONS = {nir.IF: spikingjelly_i, nir.I: spikingjelly_i, nir.LIF: spikingjelly_li, nir.LI: spikingjelly_li,
                     nir.CubaLIF: spikingjelly_cubali, nir.CubaLI: spikingjelly_cubali}

PRODUCERS = {
    "spikingjelly": Producer(
        "spikingjelly",
        "nirdeploy's reference: SpikingJelly's discretisation, hard reset in the same step, v >= threshold",
        REFERENCE_NEURONS,
    ),
    "snntorch": Producer(
        "snntorch",
        "snnTorch 1.0: beta = 1 - 1e-4/tau, subtractive reset delayed by one step, v > threshold",
        {nir.LIF: snntorch_neuron, nir.CubaLIF: snntorch_neuron},
    ),
    "norse": Producer(
        "norse",
        "Norse 1.1: tau_inv = dt/tau (its exporter's dt), current jumps by the input, v > threshold, reset to v_reset",
        {nir.CubaLIF: norse_cubalif, nir.LIF: norse_lif, nir.LI: norse_li, nir.IF: norse_if},
    ),
    "rockpool": Producer(
        "rockpool",
        "Rockpool 3.1 LIFTorch (CubaLIF) and LIFNeuronTorch (LIF): exp(-dt/tau) decays, decayed current drives v, "
        "v >= threshold, several spikes per step",
        {nir.CubaLIF: rockpool_cubalif, nir.LIF: rockpool_lif},
    ),
    "sinabs": Producer(
        "sinabs",
        "Sinabs 3.1 as sinabs.from_nir reads NIR: tau in steps, trunc(v/threshold) spikes, subtractive reset, "
        "IF bounded below at -threshold",
        {nir.IF: sinabs_if, nir.LIF: sinabs_lif},
    ),
}


def choose_producer(producer: Optional[str], graph: nir.NIRGraph) -> tuple:
    """(producer name, assumed): the explicit choice, else the conventions recorded in the graph, else
    the reference, assumed."""
    recorded = (graph.metadata or {}).get("conventions")
    recorded = None if recorded is None else recorded.decode() if isinstance(recorded, bytes) else str(recorded)
    if producer is not None and producer not in PRODUCERS:
        raise InvalidArgumentError(f"producer must be one of {', '.join(PRODUCERS)}; got {producer!r}")
    if producer is None and recorded is not None and recorded not in PRODUCERS:
        raise InvalidArgumentError(f"the graph records conventions {recorded!r} (graph.metadata['conventions']), "
                                   f"which nirdeploy does not know; name the framework that wrote it "
                                   f"({spell('producer=...', '--producer')}): one of {', '.join(PRODUCERS)}")
    name = producer or recorded or "spikingjelly"
    if producer is not None and recorded is not None and producer != recorded:
        raise InvalidArgumentError(
            f"the graph records {recorded!r} conventions (graph.metadata['conventions']) but producer {producer!r} "
            "was asked for; leave the producer out to use the recorded ones"
        )
    return name, producer is None and recorded is None


# What export records in graph.metadata, beside dt: the reference's conventions, in words.
REFERENCE_CONVENTIONS = {
    "threshold": "spike when v >= v_threshold",
    "cuba_update": "current first, the new current drives v in the same step",
    "initial_state": "v = v_reset (0 with subtractive reset), i = 0",
    "integration": "forward Euler, one step per dt",
}


def graph_metadata(dt: float) -> dict:
    return {"dt": float(dt), "producer": "nirdeploy", "producer_version": __version__,
            "conventions": "spikingjelly", **REFERENCE_CONVENTIONS}


def check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise InvalidArgumentError(f"dt must be a positive number of seconds, got {dt!r}")
    return float(dt)


def resolve_dt(graph: nir.NIRGraph, dt: Optional[float], dt_override: bool, source: str) -> float:
    """The dt to simulate at: the recorded one by default; a contradiction is an error unless overridden."""
    recorded = recorded_dt(graph, source)
    if dt is None:
        if recorded is None:
            raise InvalidArgumentError(f"{source} records no dt (graph.metadata['dt']); give the time step in "
                                       f"seconds ({spell('dt=...', '--dt, or dt in a config')}).{_dt_hint(graph)}")
        return check_dt(recorded)
    dt = check_dt(dt)
    if recorded is None or dt_override or math.isclose(recorded, dt, rel_tol=1e-9):
        return dt
    raise DtMismatchError(
        f"{source} was exported with dt={recorded:g} s (graph.metadata['dt']) but dt={dt:g} s was asked for. "
        f"Use {spell(f'dt={recorded:g}', f'--dt {recorded:g}')} to reproduce the exported network, or "
        f"{spell('dt_override=True', '--dt-override (model.dt_override: true in a config)')} to discretise its "
        f"time constants at dt={dt:g} s instead."
    )


def _dt_hint(graph: nir.NIRGraph) -> str:
    """What the file's marks say about the dt it was written for."""
    written = rockpool_written_dt(graph)
    if written is not None:
        fix = spell(f"dt={written:g}, producer='rockpool'", f"--dt {written:g} --producer rockpool")
        return f" Its fields fit Rockpool's export at dt={written:g} s ({fix})."
    suspects = fingerprints(graph)
    return f" Its fields fit the export of {' or '.join(suspects)}." if suspects else ""


def resolve_node(name: str, node: nir.NIRNode, dt: float, producer: str) -> Dynamics:
    """The dynamics of one neuron node under ``producer``'s conventions (the reference's for node types
    the producer does not write)."""
    resolver = PRODUCERS[producer].neurons.get(type(node)) or REFERENCE_NEURONS[type(node)]
    return resolver(name, node, dt)


def rockpool_written_dt(graph: nir.NIRGraph) -> Optional[float]:
    """The one dt at which every LIF / CubaLIF node has Rockpool's ``r = tau exp(-dt/tau) / dt``, if there is
    one (to 6 significant digits, as Rockpool's float32 fields allow)."""
    neurons = [n for n in graph.nodes.values() if isinstance(n, NEURON_TYPES)]
    if not neurons or not all(isinstance(n, (nir.LIF, nir.CubaLIF)) for n in neurons):
        return None
    dts = np.concatenate([rockpool_dts(_membrane_tau(n), n.r) for n in neurons])
    if not np.all(np.isfinite(dts)) or np.ptp(dts) > 1e-4 * np.max(dts):
        return None
    return float(f"{np.median(dts):.6g}")


def fingerprints(graph: nir.NIRGraph) -> list:
    """Producers whose exporters leave the marks this graph carries (a hint for the user, never a choice)."""
    neurons = [node for node in graph.nodes.values() if isinstance(node, NEURON_TYPES)]
    if not neurons:
        return []
    leaky = [(n, _membrane_tau(n)) for n in neurons if not isinstance(n, (nir.IF, nir.I))]
    unit_gains = all(np.all(getattr(n, "r", 1) == 1) and np.all(getattr(n, "w_in", 1) == 1) for n in neurons)
    found = []
    if all(isinstance(n, (nir.LIF, nir.CubaLIF)) for n in neurons) and all(
            np.allclose(_per_step(tau, n.r), 1, rtol=1e-5) for n, tau in leaky):
        found.append("snntorch")  # r = tau / 1e-4
    if any("Torch" in name for name in graph.nodes) or (not unit_gains and rockpool_written_dt(graph)):
        found.append("rockpool")  # node names like 1_LIFTorch; r = tau exp(-dt/tau) / dt at one dt
    if unit_gains and any(np.any(tau < 1e-4) for _, tau in leaky):
        found.append("norse")  # tau = dt / tau_inv: microseconds
    if unit_gains and (not leaky or any(np.any(tau >= 1) for _, tau in leaky)):
        found.append("sinabs")  # IF with r = 1; tau in steps
    return found


def load(graph, dt: Optional[float] = None, producer: Optional[str] = None, dt_override: bool = False) -> Semantics:
    """:func:`resolve` for a nir.NIRGraph or the path of a .nir file."""
    from pathlib import Path

    from .graphfile import read_graph

    if isinstance(graph, (str, Path)):
        return resolve(read_graph(graph), dt, producer, dt_override, f"NIR file {graph}")
    if not isinstance(graph, nir.NIRGraph):
        raise InvalidArgumentError(f"graph must be a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    return resolve(graph, dt, producer, dt_override)


def resolve(graph: nir.NIRGraph, dt: Optional[float] = None, producer: Optional[str] = None,
            dt_override: bool = False, source: str = "the NIR graph") -> Semantics:
    """Resolve ``graph`` (a nir.NIRGraph) once: dt (the recorded one by default; a contradiction raises
    DtMismatchError unless ``dt_override``), the producer (named, recorded, else the reference,
    assumed) and every neuron node's :class:`Dynamics`."""
    from .passes import flatten_subgraphs  # passes reads this module's node types

    name, assumed = choose_producer(producer, graph)
    validate_graph(graph, source, name)
    flat = flatten_subgraphs(graph, source)
    dt = resolve_dt(flat, dt, dt_override, source)
    shapes = check_flat(flat, dt, source)
    dynamics = {}
    for node_name, node in flat.nodes.items():
        if isinstance(node, NEURON_TYPES):
            try:
                dynamics[node_name] = resolve_node(node_name, node, dt, name)
            except UnsupportedNodeError as error:
                raise UnsupportedNodeError(f"{source}: {error}") from None
    suspects = fingerprints(flat) if assumed else []
    return Semantics(flat, dt, name, dynamics, assumed, source, dt_override, suspects, shapes)
