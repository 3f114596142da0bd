"""The Lava target (lava-nc 0.10.0 in nirdeploy's Python 3.10 runtime) against the reference and hand computation.

These tests start the real Lava simulator in a subprocess, in the runtime that
``nirdeploy setup lava`` creates (scripts/setup.sh runs it; the fixture below too).
"""

import math
import sys
import time
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

import nirdeploy
from graphs import DT, GRAPHS, affine, cuba, feedforward, io, lif, mixed_taus, nmnist_cnn, rng, spikes, uniform_lif
from hand_offs import netx_reader_spikes
from nirdeploy.compare import agreement_report, run_targets
from nirdeploy.semantics import resolve
from nirdeploy.errors import OutputExistsError, TargetError
from nirdeploy.targets import get_target
from nirdeploy.targets.lava import runtime as lava_runtime
from nirdeploy.targets.lava import run_worker
from numpy_loihi import loihi_fixed_point

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "scripts")]
import lava_agreement  # noqa: E402
from docfigures import record  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def lava_runtime_ready():
    """Creates the runtime when scripts/setup.sh has not (about 25 s; a second or so when it is ready)."""
    lava_runtime.setup(log=lambda line: None)


@pytest.fixture(scope="module")
def agreement():
    """benchmarks/lava_agreement.py's measurement: every test graph in float and fixed point."""
    return lava_agreement.measure()


def test_float_matches_reference_spike_for_spike(agreement):
    assert {row["graph"] for row in agreement} == set(GRAPHS)
    for row in agreement:
        assert row["spikes_reference"] > 0, f"{row['layer']} never spikes"
        assert row["float_match"] == 1.0, row
        # run_targets gave Lava extra steps of zero input, so every reference step is compared.
        assert row["float_steps"] == lava_agreement.STEPS


def test_float_runs_the_nir_papers_cnn_as_the_reference_spike_for_spike():
    """The N-MNIST CNN's 8,970 IF neurons, two samples side by side: every layer's spikes."""
    graph, shape = nmnist_cnn()
    semantics = resolve(graph)
    runs = run_targets(semantics, (spikes(shape, steps=40),), {"reference": {}, "lava": {}})
    layers = [row for row in agreement_report(semantics, runs).for_target("lava") if row["kind"] == "layer"]
    assert [row["name"] for row in layers] == ["if1", "if2", "if3", "if4", "if5"]
    for row in layers:
        assert row["spikes_reference"] > 0 and row["spike_train_match"] == 1.0, row


