"""Networks built, run and exported by the producer libraries themselves.

Each case returns the .nir file the producer's own exporter wrote, the input
spikes and the producer's own output, both in nirdeploy's ``[T, B, ...]``
layout. ``measure`` imports the file with the producer's preset and counts
how many output values differ. ``render_table`` turns the results into
docs/interop.md, so the table always says what the tests measured.
"""

import warnings
from pathlib import Path

import nir
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

import nirdeploy
from nirdeploy.passes import flatten_subgraphs
from nirdeploy.semantics import fingerprints

warnings.filterwarnings("ignore", message=".*extract_nir_graph.*")
T, B = 150, 2


def spikes(shape, rate, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < rate).float()


def uniform(low, high, *shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=generator)


def _scaled_linear(n_in, n_out, gain, bias=True, seed=0):
    torch.manual_seed(seed)
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.mul_(gain).add_(gain / 20)
    return layer


def _int_linear(n_in, n_out, low, high, seed=0):
    """A Linear without bias whose weights are integers in [low, high]: potentials land exactly on thresholds."""
    layer = nn.Linear(n_in, n_out, bias=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(torch.randint(low, high + 1, (n_out, n_in), generator=generator).float())
    return layer


def _pick(values, n, seed=0):
    """n values drawn from a short list (exact betas, integer thresholds)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.tensor(values)[torch.randint(len(values), (n,), generator=generator)]


# --- snnTorch: stepped one call per time step, each call (batch, features) -------------------------
def _run_snntorch(net, x):
    import snntorch as snn

    for module in net.modules():
        if isinstance(module, snn.SpikingNeuron):
            module.reset_hidden()
    with torch.no_grad():
        out = [net(x_t) for x_t in x]
    return torch.stack([o[0] if isinstance(o, tuple) else o for o in out])


def _export_snntorch(net, x, path):
    from snntorch.export_nir import export_to_nir

    nir.write(path, export_to_nir(net, x[0], ignore_dims=[0]))


def snntorch_feedforward(path):
    import snntorch as snn

    net = nn.Sequential(
        _scaled_linear(10, 12, 1.5),
        snn.Leaky(beta=uniform(0.5, 0.95, 12), threshold=uniform(0.5, 1.5, 12, seed=1), init_hidden=True),
        _scaled_linear(12, 8, 1.0, bias=False, seed=1),
        snn.Synaptic(alpha=uniform(0.5, 0.9, 8, seed=2), beta=uniform(0.6, 0.95, 8, seed=3),
                     threshold=uniform(1.0, 2.0, 8, seed=4), init_hidden=True, output=True),
    )
    x = spikes((T, B, 10), 0.3, seed=0)
    expected = _run_snntorch(net, x)
    _export_snntorch(net, x, path)
    return x, expected


def snntorch_recurrent(path):
    import snntorch as snn

    net = nn.Sequential(
        _scaled_linear(10, 12, 1.0),
        snn.RLeaky(beta=0.9, linear_features=12, init_hidden=True),
        _scaled_linear(12, 6, 0.5, seed=1),
        snn.RSynaptic(alpha=0.8, beta=0.85, linear_features=6, init_hidden=True, output=True),
    )
    x = spikes((T, B, 10), 0.3, seed=0)
    expected = _run_snntorch(net, x)
    _export_snntorch(net, x, path)
    return x, expected


def snntorch_conv(path):
    import snntorch as snn

    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(1.5).add_(0.05)
    net = nn.Sequential(
        conv,
        snn.Leaky(beta=uniform(0.6, 0.9, 4, 8, 8), threshold=torch.ones(4, 8, 8), init_hidden=True),
        nn.AvgPool2d(2),
        nn.Flatten(),
        _scaled_linear(4 * 4 * 4, 5, 1.0),
        snn.Leaky(beta=uniform(0.6, 0.9, 5, seed=1), threshold=torch.ones(5), init_hidden=True, output=True),
    )
    x = spikes((T, B, 2, 8, 8), 0.3, seed=0)
    expected = _run_snntorch(net, x)
    _export_snntorch(net, x, path)
    return x, expected


def snntorch_subtract_ties(path):
    """Exact betas (0.5, 0.75, 1.0), integer weights and thresholds: the membrane often equals the threshold.

    Counted while building the case: 88 ties (mem == threshold, no spike) in the Leaky layer and 3 in the
    Synaptic layer; 1776 of 3600 Leaky values are above twice the threshold (still above after a reset).
    beta = 1.0 makes snnTorch's exporter write tau = r = inf.
    """
    import snntorch as snn

    net = nn.Sequential(
        _int_linear(10, 12, -1, 2),
        snn.Leaky(beta=_pick([0.5, 0.75, 1.0], 12, seed=1), threshold=_pick([1.0, 2.0, 3.0], 12, seed=2), init_hidden=True),
        _int_linear(12, 8, -2, 2, seed=3),
        snn.Synaptic(alpha=_pick([0.5, 0.5, 0.75], 8, seed=4), beta=_pick([0.5, 1.0], 8, seed=5),
                     threshold=_pick([1.0, 2.0, 3.0], 8, seed=6), init_hidden=True, output=True),
    )
    x = spikes((T, B, 10), 0.3, seed=0)
    expected = _run_snntorch(net, x)
    _export_snntorch(net, x, path)
    return x, expected


# --- Norse: cells stepped with explicit state, each call (batch, features) -------------------------
def _norse_case(path, cells):
    import norse.torch as norse
    from norse.torch.utils.export_nir import to_nir

    net = norse.SequentialState(*cells)
    x = spikes((T, B, 10), 0.3, seed=0)
    state, out = None, []
    with torch.no_grad():
        for x_t in x:
            y, state = net(x_t, state)
            out.append(y)
    nir.write(path, to_nir(net, x[0, 0], dt=1e-3))
    return x, torch.stack(out)


def norse_spiking(path):
    import norse.torch as norse

    return _norse_case(
        path,
        [
            _scaled_linear(10, 12, 1.0),
            norse.LIFCell(norse.LIFParameters(tau_syn_inv=torch.full((12,), 200.0), tau_mem_inv=torch.full((12,), 100.0),
                                              v_th=torch.full((12,), 0.3), v_leak=torch.zeros(12), v_reset=torch.zeros(12)), dt=1e-3),
            _scaled_linear(12, 8, 2.0, seed=1),
            norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((8,), 100.0), v_th=torch.full((8,), 0.2),
                                                    v_leak=torch.zeros(8)), dt=1e-3),
            _scaled_linear(8, 5, 1.5, seed=2),
            norse.IAFCell(norse.IAFParameters(v_th=torch.full((5,), 1.0))),
        ],
    )


def norse_leaky_integrator(path):
    import norse.torch as norse

    return _norse_case(
        path,
        [_scaled_linear(10, 4, 2.0), norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=uniform(50, 200, 4), v_leak=torch.zeros(4)), dt=1e-3)],
    )


def _norse_leak_case(path, v_reset: bool):
    """v_leak != 0 (per neuron; Norse starts v at v_leak), v_reset != 0 where asked; IAFCell with integer weights
    and thresholds (146 ties v == v_th, no spike, counted while building the case with v_reset)."""
    import norse.torch as norse

    def reset(seed, n):
        return uniform(-0.1, 0.1, n, seed=seed) if v_reset else torch.zeros(n)

    return _norse_case(
        path,
        [
            _scaled_linear(10, 12, 2.0),
            norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=uniform(50, 200, 12), v_th=torch.full((12,), 0.3),
                                                    v_leak=uniform(0.05, 0.15, 12, seed=1), v_reset=reset(2, 12)),
                             dt=1e-3),
            _scaled_linear(12, 8, 2.0, seed=1),
            norse.LIFCell(norse.LIFParameters(tau_syn_inv=uniform(100, 300, 8, seed=3), tau_mem_inv=uniform(50, 200, 8, seed=4),
                                              v_th=torch.full((8,), 0.3), v_leak=uniform(0.05, 0.15, 8, seed=5),
                                              v_reset=reset(6, 8)), dt=1e-3),
            _int_linear(8, 5, -1, 2, seed=7),
            norse.IAFCell(norse.IAFParameters(v_th=_pick([1.0, 2.0, 3.0], 5, seed=8))),
        ],
    )


def norse_leak(path):
    return _norse_leak_case(path, v_reset=False)


def norse_box_ties(path):
    """LIFBoxCell with tau_mem_inv = 625 / s (dt tau_inv = 5/8 exactly, and tau = dt / tau_inv reads back
    exactly), integer weights and thresholds 5/8, 5/4, 15/8: v = 3v/8 + 5x/8 often equals v_th, where
    Norse's v > v_th does not fire; then IAFCell with integer thresholds."""
    import norse.torch as norse

    return _norse_case(
        path,
        [
            _int_linear(10, 12, -1, 2),
            norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((12,), 625.0),
                                                    v_th=_pick([0.625, 1.25, 1.875], 12, seed=1), v_leak=torch.zeros(12)),
                             dt=1e-3),
            _int_linear(12, 5, 0, 2, seed=2),
            norse.IAFCell(norse.IAFParameters(v_th=_pick([1.0, 2.0], 5, seed=3))),
        ],
    )


