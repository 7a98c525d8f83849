"""One run: `run(config)` trains it and writes its run folder as it goes.

Epoch 0 is the network at init, measured before any step. After every epoch: test loss and
accuracy, then the probe (dead units, slopes) on the fixed probe set (the head of the test set,
or with probe_split train of the training set, with its loss and accuracy), then the files.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from relubench._version import __version__
from relubench.config import RunConfig, to_yaml
from relubench.data import store
from relubench.data.augment import CropFlip
from relubench.data.load import Data, load
from relubench.errors import ConfigError, RelubenchError
from relubench.files import atomic_write, signals_wait, sigterm_interrupts
from relubench.nn.activations import slope_of
from relubench.nn.models import build_model
from relubench.nn.probe import slopes
from relubench.registry.datasets import get_spec
from relubench.registry.models import get_model
from relubench.runfolder import (
    STATUSES,
    RunWriter,
    layer_rows,
    read_summary,
    stamp,
    summarize,
    tidy,
)
from relubench.runner import checkpoint, nodynamo
from relubench.runner.budget import check_memory, estimate
from relubench.runner.checkpoint import CheckpointError, capture, restore
from relubench.runner.diagnose import message, replay
from relubench.runner.lock import RunLock, drop_previous, put_back, set_aside
from relubench.runner.loop import (
    Diverged,
    Loop,
    MixedPrecision,
    make_optimizer,
    make_schedule,
    measure,
    slope_signs,
    train_one_epoch,
)
from relubench.runner.reporters import QuietReporter, Reporter


class FolderUnwritable(RelubenchError):
    """The run folder could not be written (a full disk): the run stopped, resumable."""


class FolderUnreadable(RelubenchError):
    """The run folder holds a run whose summary.json cannot be read."""


UNWRITABLE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


def resolve_device(name: str) -> torch.device:
    """auto = cuda, else mps, else cpu; an explicit device that is not there is a ConfigError."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but this torch sees no CUDA GPU; use --device cpu")
    if name == "mps" and not has_mps:
        raise ConfigError(
            "device mps requested but this torch has no MPS backend; use --device cpu"
        )
    return torch.device(name)


def environment(device: torch.device, amp: torch.dtype | None = None) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "device": str(device),
        "amp_dtype": str(amp).removeprefix("torch.") if amp else None,
        "device_name": name or platform.machine(),
        "threads": torch.get_num_threads(),
        "relubench": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def load_data(cfg: RunConfig, device: torch.device | str = "cpu") -> Data:
    """The run's dataset on its device, in the model's memory format."""
    data = load(
        cfg.dataset,
        cfg.data_dir,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        seed=cfg.seed,
        download=cfg.download,
        augment=cfg.augment,
        probe_train=cfg.probe_size if cfg.probe_split == "train" else 0,
    ).to(device)
    if get_model(cfg.model).channels_last:
        for name in ("x_train", "x_test", "x_val", "x_probe"):
            if (x := getattr(data, name)) is not None:
                setattr(data, name, x.contiguous(memory_format=torch.channels_last))
    return data


def build_loop(cfg: RunConfig, data: Data, device: torch.device, reporter: Reporter) -> Loop:
    """Model (initialised by the activation's rule), optimizer, schedule and generators."""
    spec = data.spec
    model = build_model(cfg, spec.channels, spec.size, spec.classes).to(device)
    if get_model(cfg.model).channels_last:
        model = model.to(memory_format=torch.channels_last)
    augment = None
    if cfg.augment:  # its own generator: the crops never change the shuffling order
        aug_gen = torch.Generator().manual_seed(cfg.seed + 2)
        augment = CropFlip(data.train_u8, spec.mean, spec.std, aug_gen)
        data.train_u8 = None  # CropFlip holds its own copy
    steps = len(data.y_train) // cfg.batch_size
    if steps < 1:
        raise ConfigError(
            f"batch_size {cfg.batch_size} is larger than the training set "
            f"({len(data.y_train)} images); lower --batch-size"
        )
    opt = make_optimizer(cfg, model)
    learned = [a for m in model.modules() if (a := slope_of(m)) is not None]
    return Loop(
        model=model,
        opt=opt,
        sched=make_schedule(cfg, opt, cfg.epochs * steps),
        batch_size=cfg.batch_size,
        generator=torch.Generator().manual_seed(cfg.seed + 1),  # shuffling, apart from init
        precision=MixedPrecision(cfg.amp, device),
        augment=augment,
        reporter=reporter,
        label_smoothing=cfg.label_smoothing,
        shape=slope_signs(learned) if cfg.slope_update == "sign" and learned else None,
    )


