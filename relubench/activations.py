"""The activation registry: name -> factory, and what each activation brings with it.

Every factory has one signature, `(num_channels) -> nn.Module`, built by `act_factory(name, cfg)`.
Decided here and nowhere else:
- init: Kaiming-normal with the activation's negative slope a, so that 1/2 (1 + a^2) n Var[w] = 1
  (He et al. 2015, eq. 10); LeCun-normal (Var[w] = 1/n) for SELU (Klambauer et al. 2017).
- weight decay: never on PReLU slopes (decay pulls them to 0, i.e. to ReLU; He et al. 2015),
  nor on norm parameters and biases.
- dropout: AlphaDropout for SELU, which keeps the self-normalizing mean and variance.

torch is imported inside the functions that need it, so the CLI lists names without loading it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ActSpec:
    name: str
    formula: str  # for people: `relubench acts`, README
    params: tuple[str, ...]  # the RunConfig keys it reads
    init: str  # "kaiming" or "lecun"
    reference: str


ACTS: dict[str, ActSpec] = {
    s.name: s
    for s in [
        ActSpec("relu", "max(0, x)", (), "kaiming", "Nair & Hinton 2010"),
        ActSpec("leaky", "x if x>0 else a·x (a fixed)", ("leaky_slope",), "kaiming",
                "Maas et al. 2013"),
        ActSpec("prelu", "x if x>0 else a_c·x (a_c learned per channel)", ("prelu_init",),
                "kaiming", "He et al. 2015"),
        ActSpec("prelu-shared", "x if x>0 else a·x (a learned per layer)", ("prelu_init",),
                "kaiming", "He et al. 2015"),
        ActSpec("elu", "x if x>0 else α(eˣ−1)", ("elu_alpha",), "kaiming", "Clevert et al. 2015"),
        ActSpec("selu", "λ·(x if x>0 else α(eˣ−1)), α≈1.6733, λ≈1.0507", (), "lecun",
                "Klambauer et al. 2017"),
    ]
}  # fmt: skip


def act_names() -> list[str]:
    return list(ACTS)


def get_act(name: str) -> ActSpec:
    """Look an activation up by name (case-insensitive); a miss lists the valid names."""
    spec = ACTS.get(name.lower())
    if spec is None:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTS)}")
    return spec


def param_values(name: str, cfg: Any) -> dict[str, float]:
    """The activation's own parameters, read from a RunConfig (or any object with them)."""
    return {p: getattr(cfg, p) for p in get_act(name).params}


def negative_slope(name: str, cfg: Any) -> float:
    """The slope a of the negative side at init, which sets the Kaiming gain sqrt(2 / (1 + a^2)).

    ELU and SELU have no single negative slope (1 at 0-, 0 at -inf); ELU takes the ReLU gain, as
    in Clevert et al. 2015, and SELU does not use this (LeCun init).
    """
    return {
        "leaky": getattr(cfg, "leaky_slope", 0.01),
        "prelu": getattr(cfg, "prelu_init", 0.25),
        "prelu-shared": getattr(cfg, "prelu_init", 0.25),
    }.get(get_act(name).name, 0.0)


def act_factory(name: str, cfg: Any) -> Callable[[int], nn.Module]:
    """The factory `(num_channels) -> nn.Module` for `name`, with parameters taken from `cfg`."""
    from torch import nn

    from relubench.fast_elu import FastELU, FastSELU
    from relubench.fast_prelu import FastPReLU

    spec = get_act(name)
    p = param_values(spec.name, cfg)
    factories: dict[str, Callable[[int], nn.Module]] = {
        "relu": lambda c: nn.ReLU(),
        "leaky": lambda c: nn.LeakyReLU(p.get("leaky_slope", 0.01)),
        "prelu": lambda c: FastPReLU(c, init=p.get("prelu_init", 0.25)),
        "prelu-shared": lambda c: FastPReLU(1, init=p.get("prelu_init", 0.25)),
        "elu": lambda c: FastELU(p.get("elu_alpha", 1.0)),
        "selu": lambda c: FastSELU(),
    }
    return factories[spec.name]


def dropout_layer(name: str, p: float) -> nn.Module:
    """Dropout that suits the activation: AlphaDropout keeps SELU's mean 0 / variance 1."""
    from torch import nn

    if p <= 0:
        return nn.Identity()
    return nn.AlphaDropout(p) if get_act(name).name == "selu" else nn.Dropout(p)


def activation_types() -> tuple[type, ...]:
    """Module classes the registry builds: the probe reads the inputs of exactly these."""
    from torch import nn

    return (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU)


def init_weights(model: nn.Module, name: str, cfg: Any) -> None:
    """Initialise every conv and linear weight by the activation's rule; biases to zero.

    The model's classifier (`model.head`) gets LeCun-normal init whatever the activation.
    """
    import math

    import torch
    from torch import nn

    spec = get_act(name)
    a = negative_slope(spec.name, cfg)
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


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimizer groups: decay for conv/linear weights; none for slopes, norms and biases."""
    from torch import nn

    decay, no_decay = [], []
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_weight = isinstance(module, (nn.Conv2d, nn.Linear)) and pname == "weight"
            (decay if is_weight else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
