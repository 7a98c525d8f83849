"""The regime map: in each setting of each folder (a study's, or a folder of run folders), each
activation's test accuracy minus ReLU's, paired by seed, with its 95% interval, what that says
against a margin, and the mechanism's numbers beside it: dead units, PReLU's slopes, and the
share of runs that failed to train (diverged or stayed at chance).

A study folder's runs are read as its verdicts read them (`Study.tune` applied: each setting at
its chosen value); a setting is the values of the config keys that vary among a folder's runs,
the activation's keys (act, leaky_slope), the seed and the tuned keys aside. Descriptive: 95%
intervals per cell, no correction across the map's cells (the studies' verdicts carry the
tests). Torch-free; the figure is drawn by `relubench.analysis.study_figures`' style."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from relubench.analysis.inference import interval, one_sample
from relubench.analysis.load import find_runs, load_rows
from relubench.analysis.stats import text
from relubench.analysis.study_runs import (
    Relative,
    StudyRun,
    matches,
    read_runs,
    setting_text,
    value,
)
from relubench.analysis.study_tune import read_tuned
from relubench.analysis.tune import value_order
from relubench.analysis.verdict_files import read_verdict
from relubench.config import RUNTIME_KEYS
from relubench.errors import CompareError
from relubench.files import atomic_write
from relubench.registry.studies import Measure, get_study

BASELINE = {"act": "relu"}
ACT_KEYS = ("act", "leaky_slope")  # what tells the activations apart
ACC = Measure(metric="test_acc", epoch="last")
DEAD = Measure(metric="dead_frac", epoch="last")
SLOPE = Measure(metric="alpha_mean", layers="all", epoch="last")
FAILED = Measure(metric="failed", epoch="last")
NOT_SETTING = {"seed", "out", "run_id", *RUNTIME_KEYS, *ACT_KEYS}


@dataclass
class Cell:
    """One activation in one setting of one regime, against ReLU there (points: 0-100)."""

    regime: str
    setting: str
    act: str
    n: int  # seeds paired (both runs complete)
    diff: float | None  # mean accuracy difference, points
    low: float | None
    high: float | None
    outcome: str
    acc: float | None  # the activation's mean test accuracy, %
    relu_acc: float | None
    dead: float | None  # mean dead fraction at the end, %
    relu_dead: float | None
    slope: float | None  # PReLU: mean learned slope over the layers
    failed: str  # "k/n" runs failed to train (diverged or at chance)
    relu_failed: str


def outcome(low: float | None, high: float | None, margin: float) -> str:
    """What the 95% interval says against the margin (points)."""
    if low is None or high is None:
        return "no interval"
    if low > margin:
        return "ahead"
    if high < -margin:
        return "behind"
    if -margin <= low and high <= margin:
        return f"tie (within ±{max(abs(low), abs(high)):.2g})"
    return "not determined"


def _folder(folder: Path) -> tuple[str, list[StudyRun], list[str]]:
    """A folder's label, its runs (a study's tuned as its verdicts read them), and the keys
    that tell its settings apart."""
    doc = read_verdict(folder)
    if doc is not None:
        study = get_study(doc["study"])
        runs, _, _ = read_tuned(study, find_runs([folder / "runs"])[0])
        return study.name, runs, [k for k in study.setting_keys if k not in study.tune]
    _, config_keys, _ = load_rows([folder])
    runs, _ = read_runs(find_runs([folder])[0])
    # a key that some runs lack is an activation's parameter (elu_alpha, prelu_init, ...)
    every = [k for k in config_keys if all(r.config.get(k) is not None for r in runs)]
    return folder.name, runs, [k for k in every if k not in NOT_SETTING]


def _mean(runs: Sequence[StudyRun], measure: Measure, scale: float = 100.0) -> float | None:
    values = [value(r, measure) for r in runs if r.has(measure)]
    return scale * sum(values) / len(values) if values else None  # type: ignore[arg-type]


def _failed(runs: Sequence[StudyRun]) -> str:
    return f"{sum(value(r, FAILED) for r in runs):.0f}/{len(runs)}"  # type: ignore[misc]


def _slope(runs: Sequence[StudyRun]) -> float | None:
    complete = [
        r for r in runs if r.status == "complete" and str(r.config.get("act")).startswith("prelu")
    ]
    return _mean(complete, SLOPE, 1.0) if complete else None


def cells(folder: Path, margin: float) -> list[Cell]:
    """Every activation in every setting of `folder` against ReLU there."""
    label, runs, keys = _folder(Path(folder))
    keys = [k for k in keys if k not in ACT_KEYS and len({str(r.config.get(k)) for r in runs}) > 1]
    rel = Relative(runs, BASELINE, keys)
    settings: dict[str, dict[str, list[StudyRun]]] = {}
    runs = sorted(runs, key=lambda r: value_order(tuple(r.config.get(k) for k in keys)))
    for r in runs:
        group = " ".join(text(r.config[k]) for k in ACT_KEYS if r.config.get(k) is not None)
        settings.setdefault(setting_text(r, keys), {}).setdefault(group, []).append(r)
    out = []
    for where, groups in settings.items():
        where = where or setting_text(next(iter(groups.values()))[0], ("dataset", "model", "norm"))
        relu = next((rs for g, rs in groups.items() if matches(rs[0], BASELINE)), [])
        for group, rs in sorted(groups.items()):
            if rs is relu:
                continue
            diffs = [100 * rel(r, ACC) for r in rs if rel.has(r, ACC)]
            ci = interval(one_sample(diffs))
            low, high = ci if ci else (None, None)
            out.append(Cell(
                regime=label, setting=where, act=group, n=len(diffs),
                diff=sum(diffs) / len(diffs) if diffs else None, low=low, high=high,
                outcome=outcome(low, high, margin) if diffs else f"no pairs ({_failed(rs)} failed)",
                acc=_mean(rs, ACC), relu_acc=_mean(relu, ACC),
                dead=_mean(rs, DEAD), relu_dead=_mean(relu, DEAD), slope=_slope(rs),
                failed=_failed(rs), relu_failed=_failed(relu),
            ))  # fmt: skip
    if not out:
        raise CompareError(f"{folder}: no runs of an activation beside ReLU's to compare")
    return out


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


HEADER = ("regime", "setting", "activation", "Δ accuracy vs ReLU, points [95% CI], n",
          "against ±{margin:g}", "accuracy % (ReLU)", "dead % (ReLU)", "PReLU slope",
          "failed (ReLU)")  # fmt: skip


def row(c: Cell) -> list[str]:
    """A cell's row of the table, as text."""
    ci = f" [{_num(c.low)}, {_num(c.high)}]" if c.low is not None else ""
    return [c.regime, c.setting, c.act, f"{_num(c.diff, 2)}{ci}, n = {c.n}", c.outcome,
            f"{_num(c.acc)} ({_num(c.relu_acc)})", f"{_num(c.dead)} ({_num(c.relu_dead)})",
            _num(c.slope, 3), f"{c.failed} ({c.relu_failed})"]  # fmt: skip