def norse_leak_reset(path):
    return _norse_leak_case(path, v_reset=True)


# --- Rockpool: modules take (batch, time, channels) --------------------------------------------------
def _rockpool_case(path, modules):
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import to_nir

    net = Sequential(*modules)
    x = spikes((T, B, 10), 0.3, seed=0)
    with torch.no_grad():
        out, _, _ = net(x.transpose(0, 1))
    nir.write(path, to_nir(net))
    return x, out.transpose(0, 1)


def rockpool_feedforward(path):
    from rockpool.nn.modules import LIFTorch, LinearTorch

    return _rockpool_case(
        path,
        [
            LinearTorch((10, 12), weight=uniform(-0.02, 0.1, 10, 12)),
            LIFTorch(12, tau_mem=uniform(0.01, 0.03, 12, seed=1), tau_syn=uniform(0.004, 0.01, 12, seed=2), threshold=1.0, dt=1e-3),
            # an explicit bias: without one LinearTorch draws it from the global RNG and the case changed every call
            LinearTorch((12, 6), weight=uniform(-0.1, 0.12, 12, 6, seed=3), bias=uniform(-0.1, 0.1, 6, seed=5), has_bias=True),
            LIFTorch(6, tau_mem=0.02, tau_syn=0.01, threshold=uniform(0.5, 1.0, 6, seed=4), dt=1e-3),
        ],
    )


