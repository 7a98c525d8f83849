"""ELU and SELU with a vectorised CPU forward: the same functions and modules as torch's.

    elu(x)  = x if x > 0 else alpha (e^x - 1)
    selu(x) = scale elu(x) with alpha = 1.6733, scale = 1.0507   (Klambauer et al. 2017)

Why: on the CPU, torch's ELU kernel (which SELU shares) computes e^x - 1 with `expm1`, which
torch's CPU builds run several times slower than `exp` (how much depends on the CPU), and the
ELU and SELU training steps paid for it (`python -m benchmarks.step_cost --models cnn`; figures
in benchmarks/RESULTS.md). Here the forward is built from vectorised passes, in place on the
one allocation (the output):

    w = max(exp(min(x, 0)) - 1, x)          x where x > 0, else e^x - 1
    y = scale leaky_relu(w, alpha)           the negative side (w < 0 iff x < 0) times alpha

The backward is torch's own `elu_backward` on the saved output (g scale where y > 0, else
g (y + alpha scale)), the formulation torch itself uses for in-place ELU; it reads only y, so x
is not kept for it.

Numerics: for x > 0 the output is torch's, bit for bit. For x <= 0, e^x - 1 (or x, the larger)
replaces expm1(x): the absolute error stays below 6e-8 (half a float32 ulp of 1.0), as torch's
(measured against float64: max abs error 6.0e-8 for ELU, 4.8e-7 for SELU, both equal to
F.elu's and F.selu's), while the relative error grows for |x| < 1e-3, where the output is
itself below 1e-3 and the absolute error is what reaches the next layer's sums. Gradients
match torch's to float rounding (`tests/test_fast_elu.py`). Double backward is not supported:
it raises, never misleads.

Only on the CPU, where it was measured; on other devices torch's own kernels run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from relubench.registry.activations import SELU_ALPHA, SELU_SCALE

EXP_FLOOR = -40.0  # e^-40 = 4.2e-18: below half an ulp of 1 in float64, a normal float32


def elu_forward(x: torch.Tensor, alpha: float, scale: float = 1.0) -> torch.Tensor:
    """scale * elu(x, alpha) from vectorised kernels (exp instead of expm1), one allocation."""
    # e^min(x, 0) - 1: exactly 0 where x > 0. Below -40, e^x - 1 rounds to -1 in float32 and
    # float64 alike, as e^-40 - 1 does: the floor changes no output, and keeps exp off its
    # underflow path (x < -87 in float32), many times slower than its normal one (figures in
    # benchmarks/RESULTS.md, exp_range.py)
    w = x.clamp(min=EXP_FLOOR, max=0).exp_().sub_(1)
    # x where x > 0 (w is 0 there), else e^x - 1, which is >= x (convexity; where rounding
    # makes it undershoot a tiny x, x is the better value of expm1(x) anyway)
    torch.maximum(w, x, out=w)
    if alpha != 1.0:  # w < 0 exactly where x < 0: scale the negative side by alpha
        F.leaky_relu_(w, alpha)
    if scale != 1.0:
        w.mul_(scale)
    return w


class _ELUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float, scale: float) -> torch.Tensor:
        y = elu_forward(x, alpha, scale)
        ctx.save_for_backward(y)
        ctx.alpha, ctx.scale = alpha, scale
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (y,) = ctx.saved_tensors
        # written in y's memory format, whatever g's: the pooling before resnet20's classifier
        # hands NCHW gradients back into a channels_last net, torch's kernel would pass that
        # layout on through the residual stream, and batch norm's backward is slow on mixed
        # layouts (the resnet20 SELU step, `python -m benchmarks.step_cost --models resnet20`)
        grad = torch.empty_like(y)
        torch.ops.aten.elu_backward.grad_input(
            g, ctx.alpha, ctx.scale, 1.0, True, y, grad_input=grad
        )
        return grad, None, None


def _on_cpu(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.is_floating_point()


def _elu(x: torch.Tensor, alpha: float, scale: float) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _ELUFunction.apply(x, alpha, scale)
    return elu_forward(x, alpha, scale)  # evaluation, the probe: no backward to prepare


class FastELU(nn.ELU):
    """Drop-in for `nn.ELU(alpha)`: same function and module type, faster on the CPU."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.inplace or not _on_cpu(input):
            return super().forward(input)
        return _elu(input, self.alpha, 1.0)


class FastSELU(nn.SELU):
    """Drop-in for `nn.SELU()`: same function and module type, faster on the CPU."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.inplace or not _on_cpu(input):
            return super().forward(input)
        return _elu(input, SELU_ALPHA, SELU_SCALE)
