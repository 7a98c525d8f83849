"""The activation registry: everything about one activation in one entry.

An entry holds its formula (text for people, and `curve`, f(x) in numpy for plots and tests),
the RunConfig keys it reads, its negative slope at init (for the Kaiming gain), its init rule,
its dropout, the module class and constructor arguments that build it (`(channels) -> module`,
by `relubench.nn.activations.act_factory`), and which module parameter is a learned slope.

Decided here and nowhere else:
- init: Kaiming-normal with the activation's negative slope a, so that 1/2 (1 + a^2) n Var[w] = 1
  (He et al. 2015, eq. 10); LeCun-normal (Var[w] = 1/n) for SELU (Klambauer et al. 2017).
- weight decay: never on learned slopes (decay pulls them to 0, i.e. to ReLU; He et al. 2015).
- dropout: AlphaDropout for SELU, which keeps the self-normalizing mean and variance.

`family` marks the ReLU family (relu, leaky, prelu, prelu-shared, elu, selu), the product's
subject; gelu, silu, mish, celu and rrelu are comparison points. Torch-free: numpy and scipy
are imported only inside the curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relubench.registry import lookup

Params = Mapping[str, Any]  # the activation's own RunConfig keys -> values

# Klambauer et al. 2017, eq. 14: the fixed point mean 0, variance 1.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _np() -> Any:
    import numpy

    return numpy


def _relu(x: Any, p: Params) -> Any:
    return _np().maximum(0.0, x)


def _leaky(slope: float) -> Callable[[Any], Any]:
    return lambda x: _np().where(x > 0, x, slope * x)


def _elu(x: Any, alpha: float, scale: float = 1.0) -> Any:
    np = _np()
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _gelu(x: Any, p: Params) -> Any:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _silu(x: Any, p: Params) -> Any:
    from scipy.special import expit

    return x * expit(x)


def _mish(x: Any, p: Params) -> Any:
    np = _np()
    return x * np.tanh(np.logaddexp(0.0, x))  # x tanh(softplus(x)), without overflow


def _celu(x: Any, p: Params) -> Any:
    np = _np()
    a = p["celu_alpha"]
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0) / a))


def _rrelu_mean(p: Params) -> float:
    """RReLU's slope in eval mode (and the mean of the uniform slope it draws in training)."""
    return (p["rrelu_lower"] + p["rrelu_upper"]) / 2


@dataclass(frozen=True)
class ActSpec:
    name: str
    formula: str  # for people: `relubench acts`, README
    curve: Callable[[Any, Params], Any]  # f(x) on a numpy array (eval mode), for plots and tests
    module: str  # "package.module:Class", built by relubench.nn with `args`
    args: Callable[[int, Params], dict[str, Any]] = lambda c, p: {}  # constructor kwargs
    params: tuple[str, ...] = ()  # the RunConfig keys it reads
    negative_slope: Callable[[Params], float] = lambda p: 0.0  # sets the Kaiming gain
    init: str = "kaiming"  # "kaiming" or "lecun"
    alpha_dropout: bool = False  # AlphaDropout instead of Dropout
    slope: str | None = None  # the module parameter that is a learned negative slope
    reference: str = ""
    family: bool = True  # the ReLU family; False for comparison points
    check: Callable[[Params], str | None] = field(default=lambda p: None)  # -> why invalid


def _positive(*keys: str) -> Callable[[Params], str | None]:
    def check(p: Params) -> str | None:
        bad = [k for k in keys if not p[k] > 0]
        return f"{bad[0]} must be > 0, got {p[bad[0]]}" if bad else None

    return check


def _rrelu_check(p: Params) -> str | None:
    lo, hi = p["rrelu_lower"], p["rrelu_upper"]
    if not 0.0 <= lo <= hi < 1.0:
        return f"rrelu needs 0 <= rrelu_lower <= rrelu_upper < 1, got {lo} and {hi}"
    return None


