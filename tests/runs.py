"""Run configs for the tests that run the shipped digits networks, and a report's figures."""

from pathlib import Path

import yaml

from nirdeploy.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def digits_config(tmp_path, name: str, samples: int, targets: dict) -> object:
    """A shipped digits config on ``samples`` test samples and ``targets``, with thresholds that always pass."""
    config = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    module, _, function = config["model"]["python"].rpartition(":")
    config["model"]["python"] = f"{(ROOT / 'configs' / module).resolve()}:{function}"
    config["input"]["dataset"]["samples"] = samples
    config["targets"], config["thresholds"] = targets, {}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path)


def without_times(report: dict) -> dict:
    """A report's figures: everything but the wall times, the paths that name the run folder and the
    scale-out record."""
    figures = {k: v for k, v in report.items() if k not in ("timings_s", "graph", "scaleout", "targets")}
    figures["summary"] = {name: {k: v for k, v in row.items() if k != "wall_s"} for name, row in report["summary"].items()}
    return figures