def test_fixed_point_agreement_is_what_docs_lava_md_says(agreement):
    """Loihi's fixed point: the table docs/lava.md shows reproduces, and spike counts per neuron follow the
    reference's (correlation >= 0.99); exact trains are not expected (8-bit weights)."""
    assert lava_agreement.render(agreement) == record("lava-agreement")["markdown"].rstrip("\n")
    assert all(row["count_correlation"] >= 0.99 for row in agreement)


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_single_lif_fires_at_the_exact_solution_steps(precision):
    """One LIF (tau 10 ms, r 1, threshold 1) driven by w = 1.5 every step: by hand, the Euler solution
    v_k = w (1 - (1 - dt/tau)^k) first reaches 1 at k = ceil(ln(1 - 1/w) / ln(1 - dt/tau)) = 11 steps
    (the continuous solution crosses at -tau ln(1 - 1/w) = 10.99 ms), then it restarts from 0."""
    tau, w, steps = 1e-2, 1.5, 60
    period = math.ceil(math.log(1 - 1 / w) / math.log(1 - DT / tau))
    assert period == 11 and 10 < -tau * math.log(1 - 1 / w) / DT <= 11
    graph = nir.NIRGraph(
        nodes={"input": io(1)[0], "w": nir.Linear(np.array([[w]])),
               "lif": nir.LIF(tau=np.array([tau]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1),
                              v_reset=np.zeros(1)), "output": io(1)[1]},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    out = nirdeploy.deploy(graph, "lava", dt=DT, precision=precision).run(torch.ones(steps, 1, 1))
    fired = torch.nonzero(out[:, 0, 0]).flatten().tolist()
    hop = 1  # the Dense delivers one step late
    assert fired == list(range(period - 1 + hop, steps, period))


def test_worker_error_comes_back_readable(tmp_path):
    (tmp_path / "request.json").write_text('{"precision": "float", "steps": 5}')
    with pytest.raises(TargetError, match=r"(?s)the Lava worker failed: .*plan\.json.*worker traceback:.*Traceback"):
        run_worker(tmp_path, timeout=60)


def test_hang_is_killed_at_the_timeout(tmp_path):
    graph, n = feedforward()
    deployment = nirdeploy.deploy(graph, "lava", dt=DT, timeout=4)
    start = time.perf_counter()
    with pytest.raises(TargetError, match="did not finish within 4 s and was killed"):
        deployment.run(spikes(n, batch=1, steps=300_000))
    assert time.perf_counter() - start < 60
    assert _orphaned_lava_processes() == set()  # the worker and every process Lava forked are gone


def _orphaned_lava_processes() -> set:
    """Lava worker processes whose session leader, the worker that run_worker started, is gone (other runs on
    the machine keep their leaders)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"lava_worker" in (proc / "cmdline").read_bytes():
                session = (proc / "stat").read_text().rpartition(")")[2].split()[3]
                if not Path(f"/proc/{session}").exists():
                    found.add(proc.name)
        except OSError:
            continue
    return found


def chain():
    """A chain netx can hold: Linear -> LIF (v_leak = v_reset, so no bias) -> Linear -> recurrent CubaLIF."""
    first, second = lif(16, 31), cuba(6, 32)
    first.v_leak, second.v_leak = first.v_reset, second.v_reset
    nodes = {"input": io(10)[0], "fc1": nir.Linear(affine(16, 10, 33).weight), "lif": first,
             "fc2": nir.Linear(affine(6, 16, 34).weight), "cuba": second,
             "rec": nir.Linear(affine(6, 6, 35, gain=0.5).weight), "output": io(6)[1]}
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "cuba"), ("cuba", "rec"), ("rec", "cuba"),
             ("cuba", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def conv_chain():
    """Two convolutions netx holds as conv layers, then pooling folded into a dense layer: Input [2, 8, 6]
    (not square, so rows and columns cannot swap unseen) -> Conv2d 4@3x3 padding 1 with channel biases ->
    IF -> Conv2d 4@3x3 stride 2, 2 groups -> LIF -> AvgPool2d -> Flatten -> Linear -> LIF. Integer weights
    and thresholds put the IF's v exactly on its threshold."""
    r = rng(41)
    full = lambda shape, value: np.full(shape, value, dtype=np.float64)
    nodes = {
        "input": io((2, 8, 6))[0],
        "conv1": nir.Conv2d(input_shape=(8, 6), weight=r.integers(-1, 3, (4, 2, 3, 3)).astype(np.float64), stride=1,
                            padding=1, dilation=1, groups=1, bias=np.array([0.0, 0.5, 1.0, 0.0])),
        "if": nir.IF(r=full((4, 8, 6), 1 / DT), v_threshold=full((4, 8, 6), 3.0), v_reset=full((4, 8, 6), 0.0)),
        "conv2": nir.Conv2d(input_shape=(8, 6), weight=r.uniform(-0.3, 1.0, (4, 2, 3, 3)), stride=2, padding=1,
                            dilation=1, groups=2, bias=np.zeros(4)),
        "lif": uniform_lif((4, 4, 3), tau=4e-3, r=2.0, v_threshold=0.8),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([4, 2, 1])}),
        "fc": nir.Linear(r.uniform(-0.5, 2.5, (10, 8))),
        "out": uniform_lif(10, tau=8e-3, r=3.0),
        "output": io(10)[1],
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


@pytest.mark.parametrize("graph, layers, shape, samples", [
    (chain, ["input", "dense", "dense_rec"], 10, 1),  # a recurrent layer carries one step into the next sample
    (conv_chain, ["input", "conv", "conv", "flatten", "dense"], (2, 8, 6), 3),
])
def test_netx_file_runs_in_netx_reader_as_the_direct_network(tmp_path, graph, layers, shape, samples):
    """Sample after sample, from each layer's pipeline offset on (the steps before it hold no sample)."""
    net = tmp_path / "network.net"
    deployment = nirdeploy.deploy(graph(), "lava", dt=DT, precision="fixed", netx_path=net)
    assert deployment.artifacts["netx"] == net
    with h5py.File(net) as f:
        assert [f[f"layer/{i}/type"][()].decode() for i in range(len(f["layer"]))] == layers
    x = spikes(shape, batch=samples, steps=40)
    direct = deployment.run(x).transpose(0, 1).reshape(samples, 40, -1).numpy()
    from_netx = netx_reader_spikes(net, x, tmp_path)
    depth = deployment.native.depth
    assert direct[:, depth:].sum(axis=(1, 2)).min() > 0
    assert np.array_equal(from_netx[:, depth:], direct[:, depth:])


