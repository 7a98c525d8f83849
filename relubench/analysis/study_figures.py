"""A study's figures, as its definition lists them (`Study.figures`), from its run folders
alone; the axis labels are the registry's (`relubench.registry.studies.measures`).

layers   a metric per activation layer (x: the layer, 1 = first), mean over seeds with a
         min-max band, one line per group (`by`), for the runs matching `where`
versus   a measure per run (over its `layers`, or of the whole net) against a config key
         (`x`, e.g. depth), mean over seeds with a min-max band, one line per group
epochs   a metrics.csv column per epoch, mean over seeds with a min-max band, per group
relative a measure minus the baseline run's (same seed and setting) against a config key, mean
         and 95% interval of the paired differences per group, the margin shaded around 0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.analysis.inference import interval, one_sample
from relubench.analysis.plots import STYLE, WIDE, _colors, _figure, _integer_epochs, save_figure
from relubench.analysis.stats import text
from relubench.analysis.study_runs import Relative, StudyRun, layer_values, matches, value
from relubench.registry.studies import Figure, Measure
from relubench.registry.studies.measures import MEASURES


def label(metric: str) -> str:
    """A measure's axis label, from the registry's table of measures."""
    info = MEASURES.get(metric)
    return info.label if info is not None else metric


def _groups(runs: Sequence[StudyRun], by: Sequence[str]) -> dict[str, list[StudyRun]]:
    out: dict[str, list[StudyRun]] = {}
    for r in runs:
        values = [r.config.get(k) for k in by]  # a key the run does not have: not said
        out.setdefault(", ".join(text(v) for v in values if v is not None), []).append(r)
    return dict(sorted(out.items()))


def _band(ax: Any, x: list[float], series: list[list[float]], color: Any, label: str) -> None:
    """Mean over the series with a min-max band (series of unequal length: the common part)."""
    n = min(len(s) for s in series)
    cols = [[s[i] for s in series] for i in range(n)]
    ax.plot(x[:n], [sum(c) / len(c) for c in cols], color=color, label=label, marker=".")
    if len(series) > 1:
        ax.fill_between(x[:n], [min(c) for c in cols], [max(c) for c in cols], color=color,
                        alpha=0.2, linewidth=0)  # fmt: skip


def _layers(runs: Sequence[StudyRun], spec: Figure, keys: Sequence[str] = ()) -> Any:
    chosen = [r for r in runs if matches(r, spec.where) and r.status == "complete"]
    groups = _groups(chosen, spec.by)
    colors = _colors(list(groups))
    metrics = spec.metrics
    fig = _figure((WIDE[0], 3.2 * len(metrics)))
    axes = fig.subplots(len(metrics), 1, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=True):
        for name, rs in groups.items():
            series = [layer_values(r, metric, spec.epoch) for r in rs]
            _band(ax, list(range(1, max(map(len, series)) + 1)), series, colors[name], name)
        ax.set_ylabel(label(metric))
        ax.set_xlabel("activation layer")
        _integer_epochs(ax)
    where = ", ".join(f"{k} {text(v)}" for k, v in spec.where.items())
    fig.suptitle(f"per layer at epoch {spec.epoch}" + (f" ({where})" if where else ""))
    axes[0].legend(title=", ".join(spec.by), loc="best")
    return fig


def _one_axes(runs: Sequence[StudyRun], spec: Figure) -> tuple:
    """A figure of one axes, the runs grouped by `by`, a color per group."""
    groups = _groups(runs, spec.by)
    fig = _figure(WIDE)
    return fig, fig.subplots(), groups, _colors(list(groups))


def _log_x(ax: Any, xs: Sequence[float]) -> None:
    """A log x axis ticked at the values run (4, 8, 16, 32: not 10^1)."""
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(xs)) or [1])
    ax.get_xaxis().set_major_formatter("{x:g}")
    ax.minorticks_off()


def _where(spec: Figure) -> str:
    where = ", ".join(f"{k} {text(v)}" for k, v in spec.where.items())
    return f" ({where})" if where else ""


def _versus(runs: Sequence[StudyRun], spec: Figure, keys: Sequence[str] = ()) -> Any:
    measure = Measure(metric=spec.metric or "", layers=spec.layers, epoch=spec.epoch)
    chosen = [r for r in runs if r.has(measure) and matches(r, spec.where)]
    fig, ax, groups, colors = _one_axes(chosen, spec)
    x_key = spec.x or ""
    for name, rs in groups.items():
        xs = sorted({float(r.config[x_key]) for r in rs})
        series = [[value(r, measure) for r in rs if float(r.config[x_key]) == x] for x in xs]
        mean = [sum(s) / len(s) for s in series]
        ax.plot(xs, mean, color=colors[name], label=name, marker="o")
        if not MEASURES[measure.metric].status:  # a share of runs has no spread to draw
            ax.fill_between(xs, [min(s) for s in series], [max(s) for s in series],
                            color=colors[name], alpha=0.2, linewidth=0)  # fmt: skip
    ax.set_xlabel(x_key)
    if spec.log:
        _log_x(ax, [float(r.config[x_key]) for r in chosen])
    ax.set_ylabel(label(measure.metric))
    ax.set_title(f"{label(measure.metric)} against {x_key}{_where(spec)} "
                 f"(epoch {spec.epoch}" + ("; band: min-max over seeds)"
                 if not MEASURES[measure.metric].status else ")"))  # fmt: skip
    ax.legend(title=", ".join(spec.by), fontsize="small")
    return fig


def _relative(runs: Sequence[StudyRun], spec: Figure, keys: Sequence[str] = ()) -> Any:
    """The groups' paired differences from the baseline runs, in points, with 95% intervals;
    groups side by side at each x (a small offset), the margin shaded around 0."""
    measure = Measure(metric=spec.metric or "", epoch=spec.epoch)
    chosen = [r for r in runs if matches(r, spec.where)]
    rel = Relative(chosen, spec.baseline, keys or [spec.x or "", *spec.where])
    mine = [r for r in chosen if not matches(r, spec.baseline) and rel.has(r, measure)]
    fig, ax, groups, colors = _one_axes(mine, spec)
    x_key = spec.x or ""
    ax.axhspan(-100 * spec.band, 100 * spec.band, color="0.85", linewidth=0,
               label=f"margin ±{100 * spec.band:g}")  # fmt: skip
    ax.axhline(0, color="0.4", linewidth=0.8)
    for i, (name, rs) in enumerate(groups.items()):
        xs = sorted({float(r.config[x_key]) for r in rs})
        shift = (i - (len(groups) - 1) / 2) * 0.03
        at, mean, err = [], [], []
        for x in xs:
            diffs = [100 * rel(r, measure) for r in rs if float(r.config[x_key]) == x]
            m = sum(diffs) / len(diffs)
            ci = interval(one_sample(diffs)) or (m, m)
            at.append(x * 10**shift if spec.log else x + shift)
            mean.append(m)
            err.append((m - ci[0], ci[1] - m))
        ax.errorbar(at, mean, yerr=list(zip(*err, strict=True)), color=colors[name], label=name,
                    marker="o", capsize=3, linewidth=1)  # fmt: skip
    ax.set_xlabel(x_key)
    if spec.log:
        _log_x(ax, [float(r.config[x_key]) for r in mine])
    base = ", ".join(f"{k} {text(v)}" for k, v in spec.baseline.items())
    ax.set_ylabel(f"{label(measure.metric)} minus {base}'s (points)")
    ax.set_title(f"{label(measure.metric)} relative to {base}{_where(spec)}: mean and 95% "
                 "interval of the per-seed differences")  # fmt: skip
    ax.legend(title=", ".join(spec.by), fontsize="small")
    return fig


def _epochs(runs: Sequence[StudyRun], spec: Figure, keys: Sequence[str] = ()) -> Any:
    fig, ax, groups, colors = _one_axes([r for r in runs if r.status == "complete"], spec)
    metric = spec.metric or ""
    for name, rs in groups.items():  # the epochs that have the column (not: train loss at 0)
        series = [[float(m[metric]) for m in r.metrics if m.get(metric) is not None] for r in rs]
        epochs = [int(m["epoch"]) for m in rs[0].metrics if m.get(metric) is not None]
        _band(ax, epochs, series, colors[name], name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label(metric))
    _integer_epochs(ax)
    ax.legend(title=", ".join(spec.by))
    return fig


DRAW = {"layers": _layers, "versus": _versus, "epochs": _epochs, "relative": _relative}


def save_study_figures(
    runs: Sequence[StudyRun], specs: Sequence[Figure], folder: Path, keys: Sequence[str] = ()
) -> list[Path]:
    """Every figure of the study into `folder` (PNG + SVG); returns the PNGs. `keys`: the
    config keys a baseline run shares with the run it is subtracted from (and the seed)."""
    import matplotlib

    pngs = []
    with matplotlib.rc_context(STYLE):
        for i, spec in enumerate(specs, 1):
            if not runs:
                break
            fig = DRAW[spec.kind](runs, spec, keys)
            name = spec.name or f"figure{i}-{spec.kind}"
            pngs += [p for p in save_figure(fig, folder / name) if p.suffix == ".png"]
    return pngs
