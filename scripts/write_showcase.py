"""Run the digits showcase (configs/digits_mlp.yaml, configs/digits_conv.yaml) and write the README's table.

    .venv/bin/python scripts/write_showcase.py

Accuracies and spike-train matches are exact and reproduce on every run (the weights ship in
examples/digits/weights/); times are ratios to the reference's time in the same run, deployment
included. tests/test_showcase.py checks that a run gives the recorded accuracies and matches.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docfigures import write_figures  # noqa: E402
from nirdeploy.config import load_config  # noqa: E402
from nirdeploy.run import run_config  # noqa: E402

NETWORKS = {"digits_mlp": "MLP (16 pooled inputs)", "digits_conv": "conv (8x8 input)"}
WHAT = {
    "xylo:syns65302": "XyloSim, 8-bit",
    "xylo:syns65302/float": "float, Xylo's bit-shift decays",
    "lava": "Lava, floating point",
    "lava/fixed": "Lava, Loihi 2 fixed point",
    "lava/emulation": "nirdeploy's compiled emulation of that fixed point",
}


def measure() -> dict:
    """config -> target -> {accuracy, output_train_match, time_vs_reference}, from one run of each config."""
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for config in NETWORKS:
            summary = run_config(load_config(ROOT / "configs" / f"{config}.yaml"), out=Path(folder)).report["summary"]
            reference_s = summary["reference"]["wall_s"]
            found[config] = {target: {"accuracy": row["accuracy"], "output_train_match": row["output_train_match"],
                                      "time_vs_reference": row["wall_s"] / reference_s}
                             for target, row in summary.items()}
    return found


def render(found: dict) -> str:
    rows = ["| network | target | accuracy | output spike-train match | time / reference's |", "|---|---|---|---|---|"]
    for config, targets in found.items():
        for target, row in targets.items():
            label = f"{target} ({WHAT[target]})" if target in WHAT else target
            match = "-" if target == "reference" else f"{row['output_train_match']:.4f}"
            time = "1" if target == "reference" else f"{row['time_vs_reference']:.1f}x"
            rows.append(f"| {NETWORKS[config]} | {label} | {row['accuracy']:.2%} | {match} | {time} |")
    return "\n".join(rows)


def main() -> None:
    found = measure()
    conv = found["digits_conv"]
    emulation = conv["lava/fixed"]["time_vs_reference"] / conv["lava/emulation"]["time_vs_reference"]
    write_figures("showcase", render(found), found, quotable=[f"{emulation:.0f}x"])


if __name__ == "__main__":
    main()
