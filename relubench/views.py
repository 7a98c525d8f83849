"""Rich tables for people, built from registries and results: what the CLI prints besides
the comparison (`relubench.analysis.terminal`) and the live progress (`runner.progress`).
Torch-free; no Typer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from relubench.config import RunConfig
from relubench.registry.activations import ACTS
from relubench.registry.datasets import DATASETS
from relubench.runfolder import printable

if TYPE_CHECKING:
    from relubench.runner.plan import Outcome, Plan


def safe(value: Any) -> str:
    """Any text from a file or a user (a path, an error, a config value) for Rich: its markup
    shown as text, its control characters escaped (never sent raw to a terminal)."""
    return escape(printable(str(value)))


def acts_table() -> Table:
    """Every registry activation: formula, parameters with defaults, init, reference."""
    d = RunConfig()
    table = Table(title="activations (the ReLU family, then comparison points)")
    for col in ("name", "f(x)", "parameter", "init", "reference"):
        table.add_column(col, no_wrap=col in ("name", "parameter", "init"))
    for spec in ACTS.values():
        params = ", ".join(f"{p}={getattr(d, p):.4g}" for p in spec.params) or "–"
        init = "LeCun" if spec.init == "lecun" else "Kaiming"
        name = spec.name if spec.family else f"[dim]{spec.name}[/]"
        table.add_row(name, spec.formula, params, init, spec.reference)
    return table


def recipes_table() -> Table:
    """`relubench recipes`: every shipped recipe, its kind and what it is for."""
    from relubench.registry.recipes import describe, recipe_dir, recipe_names

    folder = recipe_dir()
    table = Table(title="recipes: relubench train --config NAME, relubench sweep NAME")
    for col in ("name", "kind", "what it is"):
        table.add_column(col, no_wrap=col != "what it is")
    for name in recipe_names():
        kind, what = describe(folder / f"{name}.yaml") if folder else ("?", "")
        table.add_row(name, kind, escape(what))
    return table


def smoke_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="smoke: every activation x model, synthetic data")
    for col in ("act", "model", "result", "final loss", "seconds", "problems"):
        table.add_column(col)
    for r in results:
        ok = "[green]pass[/]" if r["ok"] else "[red]FAIL[/]"
        loss = "–" if r["loss"] is None else f"{r['loss']:.3f}"
        table.add_row(
            r["act"], r["model"], ok, loss, f"{r['seconds']:.1f}", "; ".join(r["problems"])
        )
    return table


def plan_table(file: Path, plan: Plan, limit: int = 1000) -> Table:
    """`sweep --dry-run`: the run ids (the first `limit`) and whether each is complete."""
    n, done = plan.count, len(plan.complete)
    first = f", the first {limit}:" if n > limit else ""
    table = Table(title=f"{safe(file)}: {n:,} runs, {done:,} complete, {n - done:,} to run{first}")
    table.add_column("run id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for c in plan.head(limit):
        status = "[green]complete[/]" if c.run_id in plan.complete else "to run"
        table.add_row(c.run_id, status)
    return table


def outcome_table(outcome: Outcome, seconds: float) -> Table:
    """After a sweep: how many runs ended how, how many were skipped and why."""
    counts = Counter(outcome.ran.values())
    table = Table(title=f"sweep finished in {seconds:.1f} s")
    table.add_column("runs")
    table.add_column("count", justify="right")
    for status in ("complete", "diverged", "failed", "interrupted"):
        if counts[status]:
            table.add_row(f"ran: {status}", str(counts[status]))
    for why, n in Counter(outcome.skipped.values()).items():
        table.add_row(f"skipped: {why}", str(n))
    return table


def datasets_table(data_dir: str | Path | None, get: str) -> Group:
    """Every dataset: images, classes, whether it is here and where it was found (system
    package, torchvision folder, cache, embedded), its size, its licence; then how to get one
    (`get`: the command that fetches one)."""
    from relubench.data.store import data_root, folder_size, locate, status, verify

    root = data_root(data_dir)
    table = Table(title=f"datasets (data dir {escape(str(root))})")
    for col in ("name", "images", "classes", "here", "found in", "size", "licence"):
        table.add_column(col, no_wrap=col == "name", justify="right" if col == "size" else None)
    for spec in DATASETS.values():
        if spec.kind != "download":
            _, size = status(spec, root)
            here, where = "[green]yes[/]", spec.kind
        elif found := locate(spec, data_dir):
            damaged = verify(spec, found)
            here = f"[red]damaged: {escape(damaged)}[/]" if damaged else "[green]yes[/]"
            where, size = f"{found.where}: {escape(str(found.folder))}", folder_size(found.folder)
        else:
            state, _ = status(spec, root)
            here = {"missing": "no", "incomplete": "[red]incomplete[/]"}.get(state, state)
            where, size = "-", int(spec.download_mb * 1e6)  # what a download costs
        images = f"{_count(spec.train)} + {_count(spec.test)}"
        size_s = "-" if not size else f"{size / 1e6:.{1 if size < 1e7 else 0}f} MB"
        table.add_row(spec.name, images, str(spec.classes), here, where, size_s, spec.licence)
    note = (
        f"get one: {get} (torchvision's layout, checksums verified; folders torchvision already "
        "holds are reused), or a system package where there is one (Debian/Ubuntu: apt-get "
        "install dataset-fashion-mnist; read in place, checked against the official files). "
        "Size: on disk if here, else the download. CIFAR: no licence stated, cite Krizhevsky 2009."
    )
    return Group(table, note)


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 10_000 else f"{n:,}"


def skipped_warning(skipped: list[tuple[str, str]], limit: int = 20) -> str:
    """One warning for all folders that could not be used, each with its reason."""
    lines = [f"  {safe(path)}: {safe(why)}" for path, why in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return f"[yellow]warning:[/] skipped {len(skipped)}:\n" + "\n".join(lines)


VERDICT_STYLE = {"confirmed": "green", "refuted": "red", "inconclusive": "yellow",
                 "untestable here": "dim"}  # fmt: skip


def studies_table() -> Table:
    """`relubench study list`: every study, its claims, source and cost."""
    from relubench.registry.studies import STUDIES

    table = Table(title="studies: relubench study run NAME [--quick]")
    for col in ("study", "what it checks", "claims", "source", "runs"):
        table.add_column(col, no_wrap=col == "study")
    for s in STUDIES.values():  # the texts are the registry's: escaped, "Var[w]" is not markup
        claims = "\n".join(f"- {c.claim}" for c in s.claims)
        table.add_row(*map(escape, (s.name, s.title, claims, s.source, s.cost)))
    return table


def verdict_table(doc: dict[str, Any]) -> Table:
    """A study's verdicts: claim, the paper's number, what was measured, the verdict."""
    title = f"{safe(doc.get('study', '?'))}: {safe(doc.get('title', ''))}"
    title += " (quick)" if doc.get("quick") is True else ""
    table = Table(title=title, caption=safe(doc.get("source", "")), caption_justify="left")
    for col in ("claim", "paper", "measured", "criterion", "verdict"):
        table.add_column(col, no_wrap=col == "verdict")
    for c in doc.get("claims") or []:
        verdict = str(c.get("verdict", ""))
        style = VERDICT_STYLE.get(verdict, "none")
        table.add_row(
            safe(c.get("claim", "")), safe(c.get("paper", "")), safe(c.get("measured", "")),
            safe(c.get("criterion", "")), f"[{style}]{safe(verdict)}[/]",
        )  # fmt: skip
    return table


def regime_table(cells: list[dict[str, Any]], margin: float) -> Table:
    """`relubench study map`: each activation against ReLU, per regime and setting."""
    table = Table(title=f"accuracy relative to ReLU, paired by seed (margin ±{margin:g} points)")
    for col in ("regime", "setting", "activation", "Δ points [95% CI]", "n", "outcome",
                "dead % (ReLU)", "failed (ReLU)"):  # fmt: skip
        table.add_column(col, justify="right" if col in ("n",) else "left")
    for c in cells:
        diff = "–" if c["diff"] is None else f"{c['diff']:+.2f}"
        if c["low"] is not None:
            diff += f" [{c['low']:+.1f}, {c['high']:+.1f}]"
        dead = "–" if c["dead"] is None else f"{c['dead']:.1f}"
        dead += " (–)" if c["relu_dead"] is None else f" ({c['relu_dead']:.1f})"
        failed = f"{c['failed']} ({c['relu_failed']})"
        cells_ = (c["regime"], c["setting"], c["act"], diff, c["n"], c["outcome"], dead, failed)
        table.add_row(*map(safe, cells_))
    return table
