"""The conventions of the frameworks that write NIR files, for faithful import.

Every framework discretises NIR's equations its own way (docs/semantics.md,
"Producer conventions"). A producer maps the NIR node types it writes to
modules that compute exactly what its own neurons compute; node types it
does not write use nirdeploy's reference (SpikingJelly's conventions).
Parameters the producer cannot have (a v_leak snnTorch has no field for,
say) are an error, never dropped.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

import nir
import numpy as np
import torch

from .errors import InvalidArgumentError, UnsupportedNodeError
from .neurons import NeuronPopulation, population_shape


def heaviside(x):
    """``1`` where ``x > 0``: the strict comparison of snnTorch's and Norse's spike functions."""
    return (x > 0).to(x.dtype)


class ProducerNeuron(NeuronPopulation):
    """A neuron whose per-step update is one of the pure step functions below.

    ``step(x, state, p)`` takes the input, a dict of the state tensors and this
    module (whose buffers are the parameters) and returns ``(output, state)``.
    ``initial`` names, per state, the parameter it starts at (absent: 0).
    """

    def __init__(self, step: Callable, state_names: tuple, parameters: dict, initial: Optional[dict] = None, **constants):
        super().__init__(population_shape(*parameters.values()), state_names=state_names)
        self.register_parameters(**parameters)
        self.step, self.initial = step, initial or {}
        for name, value in constants.items():
            setattr(self, name, value)

    def initial_state(self, name, like):
        if name in self.initial:
            return torch.broadcast_to(getattr(self, self.initial[name]).to(like), like.shape).clone()
        return torch.zeros_like(like)

    def single_step_functional_forward(self, inputs, states, **kwargs):
        out, new = self.step(inputs[0], dict(zip(self._memories, states)), self)
        return (out,), tuple(new[name] for name in self._memories)

    def extra_repr(self):
        return f"{self.step.__name__}, shape={self.shape}, step_mode={self.step_mode}"


def _require(name: str, node, condition: bool, what: str, producer: str) -> None:
    if not condition:
        raise UnsupportedNodeError(
            f"node '{name}' ({type(node).__name__}) has {what}, which {producer}'s neurons cannot express; "
            f"import it with producer='spikingjelly' (nirdeploy's reference) instead"
        )


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


# snnTorch 1.0.0: Leaky / Synaptic with the default subtractive, delayed reset.
# The reset uses the previous step's membrane and is not decayed:
#   mem = beta mem + x - H(mem_prev - thr) thr;  spike = H(mem - thr)
SNNTORCH_DT = 1e-4  # snnTorch's exporter writes tau = dt / (1 - beta) with this dt, whatever the user's


def snntorch_leaky_step(x, s, p):
    reset = heaviside(s["v"] - p.v_threshold)
    v = p.beta * s["v"] + x - reset * p.v_threshold
    return heaviside(v - p.v_threshold), {"v": v}


def snntorch_synaptic_step(x, s, p):
    reset = heaviside(s["v"] - p.v_threshold)
    i = p.alpha * s["i"] + x
    v = p.beta * s["v"] + i
    v = v - reset * p.v_threshold
    return heaviside(v - p.v_threshold), {"v": v, "i": i}


def _snntorch_decay(tau, scale):
    """Recover snnTorch's float32 decay from ``tau = dt/(1-decay)`` and ``scale = tau/dt``."""
    dt = np.float32(SNNTORCH_DT)
    one = np.float32(1)
    tau32, scale32 = np.asarray(tau, np.float32), np.asarray(scale, np.float32)
    return nearest_float32(1.0 - SNNTORCH_DT / np.asarray(tau, np.float64), lambda d: (dt / (one - d), dt / (one - d) / dt), (tau32, scale32))


def snntorch_parameters(name, node) -> dict:
    """snnTorch's own parameters behind a LIF (Leaky) or CubaLIF (Synaptic) node its exporter wrote."""
    for what, ok in (("v_leak != 0", np.all(node.v_leak == 0)), ("v_reset != 0", np.all(node.v_reset == 0))):
        _require(name, node, ok, what, "snnTorch")
    tau = node.tau if isinstance(node, nir.LIF) else node.tau_mem
    _require(name, node, np.allclose(node.r * SNNTORCH_DT / tau, 1, rtol=1e-5), "r != tau/dt", "snnTorch")
    parameters = dict(beta=_snntorch_decay(tau, node.r), v_threshold=node.v_threshold)
    if isinstance(node, nir.CubaLIF):
        _require(name, node, np.allclose(node.w_in * SNNTORCH_DT / node.tau_syn, 1, rtol=1e-5), "w_in != tau_syn/dt",
                 "snnTorch")
        parameters["alpha"] = _snntorch_decay(node.tau_syn, node.w_in)
    return parameters


