"""``nirdeploy sweep`` on a local Ray (``ray.init(num_cpus=2)``): every cell's figures equal the same config
run in one process, the summary holds them, the weight bits reach the chip's numbers, a rerun skips
finished cells and reruns one that was cut off, and a bad sweep is refused before anything runs."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from nirdeploy.config import load_config
from nirdeploy.errors import ConfigError, InvalidArgumentError
from nirdeploy.run import run_config
from nirdeploy.sweep import run_sweep
from runs import ROOT, without_times

GRIDS = [{"config": str(ROOT / "configs" / "digits_conv.yaml"), "target": ["lava/fixed"], "weight_bits": [4, 8]},
         {"config": str(ROOT / "configs" / "digits_mlp.yaml"), "target": ["xylo:syns65302"], "weight_bits": [4]}]
CELLS = ["digits_conv-lava-fixed-weight_bits4", "digits_conv-lava-fixed-weight_bits8",
         "digits_mlp-xylo-syns65302-weight_bits4"]


def sweep_file(tmp_path, **changes):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "bits", "output": str(tmp_path / "out"), "samples": 20, "grids": GRIDS,
                                    **changes}))
    return path


def test_a_sweep_gives_each_cell_the_figures_of_one_process_and_resumes(local_ray, tmp_path):
    result = run_sweep(sweep_file(tmp_path))
    assert result.ok and result.skipped == [] and [row["cell"] for row in result.rows] == CELLS
    folder = result.folder
    assert folder == tmp_path / "out" / "bits"
    with open(folder / "summary.csv") as table:
        assert [row["cell"] for row in csv.DictReader(table)] == CELLS
    assert json.loads((folder / "summary.json").read_text()) == result.rows
    assert (folder / "plot_weight_bits.png").read_bytes()[:4] == b"\x89PNG"
    assert "plot_weight_bits.png" in (folder / "summary.md").read_text()
    for row in result.rows:
        cell = folder / row["folder"]
        config = load_config(folder / "configs" / f"{row['cell']}.yaml")
        alone = run_config(config, out=tmp_path / "alone")  # the truth: the same cell in this process
        assert without_times(json.loads((cell / "report.json").read_text())) == without_times(alone.report)
        assert row["accuracy"] == alone.report["summary"][row["target"]]["accuracy"]
        assert row["reference_accuracy"] == alone.report["summary"]["reference"]["accuracy"]
    # The bits reached the chips' numbers: Rockpool scales 4-bit weights to at most 2**3 - 1 = 7 ...
    xylo = folder / result.rows[2]["folder"] / "hardware" / "xylo-syns65302"
    spec = np.load(xylo / "xylo_syns65302_spec.npz")
    assert max(int(np.abs(spec[k]).max()) for k in ("weights_in", "weights_out")) == 7
    assert json.loads((xylo / "xylo_syns65302_spec.json").read_text())["weight_bits"] == 4
    # ... and lava-nc keeps B-bit mantissas as multiples of 2**(8 - B), 2**(9 - B) with mixed signs.
    for row in result.rows[:2]:
        lava = folder / row["folder"] / "hardware" / "lava-fixed"
        assert json.loads((lava / "network.json").read_text())["weight_bits"] == row["weight_bits"]
        with h5py.File(lava / "network.net") as net:
            weights = [net[f"layer/{i}/weight"][()] for i in net["layer"] if "weight" in net[f"layer/{i}"]]
        assert weights
        for w in weights:
            step = 2 ** (8 - row["weight_bits"] + int(w.min() < 0 < w.max()))
            assert np.all(w % step == 0) and np.abs(w).max() <= 256
    assert result.rows[0]["spike_train_match"] != result.rows[1]["spike_train_match"]

    finished = {row["cell"]: (folder / row["folder"] / "report.json").stat().st_mtime_ns for row in result.rows}
    again = run_sweep(sweep_file(tmp_path))
    assert again.skipped == CELLS and again.rows == result.rows
    assert {r["cell"]: (folder / r["folder"] / "report.json").stat().st_mtime_ns for r in again.rows} == finished

    cut_off = folder / result.rows[1]["folder"]
    (cut_off / "report.md").unlink()  # what a run stopped before its last file leaves
    resumed = run_sweep(sweep_file(tmp_path))
    assert resumed.skipped == [CELLS[0], CELLS[2]] and resumed.rows == result.rows
    assert (cut_off / "report.md").is_file() and len(list(folder.glob("cells/*"))) == 3


@pytest.mark.parametrize("change, message", [
    ({"grid": GRIDS}, "key 'grid' is not a known key; known keys: grids, name, output, samples"),
    ({"samples": 0}, "key 'samples' must be a whole number of samples, 1 or more"),
    ({"grids": [{**GRIDS[1], "weight_bits": [9]}]},
     "grids[0] (" + GRIDS[1]["config"] + "), the cell with target xylo:syns65302, weight_bits 9: the cell's key "
     "'targets.xylo:syns65302': weight_bits=9 for the Xylo target is not a whole number of bits from 2 to 8"),
    ({"grids": [{**GRIDS[1], "weight_bit": [4]}]}, "takes no deploy option(s) weight_bit; its options: quantisation"),
    ({"grids": [{**GRIDS[0], "target": ["lava"]}]}, "weight_bits=4 limits Loihi's fixed-point weights"),
    ({"grids": [{**GRIDS[0], "weight_bits": 4}]}, "key 'grids[0].weight_bits' must be a list of values"),
    ({"grids": [{"target": ["lava"]}]}, "key 'grids[0]' must be a mapping with 'config'"),
])
def test_a_bad_sweep_is_refused_before_anything_runs(tmp_path, change, message):
    path = sweep_file(tmp_path, **change)
    with pytest.raises(ConfigError) as error:
        run_sweep(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_without_ray_a_sweep_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    with pytest.raises(InvalidArgumentError, match=r"pip install 'nirdeploy\[ray\]'"):
        run_sweep(sweep_file(tmp_path))
    assert not (tmp_path / "out").exists()


def test_the_sweep_command_exits_2_on_a_bad_sweep_in_cli_words(tmp_path):
    path = sweep_file(tmp_path, samples="many")
    done = subprocess.run([str(Path(sys.executable).with_name("nirdeploy")), "sweep", str(path), "--workers", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and str(path) in done.stderr and "samples" in done.stderr
    assert "Traceback" not in done.stderr
