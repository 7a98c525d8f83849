"""The CIFAR models: the published size, every activation x input shape, the probe's names."""

from __future__ import annotations

import pytest
import torch

from relubench.config import merge
from relubench.errors import ConfigError
from relubench.nn.models import build_model
from relubench.nn.probe import activation_modules
from relubench.registry.activations import act_names
from relubench.registry.models import MODELS


def build(
    model: str, act: str = "relu", channels: int = 3, size: int = 32, classes: int = 10, **cfg
):
    return build_model(merge({"model": model, "act": act, **cfg}), channels, size, classes)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet20_has_he_et_al_s_parameter_count():
    # He et al. 2016, table 6: ResNet-20, 0.27M parameters (option A shortcuts: none of their own)
    assert n_params(build("resnet20")) == 269_722
    # PReLU adds one slope per channel of each of its 19 activations: 16 + 6 (16 + 32 + 64)
    assert n_params(build("resnet20", "prelu")) == 269_722 + 16 + 6 * (16 + 32 + 64)
    assert n_params(build("resnet20", "prelu-shared")) == 269_722 + 19


def test_resnet20_stages_halve_the_resolution_and_double_the_channels():
    net = build("resnet20")
    shapes = []
    for name in ("layer1", "layer2", "layer3"):
        getattr(net, name).register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    net(torch.randn(2, 3, 32, 32))
    assert shapes == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]


def test_vgg_is_small_and_width_scales_it():
    assert 1.1e6 < n_params(build("vgg")) < 1.3e6
    assert n_params(build("vgg", width=8)) < n_params(build("vgg")) / 10


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("act", act_names())
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_every_model_activation_and_input_shape_trains(model, act, channels, size):
    torch.manual_seed(0)
    net = build(model, act, channels, size, 100, width=4, dropout=0.1)
    x = torch.randn(4, channels, size, size)
    out = net(x)
    assert out.shape == (4, 100)
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    names = [n for n, _ in activation_modules(net)]
    # every activation is its own `act` attribute, so probe rows read like layer1.0.act
    assert names and all(n.split(".")[-1] == "act" for n in names)
    assert len({id(m) for _, m in activation_modules(net)}) == len(names)


def test_channels_last_gives_the_same_outputs():
    net = build("resnet20", "prelu", width=4).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a = net(x)
        b = net.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_an_input_too_small_for_the_model_says_so():
    with pytest.raises(ConfigError, match="model vgg needs images of at least 16x16 pixels"):
        build("vgg", size=8)
