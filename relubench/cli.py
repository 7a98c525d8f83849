"""The command line: parse, call, print. The only module that imports Typer.

torch is imported only inside the commands that train, so `relubench --help` starts fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

import relubench
from relubench.activations import ACTS, act_names
from relubench.config import MODELS, OPTIMIZERS, SCHEDULES, ConfigError, RunConfig, resolve
from relubench.data import DATASETS, DataError

app = typer.Typer(
    name="relubench",
    help="Experiment runner for the ReLU family: train, count dead units, track PReLU slopes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err = Console(stderr=True, highlight=False, soft_wrap=True)
D = RunConfig()  # the defaults, quoted in every flag's help


def fail(message: str, code: int = 2) -> NoReturn:
    """A user's mistake: one red line on stderr, no traceback."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"relubench {relubench.__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """relubench: which ReLU-family activation, and why - with evidence."""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


@app.command()
def train(
    act: str = typer.Option(
        None, "--act", "-a", help=f"Activation: {'|'.join(act_names())}. (default: {D.act})"
    ),
    model: str = typer.Option(None, help=f"Model: {'|'.join(MODELS)}. (default: {D.model})"),
    dataset: str = typer.Option(
        None, help=f"Dataset: {'|'.join(DATASETS)}. (default: {D.dataset})"
    ),
    epochs: int = typer.Option(None, help=f"Passes over the training set. (default: {D.epochs})"),
    batch_size: int = typer.Option(None, help=f"Images per step. (default: {D.batch_size})"),
    lr: float = typer.Option(None, help=f"Peak learning rate. (default: {D.lr})"),
    optimizer: str = typer.Option(None, help=f"{'|'.join(OPTIMIZERS)}. (default: {D.optimizer})"),
    schedule: str = typer.Option(None, help=f"{'|'.join(SCHEDULES)}. (default: {D.schedule})"),
    weight_decay: float = typer.Option(
        None, help=f"On conv/linear weights only. (default: {D.weight_decay})"
    ),
    seed: int = typer.Option(None, help=f"Seed for init and shuffling. (default: {D.seed})"),
    width: int = typer.Option(
        None,
        help="Model width: first-block channels (cnn 32, resnet20 16, vgg 32) or mlp hidden units "
        "(256). (default: the model's)",
    ),
    device: str = typer.Option(None, help=f"auto|cpu|cuda|mps. (default: {D.device})"),
    threads: int = typer.Option(None, help="torch CPU threads (0 = torch's choice). (default: 0)"),
    out: str = typer.Option(None, help=f"Folder for run folders. (default: {D.out})"),
    data_dir: str = typer.Option(
        None, help="Where downloadable datasets live. (default: $RELUBENCH_DATA, else user cache)"
    ),
    download: bool = typer.Option(
        False, "--download", help="Fetch a missing dataset through torchvision first."
    ),
    augment: bool = typer.Option(
        None, "--augment/--no-augment", help="CIFAR: random crop + flip per batch. (default: off)"
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="YAML file of config keys (see configs/)."
    ),
    set_: list[str] = typer.Option(
        None, "--set", "-s", help="Override any config key: --set key=value (repeatable)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Run again even if the run folder holds a complete run (replaces it).",
    ),
) -> None:
    """Train one model with one activation; write results/<run-id>/ as it goes."""
    flags = dict(
        act=act,
        model=model,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        schedule=schedule,
        weight_decay=weight_decay,
        seed=seed,
        width=width,
        device=device,
        threads=threads,
        out=out,
        data_dir=data_dir,
        download=download or None,
        augment=augment,
    )
    try:
        cfg = resolve(config, set_ or [], flags)
    except ConfigError as e:
        fail(str(e))
    from relubench.runs import run_status

    if run_status(cfg.run_dir) == "complete" and not force:
        fail(
            f"{cfg.run_dir} already holds a complete run of this config; pass --force to replace "
            f"it, or --out DIR to keep both"
        )
    _train(cfg)


