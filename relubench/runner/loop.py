"""The training loop's parts: optimizer, schedule, precision, train_one_epoch, evaluate.

`train_one_epoch` and `evaluate` return plain dicts of numbers; everything a step needs is in
one `Loop` (model, optimizer, schedule, precision, shuffling generator, augmentation).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from relubench.config import RunConfig
from relubench.data.augment import CropFlip
from relubench.data.batches import batches
from relubench.data.load import Data
from relubench.nn.activations import param_groups
from relubench.nn.probe import Probe, Recorder
from relubench.runner import nodynamo
from relubench.runner.reporters import QuietReporter, Reporter


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class MixedPrecision:
    """Autocast for the training steps on CUDA (bf16, or fp16 with loss scaling where the GPU
    has no bf16); on the CPU and MPS a no-op. Evaluation and the probe always run in float32,
    so dead units are judged on float32 pre-activations.

    Why not bf16 on the CPU: it depends on the CPU. Without native bf16 units it is emulated
    and slower; with them (AMX-BF16) it is faster, and the activations' share of the step grows
    (`python -m benchmarks.cpu_levers`; figures in benchmarks/RESULTS.md). A default that
    changes the arithmetic with the CPU model would make the same config train differently on
    two laptops; CPU runs stay float32 everywhere."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.dtype: torch.dtype | None = None
        if enabled and device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.dtype)

    def backward_step(
        self,
        loss: torch.Tensor,
        opt: torch.optim.Optimizer,
        shape: Callable[[], None] | None = None,
    ) -> None:
        """Backward and step; `shape` changes the (unscaled) gradients before the step."""
        if not self.scaler.is_enabled():
            loss.backward()
            if shape is not None:
                shape()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        if shape is not None:
            self.scaler.unscale_(opt)  # `shape` sees true gradients; overflow is recorded
            shape()
        self.scaler.step(opt)  # skipped if the scaled gradients overflowed
        self.scaler.update()


