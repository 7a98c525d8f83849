"""Models. Each takes the activation factory `(channels) -> nn.Module` and never names one.

Activation modules are registered under the attribute `act` of their block, so the probe's
layer names read like `block1.act`, `features.3.act` or `layer2.0.conv1.act`. Each activation
is its own module (never one reused twice), so PReLU slopes and the probe are per layer.

What each model is, its default width and smallest input are its entry in
`relubench.registry.models`; every class here takes the same arguments,
`(channels, size, classes, act, width, depth, drop, norm=...)`, with `drop()` making one dropout
module (AlphaDropout for SELU) and `norm` whether its conv layers are followed by batch norm
(its default is the model's own; without it a conv layer has a bias, and where batch norm
would be the module is an nn.Identity, so the modules keep their names). Every model takes 1 or
3 channels and 28 or 32 pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relubench.errors import ConfigError
from relubench.nn.activations import (
    ActFactory,
    act_factory,
    dropout_layer,
    init_weights,
    module_class,
)
from relubench.registry.models import get_model

DropFactory = Callable[[], nn.Module]


def norm_layer(channels: int, norm: bool) -> nn.Module:
    """Batch norm over `channels`, or the identity where the model trains without it."""
    return nn.BatchNorm2d(channels) if norm else nn.Identity()


class ConvBlock(nn.Module):
    """conv3x3 -> batch norm (or none: then the conv has a bias) -> activation (-> 2x2 max-pool)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        act: ActFactory,
        pool: bool,
        stride: int = 1,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=not norm)  # or BN's bias
        self.bn = norm_layer(c_out, norm)
        self.act = act(c_out)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class DenseBlock(nn.Module):
    """linear -> activation -> dropout (AlphaDropout for SELU)."""

    def __init__(self, d_in: int, d_out: int, act: ActFactory, drop: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.act = act(d_out)
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.fc(x)))


class CNN(nn.Module):
    """A small BN conv net for 28x28 and 32x32 inputs: w, 2w, 4w channels, then a hidden dense
    (`norm` False: the same without batch norm).

    Each block halves the resolution, 28 -> 14 -> 7 -> 3 (32 -> 16 -> 8 -> 4); the last map is
    flattened, not averaged, so the dense layer still sees where strokes are.
    """

    def __init__(
        self,
        channels: int,
        size: int,
        classes: int,
        act: ActFactory,
        width: int = 32,
        depth: int = 0,
        drop: DropFactory = nn.Identity,
        norm: bool = True,
    ) -> None:
        super().__init__()
        w = width
        self.block1 = ConvBlock(channels, w, act, pool=True, norm=norm)
        self.block2 = ConvBlock(w, 2 * w, act, pool=True, norm=norm)
        self.block3 = ConvBlock(2 * w, 4 * w, act, pool=True, norm=norm)
        side = size // 2 // 2 // 2
        self.dense = DenseBlock(4 * w * side * side, 4 * w, act, drop())
        self.head = nn.Linear(4 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        return self.head(self.dense(x.flatten(1)))


class MLP(nn.Module):
    """Flatten, `depth` hidden layers of `width` units, classifier; no normalisation layers."""

    def __init__(
        self,
        channels: int,
        size: int,
        classes: int,
        act: ActFactory,
        width: int = 256,
        depth: int = 4,
        drop: DropFactory = nn.Identity,
        norm: bool = False,
    ) -> None:
        super().__init__()
        if norm:  # the config refuses norm batch for the mlp, in one line
            raise ValueError("the mlp has no normalisation layers to switch")
        dims = [channels * size * size] + [width] * depth
        self.layers = nn.Sequential(
            *[DenseBlock(a, b, act, drop()) for a, b in zip(dims[:-1], dims[1:], strict=True)]
        )
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x.flatten(1)))