def rockpool_recurrent(path):
    from rockpool.nn.modules import LIFTorch, LinearTorch

    return _rockpool_case(
        path,
        [
            LinearTorch((10, 12), weight=uniform(-0.02, 0.1, 10, 12)),
            LIFTorch(12, tau_mem=0.02, tau_syn=0.01, has_rec=True, w_rec=uniform(-0.06, 0.03, 12, 12, seed=5), dt=1e-3),
        ],
    )


def rockpool_lif(path):
    """LIFNeuronTorch: v = exp(-dt/tau) v + I; n = floor(v/thr) spikes where v >= thr; v -= n thr.

    Rockpool writes NIR LIF with r = tau exp(-dt/tau) / dt and the Linear weights unchanged.
    """
    from rockpool.nn.modules import LIFNeuronTorch, LinearTorch

    return _rockpool_case(
        path,
        [
            LinearTorch((10, 12), weight=uniform(-0.1, 0.4, 10, 12)),
            LIFNeuronTorch(12, tau_mem=uniform(0.005, 0.05, 12, seed=1), threshold=uniform(0.5, 1.5, 12, seed=2), dt=1e-3),
            LinearTorch((12, 6), weight=uniform(-0.2, 0.4, 12, 6, seed=3)),
            LIFNeuronTorch(6, tau_mem=uniform(0.01, 0.03, 6, seed=4), threshold=1.0, dt=1e-3),
        ],
    )


