"""Figures in README.md and docs/*.md, written by the scripts that measure them.

A script calls :func:`write_figures` with a name, the Markdown it measured and the data behind it.
That writes ``docs/figures/<name>.json`` (the script's path, the Markdown, the data and the figures
prose may quote) and replaces the text of every block

    <!-- figures: NAME -->
    ...
    <!-- /figures: NAME -->

in README.md and docs/*.md, so that a rerun regenerates the docs. tests/test_docs.py fails where a
block differs from its JSON, a JSON names no existing script, or prose outside the blocks quotes a
figure (a percentage, a ratio, a time, a size, an agreement) that no script wrote.
"""

import __main__
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
BLOCK = re.compile(r"<!-- figures: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /figures: (?P=name) -->", re.S)
# A measured figure: a percentage, a ratio (1.22x, not 8x8), a time or a size with a unit, or a
# fraction with three or more decimals (agreements). Versions (3.10, 0.10.0) and plain counts are not.
FIGURE = re.compile(
    r"(?<![\w.])(?:"
    r"\d+(?:\.\d+)?\s?%"
    r"|\d+(?:\.\d+)?x(?![\w\d])"
    r"|\d+\.\d+\s?(?:s|ms|us|µs|min)\b|\d{3,}\s?(?:ms|us|µs)\b"
    r"|\d+(?:\.\d+)?\s?(?:KiB|MiB|GiB|KB|MB|GB)\b"
    r"|[01]\.\d{3,}(?![\d.])"
    r")"
)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def docs() -> list:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def figures_by_line(text: str) -> list:
    """(line number, figure) for the measured figures quoted in Markdown ``text``, code left out."""
    prose = CODE.sub(lambda code: "\n" * code.group(0).count("\n") or " ", text)
    return [(number, match.group(0).replace(" ", "")) for number, line in enumerate(prose.splitlines(), 1)
            for match in FIGURE.finditer(line)]


def figure_tokens(text: str) -> list:
    return [figure for _, figure in figures_by_line(text)]


def _script() -> str:
    return Path(__main__.__file__).resolve().relative_to(ROOT).as_posix()


def write_figures(name: str, markdown: str, data, quotable: tuple = ()) -> Path:
    """Record ``name``'s figures and write ``markdown`` into every ``figures: name`` block of the docs;
    ``quotable`` lists further figures (as prose writes them) that the script vouches for."""
    markdown = markdown.rstrip("\n") + "\n"
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.json"
    record = {"script": _script(), "markdown": markdown, "quotable": list(quotable), "data": data}
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    placed = 0
    for doc in docs():
        text = doc.read_text()
        new, count = BLOCK.subn(lambda m: m.group(0) if m["name"] != name else
                                f"<!-- figures: {name} -->\n{markdown}<!-- /figures: {name} -->", text)
        placed += sum(m["name"] == name for m in BLOCK.finditer(text))
        if new != text:
            doc.write_text(new)
    print(f"wrote {path.relative_to(ROOT)}" + (f" and {placed} block(s) in the docs" if placed else
                                                " (no block in the docs shows it yet)"))
    return path


def recorded() -> dict:
    """name -> the JSON record of every script's figures."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(FIGURES.glob("*.json"))}


def record(name: str) -> dict:
    """The JSON record ``name``'s script last wrote."""
    return json.loads((FIGURES / f"{name}.json").read_text())