def test_netx_conv_layers_hold_the_nir_kernel_and_dense_ones_what_is_not_a_convolution(tmp_path):
    """The conv layer's weight is conv1's NIR kernel times the IF's gain in threshold mantissas (here 3.0
    per threshold: kernel / 3 * vth); a convolution into neurons whose thresholds differ by position is no
    one kernel, so netx gets it as a dense layer."""
    graph = conv_chain()
    nirdeploy.deploy(graph, "lava", dt=DT, netx_path=tmp_path / "conv.net")
    with h5py.File(tmp_path / "conv.net") as f:
        vth = int(f["layer/1/neuron/vThMant"][()])
        kernel = graph.nodes["conv1"].weight / 3.0 * vth
        assert np.array_equal(f["layer/1/weight"][()], np.round(kernel / 2) * 2)  # mixed signs: even mantissas
        assert list(f["layer/1/shape"][()]) == [4, 8, 6] and list(f["layer/2/stride"][()]) == [2, 2]
        assert f["layer/1/bias"].shape == (6, 8, 4)  # netx's W H C
        assert np.array_equal(f["layer/1/bias"][()][0, 0], np.round(np.array([0.0, 0.5, 1.0, 0.0]) / 3.0 * vth))
    graph.nodes["if"].v_threshold = np.where(np.arange(6) < 3, 3.0, 4.0) * np.ones((4, 8, 6))
    nirdeploy.deploy(graph, "lava", dt=DT, netx_path=tmp_path / "varied.net")
    with h5py.File(tmp_path / "varied.net") as f:
        assert [f[f"layer/{i}/type"][()].decode() for i in range(4)] == ["input", "dense", "dense", "dense"]
        assert list(f["layer/0/shape"][()]) == [96]


def test_netx_file_is_never_overwritten_unasked(tmp_path):
    net = tmp_path / "mine.net"
    net.write_text("a user's file")
    with pytest.raises(OutputExistsError, match="mine.net exists; pass overwrite=True"):
        nirdeploy.deploy(chain(), "lava", dt=DT, netx_path=net)
    assert net.read_text() == "a user's file"
    nirdeploy.deploy(chain(), "lava", dt=DT, netx_path=net, overwrite=True)
    assert h5py.is_hdf5(net)
    graph, _ = feedforward()
    graph.nodes["skip"] = nir.Linear(np.ones((6, 10)))  # the input feeds two layers: not a chain
    graph.edges.append(("input", "skip"))
    graph.edges.append(("skip", "cuba"))
    with pytest.raises(TargetError, match="netx's Network is a chain"):
        nirdeploy.deploy(graph, "lava", dt=DT, netx_path=tmp_path / "skip.net")
    graph, _ = mixed_taus()
    with pytest.raises(TargetError, match="node 'lif': has 2 different .* one neuron configuration each"):
        nirdeploy.deploy(graph, "lava", dt=DT, netx_path=tmp_path / "mixed.net")


def test_check_names_what_lava_cannot_represent():
    graph, _ = feedforward()
    graph.nodes["if"].metadata["reset_mode"] = "subtract"
    report = nirdeploy.check(graph, "lava", dt=DT)
    assert {(p.node, p.rule) for p in report.errors} == {("if", "reset mode")}
    with pytest.raises(TargetError, match="node if: reset mode"):
        nirdeploy.deploy(graph, "lava", dt=DT)


def test_a_threshold_at_or_below_the_reset_is_refused_before_any_target():
    graph, _ = feedforward()
    graph.nodes["lif"].v_reset = graph.nodes["lif"].v_threshold + 0.1
    with pytest.raises(nirdeploy.UnsupportedNodeError, match="node 'lif'.*v_threshold must exceed v_reset"):
        nirdeploy.check(graph, "lava", dt=DT)