class RunLog:
    """Evaluates after each epoch and keeps the run folder's files up to date."""

    def __init__(
        self, cfg: RunConfig, loop: Loop, data: Data, device: torch.device, folder: Path
    ) -> None:
        self.cfg, self.loop, self.data, self.folder = cfg, loop, data, folder
        self.params = sum(p.numel() for p in loop.model.parameters())
        self.writer = RunWriter(
            folder,
            bool(slopes(loop.model)),
            has_val=data.y_val is not None,
            has_probe=data.y_probe is not None,
        )
        self.split = {
            "train": len(data.y_train),
            "val": 0 if data.y_val is None else len(data.y_val),
            "test": len(data.y_test),
        }
        self.env = environment(device, loop.precision.dtype)
        self.started = self.first_started = time.time()  # this process's start; the run's
        self.wall_before = 0.0  # seconds trained by earlier processes (a resumed run)
        self.resumes: list[dict[str, Any]] = []
        self.timing: dict[str, Any] = {"epochs": []}  # where this process's time went

    def wall_seconds(self) -> float:
        return self.wall_before + time.time() - self.started

    def summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        w = self.writer
        return summarize(
            self.folder.name,
            self.cfg.config_hash,
            self.cfg.written(),
            status,
            w.metrics,
            w.layers,
            self.env,
            self.first_started,
            self.params,
            error,
            wall_seconds=self.wall_seconds(),
            resumes=self.resumes,
            split=self.split,
            timing=self.timing,
        )

    def resume(self, ckpt: dict[str, Any]) -> int:
        """Continue from a checkpoint (`checkpoint.read`): the loop's state, the files' rows,
        the run's timing; records the resume. Returns the epoch to train next."""
        try:
            restore(self.loop, ckpt["state"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            path = self.folder / checkpoint.CHECKPOINT
            why = str(e).splitlines()[0][:100].rstrip(" :") if str(e) else type(e).__name__
            raise CheckpointError(
                f"the checkpoint {path} does not fit this model ({why}); pass --restart to "
                "start the run over"
            ) from None
        run = ckpt["run"]
        self.first_started, self.wall_before = run["started"], run["wall_seconds"]
        entry = {"at": stamp(time.time()), "from_epoch": ckpt["epoch"]}
        if ckpt["changed"]:
            entry["changed"] = ckpt["changed"]
        self.resumes = [*run["resumes"], entry]
        self.writer.resume(to_yaml(self.cfg), ckpt["rows"])
        self.writer.summary(self.summary("running"))
        return ckpt["epoch"] + 1

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        """The checkpoint of `epoch`, after its files (`state`: captured after its evaluation)."""
        if not self.cfg.checkpoint:
            return
        run = {
            "started": self.first_started,
            "wall_seconds": self.wall_seconds(),
            "resumes": self.resumes,
        }
        checkpoint.save(self.folder, self.cfg, epoch, state, self.writer.rows(), run)

    def epoch(self, epoch: int, train: dict[str, float] | None) -> None:
        t0 = time.perf_counter()
        evals, p = measure(self.loop.model, self.data, self.cfg.probe_size, self.cfg.dormant_tau)
        eval_s = time.perf_counter() - t0
        for name, value in evals.items():  # test, validation, probe set
            if not math.isfinite(value):  # a network whose outputs overflowed: not a result
                loss = f" (train loss {train['train_loss']:.3g})" if train else ""
                raise Diverged(f"{name} became {value} at epoch {epoch}{loss}")
        t1 = time.perf_counter()
        row = {
            "epoch": epoch,
            "train_loss": None,
            "train_acc": None,
            **evals,
            "dead_frac": p.dead_frac,
            "dormant_frac": p.dormant_frac,
            "lr": self.loop.opt.param_groups[0]["lr"],
            "epoch_seconds": None,
            "samples_per_s": None,
        }
        if train:
            row.update(
                train_loss=train["train_loss"],
                train_acc=train["train_acc"],
                epoch_seconds=train["train_seconds"] + eval_s,
                samples_per_s=train["samples_per_s"],
            )
        self.writer.epoch(row, *layer_rows(epoch, p.layers))
        self.loop.reporter.epoch(row, p)
        self.timing["epochs"].append(
            {
                "epoch": epoch,
                "train_s": train["train_seconds"] if train else 0.0,
                "eval_s": eval_s,  # test, validation and the probe (hooks on its set)
                "write_s": time.perf_counter() - t1,  # CSVs, progress; + summary, checkpoint
            }
        )

    def commit(self) -> None:
        """The epoch's summary, after its tables (one unit): if it cannot be written, the
        epoch is taken back out of the tables, which stay those of the summary."""
        try:
            self.writer.summary(self.summary("running"))
        except BaseException:
            self.writer.undo()
            raise

    def stopped(self, status: str, error: str, keep_checkpoint: bool) -> None:
        """End a run short of its last epoch: its summary if it can be written (a full disk
        leaves the last whole epoch's); a run it was replacing (--force) comes back."""
        with signals_wait(then_raise=False):
            with contextlib.suppress(OSError):
                self.writer.summary(self.summary(status, error))
            if not keep_checkpoint:
                checkpoint.remove(self.folder)
            put_back(self.folder)

    def wrote(self, since: float) -> None:
        """Add the time since `since` (summary, checkpoint) to the last epoch's writing."""
        self.timing["epochs"][-1]["write_s"] += time.perf_counter() - since


def run(
    cfg: RunConfig,
    reporter: Reporter | None = None,
    redo_complete: bool = True,
    restart: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Train one config end to end, writing its run folder as it goes; returns the summary.

    An unfinished run (status `running` with its writer dead, or `interrupted`) continues from
    its checkpoint, the last complete epoch, unless `restart`; a checkpoint that cannot be
    resumed from is a CheckpointError (the folder is left as it is). Anything else starts
    afresh. Divergence (a non-finite training loss or evaluation) ends the run with status
    `diverged`; Ctrl-C with `interrupted` (re-raised); a folder that cannot be written (a full
    disk) with `interrupted` and FolderUnwritable, the last whole epoch kept and resumable; any
    other exception with `failed` (re-raised). The folder is claimed first (RunBusy if a live
    process writes it); without `redo_complete`, a run found complete under the claim is not
    trained again: its summary comes back. A complete run being replaced stays aside until the
    new one ends. An unreadable summary.json is FolderUnreadable unless `force` (then replaced).
    """
    entered = time.time()  # the process's start up to here: interpreter, imports, CLI
    device = resolve_device(cfg.device)
    check_memory(cfg)
    spec = get_spec(cfg.dataset)  # a missing dataset is refused before --out is made
    if spec.kind == "download":
        store.require(spec, cfg.data_dir, cfg.download)
    # torch.optim would import torch._dynamo: seconds of start-up for nothing (nodynamo)
    with RunLock(cfg) as folder, sigterm_interrupts(), nodynamo.skipped():
        done = read_summary(folder)
        status = done.get("status") if done else None
        if status in ("complete", "diverged"):
            drop_previous(folder)  # the run that replaced it ended; only a kill kept it
        if status == "complete" and not redo_complete:
            return {**done, "already": True}
        unknown = status not in STATUSES and os.path.lexists(folder / "summary.json")
        if unknown and not force:
            raise FolderUnreadable(
                f"{folder / 'summary.json'} cannot be read, so what the folder holds is unknown; "
                "pass --force to replace the run, or move the folder away (or fix the file)"
            )
        ckpt = None
        if status in ("running", "interrupted") and not restart:  # its writer is dead: we hold
            bound = checkpoint.size_bound(estimate(cfg)[1], cfg.epochs)  # the claim
            ckpt = checkpoint.check(checkpoint.read(folder, cfg, bound), folder, cfg.epochs)
        try:
            replace = status == "complete" or unknown
            return _run(cfg, device, folder, reporter or QuietReporter(), ckpt, entered, replace)
        except OSError as e:
            if e.errno not in UNWRITABLE:
                raise
            old = (read_summary(folder) or {}).get("status") == "complete"  # put back
            raise FolderUnwritable(
                f"cannot write {e.filename or folder}: {e.strerror}; the run stopped and "
                f"{'the complete run there is kept' if old else 'its last whole epoch is kept'}"
                ": free some space (or raise the file-size limit) and rerun the same command"
            ) from None


def _run(
    cfg: RunConfig,
    device: torch.device,
    folder: Path,
    reporter: Reporter,
    ckpt: dict[str, Any] | None,
    entered: float,
    replace: bool,
) -> dict[str, Any]:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    setup_s = time.time() - entered  # the device, the memory check, the claim
    t0 = time.perf_counter()
    data = load_data(cfg, device)
    t1 = time.perf_counter()
    loop = build_loop(cfg, data, device, reporter)
    rec = RunLog(cfg, loop, data, device, folder)
    rec.timing.update(  # entered: when train.run began, in ms since the epoch (an int: exact)
        entered_ms=int(entered * 1000), setup_s=setup_s, data_s=t1 - t0,
        build_s=time.perf_counter() - t1,
    )  # fmt: skip
    steps = len(data.y_train) // cfg.batch_size
    epoch, state = 0, None
    try:
        if ckpt is not None:
            first = rec.resume(ckpt)
            reporter.start(cfg, steps)
            reporter.resumed(rec.writer.metrics)
        else:
            first = 1
            if replace:  # the complete run there stays aside until this one ends
                set_aside(folder)
            rec.writer.start(to_yaml(cfg), rec.summary("running"))
            reporter.start(cfg, steps)
            rec.epoch(0, None)
            rec.commit()
        state = capture(loop)  # the epoch's start: to replay it if it diverges
        for epoch in range(first, cfg.epochs + 1):
            rec.epoch(epoch, train_one_epoch(loop, data.x_train, data.y_train, epoch))
            t = time.perf_counter()
            with signals_wait(then_raise=True):  # the epoch's files whole, then it stops
                rec.commit()
                if epoch < cfg.epochs:
                    state = capture(loop)
                    rec.save(epoch, state)
                    reporter.saved(epoch)
            rec.wrote(t)
        if cfg.save_model:
            buf = io.BytesIO()
            torch.save(loop.model.state_dict(), buf)
            atomic_write(folder / "model.pt", buf.getvalue())
        result = rec.summary("complete")
        rec.writer.summary(result)
    except Diverged as e:
        return _diverged(rec, state, epoch, e)
    except KeyboardInterrupt:  # the checkpoint stays: the same command resumes
        rec.stopped("interrupted", "stopped by Ctrl-C or SIGTERM", keep_checkpoint=True)
        raise
    except CheckpointError:  # nothing was trained: the folder stays as it is (--restart)
        raise
    except BaseException as e:
        if isinstance(e, OSError) and e.errno in UNWRITABLE:  # a full disk: resumable
            rec.stopped("interrupted", f"cannot write {e.filename}: {e.strerror}", True)
        else:  # a failed run is redone from its start
            rec.stopped("failed", f"{type(e).__name__}: {e}", keep_checkpoint=False)
        raise
    drop_previous(folder)  # the run this one replaced (--force)
    checkpoint.remove(folder)  # after `complete`: a kill in between loses nothing
    reporter.end(result)
    return result


def _diverged(rec: RunLog, state: dict[str, Any] | None, epoch: int, e: Diverged) -> dict[str, Any]:
    """End a diverged run: its summary, then the replay's diagnosis in it."""
    loop, folder = rec.loop, rec.folder
    checkpoint.remove(folder)  # resuming would diverge again: a diverged run is redone
    with signals_wait(then_raise=False):  # diverged is the status, whatever the replay meets
        rec.writer.summary(rec.summary("diverged", str(e)))
    diagnosis: dict[str, Any] = {"epoch": epoch, "step": None}
    if state is not None:
        diagnosis = replay(loop, state, rec.data.x_train, rec.data.y_train, epoch)
    slopes = len(loop.opt.param_groups) > 2
    result = rec.summary("diverged", message(diagnosis, rec.cfg.lr, slopes, str(e)))
    result["diverged"] = tidy(diagnosis)
    rec.writer.summary(result)
    drop_previous(folder)  # the run ended: the one it replaced goes
    loop.reporter.end(result)
    return result
