"""The table's cells: one formatting of the numbers for every format and for the report.

Fractions are kept as fractions in the statistics; here they become percent with fixed digits.
"""

from __future__ import annotations

from typing import Any

from relubench.analysis.stats import Comparison, missing, text

# The machine-readable table (csv, json): stable names, units in the name, fixed rounding.
GROUP_COLUMNS = [
    ("n", None),
    ("final_acc_pct", 2),
    ("final_acc_std_pct", 2),
    ("final_acc_ci95_lo_pct", 2),
    ("final_acc_ci95_hi_pct", 2),
    ("best_acc_pct", 2),
    ("best_acc_std_pct", 2),
    ("dead_init_pct", 1),
    ("dead_final_pct", 1),
    ("alpha_first", 3),
    ("alpha_last", 3),
    ("s_per_epoch", 3),
    ("p_welch", None),  # 4 significant digits
    ("vs", None),
    ("flags", None),  # diverged, spread: see FLAG_NOTES
]
FLAG_MARK = "†"
FLAG_NOTES = {
    "diverged": "a seed of this experiment diverged (see the runs apart)",
    "spread": "seeds disagree: std over 3x the median group std",
}
LEGEND = (
    "mean ± std over seeds; 95% CI: t-interval of the mean final accuracy (clipped to [0, 100]); "
    "dead: units never positive on the probe set, at init and at the end; α: final mean PReLU "
    "slope of the first and last activation layer; p: Welch's t-test of final accuracy against "
    "the baseline group"
)


def _pct(x: Any, digits: int = 2) -> str:
    return "–" if missing(x) else f"{100 * x:.{digits}f}"


def _fixed(x: Any, digits: int) -> str:
    return "–" if missing(x) else f"{x:.{digits}f}"


def p_text(p: Any) -> str:
    """Conventional and stable: three decimals, or <0.001."""
    if missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def display_header(comp: Comparison) -> list[str]:
    vs = f"p vs {comp.baseline}" if comp.baseline else "p"
    return [
        *comp.keys,
        "n",
        "final acc %",
        "95% CI",
        "best acc %",
        "dead init %",
        "dead end %",
        "α first",
        "α last",
        "s/epoch",
        vs,
    ]


def flag_legend(comp: Comparison) -> str:
    """The footnote of the flag mark, when a group carries one: which groups, and why."""
    flagged = [(g["group"], f) for g in comp.groups for f in g["flags"]]
    if not flagged:
        return ""
    parts = [f"{group}: {FLAG_NOTES[f]}" for group, f in flagged]
    return f"{FLAG_MARK} not a verdict: " + "; ".join(parts)


def display_rows(comp: Comparison) -> list[list[str]]:
    """The table for people: the same cells in the terminal, markdown, LaTeX and HTML."""
    rows = []
    for r in comp.groups:
        ci = (
            "–"
            if missing(r["final_acc_ci95_lo"])
            else f"[{_pct(r['final_acc_ci95_lo'])}, {_pct(r['final_acc_ci95_hi'])}]"
        )
        p = "baseline" if r["vs"] == "baseline" else p_text(r["p_welch"])
        rows.append(
            [
                *(text(r[k]) for k in comp.keys),
                str(r["n"]),
                f"{_pct(r['final_acc'])} ± {_pct(r['final_acc_std'])}"
                + (FLAG_MARK if r["flags"] else ""),
                ci,
                f"{_pct(r['best_acc'])} ± {_pct(r['best_acc_std'])}",
                _pct(r["dead_init"], 1),
                _pct(r["dead_final"], 1),
                _fixed(r["alpha_first"], 3),
                _fixed(r["alpha_last"], 3),
                _fixed(r["s_per_epoch"], 3),
                p,
            ]
        )
    return rows


APART_HEADER = ["run", "status", "epochs", "final acc %", "reason"]


def apart_rows(comp: Comparison) -> list[list[str]]:
    """Runs not in the means, for people: why each one is apart."""
    rows = []
    for r in comp.apart:
        done = "–" if missing(r["epochs_done"]) else str(int(r["epochs_done"]))
        planned = "–" if missing(r["epochs_planned"]) else str(int(r["epochs_planned"]))
        reason = r["error"] or ("no trained epoch yet" if missing(r["final_test_acc"]) else "")
        rows.append(
            [r["run_id"], r["status"], f"{done}/{planned}", _pct(r["final_test_acc"]), reason]
        )
    return rows


def machine_records(comp: Comparison) -> list[dict[str, Any]]:
    """Group rows for csv and json: percent for accuracies and dead fractions, fixed rounding."""
    out = []
    for r in comp.groups:
        rec: dict[str, Any] = {k: r[k] for k in comp.keys}
        for col, digits in GROUP_COLUMNS:
            source = col.removesuffix("_pct")
            value = r[source]
            if col == "flags":
                value = ",".join(value) or None
            elif missing(value):
                value = None
            elif col == "p_welch":
                value = float(f"{value:.4g}")
            elif col.endswith("_pct"):
                value = round(100 * value, digits)
            elif digits is not None:
                value = round(value, digits)
            rec[col] = value
        out.append(rec)
    return out
