"""Statistics: runs -> groups (what differs except the seed) -> mean ± std, CI and tests.

Per group (the runs that differ only in seed and runtime keys): n, mean ± sample std (ddof 1)
of final and best test accuracy, a t-based 95% confidence interval of the mean final accuracy,
and Welch's t-test of final accuracy against the baseline group (unequal variances: seeds of
different activations need not spread alike). With n = 1 there is no spread, so std, CI and p
are missing ("–"), never a made-up number. Computed on plain dicts; scipy is imported only
when used, so `relubench compare` starts fast. Torch-free.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relubench.analysis.inference import (
    MARGIN,
    detectable_difference,
    hedges_g,
    holm,
    interval,
    outcome,
    p_value,
    paired,
    tost,
    welch,
)
from relubench.analysis.load import Row, load_rows
from relubench.analysis.tune import Choice, check_tunable, choose, describe
from relubench.config import RUNTIME_KEYS
from relubench.errors import CompareError

DEFAULT_BASELINE = "relu"


@dataclass
class Comparison:
    """Everything a table, figure or report needs, computed once."""

    keys: list[str]  # the config keys the runs are grouped by
    config_keys: list[str]  # every config key of the runs, in config order
    runs: list[Row]  # every readable run: config keys, results, `group`, `in_means`
    groups: list[Row]  # one per group, best first: see group_stats
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    baseline: str | None = None  # the baseline group's key value, e.g. "relu"
    notes: list[str] = field(default_factory=list)  # for people, printed after the table
    tune: list[str] = field(default_factory=list)  # keys chosen per group on validation
    selected_on: str = "test"  # where the best epoch was chosen: val, test, or val/test
    margin: float = MARGIN  # the smallest difference of accuracy that matters (a fraction)

    @property
    def included(self) -> list[Row]:
        """The runs that go into the means."""
        return [r for r in self.runs if r["in_means"]]

    @property
    def apart(self) -> list[Row]:
        """Runs shown apart: not complete (unless --include-incomplete) or without an accuracy."""
        return sorted(
            (r for r in self.runs if not r["in_means"] and not r.get("tuned_out")),
            key=lambda r: (r["status"], r["run_id"]),
        )

    @property
    def has_val(self) -> bool:
        return any(not missing(g["val_acc"]) for g in self.groups)


def group_keys(runs: list[Row], config_keys: list[str], by: list[str] | None) -> list[str]:
    """`by` checked against the config keys, or every identity key whose value differs."""
    if by:
        unknown = [k for k in by if k not in config_keys]
        if unknown:
            raise CompareError(
                f"--by {','.join(unknown)}: not a config key of these runs; choose from: "
                f"{', '.join(config_keys)}"
            )
        return list(dict.fromkeys(by))
    identity = [k for k in config_keys if k != "seed" and k not in RUNTIME_KEYS]
    # a key that does not apply to a run (None: slope_lr of a relu run) differs from nothing
    differing = [k for k in identity if len({text(r[k]) for r in runs if r.get(k) is not None}) > 1]
    # Nothing differs (one activation over seeds): still label the one group by its activation.
    return differing or [k for k in ("act",) if k in config_keys]


def label(values: tuple | list) -> str:
    """A group's name for people: its key values joined, e.g. `prelu` or `leaky, 0.25`; a key
    that does not apply to the group (None: `leaky_slope` of `relu`) is left out."""
    return ", ".join(text(v) for v in values if v is not None) or "all runs"


def text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)  # 1.0 stays 1.0, like the config
    return str(value)


def t_quantile(df: float, q: float = 0.975) -> float:
    """Student t quantile. scipy.special, not scipy.stats: the latter costs ~0.5 s to import."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (same as scipy.stats.ttest_ind(equal_var=False)).

    None when either side has fewer than 2 values, or neither side has any spread.
    """
    return p_value(welch(a, b))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _std(values: list[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return math.sqrt(sum((x - m) ** 2 for x in values) / (n - 1))


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _values(runs: list[Row], column: str) -> list[float]:
    return [float(r[column]) for r in runs if not missing(r.get(column))]


def _parse_baseline(baseline: str | None, keys: list[str], groups: list[tuple]) -> tuple:
    """(key index, value text) of the baseline, or (None, text) if it matches no group."""
    wanted = baseline or DEFAULT_BASELINE
    key, sep, value = wanted.partition("=")
    if sep:
        if key not in keys:
            return None, wanted
        candidates = [keys.index(key)]
    else:
        value, candidates = wanted, list(range(len(keys)))
    for i in candidates:
        if any(text(g[i]).lower() == value.lower() for g in groups):
            return i, value
    return None, wanted


def _baseline_of(k: tuple, groups: list[tuple], idx: int, base_value: str) -> tuple | str | None:
    """The baseline of group `k`: the group with the same values on the other keys and the
    baseline value on its own; "baseline" when `k` is it, None when there is none. A key that
    does not apply to the baseline (None: `leaky_slope` of `relu`) matches any value."""
    base = next(
        (
            b
            for b in groups
            if text(b[idx]).lower() == base_value.lower()
            and all(None in (b[j], k[j]) or b[j] == k[j] for j in range(len(k)) if j != idx)
        ),
        None,
    )
    return "baseline" if base == k else base


def pair_seeds(
    mine: Sequence[tuple[Any, Any]], theirs: Sequence[tuple[Any, Any]], every: bool = True
) -> tuple[list[Any], list[Any]] | None:
    """Two sides' (seed, item) seed by seed, over the seeds both ran: runs of one seed share
    their data order and init seed, so a comparison of them is paired. None when a seed is on
    a side twice, fewer than two seeds are common, or (`every`) the two sides' seeds differ."""
    a, b = dict(mine), dict(theirs)
    common = sorted(set(a) & set(b), key=str)
    if len(a) != len(mine) or len(b) != len(theirs) or len(common) < 2:
        return None
    if every and set(a) != set(b):
        return None
    return [a[s] for s in common], [b[s] for s in common]


