"""What every command shares on its way out: exit codes and plain-text tables."""

from __future__ import annotations

from typing import TextIO

EXIT_OK, EXIT_DRIFT, EXIT_BAD_INPUT = 0, 1, 2


def print_table(rows: list[list[str]], out: TextIO) -> None:
    """Left-aligned columns, the first row a header; trailing spaces trimmed."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")
