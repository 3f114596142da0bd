"""Regenerate docs/interop.md's tables from the producer cases the tests run.

    .venv/bin/python scripts/write_interop_table.py
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]

from docfigures import write_figures  # noqa: E402
from producer_cases import CASES, measure, render_table  # noqa: E402

with tempfile.TemporaryDirectory() as folder:
    results = {name: measure(name, folder, on_targets=True) for name in CASES}
write_figures("interop", render_table(results), results)
