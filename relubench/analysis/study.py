"""A study's verdicts, computed from its run folders alone: verdict.json and verdict.md.

Each claim of the study's definition (`relubench.registry.studies`) selects runs by config and
measures a number per run (or per run and layer). Then:

- its checks: what the setting must show for the claim to be testable (a floor or a ceiling,
  e.g. ReLU loses at least 5% of its units); when one fails the claim is `untestable here`, as
  it is when every run of either side diverged (there is nothing to measure);
- its test: a bound claim (between / above / below) is a one-sample t of the seeds' values
  against the bound; a comparison is the difference from the other runs against the claim's
  margin: paired by run (the same runs over other layers), paired by seed (both sides ran the
  same seeds, once each: runs of one seed share data order and init seed), else Welch's;
- two one-sided p-values, each doubled (so that with one claim the verdict is the 95%
  interval's): p(confirm) small when the claim holds beyond its bound or margin, p(refute)
  when it does not (for a comparison: the difference is short of the margin, which takes in
  no difference and one the other way);
- Holm across the study's tested claims, on each claim's smaller p: `confirmed` or `refuted`
  when that p, adjusted, is below 0.05, else `inconclusive` (the seeds cannot tell).

Without spread (every seed alike) there is no test: zero spread says nothing about the noise.
A run that diverged counts for the `diverged` measure and is said beside every other.
The runs and their measured numbers come from `analysis.study_runs`. Torch-free.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.analysis.inference import (
    ALPHA,
    Parts,
    holm,
    interval,
    one_sample,
    paired,
    sides,
    welch,
)
from relubench.analysis.stats import pair_seeds, text
from relubench.analysis.study_figures import save_study_figures
from relubench.analysis.study_runs import (
    Absolute,
    Relative,
    StudyRun,
    matches,
    setting_text,
    value,
)
from relubench.analysis.study_tune import read_tuned
from relubench.analysis.verdict_files import write
from relubench.errors import CompareError
from relubench.registry.studies import Claim, Criterion, Measure, Study
from relubench.registry.studies.spec import Check
from relubench.registry.studies.words import LAYERS, WHOLE_NET

UNTESTABLE = "untestable here"


def _measure_text(measure: Measure) -> str:
    layers = LAYERS[measure.layers] if measure.layers is not None else WHOLE_NET
    return f"{measure.metric} at epoch {measure.epoch} ({layers})"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _ci(parts: Parts | None, mean: float) -> tuple[float, float]:
    """The 95% interval; a point without a test (one value, or no spread)."""
    return interval(parts) or (mean, mean)


def _bound_p(parts: Parts, criterion: Criterion) -> tuple[float, float]:
    """(p confirm, p refute), each two one-sided p's doubled, of a value against a bound."""
    if criterion.kind == "between":
        lo, hi = criterion.bound  # type: ignore[misc]
        above_lo, below_lo = sides(parts, lo)
        above_hi, below_hi = sides(parts, hi)
        return min(1.0, 2 * max(above_lo, below_hi)), min(1.0, 2 * min(below_lo, above_hi))
    above, below = sides(parts, criterion.bound)  # type: ignore[arg-type]
    ps = (above, below) if criterion.kind == "above" else (below, above)
    return min(1.0, 2 * ps[0]), min(1.0, 2 * ps[1])


def _bound_text(criterion: Criterion) -> str:
    if criterion.kind == "between":
        lo, hi = criterion.bound  # type: ignore[misc]
        return f"in [{lo:g}, {hi:g}]"
    return f"{'>' if criterion.kind == 'above' else '<'} {criterion.bound:g}"


def _tested(p_confirm: float | None, p_refute: float | None) -> dict[str, Any]:
    """The test's record, its verdict as if it were the study's only claim; `side`: the verdict
    its smaller p speaks for (a missing p is no evidence: 1)."""
    if p_confirm is None and p_refute is None:
        return {"p_confirm": None, "p_refute": None, "p": None, "side": None,
                "verdict": "inconclusive"}  # fmt: skip
    pc = 1.0 if p_confirm is None else p_confirm
    pr = 1.0 if p_refute is None else p_refute
    side = "confirmed" if pc <= pr else "refuted"
    p = min(pc, pr)
    return {"p_confirm": p_confirm, "p_refute": p_refute, "p": p, "side": side,
            "verdict": side if p < ALPHA else "inconclusive"}  # fmt: skip


