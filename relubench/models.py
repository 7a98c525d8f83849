"""Models. Each takes the activation factory `(channels) -> nn.Module` and never names one.

Activation modules are registered under the attribute `act` of their block, so the probe's
layer names read like `block1.act` or `layer3.act`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from relubench.activations import act_factory, dropout_layer, init_weights

ActFactory = Callable[[int], nn.Module]


class ConvBlock(nn.Module):
    """conv3x3 -> batch norm -> activation (-> 2x2 max-pool)."""

    def __init__(self, c_in: int, c_out: int, act: ActFactory, pool: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)  # BN supplies the bias
        self.bn = nn.BatchNorm2d(c_out)
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
    """A small BN conv net for 28x28 and 32x32 inputs: w, 2w, 4w channels, then a hidden dense.

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
        drop: nn.Module | None = None,
    ) -> None:
        super().__init__()
        w = width
        self.block1 = ConvBlock(channels, w, act, pool=True)
        self.block2 = ConvBlock(w, 2 * w, act, pool=True)
        self.block3 = ConvBlock(2 * w, 4 * w, act, pool=True)
        side = size // 2 // 2 // 2
        self.dense = DenseBlock(4 * w * side * side, 4 * w, act, drop or nn.Identity())
        self.head = nn.Linear(4 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        return self.head(self.dense(x.flatten(1)))


class MLP(nn.Module):
    """Flatten, `depth` hidden layers of `width` units, classifier; no normalisation layers."""

    def __init__(
        self,
        in_features: int,
        classes: int,
        act: ActFactory,
        width: int = 256,
        depth: int = 4,
        drop: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        dims = [in_features] + [width] * depth
        self.layers = nn.Sequential(
            *[
                DenseBlock(a, b, act, drop() if drop else nn.Identity())
                for a, b in zip(dims[:-1], dims[1:], strict=True)
            ]
        )
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x.flatten(1)))


DEFAULT_WIDTH = {"cnn": 32, "mlp": 256}
DEFAULT_DEPTH = {"mlp": 4}


def build_model(cfg: Any, channels: int, size: int, classes: int) -> nn.Module:
    """The model named by `cfg.model`, with the activation, its init and its dropout."""
    act = act_factory(cfg.act, cfg)
    width = cfg.width or DEFAULT_WIDTH[cfg.model]
    if cfg.model == "cnn":
        model = CNN(channels, size, classes, act, width, dropout_layer(cfg.act, cfg.dropout))
    elif cfg.model == "mlp":
        depth = cfg.depth or DEFAULT_DEPTH["mlp"]
        model = MLP(
            channels * size * size,
            classes,
            act,
            width,
            depth,
            drop=lambda: dropout_layer(cfg.act, cfg.dropout),
        )
    else:
        raise ValueError(f"unknown model {cfg.model!r}; choose one of: cnn, mlp")
    init_weights(model, cfg.act, cfg)
    return model