def rockpool_lif_ties(path):
    """LIFNeuronTorch with integer weights and thresholds; tau_mem = 1e5 s makes exp(-dt/tau) 1 in float32
    (pure integration) in half of the neurons: v often equals the threshold, where Rockpool's v >= thr fires
    once and floor(v / thr) counts the multiples."""
    from rockpool.nn.modules import LIFNeuronTorch, LinearTorch

    integers = lambda low, high, *shape, seed: torch.randint(low, high + 1, shape, generator=torch.Generator().manual_seed(seed)).float()
    return _rockpool_case(
        path,
        [
            LinearTorch((10, 12), weight=integers(-1, 2, 10, 12, seed=0)),
            LIFNeuronTorch(12, tau_mem=_pick([1e5, 0.02], 12, seed=1), threshold=_pick([1.0, 2.0, 3.0], 12, seed=2), dt=1e-3),
            LinearTorch((12, 6), weight=integers(-1, 2, 12, 6, seed=3)),
            LIFNeuronTorch(6, tau_mem=1e5, threshold=_pick([1.0, 2.0], 6, seed=4), dt=1e-3),
        ],
    )


# --- Sinabs: squeeze layers take (batch * time, ...) in batch-major order ---------------------------
def _sinabs_case(path, net, x):
    """Export with sinabs.to_nir; the expected output is what sinabs.from_nir builds from the file and runs.

    That is how Sinabs reads a NIR file, and it is not the network that wrote it: from_nir gives every IF
    min_v_mem = -v_threshold and every LIF norm_input=False, and the file records neither.
    """
    import sinabs

    flat = x.transpose(0, 1).reshape(B * T, *x.shape[2:])
    sinabs.reset_states(net)
    with torch.no_grad():
        net(flat)  # initialises the layers' states, whose shapes the exporter reads
    sinabs.reset_states(net)
    graph = sinabs.to_nir(net, flat)
    graph.infer_types()  # sinabs' exporter leaves conv shapes undefined; nir.write needs them
    nir.write(path, graph)
    reader = sinabs.from_nir(str(path), batch_size=B)  # nirtorch.load takes a str path, not a Path
    with torch.no_grad():
        out, _ = reader(flat)
    return x, out.reshape(B, T, *out.shape[1:]).transpose(0, 1)


def sinabs_conv(path):
    import sinabs.layers as sl

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False),
        sl.IAFSqueeze(batch_size=B, spike_threshold=1.0),
        sl.SumPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        sl.IAFSqueeze(batch_size=B, spike_threshold=1.0),
        nn.Flatten(),
        _scaled_linear(4 * 4 * 4, 6, 0.5),
        sl.IAFSqueeze(batch_size=B, spike_threshold=1.0),
    )
    with torch.no_grad():
        for conv in (net[0], net[3]):
            conv.weight.mul_(1.5)
    return _sinabs_case(path, net, spikes((T, B, 2, 8, 8), 0.3, seed=0))


def sinabs_lif(path):
    import sinabs.layers as sl

    net = nn.Sequential(
        _scaled_linear(10, 8, 3.0),
        sl.LIFSqueeze(batch_size=B, tau_mem=uniform(5.0, 30.0, 8), spike_threshold=torch.full((8,), 0.5)),
    )
    return _sinabs_case(path, net, spikes((T, B, 10), 0.3, seed=0))


def sinabs_if_bounded(path):
    """Mixed-sign weights drive IF potentials below -v_threshold, where from_nir's min_v_mem clamps them.

    The original network (no min_v_mem) gives 489 of 1800 output values different from the reader's run.
    """
    import sinabs.layers as sl

    conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
    linear = nn.Linear(4 * 4 * 4, 6, bias=False)
    with torch.no_grad():
        conv.weight.copy_(uniform(-0.5, 0.5, 4, 2, 3, 3))
        linear.weight.copy_(uniform(-0.5, 0.5, 6, 4 * 4 * 4, seed=1))
    net = nn.Sequential(
        conv,
        sl.IAFSqueeze(batch_size=B, spike_threshold=1.0),
        sl.SumPool2d(2),
        nn.Flatten(),
        linear,
        sl.IAFSqueeze(batch_size=B, spike_threshold=uniform(0.8, 1.5, 6, seed=2)),
    )
    return _sinabs_case(path, net, spikes((T, B, 2, 8, 8), 0.3, seed=0))