def seed_pairs(mine: list[Row], theirs: list[Row]) -> tuple[list[float], list[float]] | None:
    """Two groups' final accuracies seed by seed, when both ran the same two or more seeds,
    each once (`pair_seeds`); None otherwise."""
    return pair_seeds([(r["seed"], r["final_test_acc"]) for r in mine],
                      [(r["seed"], r["final_test_acc"]) for r in theirs])  # fmt: skip


def _group_row(
    k: tuple,
    grouped: dict[tuple, list[Row]],
    keys: list[str],
    base: tuple | str | None,
    choice: Choice | None,
    margin: float = MARGIN,
) -> tuple[Row, tuple[list[float], list[float], bool] | None]:
    """One group's row: its accuracy over seeds, and against its baseline group `base`: paired
    by seed where both ran the same seeds, else by Welch's test. With the row, what was tested:
    (its values, the baseline's, paired?), or None."""
    g = grouped[k]
    final = _values(g, "final_test_acc")
    n, mean, std = len(final), _mean(final), _std(final)
    ci = None if std is None else t_quantile(n - 1) * std / math.sqrt(n)
    against = _values(grouped[base], "final_test_acc") if isinstance(base, tuple) else []
    vs = "baseline" if base == "baseline" else label(base) if isinstance(base, tuple) else None
    pairs = seed_pairs(g, grouped[base]) if against else None
    tested = (*pairs, True) if pairs else (final, against, False) if against else None
    parts = None if tested is None else (paired if tested[2] else welch)(tested[0], tested[1])
    best = _values(g, "best_test_acc")
    diff = mean - _mean(against) if against else None
    ci_diff = interval(parts)
    val = _values(g, "final_val_acc")
    row = {
        "group": label(k),
        **dict(zip(keys, k, strict=True)),
        "n": n,
        "final_acc": mean,
        "final_acc_std": std,
        # Accuracy lives in [0, 1]; the symmetric t-interval can overshoot: clipped.
        "final_acc_ci95_lo": None if ci is None else max(0.0, mean - ci),
        "final_acc_ci95_hi": None if ci is None else min(1.0, mean + ci),
        "val_acc": _mean(val) if len(val) == n else None,
        "val_acc_std": _std(val) if len(val) == n else None,
        "best_acc": _mean(best),
        "best_acc_std": _std(best),
        "dead_init": _mean(_values(g, "init_dead_frac")),
        "dead_final": _mean(_values(g, "final_dead_frac")),
        "alpha_first": _mean(_values(g, "alpha_first")),
        "alpha_last": _mean(_values(g, "alpha_last")),
        "s_per_epoch": _mean(_values(g, "seconds_per_epoch")),
        "diff": diff,
        "diff_ci95_lo": None if ci_diff is None else ci_diff[0],
        "diff_ci95_hi": None if ci_diff is None else ci_diff[1],
        "hedges_g": hedges_g(final, against) if against else None,
        "p_welch": p_value(parts),  # the paired test's p where `test` is paired
        "p_tost": tost(parts, margin),
        "test": None if not against else "paired" if pairs else "welch",
        "vs": vs,
        **describe(choice, text),
        "run_ids": sorted(r["run_id"] for r in g),
    }
    return row, tested


