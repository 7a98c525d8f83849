"""Commands that train: train, smoke; and what a user picks from: acts, recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relubench import views
from relubench.cli.app import State, app, console, examples, fail
from relubench.cli.options import (
    Act,
    ConfigFile,
    DataDir,
    Dataset,
    Model,
    Restart,
    Sets,
    cfg_opt,
    flag,
    opt,
)
from relubench.config import FIELD_TYPES, OPTIMIZERS, SCHEDULES, RunConfig, resolve
from relubench.registry.activations import FAMILY
from relubench.registry.models import lr_help, width_help


@app.command(
    epilog=examples(
        "relubench train --act prelu",
        "relubench train --config mnist-one-epoch --set act=elu --data-dir DIR",
    )
)
def train(
    ctx: typer.Context,
    act: Act = None,
    model: Model = None,
    dataset: Dataset = None,
    epochs: Annotated[int | None, cfg_opt("epochs", "Passes over the training set.")] = None,
    batch_size: Annotated[int | None, cfg_opt("batch_size", "Images per step.")] = None,
    lr: Annotated[float | None, opt(f"Peak learning rate. (default: {lr_help()})")] = None,
    optimizer: Annotated[str | None, cfg_opt("optimizer", ", ".join(OPTIMIZERS))] = None,
    schedule: Annotated[str | None, cfg_opt("schedule", ", ".join(SCHEDULES))] = None,
    weight_decay: Annotated[
        float | None, cfg_opt("weight_decay", "On conv/linear weights.")
    ] = None,
    seed: Annotated[int | None, cfg_opt("seed", "Seed for init and shuffling.")] = None,
    width: Annotated[
        int | None, opt(f"First-block channels, or mlp hidden units. (default: {width_help()})")
    ] = None,
    device: Annotated[str | None, cfg_opt("device", "auto, cpu, cuda, mps.")] = None,
    threads: Annotated[
        int | None, cfg_opt("threads", "torch CPU threads (0: torch's choice).")
    ] = None,
    out: Annotated[str | None, cfg_opt("out", "Folder for run folders.")] = None,
    data_dir: DataDir = None,
    download: Annotated[
        bool | None, flag("Fetch a missing dataset through torchvision first.", "--download")
    ] = None,
    augment: Annotated[
        bool | None,
        opt("CIFAR: random crop + flip per batch. (default: off)", "--augment/--no-augment"),
    ] = None,
    config: ConfigFile = None,
    set_: Sets = None,
    force: Annotated[
        bool,
        flag("Run again even if the run folder holds a complete run (replaces it).", "--force"),
    ] = False,
    restart: Restart = False,
) -> None:
    """Train one model with one activation; write results/<run-id>/ as it goes."""
    flags = {k: v for k, v in ctx.params.items() if k in FIELD_TYPES}  # every config flag
    from relubench.data.store import identify

    cfg = identify(resolve(config, set_ or [], flags))  # its run id: which data it reads too
    _train(cfg, restart, force)


def _train(cfg: RunConfig, restart: bool, force: bool = False) -> None:
    from relubench import api
    from relubench.runner.progress import RichReporter

    State.trained = True
    try:
        done = api.train(cfg, force=force, restart=restart, reporter=RichReporter(console))
    except KeyboardInterrupt:
        from relubench.runfolder import run_status

        if not (cfg.run_dir / "summary.json").is_file():  # stopped before training began
            fail("interrupted before the run started; nothing was written", code=130)
        if force and run_status(cfg.run_dir) == "complete":  # the run it was replacing is back
            fail(f"interrupted; the complete run in {cfg.run_dir} is kept as it was", code=130)
        fail(
            f"interrupted; completed epochs are kept in {cfg.run_dir}: rerun the same command to "
            "resume",
            code=130,
        )
    if done.status == "diverged":
        fail(f"run diverged: {done.summary['error']}; files kept in {cfg.run_dir}", code=1)


@app.command(epilog=examples("relubench acts"))
def acts() -> None:
    """List the activations with their formula, parameters and init rule."""
    console.print(views.acts_table())
    console.print(
        f"The ReLU family: {', '.join(FAMILY)}. Weight decay never applies to PReLU slopes, norm "
        "parameters or biases. Dead unit: its pre-activation is <= 0 on every probe image and "
        "position."
    )


@app.command(epilog=examples("relubench recipes", "relubench train --config mnist-fast"))
def recipes() -> None:
    """List the recipes shipped with relubench: run configs for --config, sweeps for sweep."""
    console.print(views.recipes_table())


@app.command(epilog=examples("relubench smoke", "relubench smoke --out smoke-runs"))
def smoke(
    out: Annotated[
        Path | None, opt("Keep the run folders here (default: a temporary folder).")
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
