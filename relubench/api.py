"""The Python API, for notebooks and scripts: train a run, load runs, compare them.

    import relubench
    run = relubench.train(act="prelu", epochs=2, out="results")   # -> Run
    run.metrics                                                    # metrics.csv as a DataFrame
    relubench.sweep("all-acts", jobs=2)                            # a recipe name or a file
    doc = relubench.run_study("born-dead", quick=True)             # the verdicts
    cells = relubench.regime_map("studies/depth", out="docs/regime-map")  # vs ReLU, per setting
    df = relubench.load_runs("results")                            # a row per run
    table = relubench.compare("results")                           # a row per group

The CLI's commands call these same functions. Importing this module (or `relubench`) loads
no torch: training imports it when it starts.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relubench.config import RunConfig, resolve
from relubench.errors import CompareError, ConfigError, short
from relubench.runfolder import read_summary, read_table, run_status

if TYPE_CHECKING:
    import pandas as pd

    from relubench.analysis.stats import Comparison
    from relubench.registry.studies import Study
    from relubench.runner.plan import Outcome, Plan
    from relubench.runner.reporters import Reporter, SweepReporter

__all__ = [
    "Run",
    "compare",
    "comparison",
    "load_runs",
    "run_study",
    "study_plan",
    "sweep",
    "sweep_plan",
    "train",
]


@dataclass
class Run:
    """One run folder: its summary, config and the per-epoch files as DataFrames."""

    folder: Path
    summary: dict[str, Any] = field(repr=False)

    @classmethod
    def read(cls, folder: str | Path) -> Run:
        """The run in `folder` (a run folder: it holds summary.json)."""
        folder = Path(folder)
        summary = read_summary(folder)
        if summary is None:
            raise ConfigError(f"{folder} is not a run folder (no readable summary.json)")
        return cls(folder, summary)

    @property
    def run_id(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        """complete | running | interrupted | diverged | failed."""
        return str(self.summary.get("status"))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.summary.get("config") or {})

    @property
    def final_test_acc(self) -> float | None:
        return self.summary.get("final_test_acc")

    def _csv(self, name: str) -> pd.DataFrame:
        """A table of the folder through the run folder's one reader (Malformed if broken);
        an empty DataFrame if the run has no such file."""
        import pandas as pd

        table = read_table(self.folder / name, required=False)
        return pd.DataFrame.from_records(table.rows, columns=table.columns)

    @property
    def metrics(self) -> pd.DataFrame:
        """metrics.csv: one row per epoch (epoch 0 = before training)."""
        return self._csv("metrics.csv")

    @property
    def layers(self) -> pd.DataFrame:
        """layers.csv: one row per epoch and activation layer (dead and dormant fractions, ...)."""
        return self._csv("layers.csv")

    @property
    def alphas(self) -> pd.DataFrame:
        """alphas.csv: PReLU's slopes per epoch, layer and channel (empty for fixed shapes)."""
        return self._csv("alphas.csv")

    def __repr__(self) -> str:
        acc = self.final_test_acc
        shown = f", test acc {acc:.2%}" if isinstance(acc, (int, float)) else ""
        return f"Run({self.run_id!r}, {self.status}{shown})"


