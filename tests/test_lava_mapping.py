"""The Loihi mapping against integers worked out by hand, and against Lava's own processes set to them.

The expected integers come from NIR's equations and Lava's documented CUBA LIF (lava-nc 0.10.0,
``PyLifModelBitAcc``: u decays by (du + 1) / 4096, v by dv / 4096, a_in and vth are shifted by 6 bits,
spike where v > vth << 6), never from nirdeploy's mapping; tests/lava_hand_run.py runs lava-nc's Dense
and LIF with them, and nirdeploy's deployment must give the same spikes in every layer.

The hand-worked graph, dt = 1 ms, SpikingJelly's conventions:

* ``cuba``: CubaLIF, tau_syn 2 ms, tau_mem 4 ms, r = w_in = 1, threshold 1, reset 0. Per step
  i = i/2 + x/2 and v = 3v/4 + i/4; Lava's u = i/4 obeys u = u (1 - 1/2) + x/8 and v = v (1 - 1/4) + u:
  du = 4096/2 - 1 = 2047, dv = 4096/4 = 1024, weights W1/8 thresholds per spike. The largest, 2/8,
  gets mantissa 254: vth = 254 / (2/8) = 1016, mantissas 127 W1 (one sign: any integer).
* ``lif``: LIF, tau 4 ms, r = 2, v_leak 0.5, threshold 1.5, v_reset -0.5 (span 2). In thresholds above
  v_reset, v' = 3v'/4 + (1/4)(v_leak - v_reset)/2 + (2/4) x/2: du = 4095 (no current kept), dv = 1024,
  weights W2/4; the largest, 2/4, sets vth = 508; with mixed signs Lava keeps even mantissas:
  2 round(127 W2 / 2) = 128, -128, 254 for W2 = 1, -1, 2. The leak, 1/8 threshold per step, is 63.5 vth
  units, rounded (to even) to the whole units netx's file holds, 64 << 6 = 4096: bias_mant 2048,
  bias_exp 1 in 13 bits, from Lava step 2 (two Dense hops in).
* ``if``: IF, r dt = 1, threshold 2: du = 4095, dv = 0, weights W3/2, vth = 508, mantissas 254 W3.

With ``weight_bits=4`` lava-nc drops the 4 low bits of a one-sign weight (multiples of 16) and 5 of a
mixed one (multiples of 32, -256..224); the largest weight maps to 224, the largest in both modes.
``cuba``: vth = 224 / (2/8) = 896, targets 112 W1, all multiples of 16. ``lif``: vth = 224 / (2/4) = 448,
targets 112 W2 = 112, -112, 224, to the nearest multiple of 32 (3.5 rounds to even, 4): 128, -128, 224;
its leak, 448 / 8 = 56 vth units, is 56 << 6 = 3584 = bias_mant 3584, bias_exp 0. ``if``: vth = 448,
targets 224 W3, multiples of 16 already.
"""

import json
import re
import subprocess
import time
import tracemalloc
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import nirdeploy
from graphs import DT, chain_graph, conv, io, nmnist_cnn, recurrent, spikes, uniform_cuba, uniform_if, uniform_lif
from nirdeploy.errors import MemoryBudgetError, TargetError
from nirdeploy.semantics import resolve
from nirdeploy.targets import get_target
from nirdeploy.targets.lava import runtime as lava_runtime
from nirdeploy.targets.lava.lava_worker.linear import affine_map, trace

W1 = np.array([[1, 2, 0, 1], [2, 1, 1, 0], [0, 1, 2, 2]], dtype=float)
W2 = np.array([[1, -1, 2], [2, 1, -1], [-1, 2, 1]], dtype=float)
W3 = np.array([[1, 1, 0], [0, 1, 1]], dtype=float)

HAND = {  # name -> (du, dv, vth, weight mantissas into it, bias_mant, bias_exp, Lava step the bias starts)
    "cuba": (2047, 1024, 1016, 127 * W1, 0, 0, 1),
    "lif": (4095, 1024, 508, np.where(W2 == 2, 254, 128 * W2), 2048, 1, 2),
    "if": (4095, 0, 508, 254 * W3, 0, 0, 3),
}
HAND_4_BITS = {
    "cuba": (2047, 1024, 896, 112 * W1, 0, 0, 1),
    "lif": (4095, 1024, 448, np.where(W2 == 2, 224, 128 * W2), 3584, 0, 2),
    "if": (4095, 0, 448, 224 * W3, 0, 0, 3),
}
BY_BITS = {8: HAND, 4: HAND_4_BITS}


