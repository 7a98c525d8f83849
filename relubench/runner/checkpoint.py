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
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import torch

from relubench._version import __version__
from relubench.config import RUNTIME_KEYS, RunConfig
from relubench.errors import RelubenchError, short
from relubench.files import atomic_write
from relubench.runfolder import METRICS_COLUMNS
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
    try:
        atomic_write(folder / CHECKPOINT, lambda f: torch.save(payload, f))
    except RuntimeError as e:  # torch's writer turns the file's OSError (a full disk) into this
        if isinstance(e.__context__, OSError) and e.__context__.errno is not None:
            cause = e.__context__
            raise OSError(cause.errno, cause.strerror, str(folder / CHECKPOINT)) from None
        raise


def read(folder: Path, cfg: RunConfig, max_bytes: int | None = None) -> dict[str, Any] | None:
    """The checkpoint in `folder`, checked against `cfg`; None if there is none.

    CheckpointError (one line, how to go on) if it cannot be read, is not a regular file, holds
    more than `max_bytes` (checked on the zip's records before anything is loaded: a crafted
    archive cannot make the load take memory without bound), is of another format, or was
    written by another experiment (`check` looks at the fields). A checkpoint written with other
    runtime keys (threads, device) is resumed from; `changed` in the result says which differ.
    """
    path = folder / CHECKPOINT
    again = "pass --restart to start the run over"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CheckpointError(
            f"cannot read the checkpoint {path} ({e.strerror}); {again}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"the checkpoint {path} is not a regular file; {again}")
    _check_size(path, info.st_size, max_bytes, again)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        text = str(e)
        if "weights_only" in text or "Unsupported global" in text:  # pickled code, refused
            reason = "it holds objects other than tensors and numbers; nothing was run"
        else:
            reason = text.splitlines()[0][:120].rstrip(" :") if text else type(e).__name__
        raise CheckpointError(f"cannot read the checkpoint {path} ({reason}); {again}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a relubench checkpoint of this version; {again}")
    theirs = ckpt.get("config")
    if not isinstance(theirs, dict):
        raise CheckpointError(f"the checkpoint {path} is damaged (config is missing); {again}")
    if ckpt.get("config_hash") != cfg.config_hash:
        mine = cfg.to_dict()
        diff = [
            f"{k}: {short(theirs.get(k))} in the checkpoint, {v!r} here"
            for k, v in mine.items()
            if k not in RUNTIME_KEYS and theirs.get(k) != v
        ]
        detail = f" ({'; '.join(diff[:3])})" if diff else ""
        raise CheckpointError(
            f"the checkpoint {path} was written for another config{detail}; {again}"
        )
    ckpt["changed"] = {
        k: [theirs.get(k), getattr(cfg, k)]
        for k in RUNTIME_KEYS
        if k not in ("out", "checkpoint") and theirs.get(k) != getattr(cfg, k)
    }
    return ckpt


def size_bound(model_bytes: float, epochs: int) -> int:
    """The most a run's checkpoint can hold: its model and optimizer state (`model_bytes`, as
    `relubench.runner.budget.estimate` counts it, which is more than is saved), the rows of its
    tables (far less than 1 MB an epoch for these models) and the generators' states."""
    return int(model_bytes) + (epochs + 1) * 2**20 + 64 * 2**20


def _check_size(path: Path, size: int, max_bytes: int | None, again: str) -> None:
    if max_bytes is None:
        return
    if size <= max_bytes:
        try:
            with zipfile.ZipFile(path) as z:
                size = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise CheckpointError(
                f"cannot read the checkpoint {path} (not a zip archive); {again}"
            ) from None
    if size > max_bytes:
        raise CheckpointError(
            f"the checkpoint {path} holds {size:,} bytes, more than this run's state can "
            f"({max_bytes:,}); {again}"
        )


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _rows_damage(rows: Any, epoch: int) -> str | None:
    """What is wrong with a checkpoint's rows, if anything: they must be epochs 0..epoch."""
    if not isinstance(rows, dict):
        return "rows are missing"
    for name in ("metrics", "layers", "alphas"):
        table = rows.get(name)
        if not isinstance(table, list) or not all(isinstance(r, dict) for r in table):
            return f"{name} rows are missing"
        epochs = [r.get("epoch") for r in table]
        if any(type(e) is not int for e in epochs) or epochs != sorted(epochs):
            return f"{name} rows are out of order"
        if (table or name == "metrics") and set(epochs) != set(range(epoch + 1)):
            return f"{name} rows are not those of epochs 0..{epoch}"
        for r in table:
            cells = {k: v for k, v in r.items() if k != "layer" and v is not None}
            if not all(_number(v) for v in cells.values()) or not isinstance(
                r.get("layer", ""), str
            ):
                return f"a {name} row holds a value that is not a number"
    if len(rows["metrics"]) != epoch + 1:
        return f"metrics rows are not those of epochs 0..{epoch}"
    needed = ("train_loss", "train_acc", "test_loss", "test_acc", "epoch_seconds")
    for r in rows["metrics"]:
        missing = [c for c in METRICS_COLUMNS if c not in r]
        if missing or (r["epoch"] > 0 and any(r[c] is None for c in needed)):
            return f"metrics row of epoch {r['epoch']} is incomplete"
    return None


def check(ckpt: dict[str, Any] | None, folder: Path, epochs: int) -> dict[str, Any] | None:
    """`ckpt` (from `read`) if a run of `epochs` can resume from it; CheckpointError if a field
    is missing, mistyped or inconsistent (an epoch out of 0..epochs, rows not that epoch's)."""
    problem = damage(ckpt, epochs) if ckpt is not None else None
    if problem:
        raise CheckpointError(
            f"the checkpoint {folder / CHECKPOINT} is damaged ({problem}); pass --restart to "
            "start the run over"
        )
    return ckpt


def damage(ckpt: dict[str, Any], epochs: int) -> str | None:
    """What is wrong with a checkpoint's fields (a hand-edited or crafted one), if anything."""
    epoch = ckpt.get("epoch")
    if type(epoch) is not int or not 0 <= epoch <= epochs:
        return f"epoch {short(epoch)}, not one of 0..{epochs}"
    state, run = ckpt.get("state"), ckpt.get("run")
    keys = ("model", "optimizer", "schedule", "scaler", "rng")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        return "the training state is incomplete"
    rng = state["rng"]
    if not isinstance(rng, dict) or any(k not in rng for k in ("order", "crops", "torch")):
        return "the generators' states are incomplete"
    if not isinstance(run, dict) or not all(
        _number(run.get(k)) for k in ("started", "wall_seconds")
    ):
        return "its timing is missing"
    resumes = run.get("resumes")
    if not isinstance(resumes, list) or not all(isinstance(r, dict) for r in resumes):
        return "its resumes are not a list"
    return _rows_damage(ckpt.get("rows"), epoch)


def remove(folder: Path) -> None:
    (folder / CHECKPOINT).unlink(missing_ok=True)