def train(
    config: str | Path | RunConfig | None = None,
    *,
    force: bool = False,
    restart: bool = False,
    progress: bool = True,
    reporter: Reporter | None = None,
    **settings: Any,
) -> Run:
    """Train one run and return it: `train(act="prelu", epochs=2, out="results")`.

    `config` is a recipe YAML (configs/*.yaml, or a run folder's config.yaml to rerun it) or
    a RunConfig; `settings` are config keys (`relubench train --help` lists them) and win over
    the file. As on the command line: an unfinished run in the folder resumes from its
    checkpoint (`restart=True` starts it over), a complete one is an error unless `force=True`
    (which trains it again). `progress` shows a Rich progress bar (a `reporter` replaces it).
    A diverged run returns with status "diverged"; Ctrl-C raises KeyboardInterrupt with the
    completed epochs kept.
    """
    for name, flag in (("force", force), ("restart", restart), ("progress", progress)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{name} must be True or False, got {short(flag)}")
    if isinstance(config, RunConfig):
        cfg = resolve(None, [], {**config.to_dict(), **settings}) if settings else config
    else:
        cfg = resolve(config, [], settings)
    from relubench.data.store import identify

    cfg = identify(cfg)  # a copy of other data than the registry's is another experiment
    if run_status(cfg.run_dir) == "complete" and not force:
        raise ConfigError(
            f"{cfg.run_dir} already holds a complete run of this config; pass --force to "
            "replace it, or --out DIR to keep both (in Python: force=True, out=...)"
        )
    from relubench.runner.train import run

    if reporter is None and progress:
        from rich.console import Console

        from relubench.runner.progress import RichReporter

        reporter = RichReporter(Console())
    with reporter if hasattr(reporter, "__enter__") else nullcontext():  # Rich's live display
        run(cfg, reporter, restart=restart, force=force)
    return Run.read(cfg.run_dir)


def sweep_plan(spec: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> Plan:
    """The runs of a sweep, validated, and which are complete: `spec` is a sweep file, a
    recipe's name (`relubench recipes`) or a mapping (base, grid, runs); `overrides` (config
    keys) win in every run. Nothing trains."""
    from relubench.runner.plan import expand, plan_of

    _check(spec=spec, overrides=overrides)
    if isinstance(spec, dict):
        return plan_of(spec, "sweep", overrides)
    return expand(spec, overrides)


def sweep(
    spec: str | Path | dict[str, Any] | Plan,
    *,
    jobs: int | None = None,
    backend: str = "local",
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    restart: bool = False,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    reporter: SweepReporter | None = None,
) -> Outcome:
    """Run every run of a sweep that is not complete, `jobs` at once, locally (processes) or
    on Ray (`address` of a cluster, else a local Ray); an unfinished run resumes from its
    checkpoint (`restart=True` starts it over). Returns the Outcome: each run's final status,
    and the runs skipped (complete, or busy in another process)."""
    from relubench.runner.plan import Plan

    _check(jobs=jobs, backend=backend, address=address, cpus_per_run=cpus_per_run,
           gpus_per_run=gpus_per_run, restart=restart, progress=progress)  # fmt: skip
    plan = spec if isinstance(spec, Plan) else sweep_plan(spec, overrides)
    return _run_plan(plan, jobs, backend, address, cpus_per_run, gpus_per_run, restart,
                     _sweep_reporter(reporter, progress))  # fmt: skip


def study_plan(
    name: str,
    *,
    quick: bool = False,
    out: str | Path = "studies",
    overrides: dict[str, Any] | None = None,
) -> tuple[Study, Plan]:
    """A study (`relubench study list`) and the plan of its runs, under `out`/NAME/runs."""
    from relubench.registry.studies import get_study
    from relubench.runner.plan import plan_of

    _check(name=name, quick=quick, out=out, overrides=overrides)
    study = get_study(name)
    folder = Path(out) / study.name
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; give another --out")
    runs = {**(overrides or {}), "out": str(folder / "runs")}
    # a diverged run is one of the study's outcomes: kept, not tried again (delete its folder)
    return study, plan_of(study.spec(quick), f"study {study.name}", runs, ("complete", "diverged"))


def run_study(
    name: str,
    *,
    quick: bool = False,
    out: str | Path = "studies",
    jobs: int | None = None,
    backend: str = "local",
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    restart: bool = False,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    reporter: SweepReporter | None = None,
) -> dict[str, Any]:
    """Run a study's runs (resumable, as a sweep), then judge its claims on the run folders:
    `out`/NAME/ gets verdict.json, verdict.md and the figures; returns verdict.json's content.
    `overrides` change every run: the verdicts then hold for that setting, not the study's."""
    from relubench.analysis.study import conclude

    _check(jobs=jobs, backend=backend, address=address, cpus_per_run=cpus_per_run,
           gpus_per_run=gpus_per_run, restart=restart, progress=progress)  # fmt: skip
    study, plan = study_plan(name, quick=quick, out=out, overrides=overrides)
    _run_plan(plan, jobs, backend, address, cpus_per_run, gpus_per_run, restart,
              _sweep_reporter(reporter, progress))  # fmt: skip
    sets = "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
    command = f"relubench study run {study.name}{' --quick' if quick else ''} --out {out}{sets}"
    return conclude(study, [c.run_dir for c in plan], Path(out) / study.name, quick, command)


_NONE = type(None)
_KINDS: dict[str, tuple[type, ...]] = {  # what each option of sweep/run_study may be
    "spec": (str, Path, dict),
    "name": (str,),
    "out": (str, Path),
    "overrides": (dict, _NONE),
    "jobs": (int, _NONE),
    "backend": (str,),
    "address": (str, _NONE),
    "cpus_per_run": (int, float),
    "gpus_per_run": (int, float),
    "restart": (bool,),
    "progress": (bool,),
    "quick": (bool,),
}


def _check(**options: Any) -> None:
    """ConfigError naming the option whose value has the wrong type (True is no job count)."""
    for key, value in options.items():
        kinds = _KINDS[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("None" if k is _NONE else k.__name__ for k in kinds)
            raise ConfigError(f"{key} must be {names}, got {short(value)}")


def _sweep_reporter(reporter: SweepReporter | None, progress: bool) -> SweepReporter:
    if reporter is not None:
        return reporter
    if progress:
        from rich.console import Console

        from relubench.runner.progress import RichSweepReporter

        return RichSweepReporter(Console())
    from relubench.runner.reporters import QuietSweepReporter

    return QuietSweepReporter()


def _run_plan(
    plan: Plan,
    jobs: int | None,
    backend: str,
    address: str | None,
    cpus: float,
    gpus: float,
    restart: bool,
    reporter: SweepReporter,
) -> Outcome:
    """Check the backend, make sure a local sweep's data is here, run the plan."""
    from relubench.runner.plan import require_data
    from relubench.runner.sweep import check_backend, run_plan

    check_backend(backend, jobs)
    if backend == "local":  # Ray workers may be other machines: each checks its own data
        require_data(plan)
    with reporter if hasattr(reporter, "__enter__") else nullcontext():  # Rich's live display
        return run_plan(plan, backend, jobs, reporter, address, cpus, gpus, restart)


def _paths(paths: tuple[Any, ...]) -> list[str | Path]:
    """The paths given to load_runs/compare: each a str or Path, or a list or tuple of them;
    none given is `results`. Anything else is a CompareError saying what was given."""
    flat = [p for item in paths for p in (item if isinstance(item, (list, tuple)) else [item])]
    odd = [p for p in flat if not isinstance(p, (str, Path)) or p == ""]
    if odd:
        bad = odd[0]
        raise CompareError(
            f"paths must be folders (str or Path), got {short(bad)} ({type(bad).__name__})"
        )
    return flat or ["results"]


def _keys(name: str, value: Any) -> list[str] | None:
    """`by` or `tune`: None, "act,model", or a list of key names."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(k, str) for k in items):
        raise CompareError(f"{name} must be config key names (str or a list of str), "
                           f"got {short(value)}")  # fmt: skip
    return [k for item in items for k in item.split(",")]


def load_runs(*paths: str | Path | list[str | Path]) -> pd.DataFrame:
    """Every run folder under `paths` (default: results), one row per run: its config keys,
    results (final_test_acc, best_test_acc, dead_frac, ...), status and path - the rows
    `compare` groups. Folders that could not be read are listed in `.attrs["skipped"]` as
    (path, reason) pairs.

    Raises CompareError, as `compare` does and with its message, when `paths` hold no
    readable run at all (a missing path, a folder without runs, only malformed folders), or
    a path is not a str or Path."""
    import pandas as pd

    from relubench.analysis.load import load_rows
    from relubench.analysis.stats import nothing_to_compare

    given = _paths(paths)
    rows, config_keys, skipped = load_rows(given)
    if not rows:
        raise nothing_to_compare(given, skipped)
    df = pd.DataFrame.from_records(rows)
    df.attrs.update(skipped=skipped, config_keys=config_keys)
    return df


def comparison(
    *paths: str | Path | list[str | Path],
    by: list[str] | str | None = None,
    baseline: str | None = None,
    include_incomplete: bool = False,
    tune: list[str] | str | None = None,
    margin: float | None = None,
) -> Comparison:
    """The full comparison `relubench compare` prints: groups, runs, notes, skipped folders.
    `margin` is in accuracy points (default 0.5). Arguments of the wrong type are a
    CompareError (a RelubenchError), as flags would be."""
    from relubench.analysis.inference import MARGIN
    from relubench.analysis.stats import build_comparison

    given = _paths(paths)
    by_keys, tune_keys = _keys("by", by), _keys("tune", tune)
    if baseline is not None and not isinstance(baseline, str):
        raise CompareError(f"baseline must be a str (a group's value), got {short(baseline)}")
    if not isinstance(include_incomplete, bool):
        raise CompareError(
            f"include_incomplete must be True or False, got {short(include_incomplete)}"
        )
    if margin is None:
        margin = 100 * MARGIN
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise CompareError(f"margin must be a number of points, got {short(margin)}")
    return build_comparison(
        given, by_keys, baseline, include_incomplete, tune_keys or [], margin / 100
    )


def compare(
    *paths: str | Path | list[str | Path],
    by: list[str] | str | None = None,
    baseline: str | None = None,
    include_incomplete: bool = False,
    tune: list[str] | str | None = None,
    margin: float | None = None,
) -> pd.DataFrame:
    """`relubench compare` as a DataFrame: one row per group (by default, per activation),
    best first, with the numbers behind the table (means, stds, seeds, the difference to the
    baseline with its CI, Hedges' g, Holm-adjusted p, verdict). `by`, `baseline`, `tune` and
    `include_incomplete` mean what the CLI's flags do. The runs left out of the means are in
    `.attrs["apart"]`, notes in `.attrs["notes"]`."""
    import pandas as pd

    comp = comparison(
        *paths,
        by=by,
        baseline=baseline,
        include_incomplete=include_incomplete,
        tune=tune,
        margin=margin,
    )
    df = pd.DataFrame.from_records(comp.groups)
    df.attrs.update(
        keys=comp.keys,
        baseline=comp.baseline,
        selected_on=comp.selected_on,
        notes=comp.notes,
        apart=[r["run_id"] for r in comp.apart],
        skipped=comp.skipped,
    )
    return df


def regime_map(
    *folders: str | Path, margin: float = 1.0, out: str | Path | None = None
) -> list[dict[str, Any]]:
    """`relubench study map`: in each setting of each folder (a study's, or a folder of run
    folders), each activation's test accuracy minus ReLU's, paired by seed, with its 95%
    interval, what it says against `margin` (points), dead units, PReLU's slopes and the runs
    that failed to train; with `out`, also out.md, out.png and out.svg."""
    from relubench.analysis import regime

    table = regime.regime_map(list(folders), float(margin))
    if out is not None:
        try:
            regime.write(table, float(margin), Path(out))
        except OSError as e:
            raise CompareError(
                f"cannot write {out}: {e.strerror or e}; give another --out"
            ) from None
    return regime.records(table)
