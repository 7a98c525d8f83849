"""FastELU and FastSELU compute what torch's ELU and SELU compute: outputs and input gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relubench.config import RunConfig
from relubench.nn.activations import act_factory
from relubench.nn.fast_elu import FastELU, FastSELU, elu_forward

# float32 against float64 truth: torch's own kernels err by up to 6e-8 (ELU) and 4.8e-7 (SELU)
TOL = {"atol": 1e-6, "rtol": 1e-6}


def inputs(channels_last: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 6, 5, 7, generator=g) * 3
    flat = x.view(-1)
    flat[::7] = 0.0  # x = 0 takes the negative side (gradient alpha g), as in torch
    flat[1::11] = -1e-6  # tiny negatives, where e^x - 1 is least accurate relative to expm1
    flat[2::13] = -90.0  # saturated: alpha (e^x - 1) = -alpha exactly
    grad = torch.randn(x.shape, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        grad = grad.contiguous(memory_format=torch.channels_last)
    return x, grad


def run(module: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    y.backward(grad)
    return y.detach(), x.grad


PAIRS = {
    "elu": (lambda: nn.ELU(), lambda: FastELU()),
    "elu-alpha-0.5": (lambda: nn.ELU(0.5), lambda: FastELU(0.5)),
    "selu": (lambda: nn.SELU(), lambda: FastSELU()),
}


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", PAIRS)
def test_forward_and_input_gradient_match_torch(name, channels_last):
    make_ref, make_fast = PAIRS[name]
    x, grad = inputs(channels_last)
    y_ref, gx_ref = run(make_ref(), x, grad)
    y_fast, gx_fast = run(make_fast(), x, grad)
    torch.testing.assert_close(y_fast, y_ref, **TOL)
    torch.testing.assert_close(gx_fast, gx_ref, **TOL)
    # against float64 truth, the fast forward is no worse than torch's
    truth = make_ref().double()(x.double()).float()
    assert (y_fast - truth).abs().max() <= (y_ref - truth).abs().max() + 6e-8
    # where x > 0, the output is torch's bit for bit
    pos = x > 0
    assert torch.equal(y_fast[pos], y_ref[pos])
    assert y_fast.is_contiguous(memory_format=x_format(x))


def x_format(x: torch.Tensor) -> torch.memory_format:
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if cl else torch.contiguous_format


def test_saturated_and_zero_inputs_are_exact():
    x = torch.tensor([-100.0, -30.0, 0.0, -0.0, 2.5])
    assert FastELU(1.0)(x).tolist() == [-1.0, -1.0, 0.0, 0.0, 2.5]
    # gradient at 0 is alpha g (the negative side), at -100 it is 0 (saturated)
    xg = x.clone().requires_grad_(True)
    FastELU(0.5)(xg).sum().backward()
    assert xg.grad.tolist() == pytest.approx(
        [0.0, 0.5 * torch.exp(torch.tensor(-30.0)).item(), 0.5, 0.5, 1.0]
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("alpha", "scale"), [(1.0, 1.0), (0.5, 1.0), (1.6733, 1.0507)])
def test_floor_on_the_exponent_changes_no_output(dtype, alpha, scale):
    """The exponent is clamped at EXP_FLOOR (speed): every output equals the unclamped
    formula's bit for bit, down to -inf, in float32 and float64."""
    x = torch.cat(
        [
            -torch.logspace(-8, 30, 2000, dtype=torch.float64),  # -1e-8 ... -1e30
            torch.linspace(-120, 0, 4801, dtype=torch.float64),  # every 0.025 around the floor
            torch.tensor([-math.inf, -0.0, 0.0, 1.5, math.nan], dtype=torch.float64),
        ]
    ).to(dtype)
    unclamped = torch.maximum(torch.exp(x.clamp(max=0)) - 1, x)
    unclamped = torch.where(unclamped < 0, alpha * unclamped, unclamped) * scale
    got = elu_forward(x, alpha, scale)
    assert torch.equal(got.isnan(), x.isnan())
    ok = ~x.isnan()
    assert torch.equal(got[ok], unclamped[ok])


def test_gradcheck_in_double():
    x = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(FastELU(0.7), (x,))
    assert torch.autograd.gradcheck(FastSELU(), (x,))


def test_evaluation_path_matches_and_registry_builds_fast_modules():
    x, _ = inputs(channels_last=True, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(FastSELU()(x), F.selu(x), **TOL)
    cfg = RunConfig(elu_alpha=0.3)
    elu, selu = act_factory("elu", cfg)(4), act_factory("selu", cfg)(4)
    assert isinstance(elu, FastELU) and isinstance(elu, nn.ELU) and elu.alpha == 0.3
    assert isinstance(selu, FastSELU) and isinstance(selu, nn.SELU)


def test_double_backward_is_refused():
    x = torch.randn(5, requires_grad=True)
    (g,) = torch.autograd.grad(FastELU()(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_gradient_keeps_the_layout_of_the_activation():
    # a channels_last net must get channels_last gradients back even when the layer above
    # (a pooling layer's backward) hands down NCHW ones
    x = torch.randn(4, 8, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(4, 8, 6, 6)  # NCHW incoming gradient
    (gx,) = torch.autograd.grad(FastSELU()(x), x, g)
    assert gx.is_contiguous(memory_format=torch.channels_last)
    (ref,) = torch.autograd.grad(nn.SELU()(x), x, g)
    torch.testing.assert_close(gx, ref, rtol=1e-5, atol=1e-6)
