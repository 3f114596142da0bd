"""Plain-text tables for the terminal and the reports."""

import textwrap

SEPARATOR = " | "


def format_table(rows: list, width: int = 100, last_below: bool = False) -> list:
    """Rows of cells (the first the header) as aligned text lines at most ``width`` wide: the widest
    columns are narrowed first and their cells wrap onto more lines. With ``last_below``, each row's last
    cell (a suggestion) is printed beneath it, indented, over the whole width."""
    cells = [[str(cell) for cell in row] for row in rows]
    columns = cells[0][:-1] if last_below else cells[0]
    widths = _fit([max(len(row[i]) for row in cells) for i in range(len(columns))], width)
    lines = []
    for index, row in enumerate(cells):
        lines += _wrapped(row[:len(widths)], widths)
        if last_below and row[-1]:
            lines += textwrap.wrap(row[-1], width, initial_indent="    ", subsequent_indent="    ")
        if index == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def _wrapped(row: list, widths: list) -> list:
    """One row as lines, each cell wrapped to its column's width."""
    columns = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""] for cell, w in zip(row, widths)]
    height = max(map(len, columns))
    columns = [column + [""] * (height - len(column)) for column in columns]
    return [SEPARATOR.join(part.ljust(w) for part, w in zip(parts, widths)).rstrip() for parts in zip(*columns)]


def _fit(widths: list, width: int, narrowest: int = 10) -> list:
    """Column widths summing, with separators, to at most ``width``: the widest column loses a character
    at a time, none below ``narrowest``."""
    widths = list(widths)
    while sum(widths) + len(SEPARATOR) * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= narrowest:
            break
        widths[widest] -= 1
    return widths