def slope_signs(slopes: list[torch.Tensor]) -> Callable[[], None]:
    """slope_update "sign": each learned slope's gradient replaced by its sign, so a slope
    steps by lr x slope_lr (through momentum) however many units and positions it serves."""

    def shape() -> None:
        for a in slopes:
            if a.grad is not None:
                a.grad.sign_()

    return shape


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over `param_groups`; a group's lr is cfg.lr times its `lr_scale` (learned
    slopes: slope_lr), and the schedule multiplies every group's alike."""
    groups = param_groups(model, cfg.weight_decay, cfg.slope_lr, cfg.slope_decay)
    for g in groups:
        g["lr"] = cfg.lr * g.pop("lr_scale")
    if cfg.optimizer == "sgd":
        return nodynamo.eager(torch.optim.SGD)(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return nodynamo.eager(torch.optim.Adam)(groups, lr=cfg.lr)
    return nodynamo.eager(torch.optim.AdamW)(groups, lr=cfg.lr)


def make_schedule(
    cfg: RunConfig, opt: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step multiplier of lr: onecycle rises linearly from lr/25 over the first 25% of the
    steps, then follows a cosine to 0; cosine starts at lr. Written out (not OneCycleLR) so that
    runs of a few steps work too, and momentum stays what the config says."""
    warm = max(1, round(0.25 * total_steps)) if cfg.schedule == "onecycle" else 0

    def factor(step: int) -> float:
        if cfg.schedule == "none":
            return 1.0
        if step < warm:
            return 0.04 + 0.96 * step / warm
        t = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1.0 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class Loop:
    """What the training steps of a run share, built once per run."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    batch_size: int
    generator: torch.Generator  # shuffling order, apart from init
    precision: MixedPrecision
    augment: CropFlip | None = None  # crops and flips of the uint8 images, by batch
    reporter: Reporter = field(default_factory=QuietReporter)
    label_smoothing: float = 0.0  # of the training loss (the reported train_loss includes it)
    shape: Callable[[], None] | None = None  # changes gradients before each step (slope_signs)


def training_loss(loop: Loop, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss the steps minimise (the evaluation's is plain cross-entropy)."""
    return F.cross_entropy(out, y, label_smoothing=loop.label_smoothing)


def train_one_epoch(
    loop: Loop, x: torch.Tensor | None, y: torch.Tensor, epoch: int
) -> dict[str, float]:
    """One pass over the shuffled training set; returns mean loss, accuracy, throughput.

    With `loop.augment`, batches are its crops and flips of the uint8 images, in the same
    order (and `x`, the float images, may be None).
    """
    model, opt, precision = loop.model, loop.opt, loop.precision
    model.train()
    loss_sum = torch.zeros((), device=y.device)
    correct = torch.zeros((), device=y.device, dtype=torch.long)
    seen, step = 0, 0
    steps = max(1, len(y) // loop.batch_size)
    t0 = time.perf_counter()
    if loop.augment is None:
        source = batches(x, y, loop.batch_size, loop.generator, drop_last=True)
    else:
        source = loop.augment.batches(y, loop.batch_size, loop.generator)
    for xb, yb in source:
        with precision.autocast():
            out = model(xb)
            loss = training_loss(loop, out, yb)
        opt.zero_grad(set_to_none=True)
        precision.backward_step(loss, opt, loop.shape)
        loop.sched.step()
        loss_sum += loss.detach() * len(yb)
        correct += (out.argmax(1) == yb).sum()
        seen += len(yb)
        step += 1
        if step % 10 == 0 or step == steps:  # one host sync every 10 steps, for the live bar
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise Diverged(f"training loss became {mean_loss} at epoch {epoch}, step {step}")
            loop.reporter.step(epoch, step, mean_loss, correct.item() / seen)
    seconds = time.perf_counter() - t0
    mean_loss = loss_sum.item() / max(seen, 1)
    if not math.isfinite(mean_loss):
        raise Diverged(f"training loss became {mean_loss} at epoch {epoch}")
    # the last steps' updates may have broken the weights after their loss was computed
    if not torch.stack([p.isfinite().all() for p in model.parameters()]).all():
        raise Diverged(f"parameters became non-finite at the end of epoch {epoch}")
    return {
        "train_loss": mean_loss,
        "train_acc": correct.item() / max(seen, 1),
        "train_seconds": seconds,
        "samples_per_s": seen / seconds,
    }


PROBE_BATCH = 1000


def eval_batch(device: torch.device) -> int:
    """The evaluation's batch size: 128 on the CPU, where a batch's activations then stay in
    the caches (measured against 256, 512 and 1,000: README, Performance), 1,000 on a GPU."""
    return 128 if device.type == "cpu" else 1000


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    probe_size: int = 0,
    batch_size: int | None = None,
    dormant_tau: float = 0.1,
) -> tuple[dict[str, float], Probe | None]:
    """Mean loss and accuracy ({"loss", "acc"}) over (x, y) in eval mode, whatever split x is,
    probing the first `probe_size` images.

    The probe set is the head of the test set, so its forward pass is the evaluation's own:
    probing costs only the recording hooks, not a second pass. The probe runs in batches of
    PROBE_BATCH (its statistics are sums over batches: one size keeps them the same from
    version to version); the rest in `batch_size`, by default `eval_batch(x.device)`.
    """
    model.eval()
    loss_sum, correct = 0.0, 0

    def run(xs: torch.Tensor, ys: torch.Tensor, size: int) -> None:
        nonlocal loss_sum, correct
        for xb, yb in batches(xs, ys, size):
            out = model(xb)
            loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()

    result = None
    if probe_size:
        with Recorder(model, dormant_tau) as rec:
            run(x[:probe_size], y[:probe_size], PROBE_BATCH)
        result = rec.result()
    run(x[probe_size:], y[probe_size:], batch_size or eval_batch(x.device))
    return {"loss": loss_sum / len(x), "acc": correct / len(x)}, result


def measure(
    model: nn.Module, data: Data, probe_size: int, dormant_tau: float = 0.1
) -> tuple[dict[str, float], Probe]:
    """An epoch's evaluation, keyed as metrics.csv names it (test_loss, test_acc; val_loss,
    val_acc with a validation split; probe_loss, probe_acc when the probe set is training
    images, `data.x_probe`), and the probe: on the head of the test set, riding on its
    evaluation, or on `data.x_probe`, the test set then evaluated without hooks."""
    on_train = data.x_probe is not None
    head = 0 if on_train else probe_size
    test, found = evaluate(model, data.x_test, data.y_test, head, dormant_tau=dormant_tau)
    out = {"test_loss": test["loss"], "test_acc": test["acc"]}
    if data.x_val is not None:
        val, _ = evaluate(model, data.x_val, data.y_val)
        out.update(val_loss=val["loss"], val_acc=val["acc"])
    if on_train:
        n = len(data.y_probe)
        seen, found = evaluate(model, data.x_probe, data.y_probe, n, dormant_tau=dormant_tau)
        out.update(probe_loss=seen["loss"], probe_acc=seen["acc"])
    assert found is not None  # probe_size >= 1, and the probe set holds at least one image
    return out, found
