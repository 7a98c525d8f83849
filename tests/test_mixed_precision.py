"""Mixed precision (`MixedPrecision`): CUDA training steps in bf16, or fp16 through the loss
scaler; evaluation in float32; on the CPU, nothing changes.

Without a GPU, the CUDA path runs on a GPU simulated on the CPU (the `gpu` fixture): torch's own
autocast and GradScaler, on the CPU, in the dtype the wrapper chose for the GPU.
"""

from __future__ import annotations

import csv

import pytest
import torch

from relubench.config import merge
from relubench.runner.checkpoint import capture, restore
from relubench.runner.loop import MixedPrecision, evaluate, train_one_epoch, training_loss
from relubench.runner.reporters import QuietReporter
from relubench.runner.train import build_loop, load_data, run

CPU = torch.device("cpu")
SIMULATED = {"act": "prelu", "model": "mlp"}  # the cnn: fp16 convolutions on the CPU are slow


def metrics(cfg) -> list[dict[str, str]]:
    with open(cfg.run_dir / "metrics.csv", newline="") as f:
        timing = ("epoch_seconds", "samples_per_s")
        return [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(f)]


def watch(model: torch.nn.Module, device_type: str = "cpu") -> list[tuple]:
    """Every forward of `model` from now on: (autocast on?, its dtype if on, the output dtype)."""
    seen: list[tuple] = []

    def hook(module, inputs, out) -> None:
        on = torch.is_autocast_enabled(device_type)
        seen.append((on, torch.get_autocast_dtype(device_type) if on else None, out.dtype))

    model.register_forward_hook(hook)
    return seen


def loop_of(cfg, device: torch.device = CPU):
    torch.manual_seed(cfg.seed)
    data = load_data(cfg, device)
    return build_loop(cfg, data, device, QuietReporter()), data


@pytest.fixture
def gpu(monkeypatch):
    """MixedPrecision(True, cuda) on a GPU simulated on the CPU: torch.autocast("cuda") is CPU
    autocast in the same dtype, GradScaler("cuda") a CPU GradScaler, and whether the GPU has
    bf16 is the argument."""
    autocast, scaler = torch.autocast, torch.amp.GradScaler

    def cpu_autocast(device_type, *args, **kwargs):
        return autocast("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    def cpu_scaler(device="cuda", *args, **kwargs):
        return scaler("cpu" if device == "cuda" else device, *args, **kwargs)

    monkeypatch.setattr(torch, "autocast", cpu_autocast)
    monkeypatch.setattr(torch.amp, "GradScaler", cpu_scaler)

    def precision(bf16: bool) -> MixedPrecision:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        return MixedPrecision(True, torch.device("cuda"))

    return precision


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach().clone() for k, p in model.named_parameters()}


def test_amp_is_a_cuda_only_runtime_switch(tiny, tmp_path):
    # on the CPU, amp on (the default) and off train identically, in the same run folder id:
    # autocast applies to CUDA training steps only (bf16 on the CPU measured several x slower)
    on = merge({**tiny, "act": "elu", "epochs": 1})
    off = merge({**on.to_dict(), "amp": False, "out": str(tmp_path / "off")})
    assert on.run_id == off.run_id
    run(on)
    summary = run(off)
    assert metrics(on) == metrics(off)
    assert summary["amp_dtype"] is None  # what autocast ran in: none on the CPU
    precision = MixedPrecision(True, CPU)
    assert precision.dtype is None and not precision.scaler.is_enabled()


def test_a_gpu_without_bf16_steps_in_float16_through_the_loss_scaler(gpu, tiny):
    precision = gpu(bf16=False)
    assert precision.dtype == torch.float16 and precision.scaler.is_enabled()
    cfg = merge({**tiny, **SIMULATED})
    loop, data = loop_of(cfg)
    loop.precision = precision
    seen = watch(loop.model)
    train_one_epoch(loop, data.x_train, data.y_train, 1)
    steps = len(data.y_train) // cfg.batch_size
    assert seen == [(True, torch.float16, torch.float16)] * steps  # every step's forward
    state = precision.scaler.state_dict()
    assert state["_growth_tracker"] == steps  # every step went through the scaler, none skipped
    assert state["scale"] == 2.0**16
    seen.clear()
    evaluate(loop.model, data.x_test, data.y_test, cfg.probe_size)
    assert seen and set(seen) == {(False, None, torch.float32)}  # evaluation and probe: float32


