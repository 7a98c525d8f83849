"""Training: train_one_epoch, evaluate, and run(config), which writes the run folder.

Epoch 0 is the network at init, measured before any step. After every epoch: test loss and
accuracy, then the probe (dead units, slopes) on the fixed probe set, then the files.
"""

from __future__ import annotations

import contextlib
import io
import math
import platform
import sys
import time
from datetime import datetime, timezone
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import relubench
from relubench import data as datasets
from relubench.activations import param_groups
from relubench.augment import CropFlip
from relubench.config import ConfigError, RunConfig, to_yaml
from relubench.models import build_model
from relubench.probe import Probe, Recorder, slopes
from relubench.runs import RunWriter, atomic_write, tidy

# Models whose NHWC conv kernels measured faster: on CPU (one core) 1.3x for resnet20 and vgg,
# `python benchmarks/cifar_step.py --memory-format contiguous`; cuDNN's tensor cores want NHWC.
CHANNELS_LAST = ("cnn", "resnet20", "vgg")


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Reporter:
    """What the loop tells the outside world; the CLI draws progress bars, tests stay quiet."""

    def start(self, cfg: RunConfig, steps_per_epoch: int) -> None: ...

    def step(self, epoch: int, step: int, loss: float, acc: float) -> None: ...

    def epoch(self, row: dict[str, Any], probe: Probe) -> None: ...

    def end(self, summary: dict[str, Any]) -> None: ...


