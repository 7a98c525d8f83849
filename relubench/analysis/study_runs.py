"""A study's runs as the claims measure them: the complete run folders, and one number per
run (or per run and layer) for a Measure. Shared by the verdicts (`analysis.study`) and the
study figures (`analysis.study_figures`).

A run folder's CSVs are read only through `relubench.runfolder.read_table`; a run that
diverged is kept for one measure, `diverged` (an outcome, not a missing run), and has no other;
a run that is neither complete nor diverged, or whose tables are malformed (a measured cell
NaN or infinite included), is left out of every measure with the reason. The measures and
their words are the registry's (`relubench.registry.studies.measures`, `words`); DERIVE
computes its derived measures. Torch-free.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relubench.analysis.load import load_run
from relubench.analysis.stats import text
from relubench.errors import CompareError
from relubench.registry.datasets import get_spec
from relubench.registry.studies import Measure
from relubench.registry.studies.measures import MEASURES
from relubench.runfolder import Cell, Malformed, printable, read_table

# The registry's derived measures (measures.MEASURES, `source` and `how`), computed from their
# source columns' values; tests/test_study_specs.py checks that the two agree.
DERIVE: dict[str, Callable[..., float]] = {
    "out_var": lambda std: std * std,
    "pre_var": lambda std: std * std,
    "abs_out_mean": abs,
    "gap": operator.sub,  # train - test
    "eval_gap": operator.sub,
    "alpha_change": lambda now, init: abs(now - init),  # since_init: (at epoch, at epoch 0)
}


@dataclass
class StudyRun:
    """One run folder as the studies read it: its config, and its CSVs' rows (parsed cells)."""

    config: dict[str, Any]
    metrics: list[dict[str, Cell]]
    layers: list[dict[str, Cell]]
    run_id: str
    status: str = "complete"  # or "diverged": then its tables are not read (empty)

    def has(self, measure: Measure) -> bool:
        """Whether the run has a value of `measure`: a diverged run has only `diverged`."""
        return self.status == "complete" or MEASURES[measure.metric].status


def read_runs(
    folders: Sequence[Path], keys: Sequence[str] = ()
) -> tuple[list[StudyRun], list[tuple[str, str]]]:
    """The complete and the diverged runs among `folders`; the others with why they were left
    out (their status, or what is wrong with their files, and their values of `keys`, e.g. the
    study's grid keys)."""
    runs, skipped = [], []
    for folder in folders:
        try:
            row = load_run(folder)
        except Malformed as e:
            skipped.append((str(folder), str(e)))
            continue
        where = ", ".join(f"{k} {text(row.get(k))}" for k in keys)
        where = f" ({where})" if where else ""
        if row["status"] == "diverged":
            runs.append(StudyRun(row, [], [], row["run_id"], "diverged"))
            continue
        if row["status"] != "complete":
            skipped.append((str(folder), f"{row['status']}{where}"))
            continue
        try:
            metrics = read_table(Path(folder) / "metrics.csv").rows
            layers = read_table(Path(folder) / "layers.csv").rows
            _finite("metrics.csv", metrics)
            _finite("layers.csv", layers)
        except Malformed as e:  # a complete run whose tables cannot be read: left out too
            skipped.append((str(folder), f"{e}{where}"))
            continue
        runs.append(StudyRun(row, metrics, layers, row["run_id"]))
    return runs, skipped


# every column a measure reads (its own, or a derived one's sources)
MEASURED = frozenset(c for name, m in MEASURES.items() for c in (m.source or (name,)))


def _finite(name: str, rows: list[dict[str, Cell]]) -> None:
    """Malformed, naming the file, column, epoch (and layer), when a measured cell of a
    complete run is NaN or infinite: a mean over it would be "nan ± nan" for the whole claim."""
    for r in rows:
        for column, cell in r.items():
            if column in MEASURED and isinstance(cell, float) and not math.isfinite(cell):
                layer = f", layer {printable(str(r['layer']))}" if "layer" in r else ""
                raise Malformed(f"{name}: {column} is {cell} at epoch {r.get('epoch')}{layer}")


def matches(run: StudyRun, select: Any) -> bool:
    """Whether the run's config has every value of `select` (a mapping)."""
    return all(text(run.config.get(k)) == text(v) for k, v in select.items())


def _epoch(rows: list[dict[str, Cell]], epoch: int | str) -> Cell:
    if epoch == "last":
        return max((r["epoch"] for r in rows if r["epoch"] is not None), default=0)
    return epoch


def _columns(metric: str) -> tuple[str, ...]:
    """The table columns a measure is read from: its own, or a derived one's source."""
    info = MEASURES.get(metric)
    return info.source if info is not None and info.derived else (metric,)


def _derived(metric: str, values: list[float]) -> float:
    derive = DERIVE.get(metric)
    return derive(*values) if derive is not None else values[0]


def _column(run: StudyRun, column: str, epoch: int | str) -> list[float]:
    at = _epoch(run.layers, epoch)
    values = [r.get(column) for r in run.layers if r["epoch"] == at]
    if not values or any(v is None for v in values):
        raise CompareError(f"{run.run_id}: layers.csv has no {column} at epoch {at}")
    if not all(math.isfinite(float(v)) for v in values):  # type: ignore[arg-type]
        raise CompareError(f"{run.run_id}: layers.csv has a non-finite {column} at epoch {at}")
    return [float(v) for v in values]  # type: ignore[arg-type]


