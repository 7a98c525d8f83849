"""A study's verdicts, computed from its run folders alone: verdict.json and verdict.md.

Each claim of the study's definition (`relubench.registry.studies`) selects runs by config,
measures a number per run (or per run and layer), and applies its criterion to the 95%
interval over the seeds: `confirmed` when the whole interval satisfies it, `refuted` when the
whole interval contradicts it, `inconclusive` when the interval straddles the bound. Torch-free.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relubench.analysis.inference import diff_ci
from relubench.analysis.load import Malformed, load_run
from relubench.analysis.stats import t_quantile, text
from relubench.errors import CompareError
from relubench.files import atomic_write
from relubench.registry.studies import Claim, Study

VERDICTS = ("confirmed", "refuted", "inconclusive")
DERIVED = {  # measured metric -> (layers.csv column, transform)
    "out_var": ("out_std", lambda v: v * v),
    "pre_var": ("pre_std", lambda v: v * v),
    "abs_out_mean": ("out_mean", abs),
}


METRIC_DERIVED = {"gap": ("train_acc", "test_acc")}  # metrics.csv: first minus second


@dataclass
class Run:
    """One run folder as the studies read it: its config, and its CSVs' rows."""

    config: dict[str, Any]
    metrics: list[dict[str, str]]
    layers: list[dict[str, str]]
    run_id: str


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def read_runs(
    folders: Sequence[Path], keys: Sequence[str] = ()
) -> tuple[list[Run], list[tuple[str, str]]]:
    """The complete runs among `folders`; the others with why they were left out (their
    status, and their values of `keys`, e.g. the study's grid keys)."""
    runs, skipped = [], []
    for folder in folders:
        try:
            row = load_run(folder)
        except Malformed as e:
            skipped.append((str(folder), str(e)))
            continue
        if row["status"] != "complete":
            where = ", ".join(f"{k} {text(row.get(k))}" for k in keys)
            skipped.append((str(folder), f"{row['status']}" + (f" ({where})" if where else "")))
            continue
        runs.append(
            Run(row, _rows(folder / "metrics.csv"), _rows(folder / "layers.csv"), row["run_id"])
        )
    return runs, skipped


def matches(run: Run, select: dict[str, Any]) -> bool:
    return all(text(run.config.get(k)) == text(v) for k, v in select.items())


def _epoch(rows: list[dict[str, str]], epoch: int | str) -> str:
    if epoch == "last":
        return max((r["epoch"] for r in rows), key=int, default="0")
    return str(epoch)


def layer_values(run: Run, metric: str, epoch: int | str) -> list[float]:
    """`metric` for each activation layer of `run` at `epoch`, in forward order."""
    column, transform = DERIVED.get(metric, (metric, lambda v: v))
    at = _epoch(run.layers, epoch)
    values = [r.get(column) for r in run.layers if r["epoch"] == at]
    if not values or any(v in (None, "") for v in values):
        raise CompareError(f"{run.run_id}: layers.csv has no {column} at epoch {at}")
    return [transform(float(v)) for v in values]


