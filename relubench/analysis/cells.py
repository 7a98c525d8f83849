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
    ("flags", None),  # diverged, spread, data: see FLAG_NOTES
    # added later, appended so that earlier columns keep their places
    ("best_epoch_on", None),  # val or test: where each run's best epoch was chosen
    ("val_acc_pct", 2),
    ("val_acc_std_pct", 2),
    ("tuned", None),  # --tune: the value chosen on validation (the tuned keys' values)
    ("tuned_val_acc_pct", 2),
    ("runner_up", None),
    ("runner_up_val_acc_pct", 2),
    ("ineligible", None),  # tuned values with a diverged seed, ";"-separated
    ("diff_pct", 2),  # mean final accuracy minus the baseline group's, percentage points
    ("diff_ci95_lo_pct", 2),
    ("diff_ci95_hi_pct", 2),
    ("hedges_g", 3),
    ("p_holm", None),  # 4 significant digits
    ("verdict", None),  # better / worse / equivalent / not determined (0.05 after Holm)
    ("detectable_pct", 2),  # not determined: what these seeds detect (80% power, Holm's alpha/m)
    ("p_tost", None),  # the TOST p that the difference lies inside +-margin
    ("p_tost_holm", None),
    ("margin_pct", 2),  # the margin: the smallest difference that matters
    ("test", None),  # paired (by seed: the same seeds on both sides) or welch
]
FLAG_MARK = "†"
FLAG_NOTES = {
    "diverged": "a seed of this experiment diverged (see the runs apart)",
    "spread": "seeds disagree: std over 3x the median group std",
    "data": "its runs read a copy of the dataset that is not the official files (data_id)",
}


def legend(comp: Comparison) -> str:
    """One line saying what every column means, for this comparison."""
    base = comp.baseline or "the baseline"
    parts = [
        "mean ± std over seeds; 95% CI: t-interval of the mean final accuracy (clipped to "
        "[0, 100])",
        f"best: test accuracy at each run's best epoch, chosen on {_ON[comp.selected_on]}",
        "dead: units never positive on the probe set, at init and at the end; α: final mean "
        "PReLU slope of the first and last activation layer",
        f"Δ: mean final accuracy minus {base}'s, with its 95% CI, paired by seed where both "
        "groups ran the same seeds (their runs share data order and init seed), else Welch's; "
        f"g: Hedges' g; p: the t-test against {base} (is Δ not 0?), Holm-adjusted across the "
        f"{_tested(comp)} groups compared; TOST: the two one-sided t-tests that Δ lies "
        f"inside ±{100 * comp.margin:.2f} points (the margin: smaller differences do not "
        "matter), Holm-adjusted; verdict at α = 0.05: equivalent (TOST), else better or worse "
        "(p), else not determined, with the difference these seeds would detect with 80% "
        f"power at Holm's first-step level α / {max(1, _tested(comp))}",
    ]
    if comp.tune:
        keys = ", ".join(comp.tune)
        parts.insert(
            0,
            f"{keys} (tuned): per group, the value with the best mean final validation "
            f"accuracy (ties: the smaller; values with a diverged seed ineligible), never "
            f"chosen on test; val: that mean; runner-up: the next value and its validation "
            f"accuracy",
        )
    return "; ".join(parts)


_ON = {
    "val": "validation",
    "test": "test (optimistic: no validation split)",
    "val/test": "validation where the run has a split, else on test",
}


def _tested(comp: Comparison) -> int:
    return sum(not missing(g["p_welch"]) for g in comp.groups)


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
    vs = f" vs {comp.baseline}" if comp.baseline else ""
    return [
        *comp.keys,
        *([f"{', '.join(comp.tune)} (tuned)"] if comp.tune else []),
        "n",
        *(["val acc %"] if comp.has_val else []),
        "final acc %",
        "95% CI",
        "best acc %",
        "dead init %",
        "dead end %",
        "α first",
        "α last",
        "s/epoch",
        *(["runner-up (val %)"] if comp.tune else []),
        f"Δ{vs} [95% CI]",
        "g",
        "p",
        "p Holm",
        "TOST Holm",
        "verdict",
    ]


