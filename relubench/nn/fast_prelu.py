"""PReLU with a cheap CPU backward: the same function and parameter as `torch.nn.PReLU`.

    y = x if x > 0 else a_c * x        (He et al. 2015; a_c per channel, or one a per layer)

Why a second PReLU: on the CPU, torch's `_prelu_kernel_backward` is a scalar (unvectorised)
loop that also writes a full-size slope gradient before reducing it: many times slower than
ReLU's backward (`threshold_backward`), while the forwards cost the same. Here the backward is
built from vectorised kernels instead, with one full-size allocation (the input gradient, as
ReLU's):

    q   = hardtanh_backward(g, x, -inf, tiny)   g where x <= 0, else 0    (the one allocation)
    g_a = sum over x <= 0 of g * x              = <q, x>_c                (a read-only pass)
    g_x = g where x > 0, else a g               = q.mul_(a - 1).add_(g)   (in place)

(tiny = float32's smallest positive number, so x < tiny exactly when x <= 0.) In bf16 (CPU
autocast) g + (a - 1) g would round twice, so there, and in float64, the input gradient is
p.lerp_(g, a) with p = threshold_backward(g, x, 0), and g_a = <g, x>_c - <p, x>_c.

<u, v>_c is a per-channel dot product: `native_batch_norm_backward` with mean 0 and inverse
std 1 returns exactly sum(u * v) per channel in one fused pass, without the temporary that
`(u * v).sum(dims)` would allocate. Fresh full-size allocations matter on a CPU: the page
faults of one can cost more than the arithmetic on it. The gain, step cost against ReLU's with
torch's PReLU and with this one: `python -m benchmarks.step_cost --prelu-impls torch,fast`
(figures, with the machines they were measured on, in benchmarks/RESULTS.md).
What remains is memory traffic: this backward reads x and g three times (mask, dot product,
blend) where ReLU's reads them once; fusing those passes needs a compiled kernel.

Only on the CPU, where it was measured; on other devices torch's own kernels run.

Numerics: the forward is torch's own (`F.prelu`), bit for bit. x == 0 takes the negative side
(gradient a * g), as in torch. The input gradient equals nn.PReLU's to float rounding (in
float32, g + (a - 1) g is within an ulp or so of a g); the slope gradient differs by rounding
only (another summation order, and no difference of two sums to cancel). Under CPU bf16
autocast the slope gradient is accumulated in float32 (closer to the exact sum than torch's,
which rounds each product to bf16), the input gradient is torch's bit for bit. Double backward
is not supported: it raises, never misleads.
The parameter is nn.PReLU's own 1-D `weight` (this is a subclass), so state dicts load both
ways and the probe and the no-decay rule see the same thing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

_SMALLEST_POSITIVE = 1.401298464324817e-45  # float32's smallest subnormal: x < it iff x <= 0


def _channel_dot(u: torch.Tensor, v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """sum(u * v) over every dim but 1, in one fused read of u and v, with no temporary.

    Accumulated and returned in `dtype` (float32 for bf16 u and v under autocast: batch norm's
    mixed-type kernel takes float32 statistics beside reduced-precision data)."""
    c = u.shape[1]
    zero, one = u.new_zeros(c, dtype=dtype), u.new_ones(c, dtype=dtype)
    # batch norm's backward computes grad_weight = sum(g * (x - mean) * invstd) per channel;
    # with mean 0 and invstd 1 that is the dot product. Only grad_weight is requested.
    return torch.ops.aten.native_batch_norm_backward(
        u, v, None, None, None, zero, one, True, 0.0, [False, True, False]
    )[1]


class _PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        cl = torch.channels_last
        if (
            x.ndim == 4
            and x.is_contiguous(memory_format=cl)
            and not g.is_contiguous(memory_format=cl)
        ):
            # a pooling layer's backward hands NCHW gradients to a channels_last net: one small
            # copy spares the kernels below their slow mixed-layout paths (benchmarks/RESULTS.md)
            g = g.contiguous(memory_format=cl)
        shape = [1] * x.ndim
        shape[1] = weight.numel()  # broadcast over dim 1, whatever the memory format
        a = weight.view(shape)
        grad_x = grad_w = None
        # autograd may hand the same grad tensor to other branches: never write into g
        if x.dtype == torch.float32:
            # q = g where x <= 0, else 0: hardtanh's backward passes g where lo < x < hi, and
            # the smallest positive float as hi makes that x <= 0 exactly (x == 0 included)
            q = torch.ops.aten.hardtanh_backward(g, x, -math.inf, _SMALLEST_POSITIVE)
            if need_w:  # before q is overwritten below
                grad_w = _channel_dot(q, x, weight.dtype)
            if need_x:
                grad_x = q.mul_(a - 1).add_(g)  # g + (a - 1) q: g where x > 0, else a g
        else:  # bf16 under autocast: a g rounded once (g + (a - 1) q would round twice)
            p = torch.ops.aten.threshold_backward(g, x, 0)
            if need_w:  # before p is overwritten below
                grad_w = _channel_dot(g, x, weight.dtype) - _channel_dot(p, x, weight.dtype)
            if need_x:
                grad_x = p.lerp_(g, a.to(p.dtype))
        if grad_w is not None and weight.numel() == 1:
            grad_w = grad_w.sum().reshape(1)
        return grad_x, grad_w


class FastPReLU(nn.PReLU):
    """Drop-in for `nn.PReLU(num_parameters, init)`: same forward, same `weight`, faster backward.

    A subclass, so `isinstance(m, nn.PReLU)` (the probe, the registry's activation types, users'
    scripts) still finds it. Inputs of 2 or more dims have their channels in dim 1, as for
    nn.PReLU. Inputs of fewer dims, tensors off the CPU, and forward passes without autograd
    (evaluation, the probe) go through torch's own PReLU.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        # without autograd there is no backward to speed up, and the forward is the same kernel
        if input.ndim < 2 or input.device.type != "cpu" or not torch.is_grad_enabled():
            return F.prelu(input, self.weight)
        return _PReLUFunction.apply(input, self.weight)
