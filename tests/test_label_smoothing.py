"""label_smoothing: the training loss is smoothed cross-entropy, the evaluation's is not."""

from __future__ import annotations

import copy

import pytest
import torch

from relubench.config import merge
from relubench.runner.events import QuietReporter
from relubench.runner.loop import evaluate, train_one_epoch
from relubench.runner.train import build_loop, load_data


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
    # evaluation stays plain cross-entropy, so test losses compare across recipes
    loss = evaluate(loop.model, data.x_test, data.y_test)[0]["test_loss"]
    with torch.no_grad():
        plain = torch.nn.functional.cross_entropy(loop.model.eval()(data.x_test), data.y_test)
    assert loss == pytest.approx(float(plain), rel=1e-5)
