"""The Xylo hand-off (``XyloTarget.write_hardware``): the files a chip user takes away, read back with numpy and
json only, give Rockpool the same network the deployment's XyloSim ran, spike for spike, on every variant.

Rockpool's ``config_from_specification`` imports samna, which cannot be installed here: the files are checked
against its signature in Rockpool's source and run through ``XyloSim.from_specification`` (the same integers;
Rockpool calls the hidden bias ``bias`` there, ``bias_hidden`` in the config). Where samna is installed, the
configuration itself is built, validated and simulated too.
"""

import ast
import importlib
import json
from pathlib import Path

import nir
import numpy as np
import pytest
import rockpool

import nirdeploy
from graphs import DT, chain_graph, spikes, uniform_cuba, uniform_lif
from hand_offs import run_xylo_loader
from nirdeploy.errors import TargetError
from nirdeploy.targets import get_target
from nirdeploy.targets.xylo import rockpool_xylo
from numpy_xylo import numpy_xylo

VARIANTS = ("syns61201", "syns65302", "syns63300")
HAS_SAMNA = importlib.util.find_spec("samna") is not None


def cuba(n):
    return uniform_cuba(n, tau_syn=8e-3, tau_mem=16e-3, subtract=True)


def lif(n):
    return uniform_lif(n, tau=16e-3, subtract=True)


def layered(sizes: tuple, recurrent=(), neuron=cuba, seed=0) -> nir.NIRGraph:
    """Input -> (Linear -> neuron [<-> recurrent Linear])* -> Output for sizes (inputs, hidden..., outputs),
    weights that keep each layer firing a little."""
    r = np.random.default_rng(seed)
    layers = [(f"w{k}", nir.Linear(r.normal(1.2, 1.0, (post, pre)) if k == 0 else r.normal(24 / pre, 24 / pre, (post, pre))))
              for k, (pre, post) in enumerate(zip(sizes, sizes[1:]))]
    layers = [item for k, w in enumerate(layers) for item in (w, (f"n{k}", neuron(sizes[k + 1])))]
    graph = chain_graph(layers, sizes[0], sizes[-1], dt=DT)
    for k in recurrent:
        graph.nodes[f"rec{k}"] = nir.Linear(r.normal(0.0, 0.2, (sizes[k + 1], sizes[k + 1])))
        graph.edges += [(f"n{k}", f"rec{k}"), (f"rec{k}", f"n{k}")]
    return graph


def ties() -> nir.NIRGraph:
    """Integer weights whose Xylo specification is exact (tests/test_xylo_mapping.py's ``exact`` graph): the
    membrane lands on the threshold, where Xylo's v >= thr fires."""
    layers = [("w_in", nir.Linear(np.array([[1.0, 2.0], [4.0, 1.0], [2.0, 2.0]]))),
              ("hid", uniform_cuba(3, tau_syn=2e-3, tau_mem=4e-3, subtract=True)),
              ("w_out", nir.Linear(np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]]))),
              ("out", uniform_cuba(2, tau_syn=2e-3, tau_mem=2e-3, subtract=True))]
    return chain_graph(layers, 2, 2, dt=DT, conventions="spikingjelly")


GRAPHS = {  # name -> (graph, input spikes)
    "feedforward": (lambda: layered((8, 20, 4)), lambda: spikes(8, batch=2, rate=0.15, seed=1)),
    "recurrent": (lambda: layered((8, 20, 4), recurrent=(0,)), lambda: spikes(8, batch=2, rate=0.15, seed=1)),
    "two hidden layers, LIF": (lambda: layered((8, 12, 10, 4), recurrent=(1,), neuron=lif),
                               lambda: spikes(8, batch=2, rate=0.15, seed=1)),
    "ties": (ties, lambda: spikes(2, batch=3, steps=120, rate=0.5, seed=4)),
}


def hand_off(graph, variant: str, folder: Path, **options) -> tuple:
    """(deployment, the paths write_hardware returned)."""
    deployment = nirdeploy.deploy(graph, f"xylo:{variant}", **options)
    return deployment, get_target(f"xylo:{variant}").write_hardware(deployment, folder)


def read_back(paths: list) -> tuple:
    """(metadata, config_from_specification's keyword arguments) from the files, with numpy and json alone."""
    npz, spec_json, _ = paths
    meta = json.loads(spec_json.read_text())
    with np.load(npz) as arrays:
        return meta, {**{name: arrays[name] for name in arrays.files}, **meta["arguments"]}


def config_parameters(variant: str) -> set:
    """The parameters config_from_specification names, read from Rockpool's source (importing it needs samna)."""
    source = Path(rockpool.__file__).parent / "devices" / "xylo" / variant / "xylo_samna.py"
    (function,) = [node for node in ast.parse(source.read_text()).body
                   if isinstance(node, ast.FunctionDef) and node.name == "config_from_specification"]
    return {argument.arg for argument in function.args.args + function.args.kwonlyargs}