def snntorch_lif(name, node: nir.LIF, dt):
    return ProducerNeuron(snntorch_leaky_step, ("v",), snntorch_parameters(name, node))


def snntorch_cubalif(name, node: nir.CubaLIF, dt):
    return ProducerNeuron(snntorch_synaptic_step, ("v", "i"), snntorch_parameters(name, node))


# Norse 1.1.0. Its exporter writes tau = dt / tau_inv (dt*tau, norse issue #411);
# tau_inv = dt / tau undoes that, dt being the one given to norse's to_nir.
def norse_lif_cell_step(x, s, p):
    """LIFCell: the input jumps into the current, v uses it, then the current decays."""
    i_new = s["i"] + x
    v = s["v"] + p.dt * p.tau_mem_inv * ((p.v_leak - s["v"]) + i_new)
    i = i_new + (-p.dt * p.tau_syn_inv * i_new)
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset, "i": i}


def norse_lif_box_step(x, s, p):
    v = s["v"] + p.dt * p.tau_mem_inv * (x + p.v_leak - s["v"])
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset}


def norse_li_box_step(x, s, p):
    v = s["v"] + p.dt * p.tau_mem_inv * ((p.v_leak - s["v"]) + x)
    return v, {"v": v}


def norse_iaf_step(x, s, p):
    v = s["v"] + x
    z = heaviside(v - p.v_threshold)
    return z, {"v": (1 - z) * v + z * p.v_reset}


def _norse_inv(tau, dt):
    return np.float32(dt) / np.asarray(tau, np.float32)


def _unit_gains(name, node, fields):
    for field_name in fields:
        _require(name, node, np.all(getattr(node, field_name) == 1), f"{field_name} != 1", "Norse")


def norse_cubalif(name, node: nir.CubaLIF, dt):
    _unit_gains(name, node, ("r", "w_in"))
    params = dict(
        tau_mem_inv=_norse_inv(node.tau_mem, dt),
        tau_syn_inv=_norse_inv(node.tau_syn, dt),
        v_leak=node.v_leak,
        v_threshold=node.v_threshold,
        v_reset=node.v_reset,
    )
    return ProducerNeuron(norse_lif_cell_step, ("v", "i"), params, {"v": "v_leak"}, dt=dt)


def norse_lif(name, node: nir.LIF, dt):
    _unit_gains(name, node, ("r",))
    params = dict(tau_mem_inv=_norse_inv(node.tau, dt), v_leak=node.v_leak, v_threshold=node.v_threshold, v_reset=node.v_reset)
    return ProducerNeuron(norse_lif_box_step, ("v",), params, {"v": "v_leak"}, dt=dt)


def norse_li(name, node: nir.LI, dt):
    _unit_gains(name, node, ("r",))
    params = dict(tau_mem_inv=_norse_inv(node.tau, dt), v_leak=node.v_leak)
    return ProducerNeuron(norse_li_box_step, ("v",), params, {"v": "v_leak"}, dt=dt)


def norse_if(name, node: nir.IF, dt):
    _unit_gains(name, node, ("r",))
    params = dict(v_threshold=node.v_threshold, v_reset=node.v_reset)
    return ProducerNeuron(norse_iaf_step, ("v",), params, {"v": "v_reset"})


# Rockpool 3.1.0 LIFTorch: decays by exp(-dt/tau); the input enters the current,
# both decay, v takes the decayed current; multi-spike, subtractive reset.
ROCKPOOL_MAX_SPIKES = 2.0**16


def rockpool_lif_step(x, s, p):
    i = s["i"] + x
    v = s["v"] * p.alpha
    i = i * p.beta
    v = v + i + p.v_leak
    spikes = (v >= p.v_threshold) * torch.floor(v / p.v_threshold)
    spikes = spikes.clamp(max=ROCKPOOL_MAX_SPIKES).to(v.dtype)
    return spikes, {"v": v - spikes * p.v_threshold, "i": i}


def rockpool_dt(node: nir.CubaLIF) -> float:
    """Solve rockpool's ``r dt = tau_mem exp(-dt / tau_mem)`` for dt (it stores no dt)."""
    tau, r = float(np.ravel(node.tau_mem)[0]), float(np.ravel(node.r)[0])
    low, high = 0.0, tau
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if r * mid < tau * np.exp(-mid / tau) else (low, mid)
    return float(np.float32(low))


