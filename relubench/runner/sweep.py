"""Sweeps: a plan run locally in worker processes, or on a Ray cluster (`relubench.runner.ray`).

Workers are spawned (no torch state is forked), split the machine's threads between them, and
die with the sweep that started them. This module does not import torch until a run trains.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from relubench.config import RunConfig, short
from relubench.errors import ConfigError
from relubench.runner.execute import execute, init_worker, run_one, threads_per_run
from relubench.runner.plan import Outcome, Plan
from relubench.runner.reporters import SweepReporter


class InlineExecutor:
    """jobs = 1: train in this process (no worker start-up), same interface as a pool."""

    def __init__(self, threads: int, restart: bool) -> None:
        self.threads, self.restart = threads, restart

    def submit(self, cfg: RunConfig) -> Future:
        init_worker(self.threads)
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
        jobs, mp_context=ctx, initializer=init_worker, initargs=(threads, os.getpid())
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
