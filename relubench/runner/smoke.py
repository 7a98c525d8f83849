"""Smoke runs: every activation x model for a few batches on synthetic data, each folder checked.

Meant for users' CI (and ours): it proves the install trains, probes and writes every file.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from relubench.config import merge
from relubench.registry.activations import act_names
from relubench.registry.models import model_names
from relubench.runfolder import check_run_folder

# configs/smoke.yaml holds the same settings for one run (a test keeps the two equal)
SMOKE = {
    "dataset": "synthetic",
    "epochs": 1,
    "train_size": 256,
    "test_size": 128,
    "probe_size": 128,
    "batch_size": 64,
    "width": 8,
    "lr": 0.05,
    "device": "cpu",
}


def smoke_runs(
    out: Path, acts: list[str] | None = None, models: list[str] | None = None
) -> list[dict[str, Any]]:
    """Train each combination once; report whether losses are finite and the folder is whole."""
    from relubench.runner.train import run

    results = []
    for act in acts or act_names():
        for model in models or model_names():
            cfg = merge(SMOKE, {"act": act, "model": model, "out": str(out)})
            t0 = time.perf_counter()
            problems: list[str] = []
            summary: dict[str, Any] = {}
            try:
                summary = run(cfg)
            except Exception as e:  # a smoke run reports every failure instead of stopping
                problems.append(f"{type(e).__name__}: {e}")
            if summary:
                if summary["status"] != "complete":
                    problems.append(f"status {summary['status']}: {summary.get('error')}")
                loss = summary.get("final_train_loss")
                if loss is None or not math.isfinite(loss):
                    problems.append(f"train loss {loss}")
                problems += check_run_folder(cfg.run_dir)
            results.append(
                {
                    "act": act,
                    "model": model,
                    "ok": not problems,
                    "loss": summary.get("final_train_loss"),
                    "problems": problems,
                    "seconds": time.perf_counter() - t0,
                }
            )
    return results
