"""The activation registry: every entry builds and trains; init, decay and dropout rules hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from relubench.config import RunConfig, merge
from relubench.errors import ConfigError
from relubench.nn.activations import (
    act_factory,
    activation_types,
    dropout_layer,
    init_weights,
    param_groups,
    slope_of,
)
from relubench.nn.models import build_model
from relubench.registry.activations import ACTS, FAMILY, get_act, param_values


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("shape", [(4, 6, 5, 5), (4, 6)])
def test_every_activation_builds_and_backprops(name, shape):
    act = act_factory(name, RunConfig())(6)
    x = torch.randn(*shape, requires_grad=True)
    y = act(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(ACTS))
def test_learned_slopes_per_channel_or_shared(name):
    n_params = {"prelu": 6, "prelu-shared": 1}.get(name, 0)
    act = act_factory(name, RunConfig(prelu_init=0.3))(6)
    params = list(act.parameters())
    assert sum(p.numel() for p in params) == n_params
    for p in params:
        assert torch.allclose(p, torch.full_like(p, 0.3))
    assert (slope_of(act) is not None) == bool(n_params) == bool(ACTS[name].slope)
    assert isinstance(act, activation_types())  # the probe finds every registry module


# Parameters off their defaults, so a formula that ignored one would be caught.
ODD = RunConfig(leaky_slope=0.2, prelu_init=0.3, elu_alpha=0.7, celu_alpha=1.8, rrelu_lower=0.1,
                rrelu_upper=0.3)  # fmt: skip


@pytest.mark.parametrize("name", list(ACTS))
def test_registry_formula_is_the_module_s_function(name):
    # the curve `relubench acts` and the plots show, in numpy (float64), against the module
    # torch builds from the same entry (eval mode: rrelu uses its mean slope there)
    spec = ACTS[name]
    x = np.linspace(-6.0, 4.0, 2001)
    with torch.no_grad():
        got = act_factory(name, ODD)(1).eval()(torch.tensor(x, dtype=torch.float32).view(1, -1))
    want = spec.curve(x, param_values(name, ODD))
    np.testing.assert_allclose(got.view(-1).numpy(), want, rtol=1e-5, atol=1e-6)


def test_the_family_is_the_six_and_comparison_points_are_apart():
    assert FAMILY == ("relu", "leaky", "prelu", "prelu-shared", "elu", "selu")
    assert set(ACTS) - set(FAMILY) == {"gelu", "silu", "mish", "celu", "rrelu"}


def test_parameters_reach_the_module():
    cfg = RunConfig(leaky_slope=0.2, elu_alpha=0.5)
    x = torch.tensor([-1.0, 2.0])
    assert act_factory("leaky", cfg)(1)(x).tolist() == pytest.approx([-0.2, 2.0])
    assert act_factory("elu", cfg)(1)(x).tolist() == pytest.approx([0.5 * (math.exp(-1) - 1), 2.0])


def test_lookup_is_case_insensitive_and_misses_list_names():
    assert get_act("PReLU").name == "prelu"
    with pytest.raises(ConfigError, match="choose one of: relu, leaky, prelu, prelu-shared, elu"):
        get_act("swish")


@pytest.mark.parametrize(
    ("name", "slope"),
    [
        ("relu", 0.0),
        ("leaky", 0.01),
        ("prelu", 0.25),
        ("gelu", 0.0),
        ("rrelu", (1 / 8 + 1 / 3) / 2),
    ],
)
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
