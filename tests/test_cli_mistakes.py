"""Mistakes a new user makes on the command line: each exits 2 with one paragraph that names the fix in
the CLI's words (flags and config keys), leaves no run folder behind and shows no traceback."""

import subprocess
import time

import numpy as np
import pytest
import torch
import yaml

from test_cli import NIRDEPLOY, ROOT, nirdeploy

QUICKSTART_MODEL = str(ROOT / "examples" / "quickstart.py") + ":build"  # 16 inputs, 4 outputs


def write_config(folder, **changes):
    data = {"model": {"python": QUICKSTART_MODEL, "example_shape": [1, 16]}, "dt": 1.0e-3,
            "input": {"poisson": {"rate": 0.3, "steps": 20, "batch": 2, "seed": 0}},
            "targets": {"snntorch": {}}, "output": str(folder / "runs")}
    data.update(changes)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refused(result, *words):
    """Exit 2, one paragraph on stderr naming ``words``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    message = result.stderr.strip()
    assert "\n\n" not in message and all(word in message for word in words), message
    for python_word in ("overwrite=True", "dt_override=True", "pass dt=", "producer=..."):
        assert python_word not in message, message
    return message


def no_run_folder(folder):
    runs = folder / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def test_input_file_of_the_wrong_width(tmp_path):
    np.save(tmp_path / "spikes.npy", np.zeros((20, 2, 13), dtype=np.float32))
    result = nirdeploy("run", write_config(tmp_path, input={"file": "spikes.npy"}))
    refused(result, "input.file", "[20, 2, 13]", "[T, B, 16]")
    no_run_folder(tmp_path)


def test_input_file_with_nan_and_an_object_array(tmp_path):
    spikes = np.zeros((20, 2, 16))
    spikes[3, 1, 4] = np.nan
    np.save(tmp_path / "nan.npy", spikes)
    refused(nirdeploy("run", write_config(tmp_path, input={"file": "nan.npy"})), "input.file", "NaN")
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    refused(nirdeploy("run", write_config(tmp_path, input={"file": "objects.npy"})), "input.file", "numpy.save")
    no_run_folder(tmp_path)


def test_a_dataset_that_does_not_fit_the_network(tmp_path):
    dataset = {"name": "digits", "steps": 10, "samples": 8, "size": 8}  # 64 pixels; the network takes 16
    result = nirdeploy("run", write_config(tmp_path, input={"dataset": dataset}))
    refused(result, "input.dataset", "64 values", "[16]")
    no_run_folder(tmp_path)


def test_weights_of_another_network(tmp_path):
    torch.save(torch.nn.Linear(10, 3).state_dict(), tmp_path / "other.pt")
    model = {"python": QUICKSTART_MODEL, "example_shape": [1, 16], "weights": "other.pt"}
    result = nirdeploy("run", write_config(tmp_path, model=model))
    refused(result, "other.pt", "do not fit", "state_dict")
    no_run_folder(tmp_path)


def test_an_example_shape_the_model_cannot_take(tmp_path):
    result = nirdeploy("run", write_config(tmp_path, model={"python": QUICKSTART_MODEL, "example_shape": [1, 13]}))
    message = refused(result, "model.example_shape", "[1, 13]")
    assert "tlparse" not in message and "ShapeProp" not in message
    no_run_folder(tmp_path)
    export = nirdeploy("export", QUICKSTART_MODEL, "--example-shape", "1", "13", "-o", tmp_path / "q.nir")
    refused(export, "--example-shape", "[1, 13]")
    assert not (tmp_path / "q.nir").exists()


def test_target_option_and_variant_typos_are_found_before_export(tmp_path):
    typo = nirdeploy("run", write_config(tmp_path, targets={"snntorch": {"devise": "cpu"}}))
    refused(typo, "targets.snntorch", "devise", "device")
    for options, words in (({"precision": "fxed"}, ("fxed", "float, fixed")), ({"timeout": -1}, ("timeout", "above 0")),
                           ({"simulator": "emulation"}, ("emulation", "precision"))):
        value = nirdeploy("run", write_config(tmp_path, targets={"lava/typo": options}))
        refused(value, "targets.lava/typo", *words)
    xylo = nirdeploy("run", write_config(tmp_path, targets={"xylo": {"quantisation": "per-layer"}}))
    refused(xylo, "targets.xylo", "per-layer", "'global' or 'channel'")
    variant = nirdeploy("run", write_config(tmp_path), "--target", "xylo:syns99999")
    refused(variant, "--target xylo:syns99999", "syns99999")
    no_run_folder(tmp_path)


def test_dt_written_as_1e_minus_3_and_given_with_dt(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"python": QUICKSTART_MODEL, "example_shape": [1, 16]},
                                      "input": {"poisson": {"rate": 0.3, "steps": 10, "batch": 1}},
                                      "targets": ["snntorch"], "output": "runs", "dt": "DT"}).replace("DT", "1e-3"))
    assert "dt: 1e-3" in config.read_text()
    result = nirdeploy("run", config, "--dt", "2e-3")
    assert result.returncode == 0, result.stderr
    assert "at dt=0.002 s" in result.stdout  # --dt replaced the config's 1e-3
    refused(nirdeploy("run", config, "--dt", "fast"), "--dt", "'fast'")


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    lines = ["model: {nir: model.nir}", "dt: 1e-3", "input: {poisson: {rate: 0.1, steps: 10, batch: 1}}",
             "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append(f"targets: [{', '.join(['*a8'] * 9)}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    result = nirdeploy("run", tmp_path / "bomb.yaml")
    refused(result, "expands to more than", "aliases")
    assert time.monotonic() - start < 30


def test_debug_works_after_the_command(tmp_path):
    result = nirdeploy("run", tmp_path / "missing.yaml", "--debug")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" in result.stderr


def test_a_closed_pipe_exits_quietly(tmp_path):
    graph = tmp_path / "q.nir"
    assert nirdeploy("export", QUICKSTART_MODEL, "--example-shape", "1", "16", "-o", graph).returncode == 0
    pipeline = f"{NIRDEPLOY} check {graph} --target snntorch --target xylo --json | head -n 1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "[" and result.stderr == "", result.stderr


def test_fixes_are_said_in_cli_words(tmp_path):
    graph = tmp_path / "q.nir"
    assert nirdeploy("export", QUICKSTART_MODEL, "--example-shape", "1", "16", "-o", graph, "--dt", "1e-3").returncode == 0
    again = nirdeploy("export", QUICKSTART_MODEL, "--example-shape", "1", "16", "-o", graph)
    refused(again, "--overwrite")
    other_dt = nirdeploy("inspect", graph, "--dt", "2e-3")
    refused(other_dt, "--dt 0.001", "--dt-override")


@pytest.mark.parametrize("args,words", [
    (("check", "missing.nir", "--target", "snntorch"), ("missing.nir", "does not exist")),
    (("check", "{dir}", "--target", "snntorch"), ("not a file",)),
    (("inspect", "{long}"), ("cannot be opened",)),
    (("check", "{text}", "--target", "snntorch"), ("could not be read as a NIR graph",)),
])
def test_files_that_are_not_graphs(args, words, tmp_path):
    (tmp_path / "notes.nir").write_text("not hdf5")
    names = {"dir": tmp_path, "long": tmp_path / ("x" * 300 + ".nir"), "text": tmp_path / "notes.nir"}
    refused(nirdeploy(*(a.format(**names) for a in args), cwd=tmp_path), *words)


def test_two_runs_at_once_never_share_a_run_folder(tmp_path):
    config = write_config(tmp_path)
    runs = [subprocess.Popen([NIRDEPLOY, "run", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["config-001", "config-002"]
    assert all((tmp_path / "runs" / name / "report.json").is_file() for name in ("config-001", "config-002"))
