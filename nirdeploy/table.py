"""Plain-text tables for the terminal and the reports."""


def format_table(rows: list) -> list:
    """Rows of cells (the first the header) as aligned text lines."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return [lines[0], "-+-".join("-" * w for w in widths), *lines[1:]]
