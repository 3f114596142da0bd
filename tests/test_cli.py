"""The nirdeploy console script, end to end, in subprocesses."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml
from PIL import Image

from nirdeploy.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
NIRDEPLOY = str(Path(sys.executable).parent / "nirdeploy")
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def nirdeploy(*args, cwd=None):
    return subprocess.run([NIRDEPLOY, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_for_every_command():
    for command in ("run", "sweep", "check", "draw", "inspect", "targets", "export", "setup"):
        result = nirdeploy(command, "--help")
        assert result.returncode == 0 and "usage: nirdeploy" in result.stdout


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_runs(config, tmp_path):
    result = nirdeploy("run", config, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    (folder,) = tmp_path.iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["ok"] and (folder / "model.nir").is_file() and (folder / "report.md").is_file()
    accuracy = {name: row["accuracy"] for name, row in report["summary"].items()}
    if accuracy["reference"] is not None:  # every target within 1 point of the reference
        assert all(abs(a - accuracy["reference"]) <= 0.01 for a in accuracy.values()), accuracy


def test_run_writes_report_plots_and_never_overwrites(tmp_path):
    first, second = nirdeploy("run", QUICKSTART, "--out", tmp_path), nirdeploy("run", QUICKSTART, "--out", tmp_path)
    assert first.returncode == second.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quickstart-001", "quickstart-002"]
    folder = tmp_path / "quickstart-001"
    report = json.loads((folder / "report.json").read_text())
    rows = report["agreement"]["rows"]
    assert {(r["target"], r["kind"]) for r in rows} == {("snntorch", "output"), ("snntorch", "layer")}
    assert all(r["spike_train_match"] == 1.0 and r["spikes_reference"] > 0 for r in rows)
    assert report["checks"]["snntorch"]["ok"] and report["versions"]["snntorch"] == "1.0.0"
    assert set(report["timings_s"]) == {"export", "run reference", "run snntorch"}
    for png in ("raster_snntorch.png", "counts_snntorch.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "# nirdeploy run: passed" in (folder / "report.md").read_text()


def test_run_with_a_target_that_fails_check_exits_1(tmp_path):
    result = nirdeploy("run", QUICKSTART, "--target", "xylo", "--out", tmp_path)
    assert result.returncode == 1
    report = json.loads(next(tmp_path.iterdir()).joinpath("report.json").read_text())
    assert report["failures"] == ["xylo:syns61201: check failed"]  # the variant checked: the default
    assert any(p["rule"] == "reset mode" for p in report["checks"]["xylo:syns61201"]["problems"])


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "quickstart.nir"
    result = nirdeploy("export", ROOT / "examples" / "quickstart.py:build", "--example-shape", 1, 16, "--dt", 1e-3, "-o", path)
    assert result.returncode == 0, result.stderr
    return path


def test_export_refuses_to_overwrite(graph_file):
    result = nirdeploy("export", ROOT / "examples" / "quickstart.py:build", "--example-shape", 1, 16, "-o", graph_file)
    assert result.returncode == 2 and "overwrite" in result.stderr and "Traceback" not in result.stderr


def test_check_table_json_and_exit_codes(graph_file):
    ok = nirdeploy("check", graph_file, "--target", "snntorch", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)[0]["ok"] is True
    failed = nirdeploy("check", graph_file, "--target", "xylo:syns63300")
    assert failed.returncode == 1 and "reset mode" in failed.stdout and "xylo:syns63300" in failed.stdout


def test_inspect(graph_file):
    table = nirdeploy("inspect", graph_file)
    assert table.returncode == 0 and "LIF" in table.stdout and "dt: 0.001" in table.stdout
    description = json.loads(nirdeploy("inspect", graph_file, "--json").stdout)
    assert [n["type"] for n in description["nodes"]] == ["Affine", "LIF", "Affine", "LIF", "Input", "Output"]
    assert ["0", "1"] in description["edges"]


@pytest.fixture(scope="module")
def snntorch_file(tmp_path_factory):
    """A Leaky -> Synaptic network written by snnTorch's own exporter (no dt, no conventions recorded)."""
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 6), snn.Leaky(beta=torch.full((6,), 0.75), threshold=torch.ones(6), init_hidden=True),
        torch.nn.Linear(6, 4), snn.Synaptic(alpha=torch.full((4,), 0.5), beta=torch.full((4,), 0.75),
                                            threshold=torch.ones(4), init_hidden=True, output=True))
    path = tmp_path_factory.mktemp("snntorch") / "snn.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 8), ignore_dims=[0]))
    return path


