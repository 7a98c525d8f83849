"""The machine and paper formats of a comparison: markdown, csv, LaTeX, json (and the
terminal table as text). The same cells everywhere (`relubench.analysis.cells`).
"""

from __future__ import annotations

import json
from pathlib import Path

from relubench.analysis.cells import (
    APART_HEADER,
    GROUP_COLUMNS,
    apart_rows,
    display_header,
    display_rows,
    flag_legend,
    legend,
    machine_records,
)
from relubench.analysis.stats import Comparison, missing
from relubench.errors import CompareError
from relubench.runfolder import csv_text, printable

FORMATS = ("table", "markdown", "csv", "latex", "json")
SUFFIX_FORMATS = {".md": "markdown", ".csv": "csv", ".tex": "latex", ".json": "json"}


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(comp: Comparison) -> str:
    header = display_header(comp)
    left = len(comp.keys) + len(comp.tune and [1])  # the keys (and the tuned value): text
    lines = [
        _md_row(header),
        "|"
        + "|".join("---" if i < left or h == "verdict" else "---:" for i, h in enumerate(header))
        + "|",
        *(_md_row(r) for r in display_rows(comp)),
        "",
        f"_{legend(comp)}._",
        *(["", f"_{flag_legend(comp)}._"] if flag_legend(comp) else []),
    ]
    rows = apart_rows(comp)
    if rows:
        lines += ["", "Runs not in the means (status not complete):", ""]
        lines += [_md_row(APART_HEADER), "|" + "---|" * len(APART_HEADER)]
        lines += [_md_row(r) for r in rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(c, c) for c in text)
    return (
        text.replace("±", r"$\pm$")
        .replace("–", "--")
        .replace("α", r"$\alpha$")
        .replace("<", r"$<$")
    )


def to_latex(comp: Comparison) -> str:
    """A booktabs tabular, ready for \\input{} (needs \\usepackage{booktabs})."""
    header = display_header(comp)
    align = "l" * len(comp.keys) + "r" * (len(header) - len(comp.keys))
    lines = [
        f"% relubench compare: {legend(comp)}",
        *([f"% {flag_legend(comp)}"] if flag_legend(comp) else []),
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(_latex(h) for h in header) + " \\\\",
        "\\midrule",
        *(" & ".join(_latex(c) for c in r) + " \\\\" for r in display_rows(comp)),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def to_csv(comp: Comparison) -> str:
    columns = [*comp.keys, *(c for c, _ in GROUP_COLUMNS)]
    return csv_text(columns, machine_records(comp))


def to_json(comp: Comparison) -> str:
    groups = machine_records(comp)
    for rec, g in zip(groups, comp.groups, strict=True):
        rec["runs"] = g["run_ids"]
    apart = [
        {
            "run_id": r["run_id"],
            "status": r["status"],
            "epochs_done": None if missing(r["epochs_done"]) else int(r["epochs_done"]),
            "epochs": None if missing(r["epochs_planned"]) else int(r["epochs_planned"]),
            "final_acc_pct": None
            if missing(r["final_test_acc"])
            else round(100 * r["final_test_acc"], 2),
            "error": r["error"],
            "path": printable(r["path"]),
        }
        for r in comp.apart
    ]
    doc = {
        "by": comp.keys,
        "baseline": comp.baseline,
        "groups": groups,
        "apart": apart,
        "skipped": [{"path": printable(p), "reason": printable(why)} for p, why in comp.skipped],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_text(comp: Comparison, width: int = 200) -> str:
    """The terminal tables as plain text, for `--format table --out FILE`."""
    from relubench.analysis.terminal import to_text

    return to_text(comp, width)


RENDERERS = {
    "table": to_text,
    "markdown": to_markdown,
    "csv": to_csv,
    "latex": to_latex,
    "json": to_json,
}


def pick_format(fmt: str | None, out: str | Path | None) -> str:
    """The format asked for, else the one --out's suffix implies, else the terminal table."""
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise CompareError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    if out:
        return SUFFIX_FORMATS.get(Path(out).suffix.lower(), "table")
    return "table"


def render(comp: Comparison, fmt: str) -> str:
    return RENDERERS[fmt](comp)
