"""Regenerate docs/interop.md from the producer cases the tests run.

    .venv/bin/python scripts/write_interop_table.py
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from producer_cases import CASES, measure, render_table  # noqa: E402

with tempfile.TemporaryDirectory() as folder:
    table = render_table({name: measure(name, folder, on_targets=True) for name in CASES})
(ROOT / "docs" / "interop.md").write_text(table)
print(table)