def test_a_gpu_with_bf16_steps_in_bfloat16_without_loss_scaling(gpu, tiny):
    precision = gpu(bf16=True)
    assert precision.dtype == torch.bfloat16 and not precision.scaler.is_enabled()
    cfg = merge({**tiny, **SIMULATED})
    loop, data = loop_of(cfg)
    loop.precision = precision
    seen = watch(loop.model)
    before = params(loop.model)
    train_one_epoch(loop, data.x_train, data.y_train, 1)
    steps = len(data.y_train) // cfg.batch_size
    assert seen == [(True, torch.bfloat16, torch.bfloat16)] * steps
    after = params(loop.model)
    assert all(not torch.equal(before[k], after[k]) for k in before)  # every parameter trained
    assert all(p.dtype == torch.float32 for p in after.values())  # the weights stay float32


def test_an_overflowing_fp16_step_is_skipped_and_the_scale_backs_off(gpu, tiny):
    cfg = merge({**tiny, **SIMULATED})
    loop, data = loop_of(cfg)
    precision = loop.precision = gpu(bf16=False)
    precision.scaler.load_state_dict({**precision.scaler.state_dict(), "scale": 2.0**127})
    x, y = data.x_train[: cfg.batch_size], data.y_train[: cfg.batch_size]

    def one_step() -> None:
        with precision.autocast():
            loss = training_loss(loop, loop.model(x), y)
        loop.opt.zero_grad(set_to_none=True)
        precision.backward_step(loss, loop.opt)

    before = params(loop.model)
    one_step()  # the scaled loss overflows float32: no update, half the scale
    assert all(torch.equal(before[k], p) for k, p in params(loop.model).items())
    assert precision.scaler.get_scale() == 2.0**126
    # a checkpoint carries the scale: a resumed fp16 run goes on from it, not from 2 ** 16
    other, _ = loop_of(cfg)
    other.precision = gpu(bf16=False)
    restore(other, capture(loop))
    assert other.precision.scaler.get_scale() == 2.0**126
    precision.scaler.load_state_dict({**precision.scaler.state_dict(), "scale": 2.0**8})
    one_step()  # a scale that fits: the step is taken
    assert all(not torch.equal(before[k], p) for k, p in params(loop.model).items())
    assert precision.scaler.get_scale() == 2.0**8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_amp_on_a_gpu_trains_in_reduced_precision(tiny, tmp_path):
    cuda = torch.device("cuda")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    cfg = merge({**tiny, "act": "prelu", "device": "cuda"})
    loop, data = loop_of(cfg, cuda)
    assert loop.precision.dtype == dtype
    assert loop.precision.scaler.is_enabled() == (dtype == torch.float16)
    seen = watch(loop.model, "cuda")
    train_one_epoch(loop, data.x_train, data.y_train, 1)
    steps = len(data.y_train) // cfg.batch_size
    assert seen == [(True, dtype, dtype)] * steps
    if dtype == torch.float16:  # the last steps went through the scaler, at a finite scale
        state = loop.precision.scaler.state_dict()
        assert state["_growth_tracker"] >= 1 and 0 < state["scale"] <= 2.0**16
    seen.clear()
    evaluate(loop.model, data.x_test, data.y_test, cfg.probe_size)
    assert seen and set(seen) == {(False, None, torch.float32)}
    # a whole run says what it ran in, and amp off is float32 arithmetic: other numbers
    on = run(merge({**cfg.to_dict(), "epochs": 2}))
    off_cfg = merge({**cfg.to_dict(), "epochs": 2, "amp": False, "out": str(tmp_path / "off")})
    off = run(off_cfg)
    assert on["status"] == off["status"] == "complete"
    assert on["amp_dtype"] == str(dtype).removeprefix("torch.") and off["amp_dtype"] is None
    assert on["final_train_loss"] != off["final_train_loss"]
