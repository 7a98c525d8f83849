"""The models: the published size, every activation x input shape, the probe's names, batch
norm on and off, the plain conv net's layers."""

from __future__ import annotations

import pytest
import torch

from relubench.config import merge
from relubench.errors import ConfigError
from relubench.nn.models import build_model, stage_depths
from relubench.nn.probe import activation_modules, probe
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


# --- norm: batch norm on or off in one architecture --------------------------------------


def n_norms(model: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def state(model: str, seed: int = 0, **cfg) -> tuple[dict, torch.Tensor]:
    """The state_dict built under `seed`, and the next draw of torch's generator after it."""
    torch.manual_seed(seed)
    net = build(model, **cfg)
    return net.state_dict(), torch.rand(4)


@pytest.mark.parametrize("model", ["cnn", "resnet20", "vgg"])
def test_norm_auto_and_batch_build_the_same_modules_with_the_same_draws(model):
    # auto is the model as it always was, so every number of earlier runs stays the same
    (a, after_a), (b, after_b) = state(model), state(model, norm="batch")
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(after_a, after_b)
    assert n_norms(build(model)) > 0
    assert not any(k.endswith("conv.bias") for k in a)  # batch norm gives the bias


def test_the_cnn_at_norm_auto_has_the_parameters_and_buffers_it_always_had():
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    blocks = [f"block{i}.{k}" for i in (1, 2, 3) for k in ["conv.weight", *(f"bn.{b}" for b in bn)]]
    assert list(state("cnn")[0]) == [*blocks, "dense.fc.weight", "dense.fc.bias", "head.weight",
                                     "head.bias"]  # fmt: skip


@pytest.mark.parametrize("model", ["cnn", "resnet20", "vgg"])
def test_norm_none_drops_every_batch_norm_and_gives_the_convs_a_zero_bias(model):
    net = build(model, norm="none")
    assert n_norms(net) == 0
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.bias is not None and not c.bias.any() for c in convs)
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    out.logsumexp(1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    # the probe finds the same activation layers, by the same names, with identity norms
    probed = probe(net, x)
    assert [lp.layer for lp in probed.layers] == [n for n, _ in activation_modules(build(model))]


# --- plain: the deeper conv net without batch norm -----------------------------------------


@pytest.mark.parametrize(("depth", "stages"), [(3, [1, 1, 1]), (7, [3, 2, 2]), (8, [3, 3, 2]),
                                               (16, [6, 5, 5]), (32, [11, 11, 10])])  # fmt: skip
def test_plain_has_depth_conv_layers_in_three_stages(depth, stages):
    assert stage_depths(depth) == stages
    net = build("plain", channels=1, size=28, depth=depth, width=4)
    layers = activation_modules(net)
    assert [n for n, _ in layers] == [f"features.conv{i}.act" for i in range(1, depth + 1)]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    channels = [4] * stages[0] + [8] * stages[1] + [16] * stages[2]
    assert [c.out_channels for c in convs] == channels
    assert not any(isinstance(m, torch.nn.Linear) for m in net.modules() if m is not net.head)
    assert n_norms(net) == 0 and all(c.bias is not None for c in convs)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_plain_defaults_and_norm_batch():
    net = build("plain", "prelu", channels=1, size=28)
    assert len(activation_modules(net)) == 8  # depth 8, width 16: 16, 32, 64 channels
    # PReLU learns one slope per channel of each conv layer
    assert [m.weight.numel() for _, m in activation_modules(net)] == [16] * 3 + [32] * 3 + [64] * 2
    batch = build("plain", channels=1, size=28, norm="batch")
    assert n_norms(batch) == 8
    assert all(m.bias is None for m in batch.modules() if isinstance(m, torch.nn.Conv2d))
    # the probe reads the first conv layer first
    probed = probe(net, torch.randn(3, 1, 28, 28))
    assert probed.layers[0].layer == "features.conv1.act" and probed.layers[0].units == 16


def test_plain_with_dropout_drops_before_the_head():
    assert isinstance(build("plain", dropout=0.2).drop, torch.nn.Dropout)
    assert isinstance(build("plain", "selu", dropout=0.2).drop, torch.nn.AlphaDropout)