def _label(select: Any) -> str:
    return ", ".join(f"{k} {text(v)}" for k, v in select.items())


def _lost(selected: list[StudyRun], kept: list[StudyRun], label: str) -> str:
    """'; k of n runs of <label> diverged (not measured)', or '' when none did."""
    k = len(selected) - len(kept)
    return f"; {k} of {len(selected)} runs of {label} diverged (not measured)" if k else ""


EMPTY = {"test": None, "value": None, "ci95": None, "p_holm": None}  # a record's fields, unset


def judge(
    claim: Claim, runs: list[StudyRun], val: Absolute | Relative | None = None
) -> dict[str, Any]:
    """One claim's record for verdict.json: what was measured, against what, its test and its
    verdict as if it were the study's only claim (`verdicts` applies Holm across them). `val`
    measures a run: as it is, or relative to its partner run (the claim's relative_to)."""
    val = val or Absolute()
    selected = [r for r in runs if matches(r, claim.select)]
    chosen = [r for r in selected if val.has(r, claim.measure)]
    record: dict[str, Any] = {
        "id": claim.id,
        "claim": claim.claim,
        "paper": claim.paper,
        "select": dict(claim.select),
        "runs": [r.run_id for r in chosen],
        "n": len(chosen),
        "diverged": len(selected) - len(chosen),
        **EMPTY,
    }
    if claim.margin is not None:
        record.update(margin=claim.margin, margin_why=claim.why)
    elif claim.why:
        record["bound_why"] = claim.why
    checks = [_check(c, runs) for c in claim.checks]
    if checks:
        record["checks"] = checks
    if not chosen:
        record.update(measured=f"no complete runs{_lost(selected, chosen, 'its own')}",
                      criterion="", **_tested(None, None))  # fmt: skip
        if selected:  # every run diverged: the setting cannot show the measure at all
            record["verdict"] = UNTESTABLE
    else:
        values = [val(r, claim.measure) for r in chosen]
        if claim.criterion.compares:
            record.update(_against(claim, chosen, runs, val))
        elif claim.measure.layers == "each":
            record.update(_each_layer(claim, values))
        else:
            record.update(_bound(claim, values))
        record["measured"] += _lost(selected, chosen, "its own")
    if isinstance(val, Relative):
        record["relative_to"] = val.to
        record["measured"] = (
            f"minus {_label(val.to)} (same seed and setting): " + record["measured"]
        )
    failed = [c for c in checks if not c["passed"]]
    if failed:
        record["verdict"] = UNTESTABLE
        record["measured"] += "; " + "; ".join(c["measured"] for c in failed)
    return record


def _check(check: Check, runs: list[StudyRun]) -> dict[str, Any]:
    """A check's record: the mean of its measure over its runs, and whether it passes."""
    selected = [r for r in runs if matches(r, check.select)]
    rs = [r for r in selected if r.has(check.measure)]
    need = [f">= {check.least:g}" if check.least is not None else "",
            f"<= {check.most:g}" if check.most is not None else ""]  # fmt: skip
    label = _label(check.select)
    if not rs:
        why = f"all {len(selected)} diverged" if selected else "none ran"
        return {"what": check.what, "value": None, "passed": False,
                "measured": f"not shown: {check.what} (no runs of {label}: {why})"}  # fmt: skip
    mean = sum(value(r, check.measure) for r in rs) / len(rs)  # type: ignore[misc]
    passed = (check.least is None or mean >= check.least) and (
        check.most is None or mean <= check.most
    )
    measured = (
        f"not shown: {check.what} ({_measure_text(check.measure)} of {label}: {_fmt(mean)}, "
        f"needs {' and '.join(x for x in need if x)})"
    )
    return {"what": check.what, "value": mean, "passed": passed, "measured": measured}


def _no_test(n: int) -> str:
    return "" if n > 1 else " (one run: no test)"