def flag_legend(comp: Comparison) -> str:
    """The footnote of the flag mark, when a group carries one: which groups, and why."""
    flagged = [(g["group"], f) for g in comp.groups for f in g["flags"]]
    if not flagged:
        return ""
    parts = [f"{group}: {FLAG_NOTES[f]}" for group, f in flagged]
    return f"{FLAG_MARK} not a verdict: " + "; ".join(parts)


def _verdict(r: dict[str, Any]) -> str:
    if r["vs"] == "baseline":
        return "baseline"
    if r["verdict"] is None:
        return "–"
    if r["verdict"] == "not determined" and not missing(r["detectable"]):
        return f"not determined (detects ±{_pct(r['detectable'])})"
    return r["verdict"]


def display_rows(comp: Comparison) -> list[list[str]]:
    """The table for people: the same cells in the terminal, markdown, LaTeX and HTML."""
    rows = []
    for r in comp.groups:
        ci = (
            "–"
            if missing(r["final_acc_ci95_lo"])
            else f"[{_pct(r['final_acc_ci95_lo'])}, {_pct(r['final_acc_ci95_hi'])}]"
        )
        if missing(r["diff"]):
            diff = "baseline" if r["vs"] == "baseline" else "–"
        else:
            diff = f"{100 * r['diff']:+.2f}"
            if not missing(r["diff_ci95_lo"]):
                diff += f" [{100 * r['diff_ci95_lo']:+.2f}, {100 * r['diff_ci95_hi']:+.2f}]"
        runner_up = "–"
        if comp.tune and r.get("runner_up") is not None:
            runner_up = f"{r['runner_up']} ({_pct(r['runner_up_val_acc'])})"
        rows.append(
            [
                *("–" if r[k] is None else text(r[k]) for k in comp.keys),
                *([r.get("tuned") or "–"] if comp.tune else []),
                str(r["n"]),
                *([f"{_pct(r['val_acc'])} ± {_pct(r['val_acc_std'])}"] if comp.has_val else []),
                f"{_pct(r['final_acc'])} ± {_pct(r['final_acc_std'])}"
                + (FLAG_MARK if r["flags"] else ""),
                ci,
                f"{_pct(r['best_acc'])} ± {_pct(r['best_acc_std'])}",
                _pct(r["dead_init"], 1),
                _pct(r["dead_final"], 1),
                _fixed(r["alpha_first"], 3),
                _fixed(r["alpha_last"], 3),
                _fixed(r["s_per_epoch"], 3),
                *([runner_up] if comp.tune else []),
                diff,
                _fixed(r["hedges_g"], 2),
                "–" if r["vs"] == "baseline" else p_text(r["p_welch"]),
                "–" if r["vs"] == "baseline" else p_text(r["p_holm"]),
                "–" if r["vs"] == "baseline" else p_text(r["p_tost_holm"]),
                _verdict(r),
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
    """Group rows for csv and json: percent for accuracies, fractions and differences, fixed
    rounding."""
    out = []
    for r in comp.groups:
        rec: dict[str, Any] = {k: r[k] for k in comp.keys}
        for col, digits in GROUP_COLUMNS:
            source = col.removesuffix("_pct")
            value = r.get(source)
            if col == "best_epoch_on":
                value = comp.selected_on
            elif col == "margin_pct":
                value = round(100 * comp.margin, digits) if r["vs"] is not None else None
            elif col == "flags":
                value = ",".join(value) or None
            elif col == "ineligible":
                value = ";".join(value or []) or None
            elif missing(value):
                value = None
            elif col.startswith("p_"):
                value = float(f"{value:.4g}")
            elif col.endswith("_pct"):
                value = round(100 * value, digits)
            elif digits is not None:
                value = round(value, digits)
            rec[col] = value
        out.append(rec)
    return out
