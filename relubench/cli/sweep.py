"""Commands that run many runs: sweep, and the studies (list, run). Both take the same run
options and go through the Python API (`relubench.sweep`, `relubench.run_study`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from relubench import api, views
from relubench.cli.app import app, console, err, examples, fail, group
from relubench.cli.options import (
    Address,
    Backend,
    CpusPerRun,
    DryRun,
    GpusPerRun,
    Jobs,
    Restart,
    SweepSets,
    opt,
)
from relubench.config import parse_set
from relubench.runner.sweep import check_backend


def _run(call: Any, **how: Any) -> Any:
    """Run a plan through the API with the live display; the outcome table after it.
    `call` is api.sweep or api.run_study; Ctrl-C keeps what finished."""
    from relubench.runner.progress import RichSweepReporter

    reporter = RichSweepReporter(console)
    t0 = time.perf_counter()
    try:
        result = call(reporter=reporter, **how)
    except KeyboardInterrupt:
        fail("interrupted; finished runs are kept, rerun the same command to resume", code=130)
    console.print(views.outcome_table(reporter.outcome, time.perf_counter() - t0))
    return result


@app.command(
    epilog=examples(
        "relubench sweep all-acts --jobs 2",
        "relubench sweep my-sweep.yaml --set epochs=2 --dry-run",
    )
)
def sweep(
    file: Annotated[
        str,
        typer.Argument(
            help="Sweep YAML (base, grid, runs), or a sweep recipe's name (relubench recipes).",
            show_default=False,
        ),
    ],
    jobs: Jobs = None,
    out: Annotated[
        str | None, opt("Folder for run folders. (default: the sweep's, else results)")
    ] = None,
    dry_run: DryRun = False,
    backend: Backend = "local",
    address: Address = None,
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    set_: SweepSets = None,
    restart: Restart = False,
) -> None:
    """Run every config of a grid, skipping finished runs and resuming unfinished ones; locally
    or on a Ray cluster."""
    check_backend(backend, jobs)  # the flags first, before any file is read
    overrides = {**parse_set(set_ or []), **({"out": out} if out else {})}
    plan = api.sweep_plan(file, overrides)
    if dry_run:
        console.print(views.plan_table(file, plan))
        return
    how = dict(jobs=jobs, backend=backend, address=address, restart=restart)
    outcome = _run(api.sweep, spec=plan, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                   **how)  # fmt: skip
    console.print(f"compare: relubench compare {views.safe(' '.join(plan.outs))}")
    bad = sum(s != "complete" for s in outcome.ran.values())
    if bad:
        fail(f"{bad} of {len(outcome.ran)} runs did not complete; see their summary.json", code=1)


study_app = group("Studies: a paper's claims, the runs that test them, and the verdicts.")
app.add_typer(study_app, name="study")


@study_app.command("list", epilog=examples("relubench study list"))
def study_list() -> None:
    """The studies: each with its claims, source and cost."""
    console.print(views.studies_table())


@study_app.command(
    "run",
    epilog=examples(
        "relubench study run born-dead --quick", "relubench study run dead-vs-lr --jobs 2"
    ),
)
def study_run(
    name: Annotated[str, typer.Argument(help="The study (relubench study list).")],
    quick: Annotated[
        bool, opt("Fewer seeds and settings: a minute or two on 2 cores.", "--quick")
    ] = False,
    out: Annotated[Path, opt("Folder of study folders.", "--out", "-o")] = Path("studies"),
    jobs: Jobs = None,
    dry_run: DryRun = False,
    backend: Backend = "local",
    address: Address = None,
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    set_: SweepSets = None,
    restart: Restart = False,
) -> None:
    """Run a study's runs (resumable, as a sweep), then write its verdicts and figures."""
    check_backend(backend, jobs)
    overrides = parse_set(set_ or [])
    study, plan = api.study_plan(name, quick=quick, out=out, overrides=overrides)
    if dry_run:
        console.print(views.plan_table(f"study {study.name}", plan))
        return
    console.print(f"[bold]{study.name}[/]: {study.title} ({study.source})")
    how = dict(jobs=jobs, backend=backend, address=address, restart=restart)
    doc = _run(api.run_study, name=name, quick=quick, out=out, overrides=overrides,
               cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, **how)  # fmt: skip
    if doc.get("left_out"):
        err.print(
            f"note: {len(doc['left_out'])} runs not complete, left out (verdict.md lists them)"
        )
    console.print(views.verdict_table(doc))
    where = views.safe(out / study.name / "verdict.md")
    console.print(f"wrote [bold]{where}[/], verdict.json and the figures")


@study_app.command(
    "map",
    epilog=examples(
        "relubench study map studies/depth studies/high-lr studies/small-data --out map",
        "relubench study map results/fashion-mnist --margin 0.5",
    ),
)
def study_map(
    folders: Annotated[
        list[Path], typer.Argument(help="Study folders (studies/NAME) or folders of runs.")
    ],
    margin: Annotated[float, opt("Points of accuracy that count as a tie.", "--margin")] = 1.0,
    out: Annotated[
        Path | None, opt("Write OUT.md (the table), OUT.png and OUT.svg.", "--out", "-o")
    ] = None,
) -> None:
    """Where the activation matters: each one's accuracy minus ReLU's, per setting."""
    cells = api.regime_map(*folders, margin=margin, out=out)
    console.print(views.regime_table(cells, margin))
    if out is not None:
        console.print(f"wrote [bold]{views.safe(out)}[/].md, .png and .svg")
