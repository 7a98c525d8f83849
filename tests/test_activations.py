"""The activation registry: every entry builds and trains; init, decay and dropout rules hold."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relubench.activations import (
    ACTS,
    act_factory,
    dropout_layer,
    get_act,
    init_weights,
    param_groups,
)
from relubench.config import RunConfig, merge
from relubench.models import build_model


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("shape", [(4, 6, 5, 5), (4, 6)])
def test_every_activation_builds_and_backprops(name, shape):
    act = act_factory(name, RunConfig())(6)
    x = torch.randn(*shape, requires_grad=True)
    y = act(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("name", "n_params"),
    [("relu", 0), ("leaky", 0), ("prelu", 6), ("prelu-shared", 1), ("elu", 0), ("selu", 0)],
)
def test_learned_slopes_per_channel_or_shared(name, n_params):
    act = act_factory(name, RunConfig(prelu_init=0.3))(6)
    params = list(act.parameters())
    assert sum(p.numel() for p in params) == n_params
    for p in params:
        assert torch.allclose(p, torch.full_like(p, 0.3))


def test_parameters_reach_the_module():
    cfg = RunConfig(leaky_slope=0.2, elu_alpha=0.5)
    x = torch.tensor([-1.0, 2.0])
    assert act_factory("leaky", cfg)(1)(x).tolist() == pytest.approx([-0.2, 2.0])
    assert act_factory("elu", cfg)(1)(x).tolist() == pytest.approx([0.5 * (math.exp(-1) - 1), 2.0])


def test_lookup_is_case_insensitive_and_misses_list_names():
    assert get_act("PReLU").name == "prelu"
    with pytest.raises(ValueError, match="choose one of: relu, leaky, prelu, prelu-shared, elu"):
        get_act("swish")


@pytest.mark.parametrize(("name", "slope"), [("relu", 0.0), ("leaky", 0.01), ("prelu", 0.25)])
def test_kaiming_gain_matches_the_negative_slope(name, slope):
    # He et al. 2015: 1/2 (1 + a^2) n Var[w] = 1  =>  std = sqrt(2 / ((1 + a^2) n))
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(1000, 2000))
    init_weights(lin, name, RunConfig())
    expected = math.sqrt(2.0 / ((1 + slope**2) * 1000))
    assert lin[0].weight.std().item() == pytest.approx(expected, rel=0.01)
    assert lin[0].bias.abs().sum() == 0


def test_selu_lecun_init_self_normalizes_a_deep_mlp():
    # Klambauer et al. 2017: with Var[w] = 1/n, SELU keeps mean 0 and variance 1 layer after layer.
    torch.manual_seed(0)
    cfg = merge({"model": "mlp", "act": "selu", "width": 512, "depth": 16})
    model = build_model(cfg, channels=1, size=28, classes=10)
    h = torch.randn(2048, 784)
    with torch.no_grad():
        for block in model.layers:
            h = block(h)
    assert abs(h.mean().item()) < 0.1
    assert 0.85 < h.var().item() < 1.15
    # the same net with ReLU and LeCun init collapses: the property is SELU's, not the test's
    relu = nn.Sequential(*[nn.Sequential(b.fc, nn.ReLU()) for b in model.layers])
    with torch.no_grad():
        assert relu(torch.randn(2048, 784)).var().item() < 0.01


def test_weight_decay_never_moves_slopes_norms_or_biases():
    cfg = merge({"act": "prelu", "width": 8})
    model = build_model(cfg, channels=1, size=28, classes=10)
    opt = torch.optim.SGD(param_groups(model, weight_decay=0.1), lr=1.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # only weight decay can move anything
    opt.step()
    for n, p in model.named_parameters():
        moved = not torch.equal(p, before[n])
        is_weight = n.endswith(("conv.weight", "fc.weight")) or n == "head.weight"
        assert moved == is_weight, n
    assert any("act.weight" in n for n in before)  # the slopes were there and did not move


def test_selu_gets_alpha_dropout():
    assert isinstance(dropout_layer("selu", 0.1), nn.AlphaDropout)
    assert type(dropout_layer("relu", 0.1)) is nn.Dropout
    assert isinstance(dropout_layer("elu", 0.0), nn.Identity)
    model = build_model(merge({"model": "mlp", "act": "selu", "dropout": 0.2}), 1, 28, 10)
    assert any(isinstance(m, nn.AlphaDropout) for m in model.modules())


@pytest.mark.parametrize("model_name", ["cnn", "mlp"])
@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_every_model_activation_and_input_shape_trains(model_name, name, channels, size):
    cfg = merge({"model": model_name, "act": name, "width": 4, "depth": 2, "dropout": 0.1})
    model = build_model(cfg, channels, size, classes=10)
    out = model(torch.randn(3, channels, size, size))
    assert out.shape == (3, 10)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