def sinabs_lif_reimport(path):
    """LIFSqueeze built as from_nir builds it (norm_input=False), per-neuron tau in steps."""
    import sinabs.layers as sl

    net = nn.Sequential(
        _scaled_linear(10, 8, 1.0),
        sl.LIFSqueeze(batch_size=B, tau_mem=uniform(5.0, 30.0, 8), spike_threshold=uniform(0.5, 1.5, 8, seed=1),
                      norm_input=False),
    )
    return _sinabs_case(path, net, spikes((T, B, 10), 0.3, seed=0))


def sinabs_if_ties(path):
    """Integer weights and thresholds: v lands exactly on (multiples of) the threshold; MultiSpike counts them.

    Counted while building the case: 1177 potentials are exact multiples k * v_threshold (k >= 1) when spikes
    are decided, and the original network (no min_v_mem) differs from the reader's run in 208 of 1800 values.
    """
    import sinabs.layers as sl

    net = nn.Sequential(
        _int_linear(10, 12, -2, 3),
        sl.IAFSqueeze(batch_size=B, spike_threshold=_pick([1.0, 2.0, 3.0], 12, seed=1)),
        _int_linear(12, 6, -2, 2, seed=2),
        sl.IAFSqueeze(batch_size=B, spike_threshold=_pick([2.0, 3.0], 6, seed=3)),
    )
    return _sinabs_case(path, net, spikes((T, B, 10), 0.3, seed=0))


# name -> (producer, build, what is built, why it cannot be exact: empty where it must be)
CASES = {
    "snntorch_feedforward": ("snntorch", snntorch_feedforward, "Linear, Leaky and Synaptic with per-neuron beta, alpha, threshold", ""),
    "snntorch_recurrent": ("snntorch", snntorch_recurrent, "RLeaky and RSynaptic (all-to-all recurrent weights with bias)", ""),
    "snntorch_conv": ("snntorch", snntorch_conv, "Conv2d, Leaky, AvgPool2d, Flatten, Linear", ""),
    "snntorch_subtract_ties": (
        "snntorch",
        snntorch_subtract_ties,
        "Leaky and Synaptic with exact betas (0.5, 0.75, 1.0), integer weights and thresholds: "
        "ties and neurons above threshold after a reset",
        "",
    ),
    "norse_spiking": ("norse", norse_spiking, "LIFCell, LIFBoxCell, IAFCell at dt = 1 ms", ""),
    "norse_leaky_integrator": (
        "norse",
        norse_leaky_integrator,
        "LIBoxCell (output: potential), per-neuron tau; Norse writes tau = dt / tau_inv in float32, so the "
        "tau_inv read back can be 1 ulp off",
        "",
    ),
    "norse_leak": ("norse", norse_leak, "LIFBoxCell and LIFCell with per-neuron v_leak != 0, IAFCell with integer "
                   "weights and thresholds (ties)", ""),
    "norse_box_ties": ("norse", norse_box_ties, "LIFBoxCell with dt tau_inv = 5/8, integer weights and thresholds "
                       "(ties v == v_th), IAFCell", ""),
    "norse_leak_reset": (
        "norse",
        norse_leak_reset,
        "LIFBoxCell and LIFCell with per-neuron v_leak != 0 and v_reset != 0, IAFCell with integer weights and thresholds",
        "Norse's exporter does not write v_reset (the file says 0), so the import resets to 0 where Norse resets to v_reset",
    ),
    "rockpool_feedforward": ("rockpool", rockpool_feedforward, "LinearTorch and LIFTorch, per-neuron taus and thresholds", ""),
    "rockpool_recurrent": (
        "rockpool",
        rockpool_recurrent,
        "LIFTorch with has_rec=True",
        "Rockpool's exporter drops w_rec (the file has no recurrent edge), so the import runs without recurrence",
    ),
    "rockpool_lif": ("rockpool", rockpool_lif, "LinearTorch and LIFNeuronTorch, two layers, per-neuron taus (multi-spike)", ""),
    "rockpool_lif_ties": ("rockpool", rockpool_lif_ties, "LIFNeuronTorch with integer weights and thresholds, half of "
                          "them integrating without leak (ties v == thr, multi-spike)", ""),
    "sinabs_conv": (
        "sinabs",
        sinabs_conv,
        "Conv2d, IAFSqueeze, SumPool2d, Flatten, Linear; truth: sinabs.from_nir's run (IF with min_v_mem = -v_threshold)",
        "",
    ),
    "sinabs_lif": (
        "sinabs",
        sinabs_lif,
        "LIFSqueeze written with norm_input=True, tau in steps; truth: sinabs.from_nir's run, which builds "
        "norm_input=False because the file does not record it (the original network differs in 870 of 2400 values)",
        "",
    ),
    "sinabs_if_bounded": (
        "sinabs",
        sinabs_if_bounded,
        "Conv2d, IAFSqueeze, SumPool2d, Flatten, Linear with mixed-sign weights; potentials reach min_v_mem = -v_threshold",
        "",
    ),
    "sinabs_lif_reimport": ("sinabs", sinabs_lif_reimport, "LIFSqueeze with norm_input=False, per-neuron tau and threshold", ""),
    "sinabs_if_ties": ("sinabs", sinabs_if_ties, "IAFSqueeze with integer weights and thresholds (multi-spike ties)", ""),
}