def layer_values(run: StudyRun, metric: str, epoch: int | str) -> list[float]:
    """`metric` for each activation layer of `run` at `epoch`, in forward order."""
    (column,) = _columns(metric)
    values = _column(run, column, epoch)
    if MEASURES[metric].since_init:
        start = _column(run, column, 0)
        return [_derived(metric, [v, s]) for v, s in zip(values, start, strict=True)]
    return [_derived(metric, [v]) for v in values]


def _ranks(xs: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def depth_rank(per_layer: Sequence[float]) -> float:
    """Spearman's rank correlation of the layers' values with their depth (1, 2, ...): the
    Pearson correlation of the ranks. 0 when every layer has the same value (no order)."""
    n = len(per_layer)
    r = _ranks(per_layer)
    mean = (n + 1) / 2
    cov = sum((i + 1 - mean) * (x - mean) for i, x in enumerate(r))
    spread = math.sqrt(sum((x - mean) ** 2 for x in r) * sum((i + 1 - mean) ** 2 for i in range(n)))
    return cov / spread if spread else 0.0


def at_chance(run: StudyRun) -> bool:
    """Whether a complete run's final test accuracy is below twice chance (1 / classes)."""
    classes = get_spec(str(run.config.get("dataset"))).classes
    last = value(run, Measure(metric="test_acc", epoch="last"))
    return last < 2 / classes  # type: ignore[operator]


def value(run: StudyRun, measure: Measure) -> float | list[float]:
    """The measured number of one run (a list with layers: each)."""
    metric, layers = measure.metric, measure.layers
    if MEASURES[metric].status:
        return 1.0 if run.status == "diverged" or (metric == "failed" and at_chance(run)) else 0.0
    if run.status != "complete":
        raise CompareError(f"{run.run_id}: a run that {run.status} has no {metric}")
    if layers is None:  # a whole-net figure from metrics.csv
        at = _epoch(run.metrics, measure.epoch)
        row = next((r for r in run.metrics if r["epoch"] == at), None)
        columns = _columns(metric)
        if row is None or any(row.get(c) is None for c in columns):
            raise CompareError(f"{run.run_id}: metrics.csv has no {metric} at epoch {at}")
        if not all(math.isfinite(float(row[c])) for c in columns):  # type: ignore[arg-type]
            raise CompareError(f"{run.run_id}: metrics.csv {metric} is not finite at epoch {at}")
        return _derived(metric, [float(row[c]) for c in columns])  # type: ignore[arg-type]
    per_layer = layer_values(run, metric, measure.epoch)
    if layers == "each":
        return per_layer
    need = {"rank": 3, "deep": 2, "shallow": 2, "rest": 2}.get(layers, 1)
    if len(per_layer) < need:  # else "deep" and "shallow" would be one layer, compared to itself
        raise CompareError(f"{run.run_id}: layers {layers!r} needs {need} activation layers")
    if layers == "first":
        return per_layer[0]
    if layers == "rank":
        return depth_rank(per_layer)
    if layers != "all":
        half = len(per_layer) // 2
        per_layer = {"deep": per_layer[half:], "shallow": per_layer[:half],
                     "rest": per_layer[1:]}[layers]  # fmt: skip
    return sum(per_layer) / len(per_layer)


def setting(run: StudyRun, keys: Sequence[str]) -> tuple[str, ...]:
    """The run's values of `keys`, as text (True is not 1)."""
    return tuple(text(run.config.get(k)) for k in keys)


def setting_text(run: StudyRun, keys: Sequence[str]) -> str:
    """'key value, ...' of the run's config, the keys it does not have left out."""
    values = [(k, run.config.get(k)) for k in keys]
    return ", ".join(f"{k} {text(v)}" for k, v in values if v is not None)


class Relative:
    """A measure minus that of the partner run: the run with the `to` config values, the same
    seed and the same values of `keys` (e.g. the gap to ReLU at the same depth and seed)."""

    def __init__(self, runs: Sequence[StudyRun], to: Any, keys: Sequence[str]) -> None:
        self.to = dict(to)
        self.keys = [k for k in keys if k not in self.to and k != "seed"] + ["seed"]
        self._partners = {setting(r, self.keys): r for r in runs if matches(r, self.to)}

    def partner(self, run: StudyRun) -> StudyRun | None:
        return self._partners.get(setting(run, self.keys))

    def has(self, run: StudyRun, measure: Measure) -> bool:
        p = self.partner(run)
        return run.has(measure) and p is not None and p.has(measure)

    def __call__(self, run: StudyRun, measure: Measure) -> float:
        p = self.partner(run)
        if p is None:
            raise CompareError(f"{run.run_id}: no run of {self.to} with its seed and setting")
        return value(run, measure) - value(p, measure)  # type: ignore[operator]


class Absolute:
    """A measure as it is: the counterpart of Relative."""

    @staticmethod
    def has(run: StudyRun, measure: Measure) -> bool:
        return run.has(measure)

    def __call__(self, run: StudyRun, measure: Measure) -> float | list[float]:
        return value(run, measure)
