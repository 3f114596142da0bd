"""NIR graph builders and input spikes shared by the tests (test files import this, never each other).

Random layers (``affine``, ``lif``, ``integrate``, ``cuba``) draw per-neuron parameters from a seed, so
that a graph exercises per-neuron thresholds, resets and gains with real activity; ``uniform_*`` layers
hold one value per field, for hand computations.
"""

import nir
import numpy as np
import torch

DT = 1e-3


def rng(seed):
    return np.random.default_rng(seed)


def io(shape):
    """(Input, Output) nodes of ``shape`` (an int or a tuple)."""
    shape = np.atleast_1d(np.asarray(shape))
    return nir.Input(input_type={"input": shape}), nir.Output(output_type={"output": shape})


def spikes(shape, batch=2, steps=200, rate=0.3, seed=3) -> torch.Tensor:
    """Bernoulli spikes ``[steps, batch, *shape]``."""
    shape = tuple(np.atleast_1d(shape))
    return (torch.rand((steps, batch, *shape), generator=torch.Generator().manual_seed(seed)) < rate).float()


def chain_graph(layers: list, n_in, n_out, dt=None, **metadata) -> nir.NIRGraph:
    """Input -> layers (name, node) in order -> Output, with dt (and further metadata) recorded if given."""
    names = ["input", *(name for name, _ in layers), "output"]
    nodes = {"input": io(n_in)[0], **dict(layers), "output": io(n_out)[1]}
    meta = {**({"dt": dt} if dt is not None else {}), **metadata}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), metadata=meta)


# --- random layers --------------------------------------------------------------------------------------
def affine(n_out, n_in, seed, gain=1.0, offset=0.3, bias=(-0.05, 0.1)):
    r = rng(seed)
    return nir.Affine(r.uniform(-gain, gain, (n_out, n_in)) + offset * gain, r.uniform(*bias, n_out))


def lif(n, seed, tau=5e-3, spiking=True):
    """Per-neuron r, v_leak, v_threshold and v_reset; one ``tau`` (Lava's dv is one value per process), or
    per-neuron taus with ``tau=None``; LI without ``spiking``."""
    r = rng(seed)
    v_leak = r.uniform(-0.2, 0.1, n)
    taus = r.uniform(2e-3, 9e-3, n) if tau is None else np.full(n, tau)
    fields = dict(tau=taus, r=r.uniform(0.7, 1.5, n), v_leak=v_leak)
    if not spiking:
        return nir.LI(**fields)
    return nir.LIF(**fields, v_threshold=v_leak + r.uniform(0.4, 1.0, n), v_reset=v_leak + r.uniform(-0.3, 0.2, n))


def integrate(n, seed):
    r = rng(seed)
    return nir.IF(r=r.uniform(600, 1400, n), v_threshold=r.uniform(0.6, 1.2, n), v_reset=r.uniform(-0.3, 0.2, n))


def cuba(n, seed, tau_syn=3e-3, tau_mem=6e-3):
    """Per-neuron r, w_in, v_leak, v_threshold, v_reset; taus shared, or per neuron where given as None."""
    r = rng(seed)
    v_leak = r.uniform(-0.1, 0.1, n)
    syn = r.uniform(2e-3, 5e-3, n) if tau_syn is None else np.full(n, tau_syn)
    mem = r.uniform(3e-3, 9e-3, n) if tau_mem is None else np.full(n, tau_mem)
    return nir.CubaLIF(tau_syn=syn, tau_mem=mem, r=r.uniform(0.6, 1.6, n), v_leak=v_leak,
                       w_in=r.uniform(0.6, 1.6, n), v_threshold=v_leak + r.uniform(0.3, 0.8, n),
                       v_reset=v_leak + r.uniform(-0.2, 0.1, n))


# --- uniform layers -------------------------------------------------------------------------------------
def _reset(subtract: bool) -> dict:
    return {"reset_mode": "subtract"} if subtract else {}


def uniform_lif(n, tau=16e-3, r=1.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0, subtract=False):
    full = lambda value: np.full(n, value, dtype=np.float64)
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(v_threshold),
                   v_reset=full(v_reset), metadata=_reset(subtract))


def uniform_cuba(n, tau_syn=8e-3, tau_mem=16e-3, r=1.0, w_in=1.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0,
                 subtract=False):
    full = lambda value: np.full(n, value, dtype=np.float64)
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), w_in=full(w_in), v_leak=full(v_leak),
                       v_threshold=full(v_threshold), v_reset=full(v_reset), metadata=_reset(subtract))


def uniform_if(n, r=1 / DT, v_threshold=1.0, v_reset=0.0, subtract=False):
    full = lambda value: np.full(n, value, dtype=np.float64)
    return nir.IF(r=full(r), v_threshold=full(v_threshold), v_reset=full(v_reset), metadata=_reset(subtract))


def uniform_li(n, tau=4e-3, r=1.0, v_leak=0.0):
    full = lambda value: np.full(n, value, dtype=np.float64)
    return nir.LI(tau=full(tau), r=full(r), v_leak=full(v_leak))