def test_check_reports_timing_and_fixed_point_error():
    graph, _ = feedforward()
    # a shortcut input -> fc_skip -> cuba (1 hop) meets the 3-hop path: spikes meet at other steps than in the reference
    graph.nodes["fc_skip"] = nir.Linear(rng(40).uniform(0, 0.5, (6, 10)))
    graph.edges += [("input", "fc_skip"), ("fc_skip", "cuba")]
    report = nirdeploy.check(graph, "lava", dt=DT)
    (timing,) = [p for p in report.warnings if p.rule == "Lava delay"]
    assert timing.node == "fc_skip" and "input (depth 0) -> cuba (depth 3)" in timing.found
    weights = {p.node: p.found for p in report.warnings if p.rule == "fixed_pt weights"}
    assert set(weights) == {"fc1", "fc2", "fc3", "fc_skip"}
    # fc1 by hand: lif's vth mantissa makes its largest weight 254; mixed signs round to even mantissas
    lif_node, fc1 = graph.nodes["lif"], graph.nodes["fc1"]
    gain = lif_node.r * (DT / lif_node.tau) / (lif_node.v_threshold - lif_node.v_reset)
    scaled = fc1.weight * gain[:, None]
    vth = min(4096, math.floor(254 / np.abs(scaled).max()))
    target = scaled * vth
    error = np.sqrt(np.mean((np.clip(2 * np.round(target / 2), -256, 254) - target) ** 2) / np.mean(target**2))
    assert f"relative RMS error {error:.3%} at the vth mantissa {vth} of node 'lif'" == weights["fc1"]


def test_setup_is_fast_when_ready_and_names_a_wrong_python(tmp_path):
    start = time.perf_counter()
    assert lava_runtime.setup(log=lambda line: None) == lava_runtime.runtime_dir()
    assert time.perf_counter() - start < 5
    with pytest.raises(TargetError, match="is not a working Python 3.10"):
        lava_runtime.find_python310(sys.executable)
    ready, detail = lava_runtime.status(tmp_path)
    assert not ready and "nirdeploy setup lava" in detail
    (tmp_path / "notes.txt").write_text("a user's file")
    with pytest.raises(TargetError, match="is not a virtual environment"):
        lava_runtime.setup(folder=tmp_path, log=lambda line: None)
    assert (tmp_path / "notes.txt").exists()


def test_no_python310_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.delenv(lava_runtime.PYTHON_VARIABLE, raising=False)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    with pytest.raises(TargetError, match="no Python 3.10 found.*pyenv install 3.10.*NIRDEPLOY_PYTHON310="):
        lava_runtime.find_python310()


@pytest.mark.parametrize("name", ["feedforward", "recurrent", "mixed_taus"])
def test_fixed_point_equals_a_numpy_emulation_of_loihis_integer_arithmetic(name):
    graph, n = GRAPHS[name]()
    x = spikes(n, batch=2, steps=60)
    _, layers = nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed").run(x, record=True)
    plan = get_target("lava").plan(resolve(graph, DT))
    for sample in range(2):  # the samples run side by side in one Lava network
        expected = loihi_fixed_point(plan, x[:, sample].numpy(), 60)
        for layer, got in layers.items():
            assert expected[layer].sum() > 0
            assert np.array_equal(got[:, sample].numpy(), expected[layer]), (layer, sample)


# The NIR paper's single-LIF experiment (neuromorphs/NIR, paper/01_lif): Norse's LIFBox with
# tau_mem_inv = 400 / s, v_th = 0.1, v_leak = v_reset = 0, behind a Linear of weight 1, at dt = 0.1 ms;
# the input is this spike train, each entry followed by 9 empty steps (1000 steps).
PAPER_INPUT = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0,
               1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
               1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def exact_lif_spike_steps(x, tau, dt, threshold):
    """Steps in which the exact solution of tau dv/dt = -v + I (I = x[n] held for step n, v from 0) crosses
    the threshold; v restarts from 0 at the crossing time, as NIR's reset to v_reset says."""
    decay, v, fired = math.exp(-dt / tau), 0.0, []
    for n, current in enumerate(x):
        end = v * decay + current * (1 - decay)
        if end >= threshold:
            crossing = -tau * math.log((threshold - current) / (v - current))
            end = current * (1 - math.exp(-(dt - crossing) / tau))
            fired.append(n)
        v = end
    return fired


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_nir_paper_single_lif_fires_at_the_exact_solutions_steps(precision):
    tau, dt = 1 / 400, 1e-4
    x = np.zeros(1000)
    x[::10] = PAPER_INPUT
    expected = exact_lif_spike_steps(x, tau, dt, 0.1)
    assert expected == [460, 510, 710, 760]
    graph = nir.NIRGraph(
        nodes={"input": io(1)[0], "w": nir.Linear(np.ones((1, 1))),
               "lif": nir.LIF(tau=np.array([tau]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.array([0.1]),
                              v_reset=np.zeros(1)), "output": io(1)[1]},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    out = nirdeploy.deploy(graph, "lava", dt=dt, precision=precision).run(torch.tensor(x).float().reshape(-1, 1, 1))
    hop = 1
    assert torch.nonzero(out[:, 0, 0]).flatten().tolist() == [step + hop for step in expected]