class BasicBlock(nn.Module):
    """He et al. 2016: conv-BN-act, conv-BN, plus the shortcut, then act (`norm` False: no BN).

    The shortcut is the identity; where a stage halves the resolution and doubles the channels
    it subsamples and pads the new channels with zeros (the paper's option A for CIFAR: no
    parameters, which is why ResNet-20 has 0.27M).
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, act: ActFactory, norm: bool = True
    ) -> None:
        super().__init__()
        self.conv1 = ConvBlock(c_in, c_out, act, pool=False, stride=stride, norm=norm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not norm)
        self.bn2 = norm_layer(c_out, norm)
        self.act = act(c_out)
        self.stride = stride
        extra = c_out - c_in
        self.pad = (0, 0, 0, 0, extra // 2, extra - extra // 2)  # new channels, both sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x
        if self.stride > 1:
            short = short[:, :, :: self.stride, :: self.stride]
        if any(self.pad):
            short = F.pad(short, self.pad)
        return self.act(self.bn2(self.conv2(self.conv1(x))) + short)


class ResNet20(nn.Module):
    """The CIFAR ResNet of He et al. 2016 (sec. 4.2) with n = 3: a 3x3 conv of w channels,
    three stages of three basic blocks at w, 2w, 4w channels (the 2nd and 3rd start with
    stride 2), global average pooling, the classifier: 6n + 2 = 20 weighted layers.

    32 -> 32 -> 16 -> 8 pixels (28 -> 28 -> 14 -> 7); the average pool takes any size.
    """

    def __init__(
        self,
        channels: int,
        size: int,
        classes: int,
        act: ActFactory,
        width: int = 16,
        depth: int = 0,
        drop: DropFactory = nn.Identity,
        norm: bool = True,
        blocks: int = 3,
    ) -> None:
        super().__init__()
        w = width
        self.stem = ConvBlock(channels, w, act, pool=False, norm=norm)
        self.layer1 = self._stage(w, w, 1, blocks, act, norm)
        self.layer2 = self._stage(w, 2 * w, 2, blocks, act, norm)
        self.layer3 = self._stage(2 * w, 4 * w, 2, blocks, act, norm)
        self.drop = drop()
        self.head = nn.Linear(4 * w, classes)

    @staticmethod
    def _stage(
        c_in: int, c_out: int, stride: int, n: int, act: ActFactory, norm: bool
    ) -> nn.Sequential:
        return nn.Sequential(
            *[BasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1, act, norm)
              for i in range(n)]
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.head(self.drop(x.mean((2, 3))))


# VGG-11's conv layout (Simonyan & Zisserman 2015, configuration A) in multiples of the width,
# without its 5th stage: 4 poolings take 32 -> 2 and 28 -> 1 pixels. "M" = 2x2 max-pool.
VGG_LAYOUT: tuple[int | str, ...] = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M")


class VGG(nn.Module):
    """A small VGG-style net: conv-BN-act blocks in VGG-11's layout at w..8w channels, global
    average pooling, one dense hidden layer of 8w units (with dropout), the classifier (`norm`
    False: conv-act blocks)."""

    def __init__(
        self,
        channels: int,
        size: int,
        classes: int,
        act: ActFactory,
        width: int = 32,
        depth: int = 0,
        drop: DropFactory = nn.Identity,
        norm: bool = True,
    ) -> None:
        super().__init__()
        blocks, c = [], channels
        for i, m in enumerate(VGG_LAYOUT):
            if m == "M":
                continue
            pool = i + 1 < len(VGG_LAYOUT) and VGG_LAYOUT[i + 1] == "M"
            blocks.append(ConvBlock(c, int(m) * width, act, pool, norm=norm))
            c = int(m) * width
        self.features = nn.Sequential(*blocks)
        self.dense = DenseBlock(c, c, act, drop())
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dense(self.features(x).mean((2, 3))))


def stage_depths(depth: int) -> list[int]:
    """Conv layers per stage of `plain`: `depth` over three stages as evenly as it goes, the
    earlier stages taking the remainder (8 -> 3, 3, 2; 16 -> 6, 5, 5)."""
    if depth < 3:  # the config says so in one line first (the registry's min_depth)
        raise ValueError(f"plain needs depth >= 3 (one conv layer per stage), got {depth}")
    base, extra = divmod(depth, 3)
    return [base + (i < extra) for i in range(3)]


class Plain(nn.Module):
    """A deeper plain conv net: `depth` conv3x3-act layers in three stages of w, 2w, 4w
    channels, a 2x2 max-pool after each stage (28 -> 14 -> 7 -> 3), global average pooling,
    dropout, the classifier. No shortcut and no hidden dense layer, so every activation follows
    a conv: `features.conv1.act` is the first. No normalisation unless `norm` (conv-BN-act)."""

    def __init__(
        self,
        channels: int,
        size: int,
        classes: int,
        act: ActFactory,
        width: int = 16,
        depth: int = 8,
        drop: DropFactory = nn.Identity,
        norm: bool = False,
    ) -> None:
        super().__init__()
        blocks, c = [], channels
        for stage, n in enumerate(stage_depths(depth)):
            for i in range(n):  # the stage's last layer pools
                blocks.append(ConvBlock(c, width << stage, act, pool=i == n - 1, norm=norm))
                c = width << stage
        self.features = nn.Sequential(
            OrderedDict((f"conv{i + 1}", b) for i, b in enumerate(blocks))
        )
        self.drop = drop()
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x).mean((2, 3))))


def build_model(cfg: Any, channels: int, size: int, classes: int) -> nn.Module:
    """The model named by `cfg.model`, with the activation, its init, its dropout and its
    normalisation (`cfg.norm`; auto: the model's own)."""
    spec = get_model(cfg.model)
    if size < spec.min_size:
        raise ConfigError(
            f"model {spec.name} needs images of at least {spec.min_size}x{spec.min_size} "
            f"pixels, the dataset has {size}x{size}; choose another model"
        )
    model = module_class(spec.cls)(
        channels,
        size,
        classes,
        act_factory(cfg.act, cfg),
        cfg.width or spec.width,
        cfg.depth or spec.depth,
        lambda: dropout_layer(cfg.act, cfg.dropout),
        norm=(spec.norm if cfg.norm == "auto" else cfg.norm) == "batch",
    )
    if cfg.init == "auto":  # "torch": each layer keeps PyTorch's default init
        init_weights(model, cfg.act, cfg)
    return model