def group_stats(
    runs: list[Row],
    keys: list[str],
    baseline: str | None = None,
    choices: dict[tuple, Choice] | None = None,
    margin: float = MARGIN,
) -> tuple[list[Row], str | None]:
    """One row per group of the runs in the means, sorted by mean final accuracy (best first),
    with its difference from the baseline group (`relubench.analysis.inference`) and, with
    `choices` (`--tune`), the value chosen on validation.

    Fractions stay fractions here; the formats turn them into percent.
    Returns (table, baseline value) where the value is None if no group matches the baseline.
    """
    grouped: dict[tuple, list[Row]] = {}
    for r in runs:
        if r["in_means"]:
            grouped.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    if not grouped:
        return [], None
    idx, base_value = _parse_baseline(baseline, keys, list(grouped))
    made = [
        _group_row(k, grouped, keys, base, (choices or {}).get(k), margin)
        for k in grouped
        for base in [None if idx is None else _baseline_of(k, list(grouped), idx, base_value)]
    ]
    rows = [row for row, _ in made]
    tests = sum(r["p_welch"] is not None for r in rows)
    welch_holm, tost_holm = holm([r["p_welch"] for r in rows]), holm([r["p_tost"] for r in rows])
    for (row, tested), p_adj, t_adj in zip(made, welch_holm, tost_holm, strict=True):
        row.update(p_holm=p_adj, p_tost_holm=t_adj, verdict=outcome(row["diff"], p_adj, t_adj))
        # what these seeds could have told, where they told nothing
        undecided = row["verdict"] == "not determined" and tested is not None
        row["detectable"] = (
            detectable_difference(tested[0], tested[1], tests, pairs=tested[2])
            if undecided
            else None
        )
    # Best first; ties by best accuracy, then by name, so the order never depends on file order.
    rows.sort(key=lambda r: (-(r["best_acc"] or 0), r["group"]))
    rows.sort(key=lambda r: -r["final_acc"])  # stable: keeps the tie order above
    return rows, (base_value if idx is not None else None)


SPREAD = 3.0  # a group's std past this many times the median group std is flagged


