"""label_smoothing: the training loss is smoothed cross-entropy, the evaluation's is not."""

from __future__ import annotations

import copy
import csv

import pytest
import torch

from relubench.config import merge
from relubench.nn.models import build_model
from relubench.runner.checkpoint import capture
from relubench.runner.diagnose import replay
from relubench.runner.loop import train_one_epoch
from relubench.runner.reporters import QuietReporter
from relubench.runner.train import build_loop, load_data, run


def smoothed_ce(logits: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Szegedy et al. 2016: cross-entropy against (1 - eps) one-hot + eps / K uniform."""
    logp = torch.log_softmax(logits.double(), dim=1)
    k = logits.shape[1]
    target = torch.full_like(logp, eps / k)
    target[torch.arange(len(y)), y] += 1 - eps
    return float(-(target * logp).sum(1).mean())


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_training_loss_is_smoothed_cross_entropy_and_evaluation_is_plain(eps):
    # one batch of the whole training set: its loss is the initial model's, whatever the order
    cfg = merge(
        {"dataset": "synthetic", "train_size": 256, "test_size": 256, "batch_size": 256,
         "epochs": 1, "label_smoothing": eps, "probe_size": 64, "device": "cpu"}
    )  # fmt: skip
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    loop = build_loop(cfg, data, torch.device("cpu"), QuietReporter())
    before = copy.deepcopy(loop.model).train()
    with torch.no_grad():
        expected = smoothed_ce(before(data.x_train), data.y_train, eps)
    got = train_one_epoch(loop, data.x_train, data.y_train, 1)
    assert got["train_loss"] == pytest.approx(expected, rel=1e-5)


def test_a_smoothed_runs_test_and_validation_losses_are_plain_cross_entropy(tmp_path):
    # the recorded test and validation losses of the final model, recomputed from its weights
    cfg = merge(
        {"dataset": "synthetic", "train_size": 512, "test_size": 256, "val_size": 128,
         "batch_size": 64, "epochs": 1, "label_smoothing": 0.3, "probe_size": 64,
         "device": "cpu", "save_model": True, "out": str(tmp_path)}
    )  # fmt: skip
    run(cfg)
    with open(cfg.run_dir / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    data = load_data(cfg)
    model = build_model(cfg, data.spec.channels, data.spec.size, data.spec.classes)
    model.load_state_dict(torch.load(cfg.run_dir / "model.pt"))
    model = model.to(memory_format=torch.channels_last).eval()
    with torch.no_grad():
        for x, y, key in ((data.x_test, data.y_test, "test_loss"), (data.x_val, data.y_val,
                                                                  "val_loss")):  # fmt: skip
            plain = float(torch.nn.functional.cross_entropy(model(x), y))
            assert float(last[key]) == pytest.approx(plain, rel=1e-4), key


def test_the_divergence_replay_follows_the_smoothed_loss():
    # the replay that finds what ran away retraces the epoch's steps: with smoothing on, it must
    # minimise the same loss, landing on the same weights as the epoch it replays
    cfg = merge(
        {"dataset": "synthetic", "train_size": 512, "test_size": 128, "batch_size": 64,
         "epochs": 1, "label_smoothing": 0.3, "probe_size": 64, "device": "cpu"}
    )  # fmt: skip
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    loop = build_loop(cfg, data, torch.device("cpu"), QuietReporter())
    snap = capture(loop)
    train_one_epoch(loop, data.x_train, data.y_train, 1)
    trained = [p.detach().clone() for p in loop.model.parameters()]
    assert replay(loop, snap, data.x_train, data.y_train, 1)["step"] is None  # no divergence
    for a, b in zip(trained, loop.model.parameters(), strict=True):
        assert torch.equal(a, b)
