"""Run sweeps/digits_weight_bits.yaml (Loihi 2's fixed point and XyloSim at 4, 6 and 8 bits per weight)
on a local Ray of 2 CPUs and write its summary table into docs/scaleout.md and its plot to
docs/figures/sweep-weight-bits.png.

    .venv/bin/python scripts/write_sweep.py

The figures are exact and reproduce on every run (the weights ship in examples/digits/weights/).
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docfigures import FIGURES, write_figures  # noqa: E402
from nirdeploy.sweep import run_sweep  # noqa: E402

SWEEP = ROOT / "sweeps" / "digits_weight_bits.yaml"
COLUMNS = ("config", "target", "weight_bits", "reference_accuracy", "accuracy", "spike_train_match",
           "count_correlation", "class_agreement")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = run_sweep(SWEEP, out=Path(folder), workers=2)
        shutil.copyfile(result.folder / "plot_weight_bits.png", FIGURES / "sweep-weight-bits.png")
    rows = [{key: row[key] for key in COLUMNS} for row in result.rows]
    lines = ["| " + " | ".join(key.replace("_", " ") for key in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(f"{row[key]:.4f}" if isinstance(row[key], float) else str(row[key])
                                for key in COLUMNS) + " |" for row in rows]
    lines += ["", "![accuracy and agreement against weight bits](figures/sweep-weight-bits.png)"]
    print(json.dumps(rows, indent=1))
    write_figures("sweep-weight-bits", "\n".join(lines), rows)


if __name__ == "__main__":
    main()