def _bound(claim: Claim, values: list) -> dict[str, Any]:
    parts = one_sample(values)
    n = len(values)
    mean = sum(values) / n
    bounds = interval(parts)
    ci = f", 95% CI [{_fmt(bounds[0])}, {_fmt(bounds[1])}]" if bounds else ""
    std = statistics.stdev(values) if n > 1 else 0.0
    ps = _bound_p(parts, claim.criterion) if parts else (None, None)
    why = f" ({claim.why})" if claim.why else ""
    return {
        "measured": (
            f"{_measure_text(claim.measure)}: {_fmt(mean)} ± {_fmt(std)}{ci}, n = {n}"
            + (_no_test(n) or ("" if parts else " (no test: no spread)"))
        ),
        "criterion": f"mean {_bound_text(claim.criterion)}{why} (one-sample t)",
        "test": "one-sample t",
        "value": mean,
        "ci95": list(bounds) if bounds else None,
        **_tested(*ps),
    }


def _pairs(
    claim: Claim, chosen: list[StudyRun], others: list[StudyRun]
) -> tuple[str, list[StudyRun], list[StudyRun]]:
    """How the two sides are compared, and the runs compared: by run (the same runs over
    other layers), by seed (the seeds both ran, once each), else every run, by Welch's."""
    if claim.same_runs:
        return "paired by run", chosen, others
    pairs = pair_seeds([(r.config.get("seed"), r) for r in chosen],
                       [(r.config.get("seed"), r) for r in others], every=False)  # fmt: skip
    if pairs is not None:
        return "paired by seed", *pairs
    return "Welch", chosen, others


def _against(
    claim: Claim, chosen: list[StudyRun], runs: list[StudyRun], val: Absolute | Relative
) -> dict[str, Any]:
    """less_than / greater_than: the difference from other runs against the claim's margin."""
    crit, margin = claim.criterion, claim.margin or 0.0
    select = dict(crit.select or {})
    measure = claim.against()
    selected = [r for r in runs if matches(r, select)]
    others = [r for r in selected if val.has(r, measure)]
    label = _label(select) + (f" ({_measure_text(measure)})" if crit.layers is not None else "")
    lost = _lost(selected, others, label)
    if not others:  # every run diverged: untestable here; none ran: inconclusive
        return {"measured": f"no complete runs of {label}{lost}", "criterion": "",
                **_tested(None, None), **({"verdict": UNTESTABLE} if selected else {})}  # fmt: skip
    test, mine_runs, their_runs = _pairs(claim, chosen, others)
    a = [val(r, claim.measure) for r in mine_runs]
    b = [val(r, measure) for r in their_runs]
    parts = welch(a, b) if test == "Welch" else paired(a, b)  # type: ignore[arg-type]
    unpaired = len(chosen) + len(others) - len(mine_runs) - len(their_runs)
    if unpaired:
        lost += f"; {unpaired} run(s) without a partner seed left out of the pairs"
    mine, other = sum(a) / len(a), sum(b) / len(b)  # type: ignore[arg-type]
    diff = mine - other
    want, at = (">", margin) if crit.kind == "greater_than" else ("<", -margin)
    ps: tuple[float | None, float | None] = (None, None)
    bounds = interval(parts)
    ci = f", 95% CI [{_fmt(bounds[0])}, {_fmt(bounds[1])}]" if bounds else ""
    if parts:
        above, below = sides(parts, at)
        ps = (min(1.0, 2 * above), min(1.0, 2 * below))
        ps = ps if want == ">" else (ps[1], ps[0])
    n = min(len(a), len(b))
    return {
        "measured": (
            f"{_measure_text(claim.measure)}: {_fmt(mine)} vs {_fmt(other)} ({label}); "
            f"difference {_fmt(diff)}{ci}, {test}, n = {len(a)} and {len(b)}"
            + (_no_test(n) or ("" if parts else " (no test: no spread)"))
            + lost
        ),
        "criterion": f"difference {want} {at:+g} (margin: {claim.why})",
        "test": test,
        "value": diff,
        "ci95": list(bounds) if bounds else None,
        "against": {
            "select": select,
            "runs": [r.run_id for r in others],
            "diverged": len(selected) - len(others),
        },  # fmt: skip
        **_tested(*ps),
    }