def markdown(table: Sequence[Cell], margin: float) -> str:
    """The map's table: a row per activation and setting."""
    head = [h.format(margin=margin) for h in HEADER]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(c)) + " |" for c in table]
    return "\n".join(lines) + "\n"


def records(table: Sequence[Cell]) -> list[dict[str, Any]]:
    return [asdict(c) for c in table]


def figure(table: Sequence[Cell], margin: float) -> Any:
    """A forest plot: a row per regime and setting, a point and 95% interval per activation,
    the margin shaded around 0, a symmetric log axis beyond a few points (a net that trains
    against one at chance differs by tens of points; ties are fractions of one)."""
    import matplotlib.ticker

    from relubench.analysis.plots import WIDE, _colors, _figure

    rows = list(dict.fromkeys((c.regime, c.setting) for c in table))
    acts = sorted({c.act for c in table})
    colors = _colors(acts)
    at = {(c.regime, c.setting, c.act): c for c in table}
    fig = _figure((WIDE[0] + 2, 1.2 + 0.42 * len(rows) * max(1, len(acts) / 4)))
    ax = fig.subplots()
    ax.axvspan(-margin, margin, color="0.88", linewidth=0, label=f"±{margin:g} points")
    ax.axvline(0, color="0.4", linewidth=0.8)
    step, named = 0.8 / max(1, len(acts)), set()
    for i, (regime, where) in enumerate(rows):
        for j, act in enumerate(acts):
            c = at.get((regime, where, act))
            if c is None or c.diff is None:
                continue
            y = i + (j - (len(acts) - 1) / 2) * step
            err = None if c.low is None else [[c.diff - c.low], [(c.high or c.diff) - c.diff]]
            ax.errorbar([c.diff], [y], xerr=err, fmt="o", color=colors[act], markersize=3,
                        capsize=2, linewidth=1, label=None if act in named else act)  # fmt: skip
            named.add(act)
    for i, (regime, where) in enumerate(rows):  # say who has no point, and why
        gone = [c.act for c in table if (c.regime, c.setting) == (regime, where) and c.n == 0]
        if gone:
            ax.text(0.01, i, f"no pairs (failed runs): {', '.join(gone)}", fontsize="small",
                    va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    ax.set_yticks(range(len(rows)), [f"{r}: {s}" for r, s in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    lin = max(2.0, 2 * margin)
    ax.set_xscale("symlog", linthresh=lin)
    reach = max([abs(x) for c in table for x in (c.low, c.high, c.diff) if x is not None] or [1])
    ticks = [t for t in (1, 2, 10, 50) if t <= 1.2 * reach or t <= lin]
    ax.set_xticks([-t for t in reversed(ticks)] + [0] + ticks)
    ax.xaxis.set_major_formatter("{x:g}")
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(f"test accuracy minus ReLU's, points (paired by seed; log scale beyond ±{lin:g})")
    ax.set_title("Where the activation matters: accuracy relative to ReLU, 95% intervals")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def regime_map(folders: Sequence[str | Path], margin: float) -> list[Cell]:
    """The map's cells, folder by folder (CompareError for one that is not there)."""
    if not math.isfinite(margin) or margin < 0:
        raise CompareError(f"--margin {margin:g}: give a number of points >= 0, e.g. 1")
    table: list[Cell] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise CompareError(
                f"{folder}: no such folder (give a study folder or a folder of runs)"
            )
        table += cells(Path(folder), margin)
    return table


def write(table: Sequence[Cell], margin: float, out: Path) -> list[Path]:
    """out.md (the table), out.png and out.svg (the figure); returns the files."""
    import matplotlib

    from relubench.analysis.plots import STYLE, save_figure

    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_name(out.name + ".md")
    atomic_write(md, markdown(table, margin))
    with matplotlib.rc_context(STYLE):
        return [md, *save_figure(figure(table, margin), out)]
