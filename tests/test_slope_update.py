"""slope_update: "sign" (the default) steps each learned slope by lr x slope_lr (through
momentum), whatever the size of its gradient; "grad", the neutral value, is the old experiment
with the old run ids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from relubench.config import merge
from relubench.nn.activations import slope_of
from relubench.runner.train import build_loop, load_data

TINY = dict(dataset="synthetic", train_size=64, test_size=32, probe_size=16, width=4,
            batch_size=32, threads=1, schedule="none", momentum=0.0, lr=0.1,
            slope_lr=0.5)  # fmt: skip


def test_the_neutral_value_keeps_ids_and_sign_is_a_new_prelu_experiment():
    # the default prelu run before slope_update existed (slope_lr 0.01) keeps its id
    before = merge({"act": "prelu", "slope_lr": 0.01, "slope_update": "grad"})
    assert before.run_id == "mnist-mini-cnn-prelu-s0-fe7952dd"
    assert merge({"act": "prelu"}).slope_update == "sign"  # today's default: a new experiment
    assert merge({"act": "prelu"}).run_id == "mnist-mini-cnn-prelu-s0-562a50b4"
    assert merge({"act": "prelu"}).run_id != merge({"act": "prelu", "slope_update": "grad"}).run_id
    # an activation without learned slopes is the same experiment whatever the value
    assert merge({"slope_update": "sign"}).run_id == merge({}).run_id


def one_step(update: str, act: str) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(slope before, slope after, gradient) of every learned slope after one training step."""
    cfg = merge({**TINY, "act": act, "slope_update": update})
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    loop = build_loop(cfg, data, torch.device("cpu"), reporter=None)  # type: ignore[arg-type]
    slopes = [a for m in loop.model.modules() if (a := slope_of(m)) is not None]
    before = [a.detach().clone() for a in slopes]
    loss = F.cross_entropy(loop.model(data.x_train[:32]), data.y_train[:32])
    loop.opt.zero_grad()
    grads = []

    def keep() -> None:  # the gradients as the loss gave them, then the run's own shaping
        grads.extend(a.grad.detach().clone() for a in slopes)
        if loop.shape is not None:
            loop.shape()

    loop.precision.backward_step(loss, loop.opt, keep)
    return [(b, a.detach(), g) for b, a, g in zip(before, slopes, grads, strict=True)]


@pytest.mark.parametrize("act", ["prelu", "prelu-shared"])
def test_sign_steps_every_slope_by_lr_times_slope_lr(act):
    step = TINY["lr"] * TINY["slope_lr"]
    for before, after, grad in one_step("sign", act):
        moved = before - after
        assert torch.allclose(moved, step * torch.sign(grad), atol=1e-7)
    # by the gradient, the step is the gradient's size: the shared slope's is far from lr x 0.5
    for before, after, grad in one_step("grad", act):
        assert torch.allclose(before - after, step * grad, atol=1e-7)
    shared = one_step("grad", "prelu-shared")
    assert any(abs(float(g.abs().max()) - 1) > 0.05 for _, _, g in shared)
