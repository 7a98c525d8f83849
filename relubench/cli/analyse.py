"""Commands that read run folders: compare, plot, report, export. None of them imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from relubench.cli.app import app, console, err, examples, fail, group, warn_skipped
from relubench.cli.options import Baseline, By, Incomplete, Margin, OutFile, Paths, Tune, opt
from relubench.errors import CompareError
from relubench.views import safe


def _comparison(
    paths: list[str],
    by: str | None,
    baseline: str | None,
    incomplete: bool,
    tune: list[str] | None = None,
    margin: float | None = None,
) -> Any:
    from relubench.api import comparison

    comp = comparison(
        paths, by=by, baseline=baseline, include_incomplete=incomplete, tune=tune, margin=margin
    )
    warn_skipped(comp.skipped)
    return comp


def _out(out: Path | None, what: str) -> Path | None:
    """--out checked before anything is read: `-` (stdout) only where `what` is None (compare's
    text), never inside a run folder."""
    from relubench.analysis.load import refuse_run_folder

    if out is not None and str(out) == "-":
        if what:
            raise CompareError(f"--out - (stdout) cannot take {what}; give a file or folder")
        return None
    if out is not None:
        refuse_run_folder(out)
    return out


def _write(out: Path, text: str) -> None:
    """Write a file the user named, atomically; a path that cannot be written is one line."""
    from relubench.files import atomic_write

    if out.is_dir():
        raise CompareError(f"--out {out} is a folder; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text)
    except OSError as e:
        raise CompareError(f"cannot write {out}: {e.strerror or e}; give another --out") from None


def _notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"note: {safe(note)}")


@app.command(
    "compare",
    epilog=examples(
        "relubench compare results/",
        "relubench compare results/ --tune lr --format markdown --out table.md",
    ),
)
def compare_cmd(
    paths: Paths,
    by: By = None,
    baseline: Baseline = None,
    fmt: Annotated[
        str | None,
        opt(
            "table|markdown|csv|latex|json. (default: --out's suffix, else table)", "--format", "-f"
        ),
    ] = None,
    out: OutFile = None,
    include_incomplete: Incomplete = False,
    tune: Tune = None,
    margin: Margin = None,
) -> None:
    """Accuracy, dead units, slopes per group (mean ± std over seeds), each against the baseline:
    difference with CI, effect size, Holm-adjusted p, verdict: better, worse, equivalent within
    the margin, or not determined."""
    from relubench.analysis.formats import pick_format, render

    out = _out(out, "")
    fmt = pick_format(fmt, out)
    comp = _comparison(paths, by, baseline, include_incomplete, tune, margin)
    if out is not None:
        _write(out, render(comp, fmt))
        console.print(f"wrote {fmt} table of {len(comp.groups)} groups to [bold]{safe(out)}[/]")
        if len(comp.apart) and fmt in ("csv", "latex"):
            err.print(f"note: {len(comp.apart)} runs not complete, not in the table")
    elif fmt == "table":
        from relubench.analysis.terminal import rich_tables

        for table in rich_tables(comp, console.width):
            console.print(table)
    else:  # raw: no Rich wrapping or markup in the data; no control character either
        typer.echo(render(comp, fmt), nl=False)
    _notes(comp.notes)


@app.command(
    "plot",
    epilog=examples("relubench plot results/", "relubench plot results/ --by act --out figs"),
)
def plot_cmd(
    paths: Paths,
    out: Annotated[Path, opt("Folder for the figures, PNG + SVG.", "--out", "-o")] = Path(
        "figures"
    ),
    by: By = None,
    include_incomplete: Incomplete = False,
) -> None:
    """Figures: accuracy and dead units per epoch, dead units per layer, PReLU slopes, f(x)."""
    from relubench.analysis.plots import save_figures

    _out(out, "figures")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder for the figures")
    comp = _comparison(paths, by, None, include_incomplete)
    if not comp.included:
        fail("no complete runs to plot; pass --include-incomplete to plot the others")
    try:
        with console.status(f"drawing figures of {len(comp.included)} runs"):
            written, skipped = save_figures(comp, out)
    except OSError as e:
        fail(f"cannot write figures into {out}: {e.strerror or e}; give another --out")
    warn_skipped(skipped)
    if not written:
        fail("no run could be plotted: see the warning")
    for stem in dict.fromkeys(p.with_suffix("") for p in written):
        kinds = ",".join(p.suffix[1:] for p in written if p.with_suffix("") == stem)
        console.print(f"wrote {safe(stem)}.{{{kinds}}}")


@app.command(
    "report",
    epilog=examples("relubench report results/", "relubench report studies/born-dead"),
)
def report_cmd(
    paths: Paths,
    out: Annotated[Path, opt("The HTML file to write.", "--out", "-o")] = Path("report.html"),
    by: By = None,
    baseline: Baseline = None,
    include_incomplete: Incomplete = False,
    tune: Tune = None,
    margin: Margin = None,
    title: Annotated[str, opt("Title of the page.")] = "relubench report",
) -> None:
    """One self-contained HTML page: the table, every figure, each group's config, environment."""
    from relubench.analysis.report import build_report

    _out(out, "an HTML page")
    comp = _comparison(paths, by, baseline, include_incomplete, tune, margin)
    _notes(comp.notes)
    left_out: list[tuple[str, str]] = []
    with console.status(f"writing the report of {len(comp.runs)} runs"):
        page = build_report(comp, paths, title, left_out)
        _write(out, page)
    warn_skipped(left_out)
    console.print(f"wrote [bold]{safe(out)}[/] ({len(page) / 1e6:.1f} MB), open it in a browser")


export_app = group("Run folders in other tools' formats: TensorBoard.")
app.add_typer(export_app, name="export")


@export_app.command(
    "tensorboard", epilog=examples("relubench export tensorboard results/ --out tb")
)
def export_tensorboard_cmd(
    paths: Paths,
    out: Annotated[
        Path, opt("Folder of TensorBoard runs, one per run folder (its run id).", "--out", "-o")
    ] = Path("tb"),
) -> None:
    """TensorBoard runs from run folders: curves, dead units per layer, slope histograms, hparams.

    Post hoc, so training stays as fast and old runs work too; exporting again replaces a run.
    """
    from relubench.analysis.tensorboard import export_tensorboard

    _out(out, "TensorBoard runs")
    with console.status(f"exporting run folders to {safe(out)}"):
        done = export_tensorboard(paths, out)
    warn_skipped(done.skipped)
    if not done.runs:
        fail("no run folder could be exported: see the warning")
    n = len(done.runs)
    console.print(
        f"exported {n} run{'s' * (n != 1)} to [bold]{safe(out)}[/]; "
        f"view them: tensorboard --logdir {safe(out)}"
    )