class MixedPrecision:
    """Autocast for the training steps on CUDA (bf16, or fp16 with loss scaling where the GPU
    has no bf16); on the CPU and MPS a no-op. Evaluation and the probe always run in float32,
    so dead units are judged on float32 pre-activations.

    Why not bf16 on the CPU: it depends on the CPU. Without native bf16 units it is emulated
    and slower; on a CPU with AMX-BF16 it measured 1.6-1.8x faster per step
    (`python benchmarks/cpu_levers.py`), and there the activations' share of the step grows
    (PReLU 1.31x ReLU's cnn step in bf16, against 1.14x in float32). A default that changes
    the arithmetic with the CPU model would make the same config train differently on two
    laptops; CPU runs stay float32 everywhere."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.dtype: torch.dtype | None = None
        if enabled and device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.dtype)

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if not self.scaler.is_enabled():
            loss.backward()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # skipped if the scaled gradients overflowed
        self.scaler.update()


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


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_schedule(cfg: RunConfig, opt: torch.optim.Optimizer, total_steps: int):
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


def train_one_epoch(
    model,
    opt,
    sched,
    x,
    y,
    cfg: RunConfig,
    generator: torch.Generator,
    epoch: int,
    reporter: Reporter,
    augment: CropFlip | None = None,
    precision: MixedPrecision | None = None,
) -> dict[str, float]:
    """One pass over the shuffled training set; returns mean loss, accuracy, throughput.

    With `augment`, batches are its crops and flips of the uint8 images, in the same order
    (and `x`, the float images, may be None).
    """
    model.train()
    loss_sum = torch.zeros((), device=y.device)
    correct = torch.zeros((), device=y.device, dtype=torch.long)
    seen, step = 0, 0
    steps = max(1, len(y) // cfg.batch_size)
    t0 = time.perf_counter()
    if augment is None:
        source = datasets.batches(x, y, cfg.batch_size, generator, drop_last=True)
    else:
        source = augment.batches(y, cfg.batch_size, generator)
    precision = precision or MixedPrecision(False, y.device)
    for xb, yb in source:
        with precision.autocast():
            out = model(xb)
            loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        precision.backward_step(loss, opt)
        sched.step()
        loss_sum += loss.detach() * len(yb)
        correct += (out.argmax(1) == yb).sum()
        seen += len(yb)
        step += 1
        if step % 10 == 0 or step == steps:  # one host sync every 10 steps, for the live bar
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise Diverged(f"training loss became {mean_loss} at epoch {epoch}, step {step}")
            reporter.step(epoch, step, mean_loss, correct.item() / seen)
    seconds = time.perf_counter() - t0
    mean_loss = loss_sum.item() / max(seen, 1)
    if not math.isfinite(mean_loss):
        raise Diverged(f"training loss became {mean_loss} at epoch {epoch}")
    return {
        "train_loss": mean_loss,
        "train_acc": correct.item() / max(seen, 1),
        "train_seconds": seconds,
        "samples_per_s": seen / seconds,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, probe_size: int = 0, batch_size: int = 1000
) -> tuple[dict[str, float], Probe | None]:
    """Mean loss and accuracy over (x, y) in eval mode, probing the first `probe_size` images.

    The probe set is the head of the test set, so its forward pass is the evaluation's own:
    probing costs only the recording hooks, not a second pass.
    """
    model.eval()
    loss_sum, correct = 0.0, 0

    def run(xs: torch.Tensor, ys: torch.Tensor) -> None:
        nonlocal loss_sum, correct
        for xb, yb in datasets.batches(xs, ys, batch_size):
            out = model(xb)
            loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()

    result = None
    if probe_size:
        with Recorder(model) as rec:
            run(x[:probe_size], y[:probe_size])
        result = rec.result()
    run(x[probe_size:], y[probe_size:])
    return {"test_loss": loss_sum / len(x), "test_acc": correct / len(x)}, result


def _probe_rows(epoch: int, p: Probe) -> tuple[list[dict], list[dict]]:
    layers, alphas = [], []
    for lp in p.layers:
        a = lp.alphas
        layers.append(
            {
                "epoch": epoch,
                "layer": lp.layer,
                "units": lp.units,
                "dead_frac": lp.dead_frac,
                "alpha_mean": sum(a) / len(a) if a else None,
                "alpha_min": min(a) if a else None,
                "alpha_max": max(a) if a else None,
            }
        )
        alphas += [
            {"epoch": epoch, "layer": lp.layer, "channel": c, "alpha": v}
            for c, v in enumerate(a or [])
        ]
    return layers, alphas


def environment(device: torch.device, amp: torch.dtype | None = None) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "device": str(device),
        "amp_dtype": str(amp).removeprefix("torch.") if amp else None,
        "device_name": name or platform.machine(),
        "threads": torch.get_num_threads(),
        "relubench": relubench.__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def summarize(
    cfg: RunConfig,
    status: str,
    writer: RunWriter,
    env: dict,
    started: float,
    params: int,
    error: str | None = None,
) -> dict[str, Any]:
    """summary.json: status, results, final per-layer stats, the config, the environment.

    Holds everything `compare` tabulates, so a table over many runs reads one file per run.
    """
    rows = writer.metrics
    trained = [r for r in rows if r["epoch"] > 0]
    best = max(trained or rows, key=lambda r: r["test_acc"], default=None)
    last = rows[-1] if rows else None
    epoch_s = [r["epoch_seconds"] for r in trained]
    return tidy(
        {
            "run_id": cfg.run_id,
            "status": status,
            "epochs": cfg.epochs,
            "epochs_done": len(trained),
            "final_test_acc": last["test_acc"] if trained else None,
            "final_test_loss": last["test_loss"] if trained else None,
            "final_train_loss": last["train_loss"] if trained else None,
            "best_test_acc": best["test_acc"] if trained else None,
            "best_epoch": best["epoch"] if trained else None,
            "init_dead_frac": rows[0]["dead_frac"] if rows else None,
            "final_dead_frac": last["dead_frac"] if last else None,
            "seconds_per_epoch": sum(epoch_s) / len(epoch_s) if epoch_s else None,
            "wall_seconds": time.time() - started,
            "parameters": params,
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(
                timespec="seconds"
            ),
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "error": error,
            **env,
            "layers": _final_layers(writer.layers),
            "config": cfg.to_dict(),
        }
    )


def _final_layers(layer_rows: list[dict]) -> list[dict]:
    """Per activation layer: units, dead fraction at init and at the last epoch, final slopes."""
    if not layer_rows:
        return []
    last = layer_rows[-1]["epoch"]
    init = {r["layer"]: r["dead_frac"] for r in layer_rows if r["epoch"] == 0}
    keys = ("units", "dead_frac", "alpha_mean", "alpha_min", "alpha_max")
    return [
        {"layer": r["layer"], "init_dead_frac": init.get(r["layer"]), **{k: r[k] for k in keys}}
        for r in layer_rows
        if r["epoch"] == last
    ]


def run(cfg: RunConfig, reporter: Reporter | None = None) -> dict[str, Any]:
    """Train one config end to end, writing its run folder as it goes; returns the summary.

    Divergence ends the run with status `diverged`; Ctrl-C with `interrupted` (re-raised);
    any other exception with `failed` (re-raised). Completed epochs are always kept.
    """
    reporter = reporter or Reporter()
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data = datasets.load(cfg).to(device)
    model = build_model(cfg, data.spec.channels, data.spec.size, data.spec.classes).to(device)
    if cfg.model in CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
        if data.x_train is not None:
            data.x_train = data.x_train.contiguous(memory_format=torch.channels_last)
        data.x_test = data.x_test.contiguous(memory_format=torch.channels_last)
    augment = None
    if cfg.augment:  # its own generator: the crops never change the shuffling order
        aug_gen = torch.Generator().manual_seed(cfg.seed + 2)
        augment = CropFlip(data.train_u8, data.spec.mean, data.spec.std, aug_gen)
        data.train_u8 = None  # CropFlip holds its own copy
    steps = len(data.y_train) // cfg.batch_size
    if steps < 1:
        raise ConfigError(
            f"batch_size {cfg.batch_size} is larger than the training set "
            f"({len(data.y_train)} images); lower --batch-size"
        )
    opt = make_optimizer(cfg, model)
    sched = make_schedule(cfg, opt, cfg.epochs * steps)
    generator = torch.Generator().manual_seed(cfg.seed + 1)  # shuffling, apart from init
    params = sum(p.numel() for p in model.parameters())

    writer = RunWriter(cfg.run_dir, has_alphas=bool(slopes(model)))
    precision = MixedPrecision(cfg.amp, device)
    env, started = environment(device, precision.dtype), time.time()

    def summary(status: str, error: str | None = None) -> dict[str, Any]:
        return summarize(cfg, status, writer, env, started, params, error)

    def record(epoch: int, train: dict[str, float] | None) -> None:
        t0 = time.perf_counter()
        test, p = evaluate(model, data.x_test, data.y_test, cfg.probe_size)
        eval_s = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "train_loss": None,
            "train_acc": None,
            **test,
            "dead_frac": p.dead_frac,
            "lr": opt.param_groups[0]["lr"],
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
        writer.epoch(row, *_probe_rows(epoch, p))
        reporter.epoch(row, p)

    writer.start(to_yaml(cfg), summary("running"))
    reporter.start(cfg, steps)
    try:
        record(0, None)
        for epoch in range(1, cfg.epochs + 1):
            stats = train_one_epoch(
                model,
                opt,
                sched,
                data.x_train,
                data.y_train,
                cfg,
                generator,
                epoch,
                reporter,
                augment,
                precision,
            )
            record(epoch, stats)
            writer.summary(summary("running"))
    except Diverged as e:
        result = summary("diverged", str(e))
        writer.summary(result)
        reporter.end(result)
        return result
    except KeyboardInterrupt:
        writer.summary(summary("interrupted", "stopped by Ctrl-C"))
        raise
    except BaseException as e:
        writer.summary(summary("failed", f"{type(e).__name__}: {e}"))
        raise
    if cfg.save_model:
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        atomic_write(cfg.run_dir / "model.pt", buf.getvalue())
    result = summary("complete")
    writer.summary(result)
    reporter.end(result)
    return result