def _prelu(name: str, what: str, per_channel: bool) -> ActSpec:
    """PReLU, one learned slope per channel or one per layer: they differ only in how many."""
    return ActSpec(
        name,
        f"x if x>0 else {'a_c' if per_channel else 'a'}·x ({what})",
        lambda x, p: _leaky(p["prelu_init"])(x),  # at init; plots draw the learned slopes
        "relubench.nn.fast_prelu:FastPReLU",
        args=lambda c, p: {"num_parameters": c if per_channel else 1, "init": p["prelu_init"]},
        params=("prelu_init", "slope_lr"),  # slope_lr: the runner's optimizer reads it
        negative_slope=lambda p: p["prelu_init"],
        slope="weight",
        reference="He et al. 2015",
    )


ACTS: dict[str, ActSpec] = {
    s.name: s
    for s in [
        ActSpec(
            "relu", "max(0, x)", _relu, "torch.nn:ReLU", reference="Nair & Hinton 2010"
        ),
        ActSpec(
            "leaky",
            "x if x>0 else a·x (a fixed)",
            lambda x, p: _leaky(p["leaky_slope"])(x),
            "torch.nn:LeakyReLU",
            args=lambda c, p: {"negative_slope": p["leaky_slope"]},
            params=("leaky_slope",),
            negative_slope=lambda p: p["leaky_slope"],
            reference="Maas et al. 2013",
        ),
        _prelu("prelu", "a_c learned per channel", per_channel=True),
        _prelu("prelu-shared", "a learned per layer", per_channel=False),
        ActSpec(
            "elu",
            "x if x>0 else α(eˣ−1)",
            lambda x, p: _elu(x, p["elu_alpha"]),
            "relubench.nn.fast_elu:FastELU",
            args=lambda c, p: {"alpha": p["elu_alpha"]},
            params=("elu_alpha",),
            # no single negative slope (1 at 0-, 0 at -inf): the ReLU gain, as Clevert et al.
            reference="Clevert et al. 2015",
            check=_positive("elu_alpha"),
        ),
        ActSpec(
            "selu",
            "λ·(x if x>0 else α(eˣ−1)), α≈1.6733, λ≈1.0507",
            lambda x, p: _elu(x, SELU_ALPHA, SELU_SCALE),
            "relubench.nn.fast_elu:FastSELU",
            init="lecun",
            alpha_dropout=True,
            reference="Klambauer et al. 2017",
        ),
        ActSpec(
            "gelu",
            "x·Φ(x), Φ the standard normal CDF",
            _gelu,
            "torch.nn:GELU",
            reference="Hendrycks & Gimpel 2016",
            family=False,
        ),
        ActSpec(
            "silu",
            "x·σ(x) (swish)",
            _silu,
            "torch.nn:SiLU",
            reference="Ramachandran et al. 2017",
            family=False,
        ),
        ActSpec(
            "mish",
            "x·tanh(ln(1+eˣ))",
            _mish,
            "torch.nn:Mish",
            reference="Misra 2019",
            family=False,
        ),
        ActSpec(
            "celu",
            "x if x>0 else α(e^(x/α)−1)",
            _celu,
            "torch.nn:CELU",
            args=lambda c, p: {"alpha": p["celu_alpha"]},
            params=("celu_alpha",),
            reference="Barron 2017",
            family=False,
            check=_positive("celu_alpha"),
        ),
        ActSpec(
            "rrelu",
            "x if x>0 else a·x, a ~ U(l, u) per element in training, (l+u)/2 in eval",
            lambda x, p: _leaky(_rrelu_mean(p))(x),
            "torch.nn:RReLU",
            args=lambda c, p: {"lower": p["rrelu_lower"], "upper": p["rrelu_upper"]},
            params=("rrelu_lower", "rrelu_upper"),
            negative_slope=_rrelu_mean,
            reference="Xu et al. 2015",
            family=False,
            check=_rrelu_check,
        ),
    ]
}  # fmt: skip

FAMILY = tuple(n for n, s in ACTS.items() if s.family)  # "the six activations"


def act_names() -> list[str]:
    return list(ACTS)


def get_act(name: str) -> ActSpec:
    """Look an activation up by name (case-insensitive); a miss lists the valid names."""
    return lookup(ACTS, "activation", name)


def param_values(name: str, cfg: Any) -> dict[str, Any]:
    """The activation's own parameters, read from a RunConfig (or a mapping of its keys)."""
    get = cfg.get if isinstance(cfg, Mapping) else lambda k: getattr(cfg, k)
    return {p: get(p) for p in get_act(name).params}
