"""The digits showcase: trained networks reach their accuracy on every target that takes them."""

import json
from pathlib import Path

import numpy as np
import pytest

import nirdeploy
from hand_offs import netx_reader_spikes, run_xylo_loader
from nirdeploy.check import CheckReport, Problem
from nirdeploy.config import load_config
from nirdeploy.datasets import load_dataset
from nirdeploy.report import accuracy_notes
from nirdeploy.run import run_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name,minimum", [("digits_mlp", 0.90), ("digits_conv", 0.95)])
def test_trained_digits_networks_reproduce_the_readme(name, minimum, tmp_path):
    """The shipped weights give, on every run, the accuracies and matches scripts/write_showcase.py recorded
    for the README; every target stays within 1 point of the float reference."""
    result = run_config(load_config(ROOT / "configs" / f"{name}.yaml"), out=tmp_path)
    summary = result.report["summary"]
    assert result.ok
    recorded = json.loads((ROOT / "docs" / "figures" / "showcase.json").read_text())["data"][name]
    measured = {target: (row["accuracy"], row["output_train_match"]) for target, row in summary.items()}
    assert measured == {target: (row["accuracy"], row["output_train_match"]) for target, row in recorded.items()}
    reference = summary["reference"]["accuracy"]
    assert reference >= minimum
    assert all(abs(row["accuracy"] - reference) <= 0.01 for row in summary.values()), measured
    assert summary["snntorch"]["output_train_match"] == 1.0
    if name == "digits_conv":  # Lava in floating point: the reference's spikes, one step later per hop
        assert summary["lava"]["output_train_match"] == 1.0
        # The compiled emulation of Loihi's fixed point gives Lava's own fixed-point spikes.
        outputs = {row["target"]: row for row in result.report["agreement"]["rows"] if row["kind"] == "output"}
        for metric in ("spike_train_match", "spikes_target", "first_divergence"):
            assert outputs["lava/emulation"][metric] == outputs["lava/fixed"][metric]
    hand_off_runs_as_the_deployment(name, result.folder, tmp_path)


def hand_off_runs_as_the_deployment(name: str, folder: Path, scratch: Path) -> None:
    """The run folder's chip files, run as a chip user runs them on test samples, give the spikes of the run
    folder's graph deployed anew: Xylo's loader script (XyloSim from the saved specification) for the MLP,
    lava-dl netx's own reader of network.net for the conv net (against the emulation of Loihi's fixed point,
    which the test above finds equal to Lava's)."""
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    x = load_dataset(**{**config.dataset, "samples": 3})[0]
    graph = folder / "model.nir"
    if name == "digits_mlp":
        hardware = folder / "hardware" / "xylo-syns65302"
        assert {p.name for p in hardware.iterdir()} == {"xylo_syns65302_spec.npz", "xylo_syns65302_spec.json",
                                                         "load_xylo_syns65302.py", "resources.json"}
        expected = nirdeploy.deploy(graph, "xylo:syns65302", dt=config.dt).run(x).numpy()
        for sample in range(3):
            np.save(scratch / "x.npy", x[:, sample].numpy().astype(int))
            ran = run_xylo_loader(hardware / "load_xylo_syns65302.py", "--input", scratch / "x.npy",
                                  "--output", scratch / "y.npy")
            assert ran.returncode == 0, ran.stderr
            np.testing.assert_array_equal(np.load(scratch / "y.npy"), expected[:, sample])
    else:
        hardware = folder / "hardware" / "lava-fixed"
        assert {p.name for p in hardware.iterdir()} == {"network.net", "network.json", "resources.json"}
        about = json.loads((hardware / "network.json").read_text())
        assert [layer["type"] for layer in about["layers"]] == ["conv", "dense"]
        assert about["weight_bytes"] == 8 * 1 * 3 * 3 + 10 * 512  # the kernel once, the dense matrix whole
        assert about["spikes_equal_the_deployment"]
        x = x.reshape(*x.shape[:2], 1, 8, 8)
        deployment = nirdeploy.deploy(graph, "lava", dt=config.dt, precision="fixed", simulator="emulation")
        expected = deployment.run(x).transpose(0, 1).numpy()
        from_netx = netx_reader_spikes(hardware / "network.net", x, scratch)
        depth = about["latency_steps"]
        assert expected[:, depth:].sum() > 0 and np.array_equal(from_netx[:, depth:], expected[:, depth:])


def test_report_says_how_far_and_why_a_target_misses_the_reference():
    summary = {"reference": {"accuracy": 0.90}, "chip": {"accuracy": 0.87}, "chip/other": {"accuracy": 0.895}}
    warning = Problem("fc", "8-bit weights", "relative RMS error 3.10%", "1%", "-", "warning")
    checks = {"chip": CheckReport("chip", 1e-3, [warning, Problem("(graph)", "x", "y", "z", "-")])}
    assert accuracy_notes(summary, checks) == [
        "- chip: -3.00 percentage points from the reference. Its check warns: 8-bit weights (relative RMS error 3.10%).",
        "",
    ]