def rockpool_cubalif(name, node: nir.CubaLIF, dt):
    for what, ok in (("w_in != 1", np.all(node.w_in == 1)), ("v_reset != 0", np.all(node.v_reset == 0))):
        _require(name, node, ok, what, "Rockpool")
    written_for = rockpool_dt(node)
    if not np.isclose(written_for, dt, rtol=1e-5):
        raise UnsupportedNodeError(
            f"node '{name}' (CubaLIF) was written by Rockpool for dt={written_for:g} s (its r = tau exp(-dt/tau)/dt "
            f"says so) but import was asked for dt={dt:g} s; pass dt={written_for:g}"
        )
    tau_mem = torch.as_tensor(np.asarray(node.tau_mem, np.float32))
    tau_syn = torch.as_tensor(np.asarray(node.tau_syn, np.float32))
    # Rockpool computes its decays in float32 at every call; the same expression gives the same bits.
    params = dict(
        alpha=torch.exp(-dt / tau_mem).numpy(),
        beta=torch.exp(-dt / tau_syn).numpy(),
        v_leak=node.v_leak,
        v_threshold=node.v_threshold,
    )
    return ProducerNeuron(rockpool_lif_step, ("v", "i"), params)


# Sinabs 3.1.3: tau in time steps (no dt), MultiSpike (count = trunc(v/thr) where v > 0),
# subtractive reset; LIF scales its input by (1 - alpha) (norm_input, sinabs' default).
def _multi_spike(v, threshold):
    spikes = (v > 0) * torch.div(v, threshold, rounding_mode="trunc")
    return spikes.to(v.dtype)


def sinabs_iaf_step(x, s, p):
    v = s["v"] + x
    spikes = _multi_spike(v, p.v_threshold)
    return spikes, {"v": v - spikes * p.v_threshold}


def sinabs_lif_step(x, s, p):
    v = p.alpha * s["v"] + (1 - p.alpha) * x
    spikes = _multi_spike(v, p.v_threshold)
    return spikes, {"v": v - spikes * p.v_threshold}


def _sinabs_plain(name, node):
    for what, ok in (("r != 1", np.all(node.r == 1)), ("v_reset != 0", np.all(node.v_reset == 0))):
        _require(name, node, ok, what, "Sinabs")


def sinabs_if(name, node: nir.IF, dt):
    _sinabs_plain(name, node)
    return ProducerNeuron(sinabs_iaf_step, ("v",), dict(v_threshold=node.v_threshold))


def sinabs_lif(name, node: nir.LIF, dt):
    _sinabs_plain(name, node)
    _require(name, node, np.all(node.v_leak == 0), "v_leak != 0", "Sinabs")
    alpha = torch.exp(-1.0 / torch.as_tensor(np.asarray(node.tau, np.float32))).numpy()
    return ProducerNeuron(sinabs_lif_step, ("v",), dict(alpha=alpha, v_threshold=node.v_threshold))


@dataclass(frozen=True)
class Producer:
    name: str
    summary: str
    neurons: dict = field(default_factory=dict)  # NIR node type -> builder(name, node, dt) -> module

    def builder(self, node) -> Optional[Callable]:
        return self.neurons.get(type(node))


PRODUCERS = {
    "spikingjelly": Producer(
        "spikingjelly",
        "nirdeploy's reference: SpikingJelly's discretisation, hard reset in the same step, v >= threshold",
    ),
    "snntorch": Producer(
        "snntorch",
        "snnTorch 1.0: beta = 1 - 1e-4/tau, subtractive reset delayed by one step, v > threshold",
        {nir.LIF: snntorch_lif, nir.CubaLIF: snntorch_cubalif},
    ),
    "norse": Producer(
        "norse",
        "Norse 1.1: tau_inv = dt/tau (its exporter's dt), current jumps by the input, v > threshold, reset to v_reset",
        {nir.CubaLIF: norse_cubalif, nir.LIF: norse_lif, nir.LI: norse_li, nir.IF: norse_if},
    ),
    "rockpool": Producer(
        "rockpool",
        "Rockpool 3.1 LIFTorch: exp(-dt/tau) decays, decayed current drives v, v >= threshold, several spikes per step",
        {nir.CubaLIF: rockpool_cubalif},
    ),
    "sinabs": Producer(
        "sinabs",
        "Sinabs 3.1: tau in steps, LIF input scaled by 1 - alpha, trunc(v/threshold) spikes, subtractive reset",
        {nir.IF: sinabs_if, nir.LIF: sinabs_lif},
    ),
}


def resolve_producer(producer: Optional[str], graph: nir.NIRGraph) -> Producer:
    """The explicit choice, else the conventions recorded in the graph, else the reference."""
    recorded = (graph.metadata or {}).get("conventions")
    recorded = None if recorded is None else str(recorded)
    name = producer or recorded or "spikingjelly"
    if name not in PRODUCERS:
        raise InvalidArgumentError(f"producer must be one of {', '.join(PRODUCERS)}; got {name!r}")
    if producer is not None and recorded is not None and producer != recorded:
        raise InvalidArgumentError(
            f"the graph records {recorded!r} conventions (graph.metadata['conventions']) but producer={producer!r} "
            "was asked for; leave producer out to use the recorded ones"
        )
    return PRODUCERS[name]
