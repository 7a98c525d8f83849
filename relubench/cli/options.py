"""Options shared by several commands, each declared once: config flags quote their default
from RunConfig; sweep and study run take the same set of run options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from relubench.config import RunConfig
from relubench.registry.activations import act_names
from relubench.registry.datasets import DATASETS
from relubench.registry.models import model_names

D = RunConfig()  # the defaults, quoted in every flag's help


def opt(help: str, *names: str, metavar: str | None = None) -> Any:
    """An option whose help says its default where it has one: typer's own `[default: ...]`
    is off, so a default is never shown twice, nor in two spellings. A flag (a name with a
    slash, or --force and the like) takes no value, and shows none."""
    flag = any("/" in n for n in names) or help.startswith(FLAG)
    return typer.Option(
        *names, help=help.removeprefix(FLAG), show_default=False, metavar="" if flag else metavar
    )


FLAG = "\0flag:"  # prefix of a flag's help: it shows no value


def flag(help: str, *names: str) -> Any:
    """A flag: present or not, no value."""
    return opt(FLAG + help, *names)


def cfg_opt(key: str, help: str, *names: str) -> Any:
    """The option of config key `key`, its default quoted from RunConfig."""
    return opt(f"{help} (default: {getattr(D, key)})", *names)


def choices(names: Any) -> str:
    """A list of names that wraps in a narrow terminal (`a|b|c` would be cut with "…")."""
    return ", ".join(names)


Act = Annotated[str | None, cfg_opt("act", f"Activation: {choices(act_names())}.", "--act", "-a")]
Model = Annotated[str | None, cfg_opt("model", f"Model: {choices(model_names())}.")]
Dataset = Annotated[str | None, cfg_opt("dataset", f"Dataset: {choices(DATASETS)}.")]
ConfigFile = Annotated[
    str | None,
    opt("A recipe's name (relubench recipes) or a YAML file of config keys.", "--config", "-c"),
]
Sets = Annotated[
    list[str] | None,
    opt(
        "Override any config key: --set key=value (repeatable).",
        "--set",
        "-s",
        metavar="KEY=VALUE",
    ),
]
Restart = Annotated[
    bool,
    flag(
        "Start an unfinished run (running, interrupted) over instead of resuming it from its "
        "checkpoint.",
        "--restart",
    ),
]
DataDir = Annotated[
    str | None, opt("Where downloadable datasets live. (default: $RELUBENCH_DATA, else cache)")
]

# how a plan of runs is run: `sweep` and `study run` take the same options
Jobs = Annotated[
    int | None,
    opt("Runs at once, threads split between them. (default: 1; ray: fill it)", "--jobs", "-j"),
]
DryRun = Annotated[bool, flag("List the runs and which are complete; run nothing.", "--dry-run")]
Backend = Annotated[str, opt("local (processes) or ray. (default: local)")]
Address = Annotated[str | None, opt("ray: cluster address, e.g. auto; none = a local Ray.")]
CpusPerRun = Annotated[float, opt("ray: CPUs per run. (default: 1)")]
GpusPerRun = Annotated[float, opt("ray: GPUs per run; fractions share a GPU.")]
SweepSets = Annotated[
    list[str] | None,
    opt(
        "Override a key in every run: --set key=value (repeatable).",
        "--set",
        "-s",
        metavar="KEY=VALUE",
    ),
]

# compare, plot, report and export read run folders
Paths = Annotated[
    list[str],
    typer.Argument(
        help="Run folders, folders holding them, or globs; searched recursively.",
        show_default=False,
    ),
]
By = Annotated[
    str | None,
    opt(
        "Config keys to group by, comma-separated, e.g. act,model. "
        "(default: every key that differs between runs, except seed)",
        "--by",
    ),
]
Incomplete = Annotated[
    bool,
    flag(
        "Also average runs that did not complete (running, diverged, ...).", "--include-incomplete"
    ),
]
Baseline = Annotated[
    str | None,
    opt("Group tested against (Welch): a --by value or key=value. (default: relu)"),
]
Margin = Annotated[
    float | None,
    opt(
        "The smallest difference of accuracy that matters, in points: within it two groups are "
        "equivalent (TOST); 0 tests no equivalence. (default: 0.5)",
        "--margin",
    ),
]
Tune = Annotated[
    list[str] | None,
    opt(
        "Choose each group's value of this config key (e.g. lr) on mean validation accuracy, "
        "never on test; repeatable. Needs runs with a validation split (val_size).",
        "--tune",
    ),
]
OutFile = Annotated[Path | None, opt("Write to this file. (default: stdout)", "--out", "-o")]
