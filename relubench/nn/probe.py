"""Measurements: dead units and PReLU slopes, pure functions of (model, probe batch).

Dead (the DESIGN contract): on the fixed probe set, in eval mode without gradients, a unit (a
conv channel or a linear feature) is dead if the input of its activation is <= 0 for every
probe image and every spatial position - it never enters the positive regime. For ReLU its
gradient is then zero everywhere; for the others gradient still flows ("never positive").
Hooks exist only for the duration of one probe call, never during training steps.
"""

from __future__ import annotations

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

    @property
    def dead_frac(self) -> float:
        return self.dead / self.units if self.units else 0.0


@dataclass
class Probe:
    layers: list[LayerProbe] = field(default_factory=list)

    @property
    def dead_frac(self) -> float:
        """Dead units over all units of the network."""
        units = sum(p.units for p in self.layers)
        return sum(p.dead for p in self.layers) / units if units else 0.0


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every activation the registry built, in registration order."""
    types = activation_types()
    return [(n, m) for n, m in model.named_modules() if isinstance(m, types)]


def slopes(model: nn.Module) -> dict[str, list[float]]:
    """Learned negative slopes per activation layer (only layers that learn one)."""
    found = ((name, slope_of(m)) for name, m in activation_modules(model))
    return {name: a.detach().float().cpu().tolist() for name, a in found if a is not None}


class Recorder:
    """While active, records per unit the largest input each activation sees.

    Used as `with Recorder(model) as rec: model(x_probe)`; the hooks are removed on exit, so
    the training steps never pay for them. Reads inputs in whatever mode the caller set (eval).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.maxima: dict[str, torch.Tensor] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):
        def fn(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            t = inputs[0].detach()
            # reduce over batch and spatial dims without a copy; keep the unit dim 1
            m = t.amax(dim=[d for d in range(t.ndim) if d != 1])
            old = self.maxima.get(name)
            self.maxima[name] = m if old is None else torch.maximum(old, m)

        return fn

    def __enter__(self) -> Recorder:
        self.handles = [
            m.register_forward_pre_hook(self._hook(n)) for n, m in activation_modules(self.model)
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def result(self) -> Probe:
        """Dead units per layer from what was recorded, plus the model's current slopes."""
        alphas = slopes(self.model)
        return Probe(
            [
                LayerProbe(name, len(m), int((m <= 0).sum()), alphas.get(name))
                for name, m in self.maxima.items()
            ]
        )


@torch.no_grad()
def probe(model: nn.Module, x: torch.Tensor, chunk: int = 1000) -> Probe:
    """Dead units per activation layer, and the PReLU slopes, on the probe batch `x` (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        with Recorder(model) as rec:
            for i in range(0, len(x), chunk):
                model(x[i : i + chunk])
    finally:
        model.train(was_training)
    return rec.result()
