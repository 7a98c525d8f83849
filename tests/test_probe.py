"""Dead units per the contract (docs/architecture.md), and slopes, on hand-built layers with
known answers."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from relubench.config import merge
from relubench.nn.probe import activation_modules, probe
from relubench.runner.train import run


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 1)
        self.act1 = nn.ReLU()
        self.fc = nn.Linear(4, 3)
        self.act2 = nn.PReLU(3, init=0.1)

    def forward(self, x):
        h = self.act1(self.conv(x)).mean((2, 3))
        return self.act2(self.fc(h))


def known_dead_model() -> Tiny:
    """Inputs are >= 0. conv channels 1 and 3 have weight -1: never positive. Channel 2 is
    positive at one single pixel of one image only (still alive). fc feature 0 is never positive."""
    m = Tiny()
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1, 1, 1))
        m.conv.bias.copy_(torch.tensor([0.0, 0.0, -0.99, 0.0]))
        m.fc.weight.copy_(torch.tensor([[-1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0]]))
        m.fc.bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
        m.act2.weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
    return m


def probe_images() -> torch.Tensor:
    x = torch.rand(8, 1, 5, 5) * 0.5
    x[3, 0, 2, 4] = 1.0  # the one place where channel 2 (bias -0.99) becomes positive
    return x


def test_probe_finds_exactly_the_dead_units():
    p = probe(known_dead_model(), probe_images())
    assert [lp.layer for lp in p.layers] == ["act1", "act2"]
    conv, fc = p.layers
    assert (conv.units, conv.dead) == (4, 2)
    assert (fc.units, fc.dead) == (3, 1)
    assert p.dead_frac == 3 / 7
    assert conv.alphas is None
    assert fc.alphas == pytest.approx([0.1, 0.2, 0.3])
    assert fc.alphas == known_dead_model().act2.weight.tolist()


def test_zero_preactivation_counts_as_dead():
    m = known_dead_model()
    with torch.no_grad():
        m.conv.weight.zero_()
        m.conv.bias.zero_()  # every pre-activation is exactly 0: never positive
    assert probe(m, probe_images()).layers[0].dead == 4


def test_probe_leaves_no_hooks_and_keeps_the_mode():
    m = known_dead_model().train()
    probe(m, probe_images())
    assert m.training
    assert all(not mod._forward_pre_hooks for _, mod in activation_modules(m))


def test_probe_uses_eval_mode_batch_norm():
    # In train mode BN would normalise with the probe batch's own statistics; the probe must not.
    bn = nn.Sequential(nn.BatchNorm1d(2), nn.ReLU())
    with torch.no_grad():
        bn[0].running_mean.fill_(10.0)  # every input below the running mean: dead in eval mode
    x = torch.rand(16, 2)
    assert probe(bn, x).layers[0].dead == 2


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_recorded_alphas_equal_the_parameters_at_that_epoch(tiny):
    cfg = merge({**tiny, "act": "prelu", "epochs": 2, "save_model": True, "prelu_init": 0.2})
    run(cfg)
    alphas = read(cfg.run_dir / "alphas.csv")
    assert {float(r["alpha"]) for r in alphas if r["epoch"] == "0"} == {0.2}
    final = torch.load(cfg.run_dir / "model.pt")
    for layer in ("block1.act", "block2.act", "block3.act", "dense.act"):
        recorded = [float(r["alpha"]) for r in alphas if r["epoch"] == "2" and r["layer"] == layer]
        expected = final[f"{layer}.weight"].tolist()
        assert recorded == [float(f"{v:.6g}") for v in expected]
    layers = read(cfg.run_dir / "layers.csv")
    assert [r["epoch"] for r in layers] == ["0"] * 4 + ["1"] * 4 + ["2"] * 4
    first = layers[-4]
    values = [float(r["alpha"]) for r in alphas if r["epoch"] == "2" and r["layer"] == "block1.act"]
    assert float(first["alpha_min"]) == min(values) and float(first["alpha_max"]) == max(values)


def test_moments_and_dormant_units_match_a_direct_computation():
    """Pooled input/output mean and std and the tau-dormant count, against the tensors
    themselves in float64 (probed in chunks of 7 images, so the sums must combine)."""
    torch.manual_seed(0)
    m = Tiny()
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([1.0, 0.02, -0.5, 2.0]).view(4, 1, 1, 1))
        m.conv.bias.copy_(torch.tensor([0.1, 0.0, 0.3, -0.2]))
    x = torch.randn(23, 1, 5, 5)
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [
        mod.register_forward_hook(
            lambda mod, i, o, name=name: seen.__setitem__(name, (i[0].double(), o.double()))
        )
        for name, mod in activation_modules(m)
    ]
    m.eval()
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    result = {lp.layer: lp for lp in probe(m, x, chunk=7, dormant_tau=0.1).layers}
    for name, (pre, out) in seen.items():
        lp = result[name]
        assert lp.pre_mean == pytest.approx(pre.mean().item(), abs=1e-6)
        assert lp.pre_std == pytest.approx(pre.std(unbiased=False).item(), rel=1e-5)
        assert lp.out_mean == pytest.approx(out.mean().item(), abs=1e-6)
        assert lp.out_std == pytest.approx(out.std(unbiased=False).item(), rel=1e-5)
        dims = [d for d in range(out.ndim) if d != 1]
        score = out.abs().mean(dims)
        assert lp.dormant == int((score / score.mean() <= 0.1).sum())
    # conv channel 1 (weight 0.02) gives a tiny output next to the others: dormant, not dead
    assert result["act1"].dormant >= 1 and result["act1"].dead == 0


def test_slope_decay_and_torch_init_are_what_they_say(tiny):
    from relubench.nn.activations import param_groups
    from relubench.nn.models import build_model

    cfg = merge({**tiny, "act": "prelu", "model": "mlp", "width": 64})
    groups = param_groups(build_model(cfg, 1, 28, 10), 5e-4, 0.01, slope_decay=True)
    assert groups[2]["weight_decay"] == 5e-4
    assert param_groups(build_model(cfg, 1, 28, 10), 5e-4, 0.01)[2]["weight_decay"] == 0.0
    torch.manual_seed(0)
    wide = {**tiny, "act": "selu", "model": "mlp", "width": 256}
    plain = build_model(merge({**wide, "init": "torch"}), 1, 28, 10)
    hidden = [mod for mod in plain.modules() if isinstance(mod, nn.Linear)][1]
    n = hidden.weight.shape[1]
    assert hidden.weight.var().item() == pytest.approx(1 / (3 * n), rel=0.05)  # torch: 1/(3n)
    torch.manual_seed(0)
    lecun = build_model(merge(wide), 1, 28, 10)
    hidden = [mod for mod in lecun.modules() if isinstance(mod, nn.Linear)][1]
    assert hidden.weight.var().item() == pytest.approx(1 / n, rel=0.05)  # LeCun: 1/n
