"""Sweeps: a YAML grid of configs, run locally in processes or on a Ray cluster, resumable.

A sweep file:

    base: {dataset: mnist-mini, epochs: 5}      # or: base: configs/mnist-mini.yaml
    grid: {act: [relu, prelu], seed: [0, 1, 2]} # cartesian product
    runs: [{act: elu, lr: 0.05}]                # optional: extra runs, each base + overrides

Resume: a run whose folder says `complete` is skipped; an unfinished one (`running` with its
writer dead, `interrupted`) continues from its checkpoint, the last complete epoch (`restart`:
from scratch); a `diverged` or `failed` one is redone from scratch.
Two sweeps on one results folder never run the same run at once: the process that trains a run
holds its claim (`relubench.runner.claim`), and workers die with the sweep that started them.
This module does not import torch until a run actually has to be trained.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from pathlib import Path
from typing import Any

from relubench.config import (
    FIELD_TYPES,
    RunConfig,
    check_value,
    config_hash,
    load_yaml,
    merge,
    short,
)
from relubench.errors import ConfigError
from relubench.runfolder import read_summary, run_status
from relubench.runner.claim import Claim, RunBusy, held
from relubench.runner.events import Reporter, SweepReporter

SWEEP_KEYS = ("base", "grid", "runs")


EAGER = 20_000  # plans up to this many runs are resolved (and checked) whole, up front


@dataclass
class Plan:
    """The expanded sweep: its runs in order (resolved lazily: a grid of a million runs is a
    few lists until it is iterated), and which are already complete."""

    source: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    extra: list[dict[str, Any]]
    overrides: dict[str, Any]
    size: int  # runs before removing duplicates

    def __iter__(self) -> Iterator[RunConfig]:
        """Every run config, duplicates removed, each validated as it comes (once resolved,
        the resolved list)."""
        if "configs" in self.__dict__:
            yield from self.configs
            return
        seen: dict[tuple[str, str], RunConfig] = {}
        points = (dict(zip(self.grid, v, strict=True)) for v in product(*self.grid.values()))
        if not self.grid:  # no grid: the listed runs, or the base alone when none are listed
            points = iter([] if self.extra else [{}])
        for point in itertools.chain(points, self.extra):
            cfg = self.resolve(point)
            # one folder per experiment and output folder: a grid over `out` is fine, a grid
            # over `threads` alone would train one experiment twice into one folder
            same = seen.setdefault((cfg.config_hash, cfg.out), cfg)
            if same is cfg:
                yield cfg
            elif same != cfg:  # one experiment, two configs: they differ in runtime keys only
                earlier = same.to_dict()
                diff = sorted(k for k, v in cfg.to_dict().items() if v != earlier[k])
                raise ConfigError(
                    f"{self.source}: runs {short(point, 200)} and an earlier one differ only in "
                    f"{', '.join(diff)}, which say how or where a run trains, not what it is: "
                    f"they would share one run id and one folder. Set {diff[0]} in base, or "
                    f"sweep it with separate --out dirs"
                )

    def resolve(self, point: dict[str, Any]) -> RunConfig:
        try:
            return merge(self.base, point, self.overrides)
        except ConfigError as e:
            raise ConfigError(f"{self.source}: {e} (run {short(point, 200)})") from None

    @cached_property
    def configs(self) -> list[RunConfig]:
        return list(self)

    @property
    def count(self) -> int:
        """How many runs: exact once resolved (always for plans up to EAGER runs)."""
        return len(self.configs) if "configs" in self.__dict__ else self.size

    @cached_property
    def outs(self) -> list[str]:
        """The output folders the runs go to."""
        if "out" in self.overrides:  # --out replaces every other
            return [str(self.overrides["out"])]
        given = [*self.grid.get("out", []), *(e["out"] for e in self.extra if "out" in e)]
        default = [] if "out" in self.grid else [self.base.get("out") or RunConfig.out]
        return sorted({str(o) for o in [*default, *given]})

    @cached_property
    def complete(self) -> set[str]:
        """Run ids of the plan's complete runs. A resolved plan asks each of its runs; a plan
        too large to resolve lists each output folder once and matches the complete runs
        there against the grid (a count for --dry-run)."""
        if "configs" in self.__dict__:
            return {c.run_id for c in self.configs if run_status(c.run_dir) == "complete"}
        done = set()
        for out in self.outs:
            try:
                names = os.listdir(out)
            except OSError:
                continue
            for name in names:
                summary = read_summary(Path(out) / name) if name[0] != "." else None
                if summary and summary.get("status") == "complete" and self._holds(summary):
                    done.add(name)
        return done

    def _holds(self, summary: dict[str, Any]) -> bool:
        """Whether a complete run's config is one of this plan's grid runs."""
        config = summary.get("config")
        if not isinstance(config, dict):
            return False
        try:
            point = {k: config[k] for k in self.grid}
            if not all(point[k] in self.grid[k] for k in self.grid):
                return False
            cfg = self.resolve(point)
            return cfg.config_hash == summary.get("config_hash", config_hash(config))
        except (ConfigError, KeyError, TypeError):  # not a run of this plan, or a broken one
            return False

    @property
    def todo(self) -> Iterator[RunConfig]:
        return (c for c in self if c.run_id not in self.complete)

    def head(self, n: int) -> list[RunConfig]:
        return list(itertools.islice(self, n))


def _check_keys(mapping: dict[str, Any], where: str) -> None:
    for key in mapping:
        if key not in FIELD_TYPES:
            raise ConfigError(f"unknown config key {key!r} in {where}")


def expand(path: str | Path, overrides: dict[str, Any] | None = None) -> Plan:
    """Sweep file -> resolved run configs (base < grid/run values < overrides), deduplicated.

    Every key and value is validated before anything runs; errors name the file and the key.
    """
    path = Path(path)
    spec = load_yaml(path)
    base = spec.get("base") if isinstance(spec, dict) else None
    if isinstance(base, str):  # a recipe file, relative to the sweep file or to the cwd
        recipe = path.parent / base if (path.parent / base).is_file() else Path(base)
        spec = {**spec, "base": load_yaml(recipe)}
    return plan_of(spec, str(path), overrides)


def plan_of(spec: dict[str, Any], source: str, overrides: dict[str, Any] | None = None) -> Plan:
    """A sweep's mapping (base, grid, runs) -> its Plan, every key and value validated;
    errors name `source` and the key."""
    unknown = [k for k in spec if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown sweep key {unknown[0]!r}; use base, grid, runs")
    base = spec.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: base must be a mapping of config keys or a recipe path")
    _check_keys(base, f"{source} (base)")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{source}: grid must be a mapping of config keys to lists")
    _check_keys(grid, f"{source} (grid)")
    grid = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise ConfigError(f"{source}: grid key {empty[0]} has an empty list: give it a value")
    extra = spec.get("runs") or []
    if not isinstance(extra, list) or not all(isinstance(r, dict) for r in extra):
        raise ConfigError(f"{source}: runs must be a list of mappings of config keys")
    for i, r in enumerate(extra):
        _check_keys(r, f"{source} (runs[{i}])")

    overrides = overrides or {}
    # each value checked once (with the base), not each run: a grid of a million runs is
    # checked in the time its lists take; combinations are checked as the runs are resolved
    plan = Plan(source, base, grid, extra, overrides, math.prod(map(len, grid.values())))
    plan.size = plan.size + len(extra) if grid else len(extra) or 1
    for key, values in grid.items():
        for v in values:  # the value's type and range; combinations when resolved
            try:
                check_value(key, v)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e} (grid {key})") from None
    if plan.size <= EAGER:
        plan.configs  # noqa: B018 - resolves and checks every run before anything starts
    return plan


def require_data(plan: Plan) -> None:
    """Before a local sweep starts: every downloadable dataset its runs need is here, fetched
    once (if a run asks to download) rather than by several workers at once, or one DataError
    for the whole sweep instead of the same failure in every run."""
    from relubench.data import store
    from relubench.registry.datasets import get_spec

    needs: dict[tuple[str, str], bool] = {}
    for c in plan.todo:
        if get_spec(c.dataset).kind == "download":
            key = (c.dataset, c.data_dir)
            needs[key] = needs.get(key, False) or c.download
    for (name, data_dir), download_ok in needs.items():
        hint = "or set download: true in the sweep's base"
        store.require(get_spec(name), data_dir, download_ok, hint)


# --- executing runs ------------------------------------------------------------------------


def _init_worker(threads: int, parent: int | None = None) -> None:
    """A worker process: its torch threads, and it dies with the sweep (`parent`), however the
    sweep ends: a worker must never train on, unseen, a run the next sweep would redo."""
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:  # reparented once the parent is gone
        time.sleep(0.5)
    os._exit(1)


def run_one(
    cfg_dict: dict[str, Any], restart: bool = False, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Train (or resume) one run in this process; never raises for a failing run (the sweep
    goes on).

    A run another process is writing comes back as status `busy`, one another process
    finished meanwhile with `already` set (the sweep skips both); a checkpoint that cannot be
    resumed from as `failed` with the reason, its folder left as it is."""
    from relubench.runner.checkpoint import CheckpointError
    from relubench.runner.train import run

    cfg = merge(cfg_dict)
    try:
        return run(cfg, reporter, redo_complete=False, restart=restart)
    except RunBusy as e:
        return {"status": "busy", "error": str(e)}
    except CheckpointError as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # recorded as `failed` in the folder by run(); the sweep continues
        return read_summary(cfg.run_dir) or {
            "status": "failed",
            "error": f"{type(e).__name__}: {e}",
        }


