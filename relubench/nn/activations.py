"""Activation modules from the registry, and the init and weight-decay rules they bring.

The facts live in `relubench.registry.activations` (one entry per activation); this module
turns an entry into modules: `act_factory(name, cfg)` is the `(num_channels) -> nn.Module`
every model takes. Models never name an activation.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch import nn

from relubench.registry.activations import ACTS, ActSpec, get_act, param_values

ActFactory = Callable[[int], nn.Module]


@cache
def module_class(path: str) -> type[nn.Module]:
    """The class named by an entry's `module`, "package.module:Class"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def act_factory(name: str, cfg: Any) -> ActFactory:
    """The factory `(num_channels) -> nn.Module` for `name`, with parameters taken from `cfg`."""
    spec = get_act(name)
    cls, p = module_class(spec.module), param_values(spec.name, cfg)
    return lambda c: cls(**spec.args(c, p))


def dropout_layer(name: str, p: float) -> nn.Module:
    """Dropout that suits the activation: AlphaDropout keeps SELU's mean 0 / variance 1."""
    if p <= 0:
        return nn.Identity()
    return nn.AlphaDropout(p) if get_act(name).alpha_dropout else nn.Dropout(p)


@cache
def activation_types() -> tuple[type, ...]:
    """Module classes the registry builds, and torch's classes they stand in for (FastPReLU
    for nn.PReLU, ...): the probe reads the inputs of exactly these."""
    types: list[type] = []
    for spec in ACTS.values():
        cls = module_class(spec.module)
        types += [c for c in cls.__mro__ if c is cls or c.__module__.startswith("torch.nn.")]
    return tuple(t for t in dict.fromkeys(types) if t not in (nn.Module, object))


def slope_of(module: nn.Module) -> torch.Tensor | None:
    """The learned negative slope of an activation module (PReLU's weight), else None."""
    for spec in _slope_specs():
        if isinstance(module, module_class(spec.module)):
            return getattr(module, spec.slope)
    if isinstance(module, nn.PReLU):  # torch's own, e.g. in a benchmark's reference model
        return module.weight
    return None


@cache
def _slope_specs() -> tuple[ActSpec, ...]:
    return tuple(s for s in ACTS.values() if s.slope)


def init_weights(model: nn.Module, name: str, cfg: Any) -> None:
    """Initialise every conv and linear weight by the activation's rule; biases to zero.

    The model's classifier (`model.head`) gets LeCun-normal init whatever the activation.
    """
    spec = get_act(name)
    a = spec.negative_slope(param_values(spec.name, cfg))
    head = getattr(model, "head", None)  # the classifier feeds no activation: gain 1 (LeCun)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if spec.init == "lecun" or m is head:
                fan_in = m.weight[0].numel()
                nn.init.normal_(m.weight, 0.0, 1.0 / math.sqrt(fan_in))
            else:
                nn.init.kaiming_normal_(m.weight, a=a, mode="fan_in", nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()


def param_groups(
    model: nn.Module, weight_decay: float, slope_lr: float = 1.0, slope_decay: bool = False
) -> list[dict[str, Any]]:
    """Optimizer groups: decay for conv/linear weights; none for norms and biases; learned
    slopes in a group of their own, without decay (with `slope_decay`: the weights' decay) and
    at `slope_lr` times the learning rate (`lr_scale`, applied by the runner). The slope group
    exists only when there are slopes."""
    slope_ids = {id(slope_of(m)) for m in model.modules() if slope_of(m) is not None}
    decay, no_decay, slopes = [], [], []
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_weight = isinstance(module, (nn.Conv2d, nn.Linear)) and pname == "weight"
            group = slopes if id(param) in slope_ids else decay if is_weight else no_decay
            group.append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
        {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0},
    ]
    if slopes:
        decay_slopes = weight_decay if slope_decay else 0.0
        groups.append({"params": slopes, "weight_decay": decay_slopes, "lr_scale": slope_lr})
    return groups