def hand_graph() -> nir.NIRGraph:
    return chain_graph([("w1", nir.Linear(W1)), ("cuba", uniform_cuba(3, tau_syn=2e-3, tau_mem=4e-3)),
                        ("w2", nir.Linear(W2)),
                        ("lif", uniform_lif(3, tau=4e-3, r=2.0, v_leak=0.5, v_threshold=1.5, v_reset=-0.5)),
                        ("w3", nir.Linear(W3)), ("if", uniform_if(2, v_threshold=2.0))], 4, 2, dt=DT,
                       conventions="spikingjelly")


@pytest.mark.parametrize("bits", BY_BITS)
def test_fixed_point_integers_are_the_hand_derived_ones(bits):
    plan = get_target("lava").plan(resolve(hand_graph()))
    plan.weight_bits = bits
    projections = {p.post: p for p in plan.projections}
    for name, (du, dv, vth, mantissas, bias_mant, bias_exp, _) in BY_BITS[bits].items():
        p = plan.fixed_population(name)
        assert (list(p["du"]), list(p["dv"]), p["vth"]) == ([du] * 3 if name != "if" else [du] * 2,
                                                            [dv] * len(p["dv"]), vth), name
        assert np.array_equal(p["bias_mant"], np.full(len(p["dv"]), bias_mant)), name
        assert np.array_equal(p["bias_exp"], np.full(len(p["dv"]), bias_exp)) and not np.any(p["v_init"]), name
        assert np.array_equal(plan.fixed_weights(projections[name].weights, name)[0].toarray(), mantissas), name


def test_deploys_after_one_check_keep_their_own_weight_bits():
    """check and deploy share one target's plan; each deployment's copy keeps its weight_bits and gives their
    hand-derived integers, whatever was deployed after it."""
    target, semantics = get_target("lava"), resolve(hand_graph())
    assert nirdeploy.check(semantics, target).ok
    deployments = {bits: target.deploy(semantics, precision="fixed", simulator="emulation", weight_bits=bits)
                   for bits in BY_BITS}
    for bits, deployment in deployments.items():
        plan = deployment.native
        for p in plan.projections:
            mantissas = plan.fixed_weights(p.weights, p.post)[0].toarray()
            assert np.array_equal(mantissas, BY_BITS[bits][p.post][3]), (bits, p.post)
        assert [plan.fixed_population(name)["vth"] for name in HAND] == [v[2] for v in BY_BITS[bits].values()]


@pytest.fixture(scope="module")
def lava_ready():
    lava_runtime.setup(log=lambda line: None)