def test_check_and_inspect_take_the_producer(snntorch_file):
    assumed = nirdeploy("check", snntorch_file, "--target", "xylo", "--dt", 1e-4)
    assert "producer conventions" in assumed.stdout and "--producer" in assumed.stdout
    assert "snntorch" in assumed.stdout.split("producer conventions")[1]  # the likely producer is named
    named = nirdeploy("check", snntorch_file, "--target", "xylo", "--dt", 1e-4, "--producer", "snntorch", "--json")
    problems = json.loads(named.stdout)[0]["problems"]
    resets = [p for p in problems if p["rule"] == "reset mode"]
    assert resets and all(p["severity"] == "warning" and "snnTorch" in p["found"] for p in resets)
    assert not any(p["rule"] == "producer conventions" for p in problems)
    inspected = nirdeploy("inspect", snntorch_file, "--dt", 1e-4, "--producer", "snntorch")
    assert inspected.returncode == 0 and "snnTorch Synaptic" in inspected.stdout and "subtract-delayed" in inspected.stdout
    lava = nirdeploy("check", snntorch_file, "--target", "lava", "--dt", 1e-4, "--producer", "snntorch", "--json")
    assert lava.returncode == 1 and any("snnTorch Leaky: subtracting the threshold one step late" in p["found"]
                                        for p in json.loads(lava.stdout)[0]["problems"])


def test_a_run_says_which_conventions_it_assumed(snntorch_file, tmp_path):
    config = tmp_path / "foreign.yaml"
    config.write_text(yaml.safe_dump({"model": {"nir": str(snntorch_file)}, "dt": 1e-4, "targets": {"snntorch": {}},
                                      "input": {"poisson": {"rate": 0.3, "steps": 50, "batch": 2}}}))
    assumed = nirdeploy("run", config, "--out", tmp_path / "runs")
    report = json.loads(next((tmp_path / "runs").iterdir()).joinpath("report.json").read_text())
    assert assumed.returncode == 0 and report["producer"] == "spikingjelly"
    assert "were assumed" in report["assumption"] and "snntorch" in report["assumption"]
    assert "**warning**" in assumed.stdout
    named = nirdeploy("run", config, "--out", tmp_path / "named", "--producer", "snntorch")
    report = json.loads(next((tmp_path / "named").iterdir()).joinpath("report.json").read_text())
    assert named.returncode == 0 and report["producer"] == "snntorch" and report["assumption"] is None


def test_a_contradicting_dt_is_a_check_error_unless_overridden(graph_file):
    refused = nirdeploy("check", graph_file, "--target", "snntorch", "--dt", 2e-3)
    assert refused.returncode == 1 and "--dt-override" in refused.stdout and "--dt 0.001" in refused.stdout
    overridden = nirdeploy("check", graph_file, "--target", "snntorch", "--dt", 2e-3, "--dt-override")
    assert overridden.returncode == 0 and "re-discretised" in overridden.stdout


def test_targets_lists_readiness():
    result = nirdeploy("targets")
    lines = {line.split("|")[0].strip(): line for line in result.stdout.splitlines()}
    assert result.returncode == 0 and {"reference", "snntorch", "lava", "xylo"} <= set(lines)
    assert "| yes" in lines["snntorch"]
    assert ("| yes" in lines["lava"]) == get_target("lava").runtime_status()[0]


BASE = yaml.safe_load(QUICKSTART.read_text())


