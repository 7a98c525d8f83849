"""Measurements: dead and dormant units, the activations' input and output statistics, PReLU
slopes; pure functions of (model, probe batch).

Dead (a contract, docs/architecture.md): on the fixed probe set, in eval mode without gradients,
a unit (a conv channel or a linear feature) is dead if the input of its activation is <= 0 for
every probe image and every spatial position - it never enters the positive regime. For ReLU its
gradient is then zero everywhere; for the others gradient still flows ("never positive").
Dormant (Sokar et al. 2023): unit score s_i = E|h_i| / (mean over the layer's units of
E|h_k|), h the activation's output on the probe set; dormant if s_i <= tau (`dormant_tau`).
Means and standard deviations of the input and the output are pooled over the layer's units,
the probe images and the positions (self-normalisation is read off them).
Hooks exist only for the duration of one probe call, never during training steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from relubench.nn.activations import activation_types, slope_of


@dataclass
class LayerProbe:
    layer: str  # module path of the activation, e.g. "block1.act"
    units: int
    dead: int
    alphas: list[float] | None = None  # learned negative slopes (PReLU), one per parameter
    dormant: int = 0  # tau-dormant units (Sokar et al. 2023)
    pre_mean: float = 0.0  # the activation's input, pooled over units, images and positions
    pre_std: float = 0.0
    out_mean: float = 0.0  # its output, likewise
    out_std: float = 0.0

    @property
    def dead_frac(self) -> float:
        return self.dead / self.units if self.units else 0.0

    @property
    def dormant_frac(self) -> float:
        return self.dormant / self.units if self.units else 0.0


@dataclass
class Probe:
    layers: list[LayerProbe] = field(default_factory=list)

    @property
    def dead_frac(self) -> float:
        """Dead units over all units of the network."""
        units = sum(p.units for p in self.layers)
        return sum(p.dead for p in self.layers) / units if units else 0.0

    @property
    def dormant_frac(self) -> float:
        """Dormant units over all units of the network."""
        units = sum(p.units for p in self.layers)
        return sum(p.dormant for p in self.layers) / units if units else 0.0


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every activation the registry built, in registration order."""
    types = activation_types()
    return [(n, m) for n, m in model.named_modules() if isinstance(m, types)]


def slopes(model: nn.Module) -> dict[str, list[float]]:
    """Learned negative slopes per activation layer (only layers that learn one)."""
    found = ((name, slope_of(m)) for name, m in activation_modules(model))
    return {name: a.detach().float().cpu().tolist() for name, a in found if a is not None}


class Recorder:
    """While active, records per unit what each activation sees and gives: the largest input
    (dead units), the sums for the input's and output's mean and std, and E|output| (dormant
    units).

    Used as `with Recorder(model) as rec: model(x_probe)`; the hooks are removed on exit, so
    the training steps never pay for them. Reads in whatever mode the caller set (eval).
    """

    def __init__(self, model: nn.Module, dormant_tau: float = 0.1) -> None:
        self.model = model
        self.tau = dormant_tau
        self.maxima: dict[str, torch.Tensor] = {}
        self.sums: dict[str, torch.Tensor] = {}  # (6, units) float64: see _STATS
        self.counts: dict[str, int] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):
        def fn(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x, y = inputs[0].detach(), output.detach()
            dims = [d for d in range(x.ndim) if d != 1]  # all but the unit dim
            m = x.amax(dim=dims)
            sums = torch.stack(
                [x.sum(dims), (x * x).sum(dims), y.sum(dims), (y * y).sum(dims), y.abs().sum(dims)]
            ).double()
            old = self.maxima.get(name)
            self.maxima[name] = m if old is None else torch.maximum(old, m)
            self.sums[name] = sums if old is None else self.sums[name] + sums
            self.counts[name] = self.counts.get(name, 0) + x.numel() // x.shape[1]

        return fn

    def __enter__(self) -> Recorder:
        self.handles = [
            m.register_forward_hook(self._hook(n)) for n, m in activation_modules(self.model)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def result(self) -> Probe:
        """Per layer: dead and dormant units, pooled input/output mean and std, from what was
        recorded, plus the model's current slopes."""
        alphas = slopes(self.model)
        layers = []
        for name, m in self.maxima.items():
            sums, n = self.sums[name].cpu(), self.counts[name]
            units = len(m)
            total = n * units
            pre_mean, pre_sq, out_mean, out_sq = (float(sums[i].sum()) / total for i in range(4))
            # tau-dormant (Sokar et al. 2023): E|h_i| over the layer's mean of E|h_k|, <= tau
            score = sums[4] / n
            mean_score = float(score.mean())
            dormant = int((score <= self.tau * mean_score).sum()) if mean_score > 0 else units
            layers.append(
                LayerProbe(
                    name,
                    units,
                    int((m <= 0).sum()),
                    alphas.get(name),
                    dormant,
                    pre_mean,
                    math.sqrt(max(0.0, pre_sq - pre_mean**2)),
                    out_mean,
                    math.sqrt(max(0.0, out_sq - out_mean**2)),
                )
            )
        return Probe(layers)


@torch.no_grad()
def probe(model: nn.Module, x: torch.Tensor, chunk: int = 1000, dormant_tau: float = 0.1) -> Probe:
    """Dead units per activation layer, and the PReLU slopes, on the probe batch `x` (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        with Recorder(model, dormant_tau) as rec:
            for i in range(0, len(x), chunk):
                model(x[i : i + chunk])
    finally:
        model.train(was_training)
    return rec.result()
