"""The command line: parse, call, print. The only module that imports Typer.

torch is imported only inside the commands that train, so `relubench --help` starts fast.
Every user mistake is a RelubenchError, turned into one red line and exit code 2 in one place
(`_Commands.invoke`); no command catches them one by one.
"""

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

import relubench
from relubench import views
from relubench.config import FIELD_TYPES, OPTIMIZERS, SCHEDULES, RunConfig, resolve
from relubench.errors import CompareError, RelubenchError
from relubench.registry.activations import FAMILY, act_names
from relubench.registry.datasets import DATASETS
from relubench.registry.models import model_names, width_help

console = Console()
err = Console(stderr=True, highlight=False, soft_wrap=True)
D = RunConfig()  # the defaults, quoted in every flag's help


def fail(message: str, code: int = 2) -> NoReturn:
    """One red line on stderr, no traceback."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    if skipped:
        err.print(views.skipped_warning(skipped))


UsageError = typer.BadParameter.__bases__[0]  # click's, as the Typer in use vendors it


class _Commands(TyperGroup):
    """Every command's user errors end here: one line, exit 2. That includes what the parser
    refuses (an unknown flag, a missing value), which Click would print as a usage block."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelubenchError as e:
            if isinstance(e, CompareError):
                _warn_skipped(e.skipped)
            fail(str(e))
        except UsageError as e:
            where = e.ctx.command_path if e.ctx else "relubench"
            fail(f"{e.format_message()} (see {where} --help)")


