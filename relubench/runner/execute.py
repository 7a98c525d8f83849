"""Executing a plan: one run in this process (`run_one`), and the loop that keeps at most
`jobs` runs going through a submit function (`execute`), whatever the backend.

Resume: a run whose folder says `complete` is skipped; an unfinished one (`running` with its
writer dead, `interrupted`) continues from its checkpoint, the last complete epoch (`restart`:
from scratch); a `diverged` or `failed` one is redone from scratch.
Two sweeps on one results folder never run the same run at once: the process that writes a run
holds its lock (`relubench.runner.lock`). torch is imported only when a run has to be trained.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from relubench.config import RunConfig, merge
from relubench.errors import RelubenchError
from relubench.runfolder import read_summary, run_status
from relubench.runner.lock import RunBusy, RunLock, held
from relubench.runner.plan import Outcome, Plan
from relubench.runner.reporters import Reporter, SweepReporter


def init_worker(threads: int, parent: int | None = None) -> None:
    """A worker process: its torch threads, and it dies with the sweep (`parent`), however the
    sweep ends: a worker must never train on, unseen, a run the next sweep would redo."""
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:  # reparented once the parent is gone
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # a run in progress ends `interrupted`, then the exit
    time.sleep(3)
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
    from relubench.runner.train import FolderUnreadable, FolderUnwritable, run

    cfg = merge(cfg_dict)
    try:
        return run(cfg, reporter, redo_complete=False, restart=restart)
    except RunBusy as e:
        return {"status": "busy", "error": str(e)}
    except FolderUnwritable as e:  # a full disk: the sweep stops, the run resumes next time
        return {"status": "interrupted", "error": str(e), "unwritable": True}
    except (CheckpointError, FolderUnreadable) as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # recorded as `failed` in the folder by run(); the sweep continues
        return read_summary(cfg.run_dir) or {
            "status": "failed",
            "error": f"{type(e).__name__}: {e}",
        }


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
    with `claim_here` (Ray: `finish(cfg, result)` writes the folder here from what the task
    returned); by default a future's result is the run's summary. A full disk stops the sweep
    (no other run starts; a RelubenchError says so)."""
    outcome = Outcome(skipped={c.run_id: "complete" for c in plan if c.run_id in plan.complete})
    reporter.start(plan, plan.count - len(outcome.skipped))
    queue: Iterator[RunConfig] = plan.todo
    running: dict[Future, tuple[RunConfig, RunLock | None]] = {}

    full: list[str] = []  # a run's error if the disk is full: start no other

    def skip(cfg: RunConfig, why: str) -> None:
        outcome.skipped[cfg.run_id] = why
        reporter.skipped(cfg, why)

    def fill() -> None:
        while len(running) < jobs and not full:
            cfg = next(queue, None)
            if cfg is None:
                return
            claim, why = _claim(cfg, claim_here)
            if why:
                skip(cfg, why)
                continue
            reporter.started(cfg)
            running[submit(cfg)] = (cfg, claim)

    try:
        fill()
        while running:
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                cfg, claim = running.pop(fut)
                summary = _result(fut, cfg, finish, claim)
                status = summary.get("status", "failed")
                if status == "busy" or summary.get("already"):  # another process ran it
                    skip(cfg, BUSY if status == "busy" else "complete")
                    continue
                outcome.ran[cfg.run_id] = status
                reporter.finished(cfg, status, summary)
                full += [str(summary["error"])] if summary.get("unwritable") else []
            reporter.poll({c.run_id: _epochs_done(c) for c, _ in running.values()})
            fill()
    finally:
        for fut, (_, claim) in running.items():  # Ctrl-C: release what we claimed
            fut.cancel()
            if claim:
                claim.release()
    return _ended(outcome, reporter, full)


def _ended(outcome: Outcome, reporter: SweepReporter, full: list[str]) -> Outcome:
    reporter.end(outcome)
    if full:  # a full disk: the run that met it says where, and how to go on
        raise RelubenchError(f"the sweep stopped: {full[0]}")
    return outcome


def _claim(cfg: RunConfig, claim_here: bool) -> tuple[RunLock | None, str | None]:
    """Before a run is submitted: its lock when this process writes the folder (Ray), and why
    to skip it instead (another process is writing it, or finished it meanwhile)."""
    claim = None
    if claim_here:  # the driver writes the folder (Ray): it holds the claim
        claim = RunLock(cfg)
        try:
            claim.acquire()
        except RunBusy:
            return None, BUSY
    elif held(cfg.run_dir):  # the worker claims; a live claim elsewhere: skip now
        return None, BUSY
    if run_status(cfg.run_dir) == "complete":  # finished by another sweep meanwhile
        if claim:
            claim.release()
        return None, "complete"
    return claim, None


def _result(
    fut: Future,
    cfg: RunConfig,
    finish: Callable[[RunConfig, Any], dict[str, Any]] | None,
    claim: RunLock | None,
) -> dict[str, Any]:
    """A finished future's summary (through `finish`); its claim released either way."""
    try:
        return finish(cfg, fut.result()) if finish else fut.result()
    except Exception as e:  # the worker itself died (killed, out of memory, ...)
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    finally:
        if claim:
            claim.release()


def _epochs_done(cfg: RunConfig) -> int:
    summary = read_summary(cfg.run_dir)
    return int(summary.get("epochs_done") or 0) if summary else 0
