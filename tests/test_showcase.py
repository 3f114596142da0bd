"""The digits showcase: trained networks reach their accuracy on every target that takes them."""

import json
from pathlib import Path

import pytest

from nirdeploy.check import CheckReport, Problem
from nirdeploy.config import load_config
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
        # The torch emulation of Loihi's fixed point gives Lava's own fixed-point spikes.
        outputs = {row["target"]: row for row in result.report["agreement"]["rows"] if row["kind"] == "output"}
        for metric in ("spike_train_match", "spikes_target", "first_divergence"):
            assert outputs["lava/emulation"][metric] == outputs["lava/fixed"][metric]


def test_report_says_how_far_and_why_a_target_misses_the_reference():
    summary = {"reference": {"accuracy": 0.90}, "chip": {"accuracy": 0.87}, "chip/other": {"accuracy": 0.895}}
    warning = Problem("fc", "8-bit weights", "relative RMS error 3.10%", "1%", "-", "warning")
    checks = {"chip": CheckReport("chip", 1e-3, [warning, Problem("(graph)", "x", "y", "z", "-")])}
    assert accuracy_notes(summary, checks) == [
        "- chip: -3.00 percentage points from the reference. Its check warns: 8-bit weights (relative RMS error 3.10%).",
        "",
    ]