# --- graphs every simulating target runs --------------------------------------------------------------------
def feedforward():
    """LIF, IF and CubaLIF layers, Affine and Linear weights."""
    nodes = {"input": io(10)[0], "fc1": affine(16, 10, 1), "lif": lif(16, 2), "fc2": affine(12, 16, 3),
             "if": integrate(12, 4), "fc3": nir.Linear(rng(5).uniform(-0.5, 1.5, (6, 12))), "cuba": cuba(6, 6),
             "output": io(6)[1]}
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "if"), ("if", "fc3"), ("fc3", "cuba"),
             ("cuba", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), 10


def recurrent():
    """A recurrent LIF layer, then a recurrent CubaLIF nested as snnTorch writes RSynaptic."""
    inner = nir.NIRGraph(
        nodes={"input": io(6)[0], "cuba": cuba(6, 21), "w_rec": affine(6, 6, 22, gain=0.6), "output": io(6)[1]},
        edges=[("input", "cuba"), ("cuba", "w_rec"), ("w_rec", "cuba"), ("cuba", "output")],
    )
    nodes = {"input": io(10)[0], "fc": affine(12, 10, 23), "lif": lif(12, 24), "rec": affine(12, 12, 25, gain=0.5),
             "fc2": affine(6, 12, 26), "rsyn": inner, "output": io(6)[1]}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"), ("fc2", "rsyn"),
             ("rsyn", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), 10


def conv():
    """Conv2d -> IF -> AvgPool2d -> Conv2d -> LIF -> SumPool2d -> Flatten -> Affine -> LIF."""
    r = rng(11)
    nodes = {
        "input": io((2, 8, 8))[0],
        "conv1": nir.Conv2d(input_shape=(8, 8), weight=r.uniform(-0.4, 1.0, (4, 2, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=r.uniform(0, 0.1, 4)),
        "if": nir.IF(r=np.full((4, 8, 8), 1 / DT), v_threshold=r.uniform(0.8, 1.5, (4, 8, 8)), v_reset=np.zeros((4, 8, 8))),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(4, 4), weight=r.uniform(-0.3, 1.0, (6, 4, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=np.zeros(6)),
        "lif": nir.LIF(tau=np.full((6, 4, 4), 4e-3), r=np.full((6, 4, 4), 2.0), v_leak=np.zeros((6, 4, 4)),
                       v_threshold=np.full((6, 4, 4), 0.8), v_reset=np.zeros((6, 4, 4))),
        "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([6, 2, 2])}),
        "fc": affine(5, 24, 13, gain=0.8, offset=0.25, bias=(-0.05, 0.15)),
        "out_lif": lif(5, 14, tau=None),
        "output": io(5)[1],
    }
    edges = [("input", "conv1"), ("conv1", "if"), ("if", "pool"), ("pool", "conv2"), ("conv2", "lif"), ("lif", "sum"),
             ("sum", "flat"), ("flat", "fc"), ("fc", "out_lif"), ("out_lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), (2, 8, 8)


def mixed_taus():
    """The recurrent graph with time constants that differ within layers: Lava runs one process per value."""
    graph, n = recurrent()
    graph.nodes["lif"].tau = np.where(np.arange(12) % 3 == 0, 4e-3, 6e-3)
    cuba_node = graph.nodes["rsyn"].nodes["cuba"]
    cuba_node.tau_syn = np.where(np.arange(6) < 3, 2e-3, 3e-3)
    cuba_node.tau_mem = np.where(np.arange(6) % 2 == 0, 5e-3, 7e-3)
    return graph, n


def nmnist_cnn():
    """The NIR paper's N-MNIST CNN (cnn_sinabs.nir) in its shapes, 8,970 IF neurons, with random weights:
    2x34x34 -> Conv 16 (5x5, stride 2, padding 1) -> Conv 16 (3x3, padding 1) -> SumPool 2 -> Conv 8 (3x3,
    padding 1) -> SumPool 2 -> Flatten -> Linear 256 -> Linear 10, an IF after every weight layer."""
    r = rng(21)

    def conv2d(c_in, c_out, side, kernel, stride):
        return nir.Conv2d(input_shape=(side, side), weight=r.normal(0, 0.3, (c_out, c_in, kernel, kernel)),
                          stride=stride, padding=1, dilation=1, groups=1, bias=np.zeros(c_out))

    def if_node(*shape):
        return nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape))

    def pool():
        return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))

    layers = [("conv1", conv2d(2, 16, 34, 5, 2)), ("if1", if_node(16, 16, 16)),
              ("conv2", conv2d(16, 16, 16, 3, 1)), ("if2", if_node(16, 16, 16)), ("pool2", pool()),
              ("conv3", conv2d(16, 8, 8, 3, 1)), ("if3", if_node(8, 8, 8)), ("pool3", pool()),
              ("flat", nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([8, 4, 4])})),
              ("fc1", nir.Linear(weight=r.normal(0, 0.2, (256, 128)))), ("if4", if_node(256)),
              ("fc2", nir.Linear(weight=r.normal(0, 0.2, (10, 256)))), ("if5", if_node(10))]
    return chain_graph(layers, (2, 34, 34), 10, dt=DT), (2, 34, 34)


GRAPHS = {"feedforward": feedforward, "recurrent": recurrent, "conv": conv, "mixed_taus": mixed_taus}
