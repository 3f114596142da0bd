"""Every figure in README.md and docs/*.md comes from a script in the repository (scripts/docfigures.py).

A generated block must hold what its script last wrote (docs/figures/NAME.json), a record must name a
script that exists, and prose outside the blocks may quote only figures some script wrote.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docfigures import BLOCK, docs, figure_tokens, figures_by_line, recorded  # noqa: E402


def test_every_block_holds_what_its_script_wrote():
    records = recorded()
    for doc in docs():
        for block in BLOCK.finditer(doc.read_text()):
            name = block["name"]
            assert name in records, f"{doc.name}: block '{name}' has no docs/figures/{name}.json; run its script"
            assert block["body"] == records[name]["markdown"], (
                f"{doc.name}: block '{name}' differs from what {records[name]['script']} wrote; rerun it")


def test_every_record_names_a_script_that_exists():
    for name, record in recorded().items():
        assert (ROOT / record["script"]).is_file(), f"docs/figures/{name}.json names {record['script']}"


def test_prose_quotes_only_figures_a_script_wrote():
    produced = {token for record in recorded().values()
                for token in figure_tokens(record["markdown"]) + figure_tokens(" ".join(record["quotable"]))}
    unsourced = []
    for doc in docs():
        prose = BLOCK.sub(lambda block: "\n" * block.group(0).count("\n"), doc.read_text())
        unsourced += [f"{doc.relative_to(ROOT)}:{number}: {figure}" for number, figure in figures_by_line(prose)
                      if figure not in produced]
    assert not unsourced, "figures no script wrote (quote a script's figure or generate the text):\n" + "\n".join(unsourced)