def xylosim_outputs(sim, x) -> np.ndarray:
    """[T, B, outputs] as the deployment's run gives them: each sample from reset, as integers."""
    outputs = []
    for b in range(x.shape[1]):
        sim.reset_state()
        outputs.append(sim.evolve(x[:, b].numpy().astype(int))[0])
    return np.stack(outputs, 1)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name, quantisation", [(name, "global") for name in GRAPHS] + [("recurrent", "channel")])
def test_the_files_rebuild_the_deployments_xylosim(variant, name, quantisation, tmp_path):
    graph, make_spikes = GRAPHS[name]
    x = make_spikes()
    deployment, paths = hand_off(graph(), variant, tmp_path / "hardware", quantisation=quantisation)
    expected = deployment.run(x).numpy()
    assert [p.name for p in paths] == [f"xylo_{variant}_spec.npz", f"xylo_{variant}_spec.json", f"load_xylo_{variant}.py"]
    assert sorted(p.name for p in (tmp_path / "hardware").iterdir()) == sorted(p.name for p in paths)  # no partials
    meta, spec = read_back(paths)
    assert set(spec) == config_parameters(variant)
    assert all(spec[k].dtype.kind == "i" for k in np.load(paths[0]).files)
    assert (meta["variant"], meta["quantisation"], meta["dt"]) == (variant, quantisation, DT)
    sim_spec = {("bias" if k == "bias_hidden" else k): v for k, v in spec.items()}
    sim = rockpool_xylo(variant)[1].from_specification(**sim_spec, dt=meta["dt"])
    np.testing.assert_array_equal(xylosim_outputs(sim, x), expected)
    assert expected.sum() > 10  # the outputs are active, so the comparison means something
    if name == "ties":
        assert sum(numpy_xylo(sim_spec, x[:, b].numpy().astype(int))[2] for b in range(x.shape[1])) > 10


def test_the_metadata_names_the_nir_nodes_and_the_missing_cost_model(tmp_path):
    _, paths = hand_off(layered((8, 12, 10, 4), recurrent=(1,)), "syns61201", tmp_path)
    meta, spec = read_back(paths)
    assert meta["nodes"]["input"] == "input" and meta["nodes"]["output"] == {"neurons": "n2", "weights": "w2"}
    assert [(h["neurons"], h["weights"], h["recurrent"]) for h in meta["nodes"]["hidden"]] == [
        ("n0", "w0", None), ("n1", "w1", "rec1")]
    assert sorted(i for h in meta["nodes"]["hidden"] for i in h["hardware_ids"]) == list(range(22))
    assert (meta["module"], meta["function"]) == ("rockpool.devices.xylo.syns61201", "config_from_specification")
    assert {k: v["file"] for k, v in meta["keys"].items()} == {
        k: "npz" if isinstance(v, np.ndarray) else "json" for k, v in spec.items()}
    assert meta["cost_estimate"]["cycles_per_step"] is None and "samna" in meta["cost_estimate"]["why_none"]
    assert meta["versions"]["rockpool"] == rockpool.__version__
    # 8 inputs -> 12 -> 10 (recurrent) hidden, 22 in all -> 4 outputs: weights_in [8, 22], rec [22, 22], out [22, 4]
    assert meta["weight_bytes"] == 8 * 22 + 22 * 22 + 22 * 4


@pytest.mark.skipif(not HAS_SAMNA, reason="config_from_specification imports samna, which is not installed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_config_from_specification_runs_as_the_deployment(variant, tmp_path):
    graph, make_spikes = GRAPHS["recurrent"]
    x = make_spikes()
    deployment, paths = hand_off(graph(), variant, tmp_path)
    meta, spec = read_back(paths)
    module = importlib.import_module(meta["module"])
    config, valid, message = module.config_from_specification(**spec)
    assert valid, message
    sim = module.XyloSim.from_config(config, dt=meta["dt"])
    np.testing.assert_array_equal(xylosim_outputs(sim, x), deployment.run(x).numpy())


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_loader_script_runs_without_a_board(variant, tmp_path):
    graph, make_spikes = GRAPHS["recurrent"]
    x = make_spikes()
    deployment, paths = hand_off(graph(), variant, tmp_path / "hardware")
    script = paths[2]
    helped = run_xylo_loader(script, "--help")
    assert helped.returncode == 0 and "--input" in helped.stdout, helped.stderr
    np.save(tmp_path / "x.npy", x[:, 0].numpy().astype(int))
    ran = run_xylo_loader(script, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert ran.returncode == 0, ran.stderr
    if HAS_SAMNA:
        assert "the configuration is valid" in ran.stdout and f"no {variant} board found" in ran.stdout
    else:
        assert "samna is not installed" in ran.stdout and "no board can be found" in ran.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), deployment.run(x).numpy()[:, 0])


def test_the_float_simulator_has_no_chip_configuration(tmp_path):
    deployment = nirdeploy.deploy(layered((8, 20, 4)), "xylo", simulator="float")
    with pytest.raises(TargetError, match="simulator='xylosim'"):
        get_target("xylo").write_hardware(deployment, tmp_path)
    assert not any(tmp_path.iterdir())