@pytest.mark.parametrize(
    "change,message",
    [
        ({"colour": "red"}, "key '(top level).colour' is not a known key"),
        ({"model": {"nir": "missing.nir"}}, "key 'model.nir' names missing.nir, which does not exist"),
        ({"dt": "fast"}, "key 'dt' must be a number"),
        ({"dt": 0}, "key 'dt' must lie in"),
        ({"targets": {"loihi9": {}}}, "key 'targets.loihi9' is not a known target"),
        ({"thresholds": {"xylo": {"class_agreement": 0.9}}}, "key 'thresholds.xylo' is not a known key"),
        ({"input": {"poisson": {"rate": 2, "steps": 10, "batch": 1}}}, "key 'input.poisson.rate' must lie in"),
        ({"input": {"dataset": {"name": "mnist"}}}, "key 'input.dataset.name' must be one of digits"),
        ({"producer": "snntorch"}, "key 'producer' belongs to the model"),
        ({"model": {"nir": str(QUICKSTART), "producer": "lasagne"}}, "key 'model.producer' must be one of"),
    ],
)
def test_bad_config_exits_2_with_its_message(change, message, tmp_path):
    config = tmp_path / "bad.yaml"
    data = {**BASE, **change, "model": {**BASE["model"], "python": str(ROOT / "examples" / "quickstart.py") + ":build"}}
    if "model" in change:
        data["model"] = change["model"]
    config.write_text(yaml.safe_dump(data))
    result = nirdeploy("run", config, "--out", tmp_path / "runs")
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help_need_no_torch():
    assert nirdeploy("--version").stdout.strip() == f"nirdeploy {importlib.metadata.version('nirdeploy')}"
    imported = subprocess.run([sys.executable, "-c", "import sys, nirdeploy.cli; nirdeploy.cli.parser(); "
                               "print('torch' in sys.modules)"],
                              capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"


def test_the_triton_logger_is_muted_only_while_nirdeploy_registers_its_neurons():
    level = subprocess.run([sys.executable, "-c", "import logging, nirdeploy.neurons; "
                            "print(logging.getLogger('torch._library.triton').level)"],
                           capture_output=True, text=True, check=True)
    assert level.stdout.strip() == "0" and "Triton" not in level.stderr


def labelled_config(tmp_path) -> Path:
    config = yaml.safe_load(QUICKSTART.read_text())
    config["model"]["python"] = str(ROOT / "examples" / "quickstart.py") + ":build"
    config["input"]["poisson"]["steps"] = 30
    config["targets"] = {"snntorch": {}, "lava/fixed": {"precision": "fixed", "simulator": "emulation"}}
    config["thresholds"] = {}
    path = tmp_path / "labelled.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_label_carries_its_options_into_the_report_and_the_run_folder_holds_config_and_hardware(tmp_path):
    config = labelled_config(tmp_path)
    result = nirdeploy("run", config, "--out", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    assert "Triton" not in result.stderr  # SpikingJelly's kernels registered quietly
    (folder,) = (tmp_path / "runs").iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert report["targets"] == {"snntorch": {}, "lava/fixed": {"precision": "fixed", "simulator": "emulation"}}
    assert set(report["versions"]["runtimes"]) == {"snntorch", "lava"}
    assert report["versions"]["runtimes"]["lava"].startswith("lava-nc 0.10.0")
    assert (folder / "config.yaml").read_text() == config.read_text()
    assert Image.open(folder / "graph.png").format == "PNG" and report["drawing"] == "graph.png"
    files = ["hardware/lava-fixed/network.net", "hardware/lava-fixed/network.json", "hardware/lava-fixed/resources.json"]
    assert report["hardware"] == {"lava/fixed": {"files": files}}
    resources = json.loads((folder / files[2]).read_text())
    assert resources["cores"]["limit"] == 120 and resources["neurons"]["used"] > 0
    with h5py.File(folder / "hardware" / "lava-fixed" / "network.net") as net:
        assert net["layer/0/type"][()] == b"input" and net["layer/1/type"][()] in (b"dense", b"dense_rec")
    assert "- lava/fixed: precision: fixed, simulator: emulation; hardware: `hardware/lava-fixed/network.net`, " \
        "`hardware/lava-fixed/network.json`" in (folder / "report.md").read_text()


def test_a_label_the_config_does_not_define_is_refused_before_any_work(tmp_path):
    result = nirdeploy("run", labelled_config(tmp_path), "--target", "lava/float", "--out", tmp_path / "runs")
    assert result.returncode == 2
    assert "--target lava/float" in result.stderr and "targets.lava/float" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_workers_takes_a_count_of_one_or_more_before_anything_runs(tmp_path):
    result = nirdeploy("run", QUICKSTART, "--out", tmp_path / "runs", "--workers", "0")
    assert result.returncode == 2
    assert "--workers" in result.stderr and "1 or more" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