def _train(cfg: RunConfig) -> None:
    from relubench.progress import RichReporter
    from relubench.train import run

    reporter = RichReporter(console)
    try:
        with reporter:
            summary = run(cfg, reporter)
    except (ConfigError, DataError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        if not (cfg.run_dir / "summary.json").is_file():  # stopped before training began
            fail("interrupted before the run started; nothing was written", code=130)
        fail(f"interrupted; completed epochs are kept in {cfg.run_dir}", code=130)
    reporter.print_layers()
    if summary["status"] == "diverged":
        fail(
            f"run diverged ({summary['error']}); files kept in {cfg.run_dir}. Try a lower --lr.",
            code=1,
        )
    console.print(
        f"test accuracy [bold]{_pct(summary['final_test_acc'])}[/] (best "
        f"{_pct(summary['best_test_acc'])} at epoch {summary['best_epoch']}) in "
        f"{summary['wall_seconds']:.1f} s"
    )
    console.print(
        f"dead units {_pct(summary['init_dead_frac'])} at init -> "
        f"{_pct(summary['final_dead_frac'])} at the end"
    )
    console.print(f"run folder: [bold]{cfg.run_dir}[/]")


@app.command()
def acts() -> None:
    """List the activations with their formula, parameters and init rule."""
    d = RunConfig()
    table = Table(title="activations")
    for col in ("name", "f(x)", "parameter", "init", "reference"):
        table.add_column(col, no_wrap=col in ("name", "parameter", "init"))
    for spec in ACTS.values():
        params = ", ".join(f"{p}={getattr(d, p)}" for p in spec.params) or "–"
        init = "LeCun" if spec.init == "lecun" else "Kaiming"
        table.add_row(spec.name, spec.formula, params, init, spec.reference)
    console.print(table)
    console.print(
        "Weight decay never applies to PReLU slopes, norm parameters or biases. "
        "Dead unit: its pre-activation is <= 0 on every probe image and position."
    )


@app.command()
def smoke(
    out: Path = typer.Option(None, help="Keep the run folders here (default: a temporary folder)."),
) -> None:
    """Train every activation x model for a few batches on synthetic data; exit 1 on any failure."""
    import tempfile

    from relubench.smoke import smoke_runs

    with tempfile.TemporaryDirectory(prefix="relubench-smoke-") as tmp:
        with console.status("smoke runs: every activation x model on synthetic data"):
            results = smoke_runs(out or Path(tmp))
    table = Table(title="smoke: every activation x model, synthetic data")
    for col in ("act", "model", "result", "final loss", "seconds", "problems"):
        table.add_column(col)
    for r in results:
        ok = "[green]pass[/]" if r["ok"] else "[red]FAIL[/]"
        loss = "–" if r["loss"] is None else f"{r['loss']:.3f}"
        table.add_row(
            r["act"], r["model"], ok, loss, f"{r['seconds']:.1f}", "; ".join(r["problems"])
        )
    console.print(table)
    failed = [r for r in results if not r["ok"]]
    if failed:
        fail(f"{len(failed)} of {len(results)} smoke runs failed", code=1)
    console.print(f"all {len(results)} smoke runs passed")


@app.command()
def sweep(
    file: Path = typer.Argument(..., help="Sweep YAML: base, grid, runs (configs/all-acts.yaml)."),
    jobs: int = typer.Option(
        None,
        "--jobs",
        "-j",
        help="Runs at once; local: torch threads split so jobs x threads <= cores. "
        "(default: local 1, ray: as many as the cluster's CPUs / --cpus-per-run)",
    ),
    out: str = typer.Option(
        None, help="Folder for run folders. (default: the sweep's, else results)"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the runs and which are complete; run nothing."
    ),
    backend: str = typer.Option("local", help="local (processes) or ray. (default: local)"),
    address: str = typer.Option(None, help="ray: cluster address, e.g. auto; none = a local Ray."),
    cpus_per_run: float = typer.Option(1.0, help="ray: CPUs per run. (default: 1)"),
    gpus_per_run: float = typer.Option(0.0, help="ray: GPUs per run; fractions share a GPU."),
    set_: list[str] = typer.Option(None, "--set", "-s", help="Override a key in every run: k=v."),
) -> None:
    """Run every config of a grid, skipping finished runs; locally or on a Ray cluster."""
    from relubench.config import parse_set
    from relubench.sweep import expand

    if jobs is not None and jobs < 1:
        fail(f"--jobs must be >= 1, got {jobs}")
    if backend not in ("local", "ray"):
        fail(f"unknown backend {backend!r}; choose local or ray")
    try:
        overrides = {**parse_set(set_ or []), **({"out": out} if out else {})}
        plan = expand(file, overrides)
    except ConfigError as e:
        fail(str(e))
    if dry_run:
        table = Table(title=f"{file}: {len(plan.configs)} runs, {len(plan.todo)} to run")
        table.add_column("run id", no_wrap=True)
        table.add_column("status", no_wrap=True)
        for c in plan.configs:
            status = "[green]complete[/]" if c.run_id in plan.complete else "to run"
            table.add_row(c.run_id, status)
        console.print(table)
        return
    if backend == "local":  # Ray workers may be other machines: each checks its own data
        from relubench.data import DataError
        from relubench.sweep import require_data

        try:
            require_data(plan)
        except DataError as e:
            fail(str(e))
    _sweep(plan, jobs, backend, address, cpus_per_run, gpus_per_run)


def _sweep(plan, jobs: int | None, backend: str, address, cpus: float, gpus: float) -> None:
    from collections import Counter

    from relubench.progress import RichSweepReporter
    from relubench.sweep import run_local

    reporter = RichSweepReporter(console)
    t0 = time.perf_counter()
    try:
        with reporter:
            if backend == "ray":
                from relubench.sweep_ray import run_ray

                outcome = run_ray(plan, jobs, reporter, address, cpus, gpus)
            else:
                outcome = run_local(plan, jobs or 1, reporter)
    except KeyboardInterrupt:
        fail("interrupted; finished runs are kept, rerun the same command to resume", code=130)
    except ConfigError as e:
        fail(str(e))
    counts = Counter(outcome.ran.values())
    table = Table(title=f"sweep finished in {time.perf_counter() - t0:.1f} s")
    table.add_column("runs")
    table.add_column("count", justify="right")
    for status in ("complete", "diverged", "failed", "interrupted"):
        if counts[status]:
            table.add_row(f"ran: {status}", str(counts[status]))
    for why, n in Counter(outcome.skipped.values()).items():
        table.add_row(f"skipped: {why}", str(n))
    console.print(table)
    outs = sorted({str(c.out) for c in plan.configs})
    console.print(f"compare: relubench compare {' '.join(outs)}")
    bad = sum(n for s, n in counts.items() if s != "complete")
    if bad:
        fail(f"{bad} of {len(outcome.ran)} runs did not complete; see their summary.json", code=1)


# compare, plot, report only read run folders: nothing below imports torch.

PATHS_HELP = "Run folders, folders holding them, or globs; searched recursively."
BY_HELP = (
    "Config keys to group by, comma-separated, e.g. act,model. "
    "(default: every key that differs between runs, except seed)"
)
INCOMPLETE_HELP = "Also average runs that did not complete (running, diverged, ...)."


def _warn_skipped(skipped: list[tuple[str, str]], limit: int = 20) -> None:
    """One warning for all folders that could not be used, each with its reason."""
    from rich.markup import escape

    if not skipped:
        return
    lines = [f"  {escape(path)}: {escape(why)}" for path, why in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    err.print(f"[yellow]warning:[/] skipped {len(skipped)}:\n" + "\n".join(lines))


def _compare(paths: list[str], by: str | None, baseline: str | None, incomplete: bool):
    from relubench.compare import CompareError, compare

    keys = by.split(",") if by is not None else None
    try:
        comp = compare(paths, by=keys, baseline=baseline, include_incomplete=incomplete)
    except CompareError as e:
        _warn_skipped(e.skipped)
        fail(str(e))
    _warn_skipped(comp.skipped)
    return comp


def _out_file(out: Path) -> Path:
    if out.is_dir():
        fail(f"--out {out} is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@app.command("compare")
def compare_cmd(
    paths: list[str] = typer.Argument(..., help=PATHS_HELP, show_default=False),
    by: str = typer.Option(None, "--by", help=BY_HELP),
    baseline: str = typer.Option(
        None,
        help="Group the others are tested against (Welch t-test): a value of a --by key, or "
        "key=value. (default: relu)",
    ),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help="table|markdown|csv|latex|json. (default: from --out's suffix, else table)",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file. (default: stdout)"),
    include_incomplete: bool = typer.Option(False, "--include-incomplete", help=INCOMPLETE_HELP),
) -> None:
    """Final and best accuracy, dead units, slopes per group: mean ± std over seeds, p vs relu."""
    from relubench.compare import CompareError, pick_format, render, rich_tables
    from relubench.runs import atomic_write

    try:
        fmt = pick_format(fmt, out)
    except CompareError as e:
        fail(str(e))
    comp = _compare(paths, by, baseline, include_incomplete)
    if out is not None:
        atomic_write(_out_file(out), render(comp, fmt))
        console.print(f"wrote {fmt} table of {len(comp.groups)} groups to [bold]{out}[/]")
        if len(comp.apart) and fmt in ("csv", "latex"):
            err.print(f"note: {len(comp.apart)} runs not complete, not in the table")
    elif fmt == "table":
        for table in rich_tables(comp, console.width):
            console.print(table)
    else:
        typer.echo(render(comp, fmt), nl=False)  # raw: no Rich wrapping or markup in the data
    for note in comp.notes:
        err.print(f"note: {note}")


@app.command("plot")
def plot_cmd(
    paths: list[str] = typer.Argument(..., help=PATHS_HELP, show_default=False),
    out: Path = typer.Option(
        Path("figures"), "--out", "-o", help="Folder for the figures (PNG + SVG)."
    ),
    by: str = typer.Option(None, "--by", help=BY_HELP),
    include_incomplete: bool = typer.Option(False, "--include-incomplete", help=INCOMPLETE_HELP),
) -> None:
    """Figures: accuracy and dead units per epoch, dead units per layer, PReLU slopes, f(x)."""
    from relubench.plots import save_figures

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder for the figures")
    comp = _compare(paths, by, None, include_incomplete)
    if not comp.included:
        fail("no complete runs to plot; pass --include-incomplete to plot the others")
    with console.status(f"drawing figures of {len(comp.included)} runs"):
        written, skipped = save_figures(comp, out)
    _warn_skipped(skipped)
    if not written:
        fail("no run could be plotted: see the warning")
    for stem in dict.fromkeys(p.with_suffix("") for p in written):
        kinds = ",".join(p.suffix[1:] for p in written if p.with_suffix("") == stem)
        console.print(f"wrote {stem}.{{{kinds}}}")


@app.command("report")
def report_cmd(
    paths: list[str] = typer.Argument(..., help=PATHS_HELP, show_default=False),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    by: str = typer.Option(None, "--by", help=BY_HELP),
    baseline: str = typer.Option(None, help="Group for the p-values. (default: relu)"),
    include_incomplete: bool = typer.Option(False, "--include-incomplete", help=INCOMPLETE_HELP),
    title: str = typer.Option("relubench report", help="Title of the page."),
) -> None:
    """One self-contained HTML page: the table, every figure, each group's config, environment."""
    from relubench.report import build_report
    from relubench.runs import atomic_write

    comp = _compare(paths, by, baseline, include_incomplete)
    for note in comp.notes:
        err.print(f"note: {note}")
    with console.status(f"writing the report of {len(comp.runs)} runs"):
        page = build_report(comp, paths, title)
        atomic_write(_out_file(out), page)
    console.print(f"wrote [bold]{out}[/] ({len(page) / 1e6:.1f} MB), open it in a browser")


data_app = typer.Typer(
    help="Datasets: where they live, whether they are here, how to get them.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
DATA_DIR_HELP = "Data dir. (default: $RELUBENCH_DATA, else the user cache dir)"


@data_app.command("list")
def data_list(data_dir: str = typer.Option(None, help=DATA_DIR_HELP)) -> None:
    """Every dataset: images, classes, whether it is here, its size, its licence."""
    from relubench.data import data_root, download_command, status

    root = data_root(data_dir)
    table = Table(title=f"datasets in {root}")
    for col in ("name", "images", "classes", "here", "size", "licence"):
        table.add_column(col, no_wrap=col != "licence", justify="right" if col == "size" else None)
    for spec in DATASETS.values():
        state, size = status(spec, root)
        here = {"present": "[green]yes[/]", "missing": "no", "incomplete": "[red]incomplete[/]"}
        here = here.get(state, state)
        if spec.kind == "download" and state != "present":
            size = int(spec.download_mb * 1e6)  # what a download costs
        images = f"{_count(spec.train)} + {_count(spec.test)}"
        size_s = "-" if not size else f"{size / 1e6:.{1 if size < 1e7 else 0}f} MB"
        table.add_row(spec.name, images, str(spec.classes), here, size_s, spec.licence)
    console.print(table)
    console.print(
        f"get one: {download_command('NAME', data_dir)} (torchvision's "
        "layout, checksums verified; folders torchvision already holds are reused). Size: on "
        "disk if here, else the download. CIFAR: no licence stated, cite Krizhevsky 2009."
    )


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 10_000 else f"{n:,}"


@data_app.command("download")
def data_download(
    name: str = typer.Argument(
        ..., help="mnist|fashion-mnist|cifar10|cifar100", show_default=False
    ),
    data_dir: str = typer.Option(None, help=DATA_DIR_HELP),
    force: bool = typer.Option(
        False, "--force", help="Delete the unpacked files first and fetch again (repairs them)."
    ),
) -> None:
    """Fetch a dataset through torchvision (checksums verified) and check that it loads."""
    from relubench.data import data_root, download, get_spec, load, missing_files

    try:
        spec = get_spec(name)
        was_here = spec.kind == "download" and not missing_files(spec, data_root(data_dir))
        folder = download(spec.name, data_dir, force=force)
        # augment (where defined) keeps the training images uint8: checking that they load
        # needs no float copy of them (CIFAR: 614 MB)
        cfg = RunConfig(dataset=spec.name, data_dir=data_dir or "", augment=spec.augment)
        with console.status(f"checking {spec.name} loads"):
            data = load(cfg)
    except DataError as e:
        fail(str(e))
    note = "already here" if was_here and not force else "downloaded"
    console.print(
        f"{spec.name} {note}: {len(data.y_train):,} train + {len(data.y_test):,} test images "
        f"in [bold]{folder}[/]"
    )


def main() -> Any:
    return app()