def _each_layer(claim: Claim, values: list) -> dict[str, Any]:
    """layers: each: every layer tested on its own; the claim holds when every layer holds
    (p confirm: the largest), fails when any fails (p refute: the smallest, x the layers)."""
    layers = [list(v) for v in zip(*values, strict=True)]
    per_layer, ps = [], []
    for i, vs in enumerate(layers):
        parts = one_sample(vs)
        mean = sum(vs) / len(vs)
        low, high = _ci(parts, mean)
        p = _bound_p(parts, claim.criterion) if parts else (None, None)
        ps.append(p)
        per_layer.append({"layer": i + 1, "mean": mean, "ci95": [low, high],
                          "verdict": _tested(*p)["verdict"]})  # fmt: skip
    tested = [p for p in ps if p[0] is not None]
    p_confirm = max(p[0] for p in tested) if len(tested) == len(ps) else None
    p_refute = min(1.0, len(ps) * min(p[1] for p in tested)) if tested else None
    means = [r["mean"] for r in per_layer]
    measured = (
        f"{_measure_text(claim.measure)}, mean over {len(values)} seeds: from "
        f"{_fmt(min(means))} to {_fmt(max(means))} over {len(means)} layers"
    )
    bad = [r for r in per_layer if r["verdict"] != "confirmed"]
    if bad:
        r = bad[0]
        measured += (
            f"; {len(bad)} layer(s) not clearly inside, first layer {r['layer']}: "
            f"{_fmt(r['mean'])}, 95% CI [{_fmt(r['ci95'][0])}, {_fmt(r['ci95'][1])}]"
        )
    return {
        "measured": measured,
        "criterion": f"every layer's mean {_bound_text(claim.criterion)} (one-sample t each)",
        "test": "one-sample t per layer",
        "per_layer": per_layer,
        **_tested(p_confirm, p_refute),
    }


def verdicts(
    study: Study,
    runs: list[StudyRun],
    quick: bool,
    apart: Sequence[tuple[str, str]] = (),
    choices: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """verdict.json's content; `apart`: the study's runs left out (not complete), with why.
    Holm across the claims tested (not untestable, with a test): each claim's smaller p,
    adjusted, decides its verdict."""
    keys = study.partner_keys
    claims = [judge(c, runs, Relative(runs, c.relative_to, keys) if c.relative_to else None)
              for c in study.claims]  # fmt: skip
    tested = [c for c in claims if c["verdict"] != UNTESTABLE and c["p"] is not None]
    for c, adjusted in zip(tested, holm([c["p"] for c in tested]), strict=True):
        c["p_holm"] = adjusted
        c["verdict"] = c["side"] if adjusted is not None and adjusted < ALPHA else "inconclusive"
    for c in claims:
        c["source"] = study.source
    return {
        "study": study.name,
        "title": study.title,
        "source": study.source,
        "quick": quick,
        "n_why": study.n_why,
        "runs": len(runs),
        "tested": len(tested),
        "claims": claims,
        "diverged": _diverged(runs, study.setting_keys),
        "tuned": list(choices),
        "left_out": [{"run": Path(p).name, "why": why} for p, why in apart],
    }


def _diverged(runs: list[StudyRun], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per setting (the grid's values but the seed) with a run that diverged: how many of its
    runs did."""
    settings: dict[str, list[int]] = {}
    for r in runs:
        name = setting_text(r, keys)
        counts = settings.setdefault(name, [0, 0])
        counts[0] += r.status == "diverged"
        counts[1] += 1
    return [{"setting": k, "diverged": d, "runs": n} for k, (d, n) in settings.items() if d]


def conclude(
    study: Study, folders: Sequence[Path], out: Path, quick: bool, command: str
) -> dict[str, Any]:
    """A study's verdicts from its run folders, written into `out` (verdict.json, verdict.md,
    the figures) and returned; runs that are not complete are listed in `left_out`."""
    runs, apart, choices = read_tuned(study, folders)
    doc = verdicts(study, runs, quick, apart, choices)
    try:
        figures = save_study_figures(runs, study.figures, out, study.partner_keys)
        write(out, doc, command, [p.name for p in figures])
    except OSError as e:
        why = e.strerror or e
        raise CompareError(f"cannot write into {out}: {why}; give another --out") from None
    return doc
