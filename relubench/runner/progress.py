"""Rich presentation of a training run: progress bars while it runs, a per-layer table after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from relubench.config import RunConfig
from relubench.runfolder import printable
from relubench.runner.reporters import Reporter, SweepReporter

if TYPE_CHECKING:  # the probe imports torch; `relubench sweep` must not when it skips everything
    from relubench.nn.probe import Probe
    from relubench.runner.plan import Outcome, Plan


def _bars(console: Console) -> Progress:
    """Progress bars with a free-text `info` field; they vanish when done (transient)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


class RichReporter(Reporter):
    """Two bars (epochs, batches of this epoch) with live loss and accuracy; a line per epoch."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = _bars(console)

    def __enter__(self) -> RichReporter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start(self, cfg: RunConfig, steps_per_epoch: int) -> None:
        self.total, self.run_dir = cfg.epochs, cfg.run_dir
        self.console.print(f"[bold]{cfg.run_id}[/]")
        self.console.print(
            f"{cfg.act} {cfg.model} on {cfg.dataset}: {cfg.epochs} epochs, {cfg.optimizer} "
            f"lr {cfg.lr} ({cfg.schedule}), batch {cfg.batch_size}, seed {cfg.seed}"
        )
        self.epochs = self.progress.add_task("epochs", total=cfg.epochs, info="")
        self.batches = self.progress.add_task("batches", total=steps_per_epoch, info="")

    def step(self, epoch: int, step: int, loss: float, acc: float) -> None:
        self.progress.update(
            self.batches,
            completed=step,
            description=f"epoch {epoch}",
            info=f"loss {loss:.4f} acc {_pct(acc)}",
        )

    def line(self, row: dict[str, Any]) -> str:
        """An epoch's line: train and test loss and accuracy, dead units, seconds."""
        e = row["epoch"]
        test = f"test loss {row['test_loss']:.3f} acc {_pct(row['test_acc']):>6}"
        if row.get("probe_acc") is not None:  # the probe set's training images, eval mode
            test = f"probe acc {_pct(row['probe_acc']):>6} | {test}"
        if row.get("val_acc") is not None:
            test = f"val acc {_pct(row['val_acc']):>6} | {test}"
        dead = f"dead {_pct(row['dead_frac']):>5}"
        if e == 0:
            return f"{'init':<6}{'':22}| {test} | {dead}"
        train = f"loss {row['train_loss']:.3f} acc {_pct(row['train_acc']):>6}"
        seconds = f" | {row['epoch_seconds']:.1f} s" if row["epoch_seconds"] is not None else ""
        return f"{e:>2}/{self.total:<2} {train:22}| {test} | {dead}{seconds}"

    def resumed(self, rows: list[dict[str, Any]]) -> None:
        done = rows[-1]["epoch"]
        self.console.print(
            f"[yellow]resuming[/] from the checkpoint of epoch {done} (its files say how the "
            "epochs so far went):"
        )
        for row in rows:
            self.console.print(f"[dim]{self.line(row)}[/]")
        self.progress.update(self.epochs, completed=done)

    def epoch(self, row: dict[str, Any], probe: Probe) -> None:
        self.console.print(self.line(row))
        if row["epoch"]:
            self.progress.update(self.epochs, completed=row["epoch"])
            self.progress.reset(self.batches)

    def end(self, summary: dict[str, Any]) -> None:
        """The per-layer table, then (if it completed) the run's results in three lines."""
        self.print_layers(summary.get("layers") or [])
        if summary["status"] != "complete":
            return
        resumed = len(summary.get("resumes") or [])
        note = f", resumed {resumed}x" if resumed else ""
        on = "validation" if summary.get("best_selected_on") == "val" else "test"
        self.console.print(
            f"test accuracy [bold]{_pct(summary['final_test_acc'], 2)}[/] (best epoch on "
            f"{on}: {summary['best_epoch']}, test {_pct(summary['best_test_acc'], 2)}) in "
            f"{summary['wall_seconds']:.1f} s{note}"
        )
        self.console.print(
            f"dead units {_pct(summary['init_dead_frac'], 2)} at init -> "
            f"{_pct(summary['final_dead_frac'], 2)} at the end"
        )
        self.console.print(f"run folder: [bold]{_safe(self.run_dir)}[/]")

    def print_layers(self, layers: list[dict[str, Any]]) -> None:
        """Per layer: units, dead at init -> dead at end, and the learned slopes at the end
        (summary.json's `layers`)."""
        if not layers:
            return
        table = Table(title="activation layers (dead = never positive on the probe set)")
        for col in ("layer", "units", "dead at init", "dead at end", "slope mean", "min", "max"):
            table.add_column(col, justify="left" if col == "layer" else "right")
        for lp in layers:
            slope = (lp["alpha_mean"], lp["alpha_min"], lp["alpha_max"])
            stats = [f"{v:.3f}" for v in slope] if slope[0] is not None else ["–"] * 3
            table.add_row(
                lp["layer"], str(lp["units"]), _pct(lp["init_dead_frac"]), _pct(lp["dead_frac"]),
                *stats,
            )  # fmt: skip
        self.console.print(table)


class RichSweepReporter(SweepReporter):
    """One bar over runs (done / skipped / failed / running) and a line per finished run."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = _bars(console)
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self.epochs: dict[str, int] = {}
        self.total_epochs: dict[str, int] = {}
        self.outcome: Outcome | None = None

    def __enter__(self) -> RichSweepReporter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def _info(self, running: dict[str, int] | None = None) -> str:
        c = self.counts
        now = " ".join(
            f"{rid.rsplit('-', 1)[0]} {e}/{self.total_epochs.get(rid, '?')}"
            for rid, e in (running or {}).items()
        )
        return f"done {c['done']} skipped {c['skipped']} failed {c['failed']}  {now}"

    def start(self, plan: Plan, todo: int) -> None:
        done = plan.count - todo
        self.counts["skipped"] = done
        self.console.print(
            f"{_safe(plan.source)}: {plan.count} runs, {done} already {' or '.join(plan.done)}, "
            f"{todo} to run"
        )
        self.task = self.progress.add_task("runs", total=todo, info=self._info())

    def started(self, cfg: RunConfig) -> None:
        self.total_epochs[cfg.run_id] = cfg.epochs

    def end(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def finished(self, cfg: RunConfig, status: str, summary: dict[str, Any]) -> None:
        self.counts["done" if status == "complete" else "failed"] += 1
        acc = summary.get("final_test_acc")
        extra = f"test acc {_pct(acc)}" if acc is not None else str(summary.get("error") or "")
        color = "green" if status == "complete" else "red"
        self.console.print(f"[{color}]{status:<11}[/] {cfg.run_id}  {_safe(extra)}")
        self.progress.update(self.task, advance=1, info=self._info())

    def skipped(self, cfg: RunConfig, why: str) -> None:
        self.counts["skipped"] += 1
        self.console.print(f"[yellow]{'skipped':<11}[/] {cfg.run_id}  ({_safe(why)})")
        self.progress.update(self.task, advance=1, info=self._info())

    def retried(self, cfg: RunConfig, why: str) -> None:
        self.console.print(f"[yellow]{'resuming':<11}[/] {cfg.run_id}  ({_safe(why)})")

    def poll(self, running: dict[str, int]) -> None:
        self.progress.update(self.task, info=self._info(running))


def _safe(value: Any) -> str:
    """Text from a file or a user (a path, an error) for Rich: markup shown as text, control
    characters escaped."""
    return escape(printable(str(value)))