@pytest.mark.parametrize("bits", BY_BITS)
def test_lavas_own_processes_with_the_hand_integers_spike_as_the_deployment(lava_ready, tmp_path, bits):
    x = spikes(4, batch=1, steps=80, rate=0.4, seed=9)
    layers = [{"weights": mantissas.astype(int).tolist(), "du": du, "dv": dv, "vth": vth,
               "bias_mant": [bias_mant] * len(mantissas), "bias_exp": [bias_exp] * len(mantissas),
               "bias_from": start, "num_weight_bits": bits}
              for du, dv, vth, mantissas, bias_mant, bias_exp, start in BY_BITS[bits].values()]
    (tmp_path / "spec.json").write_text(json.dumps({"layers": layers}))
    np.save(tmp_path / "x.npy", x[:, 0].numpy())
    done = subprocess.run([str(lava_runtime.runtime_python()), str(Path(__file__).parent / "lava_hand_run.py"),
                           str(tmp_path / "spec.json"), str(tmp_path / "x.npy"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = np.load(tmp_path / "out.npz")
    _, got = nirdeploy.deploy(hand_graph(), "lava", precision="fixed", weight_bits=bits).run(x, record=True)
    for index, name in enumerate(HAND):
        assert expected[f"layer{index}"].sum() > 5, name
        assert np.array_equal(got[name][:, 0].numpy(), expected[f"layer{index}"]), name


def conv_over(side: int) -> nir.NIRGraph:
    """Input 1 x side x side -> 3x3 Conv2d (padding 1) -> IF -> Output."""
    shape = (1, side, side)
    conv = nir.Conv2d(input_shape=(side, side), weight=np.full((1, 1, 3, 3), 0.3), stride=1, padding=1, dilation=1,
                      groups=1, bias=np.zeros(1))
    neurons = nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape))
    return nir.NIRGraph(nodes={"input": io(shape)[0], "conv": conv, "if": neurons, "output": io(shape)[1]},
                        edges=[("input", "conv"), ("conv", "if"), ("if", "output")], type_check=False)


def test_a_large_conv_is_checked_from_shapes_and_built_sparse_within_the_budget_it_is_given(monkeypatch):
    """By hand: along each axis, an output position's 3-tap window covers 3 of the 300 inputs, 2 at the borders
    (padding 1), so 300 * 3 - 2 = 898 (output, input) pairs; the 2-d kernel gives 898**2 = 806404 synapses, each
    neuron at most 9. Its 90000 x 90000 matrix (64.8 GB dense) is built sparse, as many weights as synapses; a
    budget below 12 bytes per synapse (a float64 value and an int32 index each) refuses it before building it."""
    synapses, side = 898**2, 300
    graph = conv_over(side)
    target, semantics = get_target("lava"), resolve(graph, DT)
    resources = target.resources(semantics)
    assert (resources["synapses"], resources["fan_in"], resources["neurons"]) == (synapses, 9, side**2)
    start = time.perf_counter()
    report = nirdeploy.check(graph, "lava", dt=DT)
    assert time.perf_counter() - start < 3
    assert report.ok and {name: report.resources[name]["used"] for name in resources} == resources
    plan = target.plan(semantics)
    (weights,) = [p.weights for p in plan.projections]
    assert weights.shape == (side**2, side**2) and weights.nnz == synapses
    rows = np.repeat(np.arange(side**2), np.diff(weights.indptr))
    assert np.array_equal(weights.data, 0.3 * plan.populations["if"].gain[rows])
    monkeypatch.setenv("NIRDEPLOY_MEMORY_BUDGET", "9MB")
    (problem,) = nirdeploy.check(graph, "lava", dt=DT).errors
    assert (problem.node, problem.rule) == ("conv", "Lava weight matrix")
    assert f"a {side**2} x {side**2} matrix of {synapses} synapses" in problem.found
    assert int(re.search(r"\((\d+) bytes\)", problem.found).group(1)) >= 12 * synapses
    with pytest.raises(MemoryBudgetError, match=r"the Lava target's weights .* would need .* \(\d+ bytes\), over the "
                                                "memory budget of 8.6 MiB"):
        get_target("lava").plan(semantics)


def test_synapses_from_shapes_are_the_built_matrices_nonzero_weights():
    """The weights the plan builds (small graphs: pooling before a convolution, flatten before an Affine, recurrence)
    are the truth the shape-only count must meet: one synapse per nonzero weight, every weight being nonzero."""
    for make in (conv, recurrent):
        graph, _ = make()
        semantics = resolve(graph, DT)
        target = get_target("lava")
        plan = target.plan(semantics)
        weights = [(p.post, p.weights.toarray()) for p in plan.projections]
        assert target.resources(semantics)["synapses"] == sum(np.count_nonzero(w) for _, w in weights) > 0
        fan_in = max(sum(np.count_nonzero(w, axis=1) for name, w in weights if name == post).max()
                     for post in plan.populations)
        assert target.resources(semantics)["fan_in"] == fan_in


def test_a_small_budget_refuses_the_plan_before_building_it(monkeypatch):
    """The conv test graph's largest path (2 x 8 x 8 inputs into 4 x 8 x 8 neurons) is a 256 x 128 matrix of
    3872 synapses, which building takes more than 100 kB (at least its 12 bytes per synapse, 46 kB, and each of
    scipy's copies on the way): a 100 kB budget refuses it in check and in deploy, a 100 MB one takes it."""
    graph, _ = conv()
    monkeypatch.setenv("NIRDEPLOY_MEMORY_BUDGET", "100kB")
    report = nirdeploy.check(graph, "lava", dt=DT)
    assert "conv1" in {p.node for p in report.errors if p.rule == "Lava weight matrix"}
    with pytest.raises(TargetError, match="node conv1: Lava weight matrix .*a 256 x 128 matrix of 3872 synapses"):
        nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation")
    monkeypatch.setenv("NIRDEPLOY_MEMORY_BUDGET", "100MB")
    assert nirdeploy.check(graph, "lava", dt=DT).ok


@settings(max_examples=60, deadline=None)
@given(c_in_per_group=st.integers(1, 3), out_per_group=st.integers(1, 3), groups=st.integers(1, 2),
       height=st.integers(1, 9), width=st.integers(1, 9), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 2**16))