app = typer.Typer(
    name="relubench",
    cls=_Commands,
    help="Experiment runner for the ReLU family: train, count dead units, track PReLU slopes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"relubench {relubench.__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """relubench: which ReLU-family activation, and why - with evidence."""


def _opt(help: str, *names: str) -> Any:
    return typer.Option(*names, help=help)


def _cfg(key: str, help: str, *names: str) -> Any:
    """The option of config key `key`, its default quoted from RunConfig."""
    return typer.Option(*names, help=f"{help} (default: {getattr(D, key)})")


Act = Annotated[str | None, _cfg("act", f"Activation: {'|'.join(act_names())}.", "--act", "-a")]
Model = Annotated[str | None, _cfg("model", f"Model: {'|'.join(model_names())}.")]
Dataset = Annotated[str | None, _cfg("dataset", f"Dataset: {'|'.join(DATASETS)}.")]
ConfigFile = Annotated[
    Path | None, _opt("YAML file of config keys (see configs/).", "--config", "-c")
]
Sets = Annotated[
    list[str] | None, _opt("Override any config key: --set key=value (repeatable).", "--set", "-s")
]
Restart = Annotated[
    bool,
    _opt(
        "Start an unfinished run (running, interrupted) over instead of resuming it from its "
        "checkpoint.",
        "--restart",
    ),
]
DataDir = Annotated[
    str | None, _opt("Where downloadable datasets live. (default: $RELUBENCH_DATA, else cache)")
]


@app.command()
def train(
    ctx: typer.Context,
    act: Act = None,
    model: Model = None,
    dataset: Dataset = None,
    epochs: Annotated[int | None, _cfg("epochs", "Passes over the training set.")] = None,
    batch_size: Annotated[int | None, _cfg("batch_size", "Images per step.")] = None,
    lr: Annotated[float | None, _cfg("lr", "Peak learning rate.")] = None,
    optimizer: Annotated[str | None, _cfg("optimizer", "|".join(OPTIMIZERS))] = None,
    schedule: Annotated[str | None, _cfg("schedule", "|".join(SCHEDULES))] = None,
    weight_decay: Annotated[float | None, _cfg("weight_decay", "On conv/linear weights.")] = None,
    seed: Annotated[int | None, _cfg("seed", "Seed for init and shuffling.")] = None,
    width: Annotated[
        int | None, _opt(f"First-block channels, or mlp hidden units. (default: {width_help()})")
    ] = None,
    device: Annotated[str | None, _cfg("device", "auto|cpu|cuda|mps.")] = None,
    threads: Annotated[
        int | None, _cfg("threads", "torch CPU threads (0: torch's choice).")
    ] = None,
    out: Annotated[str | None, _cfg("out", "Folder for run folders.")] = None,
    data_dir: DataDir = None,
    download: Annotated[
        bool | None, _opt("Fetch a missing dataset through torchvision first.", "--download")
    ] = None,
    augment: Annotated[
        bool | None,
        _opt("CIFAR: random crop + flip per batch. (default: off)", "--augment/--no-augment"),
    ] = None,
    config: ConfigFile = None,
    set_: Sets = None,
    force: Annotated[
        bool,
        _opt("Run again even if the run folder holds a complete run (replaces it).", "--force"),
    ] = False,
    restart: Restart = False,
) -> None:
    """Train one model with one activation; write results/<run-id>/ as it goes."""
    flags = {k: v for k, v in ctx.params.items() if k in FIELD_TYPES}  # every config flag
    cfg = resolve(config, set_ or [], flags)
    _train(cfg, restart, force)


_trained = False  # `train` ran in this process: main() ends it without the teardown


def _train(cfg: RunConfig, restart: bool, force: bool = False) -> None:
    from relubench import api
    from relubench.runner.progress import RichReporter

    global _trained
    _trained = True
    try:
        done = api.train(cfg, force=force, restart=restart, reporter=RichReporter(console))
    except KeyboardInterrupt:
        if not (cfg.run_dir / "summary.json").is_file():  # stopped before training began
            fail("interrupted before the run started; nothing was written", code=130)
        fail(
            f"interrupted; completed epochs are kept in {cfg.run_dir}: rerun the same command to "
            "resume",
            code=130,
        )
    if done.status == "diverged":
        fail(f"run diverged: {done.summary['error']}; files kept in {cfg.run_dir}", code=1)


@app.command()
def acts() -> None:
    """List the activations with their formula, parameters and init rule."""
    console.print(views.acts_table())
    console.print(
        f"The ReLU family: {', '.join(FAMILY)}. Weight decay never applies to PReLU slopes, norm "
        "parameters or biases. Dead unit: its pre-activation is <= 0 on every probe image and "
        "position."
    )


@app.command()
def smoke(
    out: Annotated[
        Path | None, _opt("Keep the run folders here (default: a temporary folder).")
    ] = None,
) -> None:
    """Train every activation x model for a few batches on synthetic data; exit 1 on any failure."""
    import tempfile

    from relubench.runner.smoke import smoke_runs

    with tempfile.TemporaryDirectory(prefix="relubench-smoke-") as tmp:
        with console.status("smoke runs: every activation x model on synthetic data"):
            results = smoke_runs(out or Path(tmp))
    console.print(views.smoke_table(results))
    failed = [r for r in results if not r["ok"]]
    if failed:
        fail(f"{len(failed)} of {len(results)} smoke runs failed", code=1)
    console.print(f"all {len(results)} smoke runs passed")


@app.command()
def sweep(
    file: Annotated[
        Path, typer.Argument(help="Sweep YAML: base, grid, runs (configs/all-acts.yaml).")
    ],
    jobs: Annotated[
        int | None,
        _opt(
            "Runs at once, threads split between them. (default: 1; ray: fill it)", "--jobs", "-j"
        ),
    ] = None,
    out: Annotated[
        str | None, _opt("Folder for run folders. (default: the sweep's, else results)")
    ] = None,
    dry_run: Annotated[
        bool, _opt("List the runs and which are complete; run nothing.", "--dry-run")
    ] = False,
    backend: Annotated[str, _opt("local (processes) or ray. (default: local)")] = "local",
    address: Annotated[
        str | None, _opt("ray: cluster address, e.g. auto; none = a local Ray.")
    ] = None,
    cpus_per_run: Annotated[float, _opt("ray: CPUs per run. (default: 1)")] = 1.0,
    gpus_per_run: Annotated[float, _opt("ray: GPUs per run; fractions share a GPU.")] = 0.0,
    set_: Annotated[
        list[str] | None, _opt("Override a key in every run: k=v.", "--set", "-s")
    ] = None,
    restart: Restart = False,
) -> None:
    """Run every config of a grid, skipping finished runs and resuming unfinished ones; locally
    or on a Ray cluster."""
    from relubench.config import parse_set
    from relubench.runner.sweep import check_backend, expand

    check_backend(backend, jobs)
    overrides = {**parse_set(set_ or []), **({"out": out} if out else {})}
    plan = expand(file, overrides)
    if dry_run:
        console.print(views.plan_table(file, plan))
        return
    if backend == "local":  # Ray workers may be other machines: each checks its own data
        from relubench.runner.sweep import require_data

        require_data(plan)
    _sweep(
        plan, backend, jobs, address=address, cpus=cpus_per_run, gpus=gpus_per_run, restart=restart
    )


def _sweep(plan: Any, backend: str, jobs: int | None, **how: Any) -> None:
    outcome = _run_plan(plan, backend, jobs, **how)
    console.print(f"compare: relubench compare {' '.join(plan.outs)}")
    bad = sum(s != "complete" for s in outcome.ran.values())
    if bad:
        fail(f"{bad} of {len(outcome.ran)} runs did not complete; see their summary.json", code=1)


def _run_plan(plan: Any, backend: str, jobs: int | None, **how: Any) -> Any:
    """Run a plan with the live display; the outcome table after it."""
    from relubench.runner.progress import RichSweepReporter
    from relubench.runner.sweep import run_plan

    reporter = RichSweepReporter(console)
    t0 = time.perf_counter()
    try:
        with reporter:
            outcome = run_plan(plan, backend, jobs, reporter, **how)
    except KeyboardInterrupt:
        fail("interrupted; finished runs are kept, rerun the same command to resume", code=130)
    console.print(views.outcome_table(outcome, time.perf_counter() - t0))
    return outcome


# compare, plot, report only read run folders: nothing below imports torch.

Paths = Annotated[
    list[str],
    typer.Argument(
        help="Run folders, folders holding them, or globs; searched recursively.",
        show_default=False,
    ),
]
By = Annotated[
    str | None,
    _opt(
        "Config keys to group by, comma-separated, e.g. act,model. "
        "(default: every key that differs between runs, except seed)",
        "--by",
    ),
]
Incomplete = Annotated[
    bool,
    _opt(
        "Also average runs that did not complete (running, diverged, ...).", "--include-incomplete"
    ),
]

Baseline = Annotated[
    str | None,
    _opt("Group tested against (Welch): a --by value or key=value. (default: relu)"),
]


Tune = Annotated[
    list[str] | None,
    _opt(
        "Choose each group's value of this config key (e.g. lr) on mean validation accuracy, "
        "never on test; repeatable. Needs runs with a validation split (val_size).",
        "--tune",
    ),
]


def _compare(
    paths: list[str],
    by: str | None,
    baseline: str | None,
    incomplete: bool,
    tune: list[str] | None = None,
) -> Any:
    from relubench.api import comparison

    comp = comparison(paths, by=by, baseline=baseline, include_incomplete=incomplete, tune=tune)
    _warn_skipped(comp.skipped)
    return comp


def _write(out: Path, text: str) -> None:
    """Write a file the user named, atomically; a path that cannot be written is one line."""
    from relubench.files import atomic_write

    if out.is_dir():
        fail(f"--out {out} is a folder; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}; give another --out")


@app.command("compare")
def compare_cmd(
    paths: Paths,
    by: By = None,
    baseline: Baseline = None,
    fmt: Annotated[
        str | None,
        _opt(
            "table|markdown|csv|latex|json. (default: --out's suffix, else table)", "--format", "-f"
        ),
    ] = None,
    out: Annotated[
        Path | None, _opt("Write to this file. (default: stdout)", "--out", "-o")
    ] = None,
    include_incomplete: Incomplete = False,
    tune: Tune = None,
) -> None:
    """Accuracy, dead units, slopes per group (mean ± std over seeds), each against the baseline:
    difference with CI, effect size, Holm-adjusted p, verdict."""
    from relubench.analysis.formats import pick_format, render

    fmt = pick_format(fmt, out)
    comp = _compare(paths, by, baseline, include_incomplete, tune)
    if out is not None:
        _write(out, render(comp, fmt))
        console.print(f"wrote {fmt} table of {len(comp.groups)} groups to [bold]{out}[/]")
        if len(comp.apart) and fmt in ("csv", "latex"):
            err.print(f"note: {len(comp.apart)} runs not complete, not in the table")
    elif fmt == "table":
        from relubench.analysis.terminal import rich_tables

        for table in rich_tables(comp, console.width):
            console.print(table)
    else:
        typer.echo(render(comp, fmt), nl=False)  # raw: no Rich wrapping or markup in the data
    for note in comp.notes:
        err.print(f"note: {note}")


@app.command("plot")
def plot_cmd(
    paths: Paths,
    out: Annotated[Path, _opt("Folder for the figures, PNG + SVG.", "--out", "-o")] = Path(
        "figures"
    ),
    by: By = None,
    include_incomplete: Incomplete = False,
) -> None:
    """Figures: accuracy and dead units per epoch, dead units per layer, PReLU slopes, f(x)."""
    from relubench.analysis.plots import save_figures

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder for the figures")
    comp = _compare(paths, by, None, include_incomplete)
    if not comp.included:
        fail("no complete runs to plot; pass --include-incomplete to plot the others")
    try:
        with console.status(f"drawing figures of {len(comp.included)} runs"):
            written, skipped = save_figures(comp, out)
    except OSError as e:
        fail(f"cannot write figures into {out}: {e.strerror or e}; give another --out")
    _warn_skipped(skipped)
    if not written:
        fail("no run could be plotted: see the warning")
    for stem in dict.fromkeys(p.with_suffix("") for p in written):
        kinds = ",".join(p.suffix[1:] for p in written if p.with_suffix("") == stem)
        console.print(f"wrote {stem}.{{{kinds}}}")


@app.command("report")
def report_cmd(
    paths: Paths,
    out: Annotated[Path, _opt("The HTML file to write.", "--out", "-o")] = Path("report.html"),
    by: By = None,
    baseline: Baseline = None,
    include_incomplete: Incomplete = False,
    tune: Tune = None,
    title: Annotated[str, _opt("Title of the page.")] = "relubench report",
) -> None:
    """One self-contained HTML page: the table, every figure, each group's config, environment."""
    from relubench.analysis.report import build_report

    comp = _compare(paths, by, baseline, include_incomplete, tune)
    for note in comp.notes:
        err.print(f"note: {note}")
    with console.status(f"writing the report of {len(comp.runs)} runs"):
        page = build_report(comp, paths, title)
        _write(out, page)
    console.print(f"wrote [bold]{out}[/] ({len(page) / 1e6:.1f} MB), open it in a browser")


data_app = typer.Typer(
    help="Datasets: where they live, whether they are here, how to get them.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(data_dir: DataDir = None) -> None:
    """Every dataset: images, classes, whether it is here and where, its size, its licence."""
    from relubench.data.store import download_command

    console.print(views.datasets_table(data_dir, download_command("NAME", data_dir)))


@data_app.command("download")
def data_download(
    name: Annotated[
        str, typer.Argument(help="mnist|fashion-mnist|cifar10|cifar100", show_default=False)
    ],
    data_dir: DataDir = None,
    force: Annotated[
        bool,
        _opt("Delete the unpacked files first and fetch again (repairs them).", "--force"),
    ] = False,
) -> None:
    """Fetch a dataset through torchvision (checksums verified) and check that it loads."""
    from relubench.data.load import fetch

    with console.status(f"fetching {name} and checking it loads"):
        data, found, fetched = fetch(name, data_dir, force)
    console.print(
        f"{data.spec.name} {'downloaded' if fetched else f'already here ({found.where})'}: "
        f"{len(data.y_train):,} train + {len(data.y_test):,} test images in [bold]{found.folder}[/]"
    )


export_app = typer.Typer(
    help="Run folders in other tools' formats: TensorBoard.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


@export_app.command("tensorboard")
def export_tensorboard_cmd(
    paths: Paths,
    out: Annotated[
        Path, _opt("Folder of TensorBoard runs, one per run folder (its run id).", "--out", "-o")
    ] = Path("tb"),
) -> None:
    """TensorBoard runs from run folders: curves, dead units per layer, slope histograms, hparams.

    Post hoc, so training stays as fast and old runs work too; exporting again replaces a run.
    """
    from relubench.analysis.tensorboard import export_tensorboard

    with console.status(f"exporting run folders to {out}"):
        done = export_tensorboard(paths, out)
    _warn_skipped(done.skipped)
    if not done.runs:
        fail("no run folder could be exported: see the warning")
    n = len(done.runs)
    console.print(
        f"exported {n} run{'s' * (n != 1)} to [bold]{escape(str(out))}[/]; "
        f"view them: tensorboard --logdir {escape(str(out))}"
    )


def main() -> Any:
    try:
        return app()
    except SystemExit as e:
        if _trained:  # every file is written and closed, no other process or thread is left
            _exit_now(e.code)
        raise


def _exit_now(code: Any) -> NoReturn:
    """End the process without the interpreter's teardown: once torch is loaded, unloading its
    modules takes a second or more (benchmarks/breakdown.py, "exit"), for nothing."""
    if code is not None and not isinstance(code, int):  # sys.exit("message") prints it
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


study_app = typer.Typer(
    help="Studies: a paper's claims, the runs that test them, and the verdicts.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")


@study_app.command("list")
def study_list() -> None:
    """The studies: each with its claims, source and cost."""
    console.print(views.studies_table())


@study_app.command("run")
def study_run(
    name: Annotated[str, typer.Argument(help="The study (relubench study list).")],
    quick: Annotated[
        bool, _opt("Fewer seeds and settings: a minute or two on 2 cores.", "--quick")
    ] = False,
    out: Annotated[Path, _opt("Folder of study folders.", "--out", "-o")] = Path("studies"),
    jobs: Annotated[int | None, _opt("Runs at once. (default: 1)", "--jobs", "-j")] = None,
    backend: Annotated[str, _opt("local (processes) or ray. (default: local)")] = "local",
    address: Annotated[
        str | None, _opt("ray: cluster address, e.g. auto; none = a local Ray.")
    ] = None,
    restart: Restart = False,
) -> None:
    """Run a study's runs (resumable, as a sweep), then write its verdicts and figures."""
    from relubench.registry.studies import get_study
    from relubench.runner.sweep import check_backend, plan_of, require_data

    study = get_study(name)
    check_backend(backend, jobs)
    folder = out / study.name
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file; give another --out")
    plan = plan_of(study.spec(quick), f"study {study.name}", {"out": str(folder / "runs")})
    if backend == "local":
        require_data(plan)
    console.print(f"[bold]{study.name}[/]: {study.title} ({study.source})")
    _run_plan(plan, backend, jobs, address=address, restart=restart)
    command = f"relubench study run {study.name}{' --quick' if quick else ''} --out {out}"
    doc = _verdicts(study, [c.run_dir for c in plan], folder, quick, command)
    console.print(views.verdict_table(doc))
    console.print(f"wrote [bold]{folder / 'verdict.md'}[/], verdict.json and the figures")


def _verdicts(study: Any, folders: list[Path], out: Path, quick: bool, command: str) -> dict:
    from relubench.analysis.study import read_runs, verdicts, write
    from relubench.analysis.study_figures import save_study_figures

    runs, apart = read_runs(folders, [k for k in study.sweep["grid"] if k != "seed"])
    doc = verdicts(study, runs, quick, apart)
    if apart:
        err.print(f"note: {len(apart)} runs not complete, left out (verdict.md lists them)")
    try:
        figures = save_study_figures(runs, study.figures, out)
        write(out, doc, command, [p.name for p in figures])
    except OSError as e:
        fail(f"cannot write into {out}: {e.strerror or e}; give another --out")
    return doc
