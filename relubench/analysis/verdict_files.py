"""A study's verdict files: verdict.json (the record) and verdict.md (for people), written and
read back. Torch-free."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.errors import short
from relubench.files import atomic_write
from relubench.runfolder import Malformed, read_bounded


def markdown(doc: dict[str, Any], command: str, figures: Sequence[str]) -> str:
    """verdict.md: the verdict table, how it was measured, the figures."""
    lines = [
        f"# {doc['study']}: {doc['title']}",
        "",
        f"Source: {doc['source']}. Reproduce: `{command}`"
        + (" (quick: fewer seeds and settings)" if doc["quick"] else "")
        + f". {doc['runs']} runs.",
        "",
        f"Seeds: {doc.get('n_why', '')}",
        "",
        "| claim | paper | measured | criterion | p (Holm) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in doc["claims"]:
        p = c.get("p_holm")
        cells = [c["claim"], c["paper"], c["measured"], c["criterion"],
                 "–" if p is None else f"{p:.2g}", f"**{c['verdict']}**"]  # fmt: skip
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    lines += [
        "",
        f"Verdicts, Holm-adjusted across the {doc.get('tested', 0)} claims tested: confirmed "
        "when the test says the claim holds beyond its bound or margin (p < 0.05), refuted "
        "when it says it does not (short of the margin, no difference or the other way "
        "included), inconclusive when the seeds cannot tell; untestable here when the setting "
        "does not show what the claim needs (its check). With one claim, confirmed and "
        "refuted are the whole 95% interval on one side of the bound or margin.",
    ]
    if doc.get("tuned"):
        lines += ["", "Chosen per setting on validation accuracy (the claims and figures read "
                  "only these runs; a value with a diverged seed is ineligible):", "",
                  "| setting | chosen | validation acc. | runner-up | ineligible |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for t in doc["tuned"]:
            acc = (
                "every value had a diverged seed" if t["val_acc"] is None else f"{t['val_acc']:.2%}"
            )
            cells = [t["setting"], t["chosen"], acc, t["runner_up"] or "–",
                     ", ".join(t["ineligible"]) or "–"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    if doc.get("diverged"):
        lines += ["", "Runs that diverged (an outcome: counted by the `diverged` measure, "
                  "not measured otherwise):", ""]  # fmt: skip
        lines += [f"- {d['setting']}: {d['diverged']} of {d['runs']}" for d in doc["diverged"]]
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
