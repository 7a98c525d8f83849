"""Sweeps: a plan run locally in worker processes, or on a Ray cluster (`relubench.runner.ray`).

Workers are spawned (no torch state is forked), split the machine's threads between them, and
die with the sweep that started them. This module does not import torch until a run trains.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from relubench.config import RunConfig, short
from relubench.errors import ConfigError, RelubenchError
from relubench.files import sigterm_interrupts
from relubench.runfolder import RunWriter, read_summary
from relubench.runner.execute import execute, init_worker, run_one, threads_per_run
from relubench.runner.lock import RunLock
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


class WorkerPool:
    """`jobs` worker processes (spawned: no torch state is forked), each training one run at a
    time, sent to it through a pipe. Unlike a ProcessPoolExecutor, which breaks as a whole when
    one worker dies, a worker's death (kill -9, the OOM killer) costs only its own run: it is
    marked `interrupted` (the next sweep resumes it) and a new worker takes the dead one's place.
    """

    def __init__(self, jobs: int, threads: int, restart: bool) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.threads, self.restart, self.closing = threads, restart, False
        self.idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self.workers: dict[int, Worker] = {}
        for _ in range(jobs):
            self.idle.put(self._spawn())

    def _spawn(self) -> Worker:
        conn, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(target=work, args=(theirs, self.threads, os.getpid()))
        proc.start()
        theirs.close()
        worker = Worker(proc, conn)
        self.workers[id(worker)] = worker
        return worker

    def submit(self, cfg: RunConfig) -> Future:
        """Train `cfg` in an idle worker (`execute` keeps at most `jobs` runs going: one is)."""
        fut: Future = Future()
        fut.set_running_or_notify_cancel()  # a run in a worker is not cancelled, but stopped
        worker = self.idle.get(timeout=60)
        threading.Thread(target=self._serve, args=(worker, cfg, fut), daemon=True).start()
        return fut

    def _serve(self, worker: Worker, cfg: RunConfig, fut: Future) -> None:
        worker.run = cfg
        try:
            worker.conn.send((cfg.to_dict(), self.restart))
            result = worker.conn.recv()
        except (EOFError, OSError):  # the worker died
            worker.proc.join()
            result = died(cfg, worker.proc.exitcode)
            self.workers.pop(id(worker), None)
            if not self.closing:
                worker = self._spawn()
        worker.run = None
        self.idle.put(worker)
        fut.set_result(result)

    def close(self, interrupt: bool = False) -> None:
        """Stop the workers: idle ones at once; with `interrupt` (Ctrl-C, SIGTERM) a busy one
        gets SIGTERM, which stops its run as `interrupted`, and has 30 s to write it."""
        self.closing = True
        for worker in list(self.workers.values()):
            if worker.run is None:
                worker.conn.close()  # the worker's recv ends: it returns
            elif interrupt and worker.proc.is_alive():
                os.kill(worker.proc.pid, signal.SIGTERM)
        for worker in list(self.workers.values()):
            worker.proc.join(30 if interrupt else None)
            if worker.proc.is_alive():
                worker.proc.kill()
                worker.proc.join()
            worker.conn.close()


@dataclass
class Worker:
    proc: Any
    conn: Any
    run: RunConfig | None = None


def work(conn: Any, threads: int, parent: int) -> None:
    """A worker process: runs (config, restart) from `conn`, each summary back, until the pipe
    closes. A Ctrl-C or SIGTERM meant for the sweep ends it quietly (its run is `interrupted`)."""
    try:
        init_worker(threads, parent)
        while True:
            try:
                cfg_dict, restart = conn.recv()
            except EOFError:
                return
            conn.send(run_one(cfg_dict, restart))
    except KeyboardInterrupt:
        return


def died(cfg: RunConfig, exitcode: int | None) -> dict[str, Any]:
    """The result of a run whose worker died: its folder says `interrupted` (resumable)."""
    how = f"signal {-exitcode}" if exitcode and exitcode < 0 else f"exit code {exitcode}"
    if exitcode == -signal.SIGKILL:
        how += " (SIGKILL: the OOM killer, or kill -9)"
    error = f"its worker process died ({how}); rerun the same command to resume it"
    try:
        with RunLock(cfg) as folder:  # the dead worker's claim is free: take it to say so
            summary = read_summary(folder)
            if summary and summary.get("status") == "running":
                summary.update(status="interrupted", error=error)
                RunWriter(folder, has_alphas=False).summary(summary)
    except (RelubenchError, OSError):  # busy again, or unwritable: the folder stays as it is
        pass
    return {"status": "interrupted", "error": error}


def run_local(plan: Plan, jobs: int, reporter: SweepReporter, restart: bool = False) -> Outcome:
    """Local processes: `jobs` workers (spawned, so no torch state is forked), threads split.
    SIGTERM stops the sweep as Ctrl-C does: the runs in progress end `interrupted`."""
    threads = threads_per_run(jobs)
    with sigterm_interrupts():
        if jobs == 1:
            inline: Any = InlineExecutor(threads, restart)
            return execute(plan, lambda c: inline.submit(c), jobs, reporter)
        pool = WorkerPool(jobs, threads, restart)
        try:
            outcome = execute(plan, pool.submit, jobs, reporter)
        except KeyboardInterrupt:
            pool.close(interrupt=True)
            raise
        pool.close()
        return outcome


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