def test_an_unrolled_convolution_is_torchs_convolution_of_each_unit_input(c_in_per_group, out_per_group, groups,
                                                                          height, width, kernel, stride, padding,
                                                                          dilation, seed):
    """Every column of the matrix Lava gets for a Conv2d is torch's conv2d (float64) of one unit input, exactly:
    each entry is one weight."""
    c_in, c_out = c_in_per_group * groups, out_per_group * groups
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    assume(height + 2 * padding[0] >= span[0] and width + 2 * padding[1] >= span[1])
    weight = np.random.default_rng(seed).normal(size=(c_out, c_in_per_group, *kernel))
    node = nir.Conv2d(input_shape=(height, width), weight=weight, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=np.zeros(c_out))
    units = torch.eye(c_in * height * width, dtype=torch.float64).reshape(-1, c_in, height, width)
    expected = torch.nn.functional.conv2d(units, torch.as_tensor(weight), stride=stride, padding=padding,
                                          dilation=dilation, groups=groups).reshape(len(units), -1).T.numpy()
    matrix, constant = affine_map([("conv", node)], (c_in, height, width))
    assert np.array_equal(matrix.toarray(), expected) and not np.any(constant)


@pytest.mark.parametrize("chain", ["conv", "conv pool", "pool conv", "conv flatten linear"])
def test_the_memory_a_chain_is_said_to_take_bounds_what_building_it_takes(chain):
    """The budget refuses from ``trace``'s peak: building the matrix must not take more (numpy reports its
    allocations to tracemalloc)."""
    shape = (3, 20, 20)
    nodes = {"conv": nir.Conv2d(input_shape=shape[1:], weight=np.ones((4, 3, 3, 3)), stride=1, padding=1, dilation=1,
                                groups=1, bias=np.zeros(4)),
             "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "flatten": nir.Flatten(input_type={"input": np.array([4, 20, 20])}, start_dim=0, end_dim=-1),
             "linear": nir.Linear(weight=np.ones((5, 4 * 20 * 20)))}
    steps = [(name, nodes[name]) for name in chain.split()]
    if chain == "pool conv":
        steps[1] = ("conv", nir.Conv2d(input_shape=(10, 10), weight=np.ones((4, 3, 3, 3)), stride=1, padding=1,
                                       dilation=1, groups=1, bias=np.zeros(4)))
    said = trace(steps, shape).peak_bytes
    tracemalloc.start()
    try:
        affine_map(steps, shape)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= said, (peak, said)


def test_the_nir_papers_cnn_is_checked_from_kernels_as_torch_convolves():
    """The paper's N-MNIST CNN: check counts its 8,970 neurons, and the plan's first convolution is torch's
    (float64) over every unit input."""
    graph, shape = nmnist_cnn()
    report = nirdeploy.check(graph, "lava")
    assert report.ok and report.resources["neurons"]["used"] == 8970
    plan = get_target("lava").plan(resolve(graph))
    first = next(p for p in plan.projections if p.post == "if1")
    conv = graph.nodes["conv1"]
    units = torch.eye(int(np.prod(shape)), dtype=torch.float64).reshape(-1, *shape)
    expected = torch.nn.functional.conv2d(units, torch.as_tensor(conv.weight), stride=2, padding=1)
    gain = plan.populations["if1"].gain[:, None]
    assert np.array_equal(first.weights.toarray(), expected.reshape(len(units), -1).T.numpy() * gain)