TARGETS = ("snntorch", "lava", "xylo")
# Potentials (LI outputs) agree to float32 rounding at best: which values round alike changes from run to run
# with the order of torch's sums, so they count as differing only beyond this.
POTENTIAL_TOLERANCE = 1e-6
# check rules that mean a target computes a producer's rule differently (compare then measures by how much)
DYNAMICS_RULES = {"reset mode", "threshold comparison", "spikes per step", "lower bound on v", "initial v"}


def measure(name: str, folder: Path, step_mode: str = "m", on_targets: bool = False) -> dict:
    """Run a case and nirdeploy's import of its file; count differing output values. With ``on_targets``,
    also check the file against every target and run it where the check passes."""
    producer, build, _, _ = CASES[name]
    path = Path(folder) / f"{name}.nir"
    x, expected = build(path)
    dt = 1e-3 if producer in ("norse", "rockpool") else 1e-4
    targets = {target: on_target(path, x, target, dt, producer) for target in TARGETS} if on_targets else {}
    gm = nirdeploy.import_from_nir(path, dt=dt, producer=producer, step_mode=step_mode)
    functional.reset_net(gm)
    with torch.no_grad():
        actual = gm(x) if step_mode == "m" else torch.stack([gm(x_t) for x_t in x])
    graph = nir.read(path, type_check=False)
    potential = outputs_potential(graph)
    difference = (actual - expected).abs()
    return {
        "producer": producer,
        "nodes": sorted({type(node).__name__ for node in graph.nodes.values()} - {"Input", "Output"}),
        "values": expected.numel(),
        "potential": potential,
        "differ": int((difference > POTENTIAL_TOLERANCE).sum() if potential else (difference > 0).sum()),
        "max_abs": float(difference.max()),
        "active": float((expected != 0).float().mean()),
        "suspects": fingerprints(flatten_subgraphs(graph)),
        "targets": targets,
    }


def on_target(path: Path, x: torch.Tensor, target: str, dt: float, producer: str) -> dict:
    """What check says of the file on ``target`` and, where it passes, the output spike-train match with the
    reference after delay compensation (Lava in float, Xylo in XyloSim)."""
    report = nirdeploy.check(path, target, dt=dt, producer=producer)
    differences = sorted({f"{p.rule} ({p.found})" for p in report.problems if p.rule in DYNAMICS_RULES})
    if not report.ok:
        refusal = next(p for p in report.errors)
        return {"ok": False, "why": f"{refusal.rule}: {refusal.found}", "differences": differences}
    spikes = (x > 0).float() if target != "snntorch" else x
    outputs = [row for row in nirdeploy.compare(path, spikes, targets=[target], dt=dt, producer=producer).rows
               if row["kind"] == "output"]
    match = min(row["spike_train_match"] for row in outputs)
    potential = outputs_potential(nir.read(path, type_check=False))
    return {"ok": True, "match": None if potential else match, "max_abs": max(row["max_abs_difference"] for row in outputs),
            "differences": differences}


