"""The compiled emulation of Loihi 2's fixed point (``simulator='emulation'``) against Lava's own fixed-point run.

The truth is lava-nc 0.10.0's bit-accurate models, run for real in nirdeploy's Lava
runtime (the fixture creates it where scripts/setup.sh has not): spikes of every layer
through the Lava target, and u and v after every step through tests/lava_states_run.py.
"""

import json
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

import nirdeploy
from nirdeploy.errors import InvalidArgumentError, TargetError
from nirdeploy.targets.lava.lava_worker.mapping import population
from nirdeploy.semantics import resolve, resolve_node
from nirdeploy.targets import get_target
from nirdeploy.targets.lava import runtime as lava_runtime
from nirdeploy.targets.lava.emulation import Emulator
from graphs import DT, GRAPHS, affine, cuba, io, lif, rng, spikes
from numpy_loihi import loihi_fixed_point

STEPS = 300


@pytest.fixture(scope="module", autouse=True)
def lava_runtime_ready():
    lava_runtime.setup(log=lambda line: None)


def deploy_both(graph, weight_bits=8):
    return (nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", weight_bits=weight_bits),
            nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation", weight_bits=weight_bits))


@pytest.mark.parametrize("name, weight_bits", [(name, 8) for name in sorted(GRAPHS)] + [("recurrent", 3), ("conv", 5)])
def test_spikes_equal_lavas_fixed_point(name, weight_bits):
    """Lava truncates each Dense's weights to ``weight_bits`` itself; the emulation must match it."""
    graph, n = GRAPHS[name]()
    x = spikes(n, batch=3, steps=STEPS)
    lava, emulation = deploy_both(graph, weight_bits)
    lava_out, lava_layers = lava.run(x, record=True)
    out, layers = emulation.run(x, record=True)
    assert set(layers) == set(lava_layers)
    for layer, expected in lava_layers.items():
        assert expected.sum() > 0, f"{layer} never spikes in Lava"
        assert layers[layer].shape == expected.shape and layers[layer].dtype == expected.dtype
        assert torch.equal(layers[layer], expected), (layer, int((layers[layer] != expected).sum()))
    assert torch.equal(out, lava_out)
    _, alone = emulation.run(x[:, :1], record=True)  # one sample runs on the calling thread, not in prange
    assert all(torch.equal(alone[layer], expected[:, :1]) for layer, expected in lava_layers.items())


def lava_states(graph, x: torch.Tensor, folder: Path, producer=None) -> dict:
    """(u, v) per population, ``[T, B, n]`` after each step, read from Lava's own LIF processes."""
    plan = get_target("lava").plan(resolve(graph, DT, producer))
    plan.save(folder)
    (source,) = plan.inputs
    np.savez(folder / "inputs.npz", **{source: x.numpy().reshape(len(x), x.shape[1], -1)})
    (folder / "request.json").write_text(json.dumps({"precision": "fixed", "steps": len(x)}))
    done = subprocess.run([str(lava_runtime.runtime_python()), str(Path(__file__).parent / "lava_states_run.py"),
                           str(folder)], env={"PYTHONPATH": str(Path(nirdeploy.targets.lava.__file__).parent)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    states = np.load(folder / "states.npz")
    return {name: (states[f"{name}.u"], states[f"{name}.v"]) for name in plan.populations}


def emulated_states(graph, x: torch.Tensor, producer=None) -> dict:
    plan = get_target("lava").plan(resolve(graph, DT, producer))
    (source,) = plan.inputs
    _, states = Emulator(plan).run({source: x.reshape(len(x), x.shape[1], -1)}, states=True)
    return states


@pytest.mark.parametrize("name", ["feedforward", "mixed_taus"])
def test_states_equal_lavas_after_every_step(name, tmp_path):
    graph, n = GRAPHS[name]()
    x = spikes(n, batch=2, steps=STEPS)
    expected, got = lava_states(graph, x, tmp_path), emulated_states(graph, x)
    for layer, (u, v) in expected.items():
        assert np.any(u != 0) and np.any(v != 0)
        assert np.array_equal(got[layer][0].numpy(), u), (layer, "u")
        assert np.array_equal(got[layer][1].numpy(), v), (layer, "v")


def norse_like():
    """Neurons that start at v_leak, not at v_reset, as Norse's do: Norse's tau = dt / tau_inv, r = w_in = 1."""
    r = rng(7)
    box = nir.LIF(tau=np.full(12, DT / 200), r=np.ones(12), v_leak=r.uniform(0.1, 0.5, 12), v_threshold=np.ones(12),
                  v_reset=np.zeros(12))
    cell = nir.CubaLIF(tau_syn=np.full(5, DT / 300), tau_mem=np.full(5, DT / 100), r=np.ones(5), w_in=np.ones(5),
                       v_leak=r.uniform(0.1, 0.4, 5), v_threshold=np.full(5, 0.5), v_reset=np.zeros(5))
    nodes = {"input": io(10)[0], "fc1": affine(12, 10, 8, gain=0.6), "box": box, "fc2": affine(5, 12, 9, gain=0.4),
             "cell": cell, "output": io(5)[1]}
    edges = [("input", "fc1"), ("fc1", "box"), ("box", "fc2"), ("fc2", "cell"), ("cell", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), 10


def test_initial_potentials_are_lavas(tmp_path):
    """v set at each population's first step: Lava's fixed point, the emulation and Lava's float run all start
    there, and the float run gives the reference's (Norse's) spikes."""
    graph, n = norse_like()
    x = spikes(n, batch=2, steps=60)
    expected, got = lava_states(graph, x, tmp_path, "norse"), emulated_states(graph, x, "norse")
    plan = get_target("lava").plan(resolve(graph, DT, "norse"))
    for layer, (u, v) in expected.items():
        start = plan.fixed_population(layer)["v_init"]
        assert np.any(start != 0)
        assert np.array_equal(got[layer][0].numpy(), u) and np.array_equal(got[layer][1].numpy(), v), layer
    rows = nirdeploy.compare(graph, x, targets=["lava"], dt=DT, producer="norse").for_target("lava")
    assert all(row["spike_train_match"] == 1.0 for row in rows) and min(r["spikes_reference"] for r in rows) > 5


def saturating(inputs: int = 160):
    """A CubaLIF whose current barely decays (du = 0) and overflows Loihi's 24 bits, its voltage driven to the
    clip, behind weights beyond 254 thresholds: mixed signs, but the rows into the second group of time
    constants are all negative, so that group's Dense keeps -255 where the plan's mantissa is -256. With
    every input on, a_in exceeds the 16 bits that LIF's a_in port declares (Lava sums it as int32)."""
    node = cuba(4, 51)
    node.tau_syn = np.full(4, 4096 * DT)
    node.tau_mem = np.array([20_000, 20_000, 3, 3]) * DT  # dv = 0 and 1365: two groups
    thresholds = np.array([[400.0] * (inputs - 1) + [-50.0], [300.0] * inputs, [-500.0] * inputs,
                           [-300.0] * inputs])
    gain = population("cuba", resolve_node("cuba", node, DT, "spikingjelly"), depth=1).gain  # thresholds per unit of NIR weight
    graph = nir.NIRGraph(nodes={"input": io(inputs)[0], "w": nir.Linear(thresholds / gain[:, None]), "cuba": node,
                                "fc": nir.Linear(np.ones((3, 4))), "lif": lif(3, 52), "output": io(3)[1]},
                         edges=[("input", "w"), ("w", "cuba"), ("cuba", "fc"), ("fc", "lif"), ("lif", "output")])
    return graph


def test_wrap_clip_and_lavas_weight_clipping_as_lava(tmp_path):
    graph = saturating()
    plan = get_target("lava").plan(resolve(graph, DT))
    mantissas = plan.fixed_weights(plan.projections[0].weights, "cuba")[0].toarray()
    assert -256 in mantissas and mantissas.sum(axis=1).max() > 2**15
    x = torch.ones(80, 2, 160)
    x[:, 1, ::2] = 0
    expected, got = lava_states(graph, x, tmp_path), emulated_states(graph, x)
    u, v = expected["cuba"]
    assert u.max() > 2**22 and u.min() < -(2**22)  # u wrapped past 2**23 in Lava
    assert v.min() == -(2**23) + 1  # and v sat at its clip
    for layer, (u, v) in expected.items():
        assert np.array_equal(got[layer][0].numpy(), u), (layer, "u")
        assert np.array_equal(got[layer][1].numpy(), v), (layer, "v")


def test_paths_that_meet_sum_as_lavas_dense_processes(tmp_path):
    """Two Affines from one Input into one LIF are two Dense processes in Lava, each quantised on its own,
    whose a_in the LIF adds: the emulation keeps one weight per pair of neurons, their sum."""
    nodes = {"input": io(6)[0], "a": affine(8, 6, 61, gain=0.5), "b": affine(8, 6, 62, gain=0.5), "lif": lif(8, 63),
             "output": io(8)[1]}
    edges = [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    assert [(p.pre, p.post) for p in get_target("lava").plan(resolve(graph, DT)).projections] == [("input", "lif")] * 2
    x = spikes(6, batch=2, steps=100)
    expected, got = lava_states(graph, x, tmp_path), emulated_states(graph, x)
    u, v = expected["lif"]
    assert np.any(u != 0) and np.any(v != 0)
    assert np.array_equal(got["lif"][0].numpy(), u) and np.array_equal(got["lif"][1].numpy(), v)


def test_runs_without_the_lava_runtime(tmp_path, monkeypatch):
    """With no runtime, Lava's simulator is refused and the emulation runs; the truth here is the Lava target
    test's numpy emulation of Loihi's arithmetic (itself tested against Lava)."""
    monkeypatch.setenv(lava_runtime.RUNTIME_VARIABLE, str(tmp_path / "no-runtime"))
    graph, n = GRAPHS["recurrent"]()
    with pytest.raises(TargetError, match="nirdeploy setup lava"):
        nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed")
    x = spikes(n, batch=2, steps=60)
    _, layers = nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation").run(x, record=True)
    plan = get_target("lava").plan(resolve(graph, DT))
    for sample in range(2):
        expected = loihi_fixed_point(plan, x[:, sample].numpy(), 60)
        for layer, got in layers.items():
            assert expected[layer].sum() > 0 and np.array_equal(got[:, sample].numpy(), expected[layer]), layer


def test_options_are_checked():
    graph, _ = GRAPHS["feedforward"]()
    with pytest.raises(TargetError, match="simulator='torch' is not one of lava, emulation"):
        nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="torch")
    with pytest.raises(TargetError, match="fixed point only; pass precision='fixed'"):
        nirdeploy.deploy(graph, "lava", dt=DT, simulator="emulation")
    for bits in (1, 9, 4.0, True):
        with pytest.raises(InvalidArgumentError, match="not a whole number of bits from 2 to 8; pass e.g. weight_bits=4"):
            nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", weight_bits=bits)
    with pytest.raises(InvalidArgumentError, match="floating point has none; pass precision='fixed'"):
        nirdeploy.deploy(graph, "lava", dt=DT, weight_bits=4)