def value(run: Run, measure: dict[str, Any]) -> float | list[float]:
    """The measured number of one run (a list with layers: each)."""
    metric, epoch, layers = measure["metric"], measure.get("epoch", "last"), measure.get("layers")
    if layers is None:  # a whole-net figure from metrics.csv
        at = _epoch(run.metrics, epoch)
        row = next((r for r in run.metrics if r["epoch"] == at), None)
        columns = METRIC_DERIVED.get(metric, (metric,))
        if row is None or any(row.get(c) in (None, "") for c in columns):
            raise CompareError(f"{run.run_id}: metrics.csv has no {metric} at epoch {at}")
        values = [float(row[c]) for c in columns]
        return values[0] - values[1] if len(values) == 2 else values[0]
    per_layer = layer_values(run, metric, epoch)
    if layers == "each":
        return per_layer
    if layers == "first":
        return per_layer[0]
    if layers == "deep":
        per_layer = per_layer[len(per_layer) // 2 :]
    return sum(per_layer) / len(per_layer)


def interval(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, std, low, high): the t-based 95% interval of the mean; a point with n = 1."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0, mean, mean
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def _judge(low: float, high: float, criterion: dict[str, Any]) -> str:
    """The verdict of an interval [low, high] against a bound criterion."""
    if "between" in criterion:
        lo, hi = criterion["between"]
        if lo <= low and high <= hi:
            return "confirmed"
        return "refuted" if high < lo or low > hi else "inconclusive"
    if "above" in criterion:
        bound = criterion["above"]
        return "confirmed" if low > bound else "refuted" if high <= bound else "inconclusive"
    bound = criterion["below"]
    return "confirmed" if high < bound else "refuted" if low >= bound else "inconclusive"


def _bound_text(criterion: dict[str, Any]) -> str:
    if "between" in criterion:
        lo, hi = criterion["between"]
        return f"in [{lo:g}, {hi:g}]"
    if "above" in criterion:
        return f"> {criterion['above']:g}"
    return f"< {criterion['below']:g}"


def _measure_text(measure: dict[str, Any]) -> str:
    where = {
        "each": "every layer",
        "all": "mean over layers",
        "deep": "mean over deeper half",
        "first": "first layer",
    }
    layers = where.get(measure.get("layers") or "", "whole net")
    return f"{measure['metric']} at epoch {measure.get('epoch', 'last')} ({layers})"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def judge(claim: Claim, runs: list[Run]) -> dict[str, Any]:
    """One claim's record for verdict.json: what was measured, against what, and the verdict."""
    chosen = [r for r in runs if matches(r, claim.select)]
    record: dict[str, Any] = {
        "id": claim.id,
        "claim": claim.claim,
        "paper": claim.paper,
        "select": claim.select,
        "runs": [r.run_id for r in chosen],
        "n": len(chosen),
    }
    if not chosen:
        return {**record, **_nothing("no complete runs")}
    values = [value(r, claim.measure) for r in chosen]
    crit = claim.criterion
    if "less_than" in crit or "greater_than" in crit:
        return {**record, **_against(claim, values, runs)}
    if claim.measure.get("layers") == "each":
        return {**record, **_each_layer(claim, values)}
    mean, std, low, high = interval(values)  # type: ignore[arg-type]
    return {
        **record,
        "measured": (
            f"{_measure_text(claim.measure)}: {_fmt(mean)} ± {_fmt(std)}, 95% CI "
            f"[{_fmt(low)}, {_fmt(high)}], n = {len(values)}"
        ),
        "criterion": f"95% CI {_bound_text(crit)}",
        "verdict": _judge(low, high, crit) if len(values) > 1 else "inconclusive",
        "value": mean,
        "ci95": [low, high],
    }


def _nothing(why: str) -> dict[str, Any]:
    return {"measured": why, "criterion": "", "verdict": "inconclusive"}


def _against(claim: Claim, values: list, runs: list[Run]) -> dict[str, Any]:
    """less_than / greater_than: the difference from other runs, its Welch CI against 0."""
    key = "less_than" if "less_than" in claim.criterion else "greater_than"
    spec = claim.criterion[key]
    measure = {**claim.measure, **({"layers": spec["layers"]} if "layers" in spec else {})}
    others = [r for r in runs if matches(r, spec["select"])]
    theirs = [value(r, measure) for r in others]
    label = ", ".join(f"{k} {text(v)}" for k, v in spec["select"].items())
    label += f" ({_measure_text(measure)})" if "layers" in spec else ""
    if not theirs:
        return _nothing(f"no complete runs of {label}")
    mine, other = sum(values) / len(values), sum(theirs) / len(theirs)
    diff = mine - other
    # no spread on either side (e.g. no dead unit in any run): the difference is exact
    low, high = diff_ci(values, theirs) or (diff, diff)
    want = "<" if key == "less_than" else ">"
    ok = high < 0 if want == "<" else low > 0
    wrong = low >= 0 if want == "<" else high <= 0
    if min(len(values), len(theirs)) < 2:  # one run has no interval: it cannot decide
        ok = wrong = False
    return {
        "measured": (
            f"{_measure_text(claim.measure)}: {_fmt(mine)} vs {_fmt(other)} ({label}); "
            f"difference {_fmt(diff)}, 95% CI [{_fmt(low)}, {_fmt(high)}], n = {len(values)} "
            f"and {len(theirs)}"
        ),
        "criterion": f"difference {want} 0 over its whole 95% CI",
        "verdict": "confirmed" if ok else "refuted" if wrong else "inconclusive",
        "value": diff,
        "ci95": [low, high],
        "against": {"select": spec["select"], "runs": [r.run_id for r in others]},
    }


def _each_layer(claim: Claim, values: list) -> dict[str, Any]:
    """layers: each: every layer judged on its own interval; any refuted layer refutes."""
    stats = [interval(v) for v in zip(*values, strict=True)]
    verdicts = [_judge(lo, hi, claim.criterion) for _, _, lo, hi in stats]
    verdict = "confirmed"
    if "inconclusive" in verdicts or len(values) < 2:
        verdict = "inconclusive"
    if "refuted" in verdicts:
        verdict = "refuted"
    means = [m for m, _, _, _ in stats]
    measured = (
        f"{_measure_text(claim.measure)}, mean over {len(values)} seeds: from "
        f"{_fmt(min(means))} to {_fmt(max(means))} over {len(means)} layers"
    )
    bad = [i for i, v in enumerate(verdicts) if v != "confirmed"]
    if bad:
        i = bad[0]
        measured += (
            f"; {len(bad)} layer(s) not clearly inside, first layer {i + 1}: {_fmt(means[i])}, "
            f"95% CI [{_fmt(stats[i][2])}, {_fmt(stats[i][3])}]"
        )
    return {
        "measured": measured,
        "criterion": f"every layer's 95% CI {_bound_text(claim.criterion)}",
        "verdict": verdict,
        "per_layer": [
            {"layer": i + 1, "mean": m, "std": s, "ci95": [lo, hi], "verdict": v}
            for i, ((m, s, lo, hi), v) in enumerate(zip(stats, verdicts, strict=True))
        ],
    }


def verdicts(
    study: Study, runs: list[Run], quick: bool, apart: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """verdict.json's content; `apart`: the study's runs left out (not complete), with why."""
    claims = [judge(c, runs) for c in study.claims]
    for c in claims:
        c["source"] = study.source
    return {
        "study": study.name,
        "title": study.title,
        "source": study.source,
        "quick": quick,
        "runs": len(runs),
        "claims": claims,
        "left_out": [{"run": Path(p).name, "why": why} for p, why in apart],
    }


def markdown(doc: dict[str, Any], command: str, figures: Sequence[str]) -> str:
    """verdict.md: the verdict table, how it was measured, the figures."""
    lines = [
        f"# {doc['study']}: {doc['title']}",
        "",
        f"Source: {doc['source']}. Reproduce: `{command}`"
        + (" (quick: fewer seeds and settings)" if doc["quick"] else "")
        + f". {doc['runs']} complete runs.",
        "",
        "| claim | paper | measured | criterion | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in doc["claims"]:
        cells = [c["claim"], c["paper"], c["measured"], c["criterion"], f"**{c['verdict']}**"]
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    lines += [
        "",
        "Verdicts: confirmed when the whole 95% interval over the seeds meets the criterion, "
        "refuted when the whole interval contradicts it, inconclusive when it straddles the "
        "bound (more seeds may tell).",
    ]
    if doc.get("left_out"):
        counts: dict[str, int] = {}
        for r in doc["left_out"]:
            counts[r["why"]] = counts.get(r["why"], 0) + 1
        lines += ["", f"Runs left out of every measure ({len(doc['left_out'])}):", ""]
        lines += [f"- {why}: {n} run{'s' if n > 1 else ''}" for why, n in sorted(counts.items())]
    if figures:
        lines += ["", *(f"![{Path(f).stem}]({f})" for f in figures)]
    return "\n".join(lines) + "\n"


def write(folder: Path, doc: dict[str, Any], command: str, figures: Sequence[str]) -> None:
    atomic_write(folder / "verdict.json", json.dumps(doc, indent=2) + "\n")
    atomic_write(folder / "verdict.md", markdown(doc, command, figures))


def conclude(
    study: Study, folders: Sequence[Path], out: Path, quick: bool, command: str
) -> dict[str, Any]:
    """A study's verdicts from its run folders, written into `out` (verdict.json, verdict.md,
    the figures) and returned; runs that are not complete are listed in `left_out`."""
    from relubench.analysis.study_figures import save_study_figures

    runs, apart = read_runs(folders, [k for k in study.sweep["grid"] if k != "seed"])
    doc = verdicts(study, runs, quick, apart)
    try:
        figures = save_study_figures(runs, study.figures, out)
        write(out, doc, command, [p.name for p in figures])
    except OSError as e:
        why = e.strerror or e
        raise CompareError(f"cannot write into {out}: {why}; give another --out") from None
    return doc


def read_verdict(folder: Path) -> dict[str, Any] | None:
    """A study folder's verdict.json, or None."""
    try:
        doc = json.loads((Path(folder) / "verdict.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "claims" in doc else None
