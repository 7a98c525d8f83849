"""The comparison as Rich tables for a terminal: numbers never wrapped or cut; a narrow
terminal gets fewer columns, and the caption says which were left out.
"""

from __future__ import annotations

import io
from typing import Any

from relubench.analysis.cells import (
    APART_HEADER,
    apart_rows,
    display_header,
    display_rows,
    flag_legend,
    legend,
)
from relubench.analysis.stats import Comparison
from relubench.runfolder import printable


def _safe(text: str) -> str:
    """Text from run folders for a Rich table: markup shown as text (`[b, c]` stays), control
    characters escaped."""
    from rich.markup import escape

    return escape(printable(str(text)))


# Columns a narrow terminal leaves out first, in order, by the start of their header (keys, n,
# the accuracies and the verdict always stay).
NARROW_DROP = [
    "95% CI", "runner-up", "g", "p", "best acc %", "s/epoch", "dead init %", "α last",
    "α first", "TOST Holm", "p Holm", "Δ", "dead end %",
]  # fmt: skip


def _named(header: str, name: str) -> bool:
    """`Δ vs relu [95% CI]` is the column `Δ`; `p` is not `p Holm`."""
    return header == name or header.startswith(name + " ") and name in ("Δ", "runner-up")


def _fit(header: list[str], rows: list[list[str]], width: int) -> list[int]:
    """Indices of the columns that fit `width` unwrapped, dropping NARROW_DROP in order."""

    def need(cols: list[int]) -> int:  # the heavy-head box: 3 characters per column, plus 1
        widths = [
            max([len(r[i]) for r in rows] + [len(w) for w in header[i].split()]) for i in cols
        ]
        return sum(widths) + 3 * len(cols) + 1

    cols = list(range(len(header)))
    for name in NARROW_DROP:
        if need(cols) <= width:
            break
        cols = [i for i in cols if not _named(header[i], name)]
    return cols


def rich_tables(comp: Comparison, width: int = 200) -> list[Any]:
    """The terminal tables (rich.table.Table): groups, then the runs shown apart.

    Numbers are never wrapped or cut: a terminal narrower than the table gets fewer columns,
    and the caption says which were left out.
    """
    from rich.table import Table

    tables = []
    if comp.groups:
        header, rows = display_header(comp), display_rows(comp)
        cols = _fit(header, rows, width)
        dropped = [header[i] for i in range(len(header)) if i not in cols]
        caption = legend(comp) + (f". {flag_legend(comp)}" if flag_legend(comp) else "")
        if dropped:
            caption += (
                f". Left out for this terminal's width: {', '.join(dropped)} "
                "(widen it, or use --format markdown)"
            )
        by = ", ".join(comp.keys) or "nothing"
        t = Table(
            title=f"final test accuracy over seeds, grouped by {_safe(by)}",
            caption=_safe(caption),
            caption_justify="left",
        )
        for i in cols:
            # A header wider than its numbers is stacked word by word, so the table stays as
            # narrow as its numbers; nothing is ever wrapped or cut.
            wide = len(header[i]) > max(len(r[i]) for r in rows)
            t.add_column(
                _safe(header[i]).replace(" ", "\n") if wide else _safe(header[i]),
                justify="left" if i < len(comp.keys) else "right",
                no_wrap=True,
            )
        for i, row in enumerate(rows):
            bold = i == 0 and len(rows) > 1  # the best group
            t.add_row(*(_safe(row[c]) for c in cols), style="bold" if bold else None)
        tables.append(t)
    rows = apart_rows(comp)
    if rows:
        t = Table(title="runs not in the means (status not complete)", title_style="yellow")
        for h in APART_HEADER:
            t.add_column(h)
        for row in rows:
            t.add_row(*map(_safe, row))
        tables.append(t)
    return tables


def to_text(comp: Comparison, width: int = 200) -> str:
    """The terminal tables as plain text, for `--format table --out FILE`."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False)
    for t in rich_tables(comp, width):
        console.print(t)
    for note in comp.notes:
        console.print(_safe(note))
    return buf.getvalue()