@dataclass
class Outcome:
    ran: dict[str, str] = field(default_factory=dict)  # run id -> final status
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why


def threads_per_run(jobs: int, cores: int | None = None) -> int:
    """Split the machine's cores between concurrent runs: jobs x threads <= cores."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, jobs))


Submit = Callable[[RunConfig], Future]


BUSY = "running in another process"


def execute(
    plan: Plan,
    submit: Submit,
    jobs: int,
    reporter: SweepReporter,
    finish: Callable[[RunConfig, Any], dict[str, Any]] | None = None,
    claim_here: bool = False,
) -> Outcome:
    """Run every run still to do, at most `jobs` at once, through `submit`.

    The process that writes a run folder claims it: the worker (`run` does), or this process
    with `claim_here` (the Ray backend, whose `finish(cfg, result)` writes the folder here from
    what the task returned); by default a future's result is the run's summary.
    """
    outcome = Outcome()
    for cfg in plan:
        if cfg.run_id in plan.complete:
            outcome.skipped[cfg.run_id] = "complete"
    reporter.start(plan, plan.count - len(outcome.skipped))
    queue: Iterator[RunConfig] = plan.todo
    running: dict[Future, tuple[RunConfig, Claim | None]] = {}

    def skip(cfg: RunConfig, why: str) -> None:
        outcome.skipped[cfg.run_id] = why
        reporter.skipped(cfg, why)

    def fill() -> None:
        while len(running) < jobs:
            cfg = next(queue, None)
            if cfg is None:
                return
            claim = None
            if claim_here:  # the driver writes the folder (Ray): it holds the claim
                claim = Claim(cfg)
                try:
                    claim.acquire()
                except RunBusy:
                    skip(cfg, BUSY)
                    continue
            elif held(cfg.run_dir):  # the worker claims; a live claim elsewhere: skip now
                skip(cfg, BUSY)
                continue
            if run_status(cfg.run_dir) == "complete":  # finished by another sweep meanwhile
                if claim:
                    claim.release()
                skip(cfg, "complete")
                continue
            reporter.started(cfg)
            running[submit(cfg)] = (cfg, claim)

    try:
        fill()
        while running:
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                cfg, claim = running.pop(fut)
                try:
                    summary = finish(cfg, fut.result()) if finish else fut.result()
                except Exception as e:  # the worker itself died (killed, out of memory, ...)
                    summary = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
                finally:
                    if claim:
                        claim.release()
                status = summary.get("status", "failed")
                if status == "busy" or summary.get("already"):  # another process ran it
                    skip(cfg, BUSY if status == "busy" else "complete")
                    continue
                outcome.ran[cfg.run_id] = status
                reporter.finished(cfg, status, summary)
            reporter.poll({c.run_id: _epochs_done(c) for c, _ in running.values()})
            fill()
    finally:
        for fut, (_, claim) in running.items():  # Ctrl-C: release what we claimed
            fut.cancel()
            if claim:
                claim.release()
    return outcome


def _epochs_done(cfg: RunConfig) -> int:
    summary = read_summary(cfg.run_dir)
    return int(summary.get("epochs_done") or 0) if summary else 0


class InlineExecutor:
    """jobs = 1: train in this process (no worker start-up), same interface as a pool."""

    def __init__(self, threads: int, restart: bool) -> None:
        self.threads, self.restart = threads, restart

    def submit(self, cfg: RunConfig) -> Future:
        _init_worker(self.threads)
        fut: Future = Future()
        fut.set_result(run_one(cfg.to_dict(), self.restart))
        return fut


def run_local(plan: Plan, jobs: int, reporter: SweepReporter, restart: bool = False) -> Outcome:
    """Local processes: `jobs` workers (spawned, so no torch state is forked), threads split."""
    import multiprocessing

    threads = threads_per_run(jobs)
    if jobs == 1:
        pool: Any = InlineExecutor(threads, restart)
        return execute(plan, lambda c: pool.submit(c), jobs, reporter)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads, os.getpid())
    ) as pool:
        try:
            submit = lambda c: pool.submit(run_one, c.to_dict(), restart)  # noqa: E731
            return execute(plan, submit, jobs, reporter)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def check_backend(backend: str, jobs: int | None) -> None:
    """ConfigError for a backend or a job count `run_plan` cannot use."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {short(backend)}; choose local or ray")


def run_plan(
    plan: Plan,
    backend: str,
    jobs: int | None,
    reporter: SweepReporter,
    address: str | None = None,
    cpus: float = 1.0,
    gpus: float = 0.0,
    restart: bool = False,
) -> Outcome:
    """Run a plan on `backend`: "local" (processes, `jobs` default 1) or "ray" (`address` of a
    cluster, else a local Ray; `jobs` default: as many as the cluster has room for).
    Unfinished runs resume from their checkpoints; with `restart` they start over."""
    if backend == "ray":
        from relubench.runner.ray import run_ray

        return run_ray(plan, jobs, reporter, address, cpus, gpus, restart)
    return run_local(plan, jobs or 1, reporter, restart)
