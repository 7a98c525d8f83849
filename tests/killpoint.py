"""The kill tests' child process: train one config, or sweep a file, and signal itself at a
chosen point of a run, so that the kill lands at the same place every time.

    python tests/killpoint.py '{"at": "step", "epoch": 3, "step": 10, "train": {...}}'

`at` is where, in the epoch `epoch` of the run (of activation `act`, if given: in a sweep):

- "step": the Reporter's step(epoch, step) call, `step` of the epoch (mid-epoch);
- "epoch": the Reporter's epoch(row) call: the epoch's CSV rows are written, its summary and
  checkpoint are not;
- "checkpoint": halfway through writing the epoch's checkpoint (its temp file), before the
  rename;
- "saved": the Reporter's saved(epoch) call, right after the epoch's checkpoint is written.

`signal` is SIGKILL unless given. `train` is a config (trained by `run`, with the quiet
reporter), `sweep` a sweep file (run by `relubench.sweep`, one run at a time, in this process).
The process exits with status 3 if the point was never reached.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from typing import Any

from relubench.runner import checkpoint
from relubench.runner.reporters import QuietReporter


def arm(spec: dict[str, Any]) -> None:
    """Patch the quiet reporter (every run without a reporter of its own uses it) and the
    checkpoint writer to signal this process at spec's point."""
    sig = signal.Signals[spec.get("signal", "SIGKILL")]
    at, epoch, act = spec["at"], spec["epoch"], spec.get("act")
    current: dict[str, Any] = {}

    def here(where: str, e: int) -> bool:
        return at == where and e == epoch and act in (None, current["act"])

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), sig)

    def start(self, cfg, steps_per_epoch: int) -> None:
        current["act"] = cfg.act

    def step(self, e: int, s: int, loss: float, acc: float) -> None:
        if here("step", e) and s == spec["step"]:
            die()

    def row(self, r: dict[str, Any], probe) -> None:
        if here("epoch", r["epoch"]):
            die()

    def saved(self, e: int) -> None:
        if here("saved", e):
            die()

    QuietReporter.start, QuietReporter.step = start, step
    QuietReporter.epoch, QuietReporter.saved = row, saved

    save, write = checkpoint.save, checkpoint.atomic_write

    def half_written(path, data) -> None:
        def half(f) -> None:
            buf = io.BytesIO()
            data(buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            die()

        write(path, half)

    def save_dying(folder, cfg, e: int, *rest) -> None:
        checkpoint.atomic_write = half_written if here("checkpoint", e) else write
        save(folder, cfg, e, *rest)

    checkpoint.save = save_dying


def main(spec: dict[str, Any]) -> int:
    arm(spec)
    if "train" in spec:
        from relubench.config import merge
        from relubench.runner.train import run

        run(merge(spec["train"]))
    else:
        import relubench

        relubench.sweep(spec["sweep"], jobs=1, progress=False)
    print(f"killpoint {spec} never reached", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