def outputs_potential(graph: nir.NIRGraph) -> bool:
    """Whether the graph outputs a potential (LI, I, CubaLI), which agrees only to rounding."""
    fed = [pre for pre, post in graph.edges if isinstance(graph.nodes[post], nir.Output)]
    return any(isinstance(graph.nodes[pre], (nir.LI, nir.I, nir.CubaLI)) for pre in fed)


def _agreement(r: dict) -> float:
    return 100.0 * (1 - r["differ"] / r["values"])


def _node_table(results: dict) -> list:
    """producer x node type: exact where every case with that node was exact."""
    producers = sorted({r["producer"] for r in results.values()})
    node_types = sorted({n for r in results.values() for n in r["nodes"]})
    lines = ["| producer | " + " | ".join(node_types) + " |", "|---|" + "---|" * len(node_types)]
    for producer in producers:
        cells = []
        for node_type in node_types:
            cases = [r for r in results.values() if r["producer"] == producer and node_type in r["nodes"]]
            if not cases:
                cells.append("-")
            elif all(r["max_abs"] == 0 for r in cases):
                cells.append("exact")
            elif all(r["differ"] == 0 for r in cases):
                cells.append("float32 rounding")
            else:
                cells.append(f"approximate ({min(_agreement(r) for r in cases):.1f}%)")
        lines.append(f"| {producer} | " + " | ".join(cells) + " |")
    return lines


def _target_cell(result: dict) -> str:
    if not result["ok"]:
        return f"refused: {result['why']}"
    note = f" (check: {'; '.join(result['differences'])})" if result["differences"] else ""
    if result["match"] is None:
        within = result["max_abs"] <= POTENTIAL_TOLERANCE
        return f"potentials {'within' if within else 'off by'} {POTENTIAL_TOLERANCE if within else result['max_abs']:.2g}{note}"
    return f"{result['match']:.4f}{note}"


def _targets_table(results: dict) -> list:
    lines = ["| case | producer | " + " | ".join(TARGETS) + " |", "|---|---|" + "---|" * len(TARGETS)]
    for name, r in results.items():
        lines.append(f"| {name} | {r['producer']} | " + " | ".join(_target_cell(r["targets"][t]) for t in TARGETS) + " |")
    return lines


def render_table(results: dict) -> str:
    """docs/interop.md's tables from measured results (scripts/write_interop_table.py writes them)."""
    lines = [
        "Generated by `scripts/write_interop_table.py` from `tests/producer_cases.py`; a test fails when",
        "this page and the measurements disagree. Each case builds a network in the producer library,",
        f"runs it there on random input spikes ({T} steps, batch {B}), exports it with the producer's own",
        "exporter, imports the file with `import_from_nir(path, producer=...)` and compares outputs.",
        "",
        "## By node type",
        "",
        "`-`: no case has the producer write this node type. Approximate cells give the lowest share of",
        f"equal output values among the cases with that node; potentials count as equal within {POTENTIAL_TOLERANCE:g}.",
        "",
        *_node_table(results),
        "",
        "## Cases",
        "",
        "| case | producer | NIR nodes in the file | what was built | output values that differ | result |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        result = "exact"
        if r["max_abs"] and not r["differ"]:
            result = f"potentials equal to float32 rounding (within {POTENTIAL_TOLERANCE:g}; max abs diff {r['max_abs']:.1g})"
        elif r["differ"]:
            result = f"approximate: {_agreement(r):.1f}% of values equal, max abs diff {r['max_abs']:.3g}. {CASES[name][3]}"
        lines.append(
            f"| {name} | {r['producer']} | {', '.join(r['nodes'])} | {CASES[name][2]} | "
            f"{r['differ']} of {r['values']} | {result} |"
        )
    lines += [
        "",
        "## On every target",
        "",
        "Each file, named with its producer (`nirdeploy check FILE --target T --producer P`), checked against",
        "every target and, where the check passes, run there and on the reference (`nirdeploy.compare`, Lava in",
        "floating point, Xylo in XyloSim): the cell is the share of equal output values after the target's",
        "per-hop delay is shifted out (for a potential output, the largest difference), or the check's refusal. `check:` lists the producer rules the target",
        "computes differently (warnings), which is where spikes may differ.",
        "",
        *_targets_table(results),
    ]
    return "\n".join(lines) + "\n"
