"""A study's figures, as its definition lists them (`Study.figures`), from its run folders
alone; the axis labels are the registry's (`relubench.registry.studies.measures`).

layers   a metric per activation layer (x: the layer, 1 = first), mean over seeds with a
         min-max band, one line per group (`by`), for the runs matching `where`
versus   a measure per run (over its `layers`, or of the whole net) against a config key
         (`x`, e.g. depth), mean over seeds with a min-max band, one line per group
epochs   a metrics.csv column per epoch, mean over seeds with a min-max band, per group
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.analysis.plots import STYLE, WIDE, _colors, _figure, _integer_epochs, save_figure
from relubench.analysis.stats import text
from relubench.analysis.study_runs import StudyRun, layer_values, matches, value
from relubench.registry.studies import Figure, Measure
from relubench.registry.studies.measures import MEASURES


def label(metric: str) -> str:
    """A measure's axis label, from the registry's table of measures."""
    info = MEASURES.get(metric)
    return info.label if info is not None else metric


def _groups(runs: Sequence[StudyRun], by: Sequence[str]) -> dict[str, list[StudyRun]]:
    out: dict[str, list[StudyRun]] = {}
    for r in runs:
        out.setdefault(", ".join(text(r.config.get(k)) for k in by), []).append(r)
    return dict(sorted(out.items()))


def _band(ax: Any, x: list[float], series: list[list[float]], color: Any, label: str) -> None:
    """Mean over the series with a min-max band (series of unequal length: the common part)."""
    n = min(len(s) for s in series)
    cols = [[s[i] for s in series] for i in range(n)]
    ax.plot(x[:n], [sum(c) / len(c) for c in cols], color=color, label=label, marker=".")
    if len(series) > 1:
        ax.fill_between(x[:n], [min(c) for c in cols], [max(c) for c in cols], color=color,
                        alpha=0.2, linewidth=0)  # fmt: skip


def _layers(runs: Sequence[StudyRun], spec: Figure) -> Any:
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


def _versus(runs: Sequence[StudyRun], spec: Figure) -> Any:
    measure = Measure(metric=spec.metric or "", layers=spec.layers, epoch=spec.epoch)
    fig, ax, groups, colors = _one_axes([r for r in runs if r.has(measure)], spec)
    x_key = spec.x or ""
    for name, rs in groups.items():
        xs = sorted({float(r.config[x_key]) for r in rs})
        series = [[value(r, measure) for r in rs if float(r.config[x_key]) == x] for x in xs]
        mean = [sum(s) / len(s) for s in series]
        ax.plot(xs, mean, color=colors[name], label=name, marker="o")
        ax.fill_between(xs, [min(s) for s in series], [max(s) for s in series],
                        color=colors[name], alpha=0.2, linewidth=0)  # fmt: skip
    ax.set_xlabel(x_key)
    if spec.log:
        ax.set_xscale("log")
    ax.set_ylabel(label(measure.metric))
    ax.set_title(f"{label(measure.metric)} against {x_key} "
                 f"(epoch {spec.epoch}; band: min-max over seeds)")  # fmt: skip
    ax.legend(title=", ".join(spec.by))
    return fig


def _epochs(runs: Sequence[StudyRun], spec: Figure) -> Any:
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


DRAW = {"layers": _layers, "versus": _versus, "epochs": _epochs}


def save_study_figures(
    runs: Sequence[StudyRun], specs: Sequence[Figure], folder: Path
) -> list[Path]:
    """Every figure of the study into `folder` (PNG + SVG); returns the PNGs."""
    import matplotlib

    pngs = []
    with matplotlib.rc_context(STYLE):
        for i, spec in enumerate(specs, 1):
            if not runs:
                break
            fig = DRAW[spec.kind](runs, spec)
            name = spec.name or f"figure{i}-{spec.kind}"
            pngs += [p for p in save_figure(fig, folder / name) if p.suffix == ".png"]
    return pngs