def flag_unstable(groups: list[Row], runs: list[Row], config_keys: list[str]) -> None:
    """Mark groups whose numbers are no verdict: `diverged` (a run of the same experiment,
    another seed, diverged), `spread` (seeds disagree: std > SPREAD x the median std of the
    groups), so 81.5 ± 6.2 is never read as a verdict without a word, and `data` (its runs
    read a copy of the dataset that is not the registry's: `data_id`)."""
    keys = [k for k in config_keys if k != "seed" and k not in RUNTIME_KEYS]

    def experiment(r: Row) -> tuple:
        return tuple(text(r.get(k)) for k in keys)

    diverged = {experiment(r) for r in runs if r["status"] == "diverged"}
    flagged = {r["group"] for r in runs if r["in_means"] and experiment(r) in diverged}
    other_data = {r["group"] for r in runs if r["in_means"] and r.get("data_id")}
    stds = sorted(g["final_acc_std"] for g in groups if g["final_acc_std"] is not None)
    median = stds[len(stds) // 2] if len(stds) >= 3 else None
    for g in groups:
        flags = ["diverged"] if g["group"] in flagged else []
        std = g["final_acc_std"]
        if median and std is not None and std > SPREAD * median:
            flags.append("spread")
        if g["group"] in other_data:
            flags.append("data")
        g["flags"] = flags


def nothing_to_compare(paths: list[str | Path], skipped: list[tuple[str, str]]) -> CompareError:
    """The error when `paths` hold no readable run (compare and load_runs alike)."""
    given = dict.fromkeys(os.path.normpath(str(p)) for p in paths)
    if all(path in given for path, _ in skipped):  # said in the line itself, no warning
        where = ", ".join(f"{path} ({why})" for path, why in skipped) or ", ".join(given)
        skipped = []
    else:
        where = f"{', '.join(given)} ({len(skipped)} skipped: see the warning)"
    return CompareError(
        f"no runs to compare under {where}; a run folder holds summary.json "
        f"(`relubench train --out DIR` writes them)",
        skipped,
    )


def _notes(
    included: list[Row],
    groups: list[Row],
    tune: list[str],
    baseline: str | None,
    base_value: str | None,
) -> list[str]:
    """What a reader of the table must know: groups lost to --tune, an unmatched baseline."""
    notes = []
    if tune:
        lost = sorted({r["group"] for r in included} - {g["group"] for g in groups})
        if lost:
            notes.append(
                f"{', '.join(lost)}: every value of {','.join(tune)} had a diverged seed; "
                "nothing to choose"
            )
    if baseline and base_value is None and groups:
        notes.append(f"baseline {baseline!r} matches no group; p-values left out")
    if not groups:
        notes.append(
            "no complete runs yet; pass --include-incomplete to compare the runs shown apart"
        )
    return notes


def build_comparison(
    paths: list[str | Path],
    by: list[str] | None = None,
    baseline: str | None = None,
    include_incomplete: bool = False,
    tune: list[str] | None = None,
    margin: float = MARGIN,
) -> Comparison:
    """Load every run under `paths`, group, and compute the statistics; with `tune`, each
    group's value of those keys is chosen on validation accuracy (`relubench.analysis.tune`).

    Raises CompareError only when nothing at all can be compared (no readable run), `--by`
    or `--tune` names an unknown key, or `--tune` meets runs without a validation split;
    malformed folders are collected in `skipped`, not fatal.
    """
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise CompareError(f"--margin must be a number of points >= 0, got {100 * margin!r}")
    runs, config_keys, skipped = load_rows(paths)
    if by is not None:
        by = [k.strip() for k in by if k.strip()]
    if not runs:
        raise nothing_to_compare(paths, skipped)
    # A run enters the means when complete, or with --include-incomplete when it has a number.
    for r in runs:
        r["in_means"] = r["final_test_acc"] is not None and (
            r["status"] == "complete" or include_incomplete
        )
    tune = list(dict.fromkeys(k.strip() for k in tune or [] if k.strip()))
    included = [r for r in runs if r["in_means"]]
    try:
        if tune:
            check_tunable(included, tune, config_keys)
            if by and set(by) & set(tune):
                raise CompareError(f"--by and --tune share {sorted(set(by) & set(tune))[0]}")
        keys = group_keys(included, [k for k in config_keys if k not in tune], by)
    except CompareError as e:
        raise CompareError(str(e), skipped) from None
    choices = choose(runs, keys, tune, config_keys) if tune else None
    for r in runs:
        r["group"] = label([r.get(k) for k in keys])
    groups, base_value = group_stats(runs, keys, baseline, choices, margin)
    flag_unstable(groups, runs, config_keys)
    notes = _notes(included, groups, tune, baseline, base_value)
    on = {r["selected_on"] for r in runs if r["in_means"]}
    selected_on = "/".join(sorted(on, reverse=True)) if on else "test"
    return Comparison(
        keys,
        config_keys,
        runs,
        groups,
        skipped,
        base_value,
        notes,
        tune or [],
        selected_on,
        margin,
    )
