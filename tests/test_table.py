"""Terminal tables fit 100 columns, wrapping cells without losing a word."""

from nirdeploy.table import format_table

SUGGESTION = ("retrain with subtracting the threshold (in SpikingJelly, v_reset=None subtracts the threshold, "
              "a number resets to it) or choose a target whose neurons reset to v_reset")
ROWS = [("severity", "node", "rule", "found", "limit", "suggestion"),
        ("error", "layer.0", "reset mode", "hard reset: " + "x" * 60, "subtractive " * 8, SUGGESTION),
        ("warning", "(graph)", "dt", "0.001 s", "-", "none")]


def test_a_wide_table_fits_100_columns_and_keeps_every_word():
    for last_below in (False, True):
        lines = format_table(ROWS, last_below=last_below)
        assert max(map(len, lines)) <= 100
        text = " ".join(lines).replace("|", " ")
        for row in ROWS:
            for cell in row:
                for word in cell.split():
                    assert word in text or all(part in text for part in (word[:10], word[-10:]))


def test_a_suggestion_below_its_row_is_indented_on_its_own_lines():
    lines = format_table(ROWS, last_below=True)
    below = [line for line in lines if line.startswith("    ") and "|" not in line]
    assert " ".join(part.strip() for part in below) == f"suggestion {SUGGESTION} none"
    assert [cell.strip() for cell in lines[0].split(" | ")] == ["severity", "node", "rule", "found", "limit"]


def test_a_narrow_table_is_unchanged():
    assert format_table([("a", "bb"), ("ccc", "d")]) == ["a   | bb", "----+---", "ccc | d"]
