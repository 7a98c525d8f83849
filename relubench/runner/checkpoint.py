"""A run's full training state: in memory at each epoch's start, on disk after each epoch.

`capture(loop)` takes everything the next epoch's arithmetic depends on: the model (weights and
batch-norm statistics), the optimizer (momentum, Adam moments), the schedule's position, the
loss scaler, and every random generator the loop draws from (shuffling, crops and flips, torch's
global generator for dropout and RReLU, the GPU's). `restore(loop, state)` puts it back, so the
epoch that follows is the one the uninterrupted run would have trained, to the bit on the CPU
with the same thread count. The divergence replay uses the in-memory state; `save` writes it to
`<run folder>/checkpoint.pt` (temp file + rename: a kill during the write leaves the previous
checkpoint whole) with the rows of the run's CSVs up to that epoch, and `read` checks one
before a run resumes from it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from relubench._version import __version__
from relubench.config import RUNTIME_KEYS, RunConfig
from relubench.errors import RelubenchError
from relubench.files import atomic_write
from relubench.runner.loop import Loop

CHECKPOINT = "checkpoint.pt"
FORMAT = 1  # the layout below; a checkpoint of another format is not resumed from


class CheckpointError(RelubenchError):
    """A checkpoint that cannot be resumed from: unreadable, or another config's."""


def _device_rng(device: torch.device) -> torch.Tensor | None:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def capture(loop: Loop) -> dict[str, Any]:
    """The loop's training state, copied (the loop trains on; this stays as it was)."""
    device = next(loop.model.parameters()).device
    return {
        "model": copy.deepcopy(loop.model.state_dict()),
        "optimizer": copy.deepcopy(loop.opt.state_dict()),
        "schedule": copy.deepcopy(loop.sched.state_dict()),
        "scaler": loop.precision.scaler.state_dict(),
        "rng": {
            "order": loop.generator.get_state(),
            "crops": loop.augment.generator.get_state() if loop.augment else None,
            "torch": torch.get_rng_state(),
            "device": _device_rng(device),
        },
    }


def restore(loop: Loop, state: dict[str, Any]) -> None:
    """Put a captured state back into the loop (tensors move to the model's device)."""
    loop.model.load_state_dict(state["model"])
    loop.opt.load_state_dict(state["optimizer"])
    loop.sched.load_state_dict(state["schedule"])
    if state["scaler"] and loop.precision.scaler.is_enabled():
        loop.precision.scaler.load_state_dict(state["scaler"])
    rng = state["rng"]
    loop.generator.set_state(rng["order"])
    if loop.augment is not None and rng["crops"] is not None:
        loop.augment.generator.set_state(rng["crops"])
    torch.set_rng_state(rng["torch"])
    device = next(loop.model.parameters()).device
    if rng["device"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng["device"], device)
    elif rng["device"] is not None and device.type == "mps":
        torch.mps.set_rng_state(rng["device"])


def save(
    folder: Path,
    cfg: RunConfig,
    epoch: int,
    state: dict[str, Any],
    rows: dict[str, list[dict[str, Any]]],
    run: dict[str, Any],
) -> None:
    """Write the checkpoint of `epoch` (its state captured after the epoch's evaluation):
    `rows` are the CSVs' rows up to it, `run` what the summary carries across resumes
    (first start, wall seconds so far, earlier resumes)."""
    payload = {
        "format": FORMAT,
        "relubench": __version__,
        "config_hash": cfg.config_hash,
        "config": cfg.to_dict(),
        "epoch": epoch,
        "state": state,
        "rows": rows,
        "run": run,
    }
    atomic_write(folder / CHECKPOINT, lambda f: torch.save(payload, f))


def read(folder: Path, cfg: RunConfig) -> dict[str, Any] | None:
    """The checkpoint in `folder`, checked against `cfg`; None if there is none.

    CheckpointError (one line, how to go on) if it cannot be read, is of another format, or
    was written by another experiment. A checkpoint written with other runtime keys (threads,
    device) is resumed from; `changed` in the result says which differ.
    """
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    again = "pass --restart to start the run over"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"cannot read the checkpoint {path} ({reason}); {again}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a relubench checkpoint of this version; {again}")
    if ckpt.get("config_hash") != cfg.config_hash:
        theirs = ckpt.get("config") or {}
        mine = cfg.to_dict()
        diff = [
            f"{k}: {theirs.get(k)!r} in the checkpoint, {v!r} here"
            for k, v in mine.items()
            if k not in RUNTIME_KEYS and theirs.get(k) != v
        ]
        detail = f" ({'; '.join(diff[:3])})" if diff else ""
        raise CheckpointError(
            f"the checkpoint {path} was written for another config{detail}; {again}"
        )
    theirs = ckpt["config"]
    ckpt["changed"] = {
        k: [theirs.get(k), getattr(cfg, k)]
        for k in RUNTIME_KEYS
        if k not in ("out", "checkpoint") and theirs.get(k) != getattr(cfg, k)
    }
    return ckpt


def remove(folder: Path) -> None:
    (folder / CHECKPOINT).unlink(missing_ok=True)
