"""The digits showcase: trained networks reach their accuracy on every target that takes them."""

from pathlib import Path

import pytest

from nirdeploy.config import load_config
from nirdeploy.run import run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name,minimum", [("digits_mlp", 0.90), ("digits_conv", 0.95)])
def test_trained_digits_networks(name, minimum, tmp_path):
    result = run_config(load_config(CONFIGS / f"{name}.yaml"), out=tmp_path)
    summary = result.report["summary"]
    assert result.ok
    assert summary["reference"]["accuracy"] >= minimum
    assert summary["snntorch"]["accuracy"] == summary["reference"]["accuracy"]
    assert summary["snntorch"]["output_train_match"] == 1.0
