"""A study's verdicts, computed from its run folders alone: verdict.json and verdict.md.

Each claim of the study's definition (`relubench.registry.studies`) selects runs by config,
measures a number per run (or per run and layer), and applies its criterion to the 95%
interval over the seeds: `confirmed` when the whole interval satisfies it, `refuted` when the
whole interval contradicts it, `inconclusive` when the interval straddles the bound.

The runs and their measured numbers come from `analysis.study_runs`. Torch-free.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.analysis.inference import diff_ci
from relubench.analysis.stats import t_quantile, text
from relubench.analysis.study_figures import save_study_figures
from relubench.analysis.study_runs import StudyRun, matches, read_runs, value
from relubench.errors import CompareError, short
from relubench.files import atomic_write
from relubench.registry.studies import Claim, Criterion, Measure, Study
from relubench.registry.studies.words import LAYERS, WHOLE_NET
from relubench.runfolder import Malformed, read_bounded


def interval(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, std, low, high): the t-based 95% interval of the mean; a point with n = 1."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0, mean, mean
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def _judge(low: float, high: float, criterion: Criterion) -> str:
    """The verdict of an interval [low, high] against a bound criterion."""
    if criterion.kind == "between":
        lo, hi = criterion.bound  # type: ignore[misc]
        if lo <= low and high <= hi:
            return "confirmed"
        return "refuted" if high < lo or low > hi else "inconclusive"
    bound = criterion.bound
    if criterion.kind == "above":
        return "confirmed" if low > bound else "refuted" if high <= bound else "inconclusive"
    return "confirmed" if high < bound else "refuted" if low >= bound else "inconclusive"


def _bound_text(criterion: Criterion) -> str:
    if criterion.kind == "between":
        lo, hi = criterion.bound  # type: ignore[misc]
        return f"in [{lo:g}, {hi:g}]"
    return f"{'>' if criterion.kind == 'above' else '<'} {criterion.bound:g}"


def _measure_text(measure: Measure) -> str:
    layers = LAYERS[measure.layers] if measure.layers is not None else WHOLE_NET
    return f"{measure.metric} at epoch {measure.epoch} ({layers})"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def judge(claim: Claim, runs: list[StudyRun]) -> dict[str, Any]:
    """One claim's record for verdict.json: what was measured, against what, and the verdict."""
    chosen = [r for r in runs if matches(r, claim.select)]
    record: dict[str, Any] = {
        "id": claim.id,
        "claim": claim.claim,
        "paper": claim.paper,
        "select": dict(claim.select),
        "runs": [r.run_id for r in chosen],
        "n": len(chosen),
    }
    if not chosen:
        return {**record, **_nothing("no complete runs")}
    values = [value(r, claim.measure) for r in chosen]
    crit = claim.criterion
    if crit.compares:
        return {**record, **_against(claim, values, runs)}
    if claim.measure.layers == "each":
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


def _against(claim: Claim, values: list, runs: list[StudyRun]) -> dict[str, Any]:
    """less_than / greater_than: the difference from other runs, its Welch CI against 0."""
    crit = claim.criterion
    select = dict(crit.select or {})
    measure = claim.against()
    others = [r for r in runs if matches(r, select)]
    theirs = [value(r, measure) for r in others]
    label = ", ".join(f"{k} {text(v)}" for k, v in select.items())
    label += f" ({_measure_text(measure)})" if crit.layers is not None else ""
    if not theirs:
        return _nothing(f"no complete runs of {label}")
    mine, other = sum(values) / len(values), sum(theirs) / len(theirs)
    diff = mine - other
    # no spread on either side (e.g. no dead unit in any run): the difference is exact
    low, high = diff_ci(values, theirs) or (diff, diff)
    want = "<" if crit.kind == "less_than" else ">"
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
        "against": {"select": select, "runs": [r.run_id for r in others]},
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
    study: Study, runs: list[StudyRun], quick: bool, apart: Sequence[tuple[str, str]] = ()
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
    runs, apart = read_runs(folders, [k for k in study.grid if k != "seed"])
    doc = verdicts(study, runs, quick, apart)
    try:
        figures = save_study_figures(runs, study.figures, out)
        write(out, doc, command, [p.name for p in figures])
    except OSError as e:
        why = e.strerror or e
        raise CompareError(f"cannot write into {out}: {why}; give another --out") from None
    return doc


MAX_VERDICT_BYTES = 16 * 2**20  # verdict.json is a few KB
VERDICT_TEXT = ("study", "title")  # each claim's text fields: CLAIM_TEXT
CLAIM_TEXT = ("claim", "paper", "measured", "criterion", "verdict")


def read_verdict(folder: Path) -> dict[str, Any] | None:
    """A study folder's verdict.json, or None when it has none. Malformed, with the reason,
    when it is there but cannot be used: not a regular file, too large, not JSON, or without
    a study, a title, or a list of claims with their texts."""
    try:
        data = read_bounded(Path(folder) / "verdict.json", MAX_VERDICT_BYTES)
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise Malformed("verdict.json is not valid JSON") from None
    if not isinstance(doc, dict):
        raise Malformed("verdict.json is not a JSON object")
    for key in VERDICT_TEXT:
        if not isinstance(doc.get(key), str):
            raise Malformed(f"verdict.json: {key} is {short(doc.get(key))}, not a text")
    claims = doc.get("claims")
    if not isinstance(claims, list):
        raise Malformed(f"verdict.json: claims is {short(claims)}, not a list")
    for i, c in enumerate(claims):
        if not isinstance(c, dict):
            raise Malformed(f"verdict.json: claims[{i}] is {short(c)}, not an object")
        odd = next((k for k in CLAIM_TEXT if not isinstance(c.get(k), str)), None)
        if odd is not None:
            raise Malformed(f"verdict.json: claims[{i}].{odd} is {short(c.get(odd))}, not a text")
    return doc
