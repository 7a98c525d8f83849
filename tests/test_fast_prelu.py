"""FastPReLU computes what torch.nn.PReLU computes: outputs, input and slope gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relubench.nn.activations import param_groups
from relubench.nn.fast_prelu import FastPReLU

SHAPES = {"2d": (32, 6), "4d": (8, 6, 5, 7)}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy machine each parallel region (batch
    norm's backward opens one at any size) can wait milliseconds for a preempted thread:
    gradcheck measured 2-3.5 s with 2 threads under load, 0.03 s with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pair(num_parameters: int, seed: int = 0) -> tuple[nn.PReLU, FastPReLU]:
    """torch's PReLU and ours with the same slopes: some negative, some above 1, one 0."""
    g = torch.Generator().manual_seed(seed)
    slopes = torch.rand(num_parameters, generator=g) * 2.4 - 0.9
    slopes[0] = 0.0 if num_parameters > 1 else slopes[0]
    ref, fast = nn.PReLU(num_parameters), FastPReLU(num_parameters)
    with torch.no_grad():
        ref.weight.copy_(slopes)
        fast.weight.copy_(slopes)
    return ref, fast


def inputs(shape: tuple[int, ...], channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g)
    x.view(-1)[::5] = 0.0  # exact zeros take the negative side (slope a) in torch
    grad = torch.randn(shape, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        grad = grad.contiguous(memory_format=torch.channels_last)
    return x, grad


def run(module: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    module.weight.grad = None
    y = module(x)
    y.backward(grad)
    return y.detach(), x.grad, module.weight.grad


CASES = [
    (kind, cl, shared)
    for kind in SHAPES
    for cl in ([False, True] if kind == "4d" else [False])
    for shared in (False, True)
]


@pytest.mark.parametrize(
    "kind,channels_last,shared",
    CASES,
    ids=[f"{k}-{'nhwc' if c else 'contig'}-{'shared' if s else 'channel'}" for k, c, s in CASES],
)
def test_matches_torch_prelu(kind, channels_last, shared):
    shape = SHAPES[kind]
    ref, fast = pair(1 if shared else shape[1])
    x, grad = inputs(shape, channels_last)
    y_ref, gx_ref, gw_ref = run(ref, x, grad)
    y, gx, gw = run(fast, x, grad)
    assert torch.equal(y, y_ref)  # the same forward kernel
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=1e-7)
    # the slope gradient is a sum over the batch: compare at the scale of that sum's rounding
    scale = (grad * x.clamp(max=0)).abs().sum() * 1e-6
    torch.testing.assert_close(gw, gw_ref, rtol=0, atol=float(scale))
    assert gw.shape == fast.weight.shape == gw_ref.shape
    if channels_last:  # the input gradient keeps the layout, as the conv before it wants
        assert gx.is_contiguous(memory_format=torch.channels_last)


def test_takes_the_fast_path_on_cpu():
    """Guards the speed-up itself: a silent fallback to torch's backward would pass the rest."""
    y = FastPReLU(3)(torch.randn(2, 3, 4, 4, requires_grad=True))
    assert "_PReLUFunction" in y.grad_fn.name()


@pytest.mark.parametrize("channels_last", [False, True])
def test_odd_incoming_gradients(channels_last):
    """Gradients from `.sum()` (stride 0) and from a slice (zeros, non-contiguous)."""
    x, _ = inputs((4, 6, 3, 5), channels_last)
    for num_parameters in (1, 6):
        ref, fast = pair(num_parameters)
        for loss in (lambda y: y.sum(), lambda y: (3 * y[:, 1:4, :, ::2]).sum()):
            grads = []
            for m in (ref, fast):
                xg = x.clone().requires_grad_(True)
                m.weight.grad = None
                loss(m(xg)).backward()
                grads.append((xg.grad, m.weight.grad))
            torch.testing.assert_close(grads[1][0], grads[0][0])
            torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-5, atol=1e-5)


def test_zero_input_takes_the_negative_slope():
    ref, fast = pair(3)
    with torch.no_grad():
        ref.weight.fill_(0.3)
        fast.weight.fill_(0.3)
    x = torch.zeros(4, 3, 2, 2)
    grad = torch.ones_like(x)
    _, gx_ref, gw_ref = run(ref, x, grad)
    _, gx, gw = run(fast, x, grad)
    assert torch.equal(gx, gx_ref)
    assert torch.allclose(gx, torch.full_like(gx, 0.3))
    assert torch.equal(gw, gw_ref) and not gw.any()


def test_the_sign_test_is_exact_at_the_smallest_floats():
    # the backward tells x <= 0 from x > 0 by x < (float32's smallest positive number): the
    # smallest subnormals on either side and both zeros must land on torch's side
    tiny = torch.finfo(torch.float32).smallest_normal * 2.0**-23  # 1.4e-45, a subnormal
    ref, fast = pair(3)
    x = torch.tensor([tiny, -tiny, 0.0, -0.0, 1.0, -1.0]).repeat(2, 3, 1)  # (2, 3, 6)
    grad = torch.arange(1.0, x.numel() + 1).view_as(x)
    _, gx_ref, gw_ref = run(ref, x, grad)
    _, gx, gw = run(fast, x, grad)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(gw, gw_ref)


@pytest.mark.parametrize("num_parameters", [1, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gradcheck_float64(num_parameters, channels_last):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, 3, 2, generator=g, dtype=torch.float64)
    x = x + 0.1 * x.sign()  # keep away from the kink at 0, where finite differences lie
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    m = FastPReLU(num_parameters).double()
    with torch.no_grad():
        m.weight.uniform_(-0.5, 1.5, generator=g)
    assert torch.autograd.gradcheck(lambda x, w: m.forward(x), (x, m.weight))
    assert torch.autograd.gradcheck(m, (x[:, :, 0, 0].contiguous().requires_grad_(True),))


def test_only_what_is_needed():
    """A frozen slope or an input without grad: the other gradient is still right."""
    ref, fast = pair(6)
    x, grad = inputs((8, 6, 5, 7), False)
    fast.weight.requires_grad_(False)
    xg = x.clone().requires_grad_(True)
    fast(xg).backward(grad)
    _, gx_ref, gw_ref = run(ref, x, grad)
    torch.testing.assert_close(xg.grad, gx_ref)
    fast.weight.requires_grad_(True)
    fast(x).backward(grad)  # x needs no grad: only the slopes get one
    torch.testing.assert_close(fast.weight.grad, gw_ref, rtol=1e-5, atol=1e-4)


def test_is_a_prelu_with_the_same_parameter():
    """The probe finds it (isinstance nn.PReLU), reads a 1-D `weight`; state dicts swap."""
    fast, ref = FastPReLU(5, init=0.1), nn.PReLU(5, init=0.1)
    assert isinstance(fast, nn.PReLU)
    assert [n for n, _ in fast.named_parameters()] == ["weight"]
    assert fast.weight.shape == (5,) and torch.equal(fast.weight, ref.weight)
    ref.load_state_dict(fast.state_dict())
    fast.load_state_dict(nn.PReLU(5, init=0.7).state_dict())
    assert torch.allclose(fast.weight, torch.full((5,), 0.7))


def test_slopes_get_no_weight_decay():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), FastPReLU(4), nn.Flatten(), nn.Linear(4, 2))
    decay, no_decay, slopes = param_groups(model, 5e-4, slope_lr=0.1)
    assert [p is model[1].weight for p in slopes["params"]] == [True]
    assert slopes["weight_decay"] == 0 and slopes["lr_scale"] == 0.1
    assert not any(p is model[1].weight for p in decay["params"] + no_decay["params"])


def test_without_autograd_and_small_inputs():
    ref, fast = pair(6)
    x = torch.randn(8, 6, 3, 3)
    with torch.no_grad():  # evaluation and the probe
        assert torch.equal(fast(x), ref(x))
    ref, fast = pair(1)
    v = torch.randn(6, requires_grad=True)  # under 2-D there is no channel dim: torch's own path
    assert torch.equal(fast(v), ref(v))


def test_trains_like_torch_prelu():
    """A few SGD steps of a tiny conv net give the same weights with either PReLU."""

    def net(act: type[nn.PReLU]) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), act(4), nn.Conv2d(4, 4, 3),
            act(1), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
        )  # fmt: skip

    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 1, 8, 8, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (16,), generator=g)
    nets = [net(nn.PReLU), net(FastPReLU)]
    for m in nets:
        m.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
    for (name, a), (_, b) in zip(*(m.named_parameters() for m in nets), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("shared", [False, True])
def test_under_cpu_bf16_autocast(shared):
    # users who wrap a step in torch.autocast("cpu", bfloat16) (benchmarks.cpu_levers does)
    # get bf16 activations and a float32 slope: the input gradient must equal nn.PReLU's, the
    # slope gradient must be float32 and at least as close to the exact sum as torch's
    torch.manual_seed(0)
    n = 1 if shared else 32
    x = torch.randn(16, 32, 8, 8).bfloat16().to(memory_format=torch.channels_last)
    x.requires_grad_()
    fast, ref = FastPReLU(n), nn.PReLU(n)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_fast, y_ref = fast(x), ref(x)
    assert y_fast.dtype == torch.bfloat16 and torch.equal(y_fast, y_ref)
    g = torch.randn_like(y_fast)
    gx_fast, gw_fast = torch.autograd.grad(y_fast, (x, fast.weight), g)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), g)
    assert torch.equal(gx_fast, gx_ref)
    assert gw_fast.dtype == torch.float32 and gw_fast.shape == (n,)
    xf = x.detach().double()
    exact = (g.double() * xf * (xf <= 0)).sum((0, 2, 3))
    exact = exact.sum().reshape(1) if shared else exact
    err_fast = (gw_fast.double() - exact).abs().max().item()
    err_ref = (gw_ref.double() - exact).abs().max().item()
    assert err_fast <= max(err_ref, 1e-3)


def test_nchw_gradient_into_a_channels_last_activation():
    # the gradient a pooling layer hands down may be NCHW while the net is channels_last: the
    # result must still equal nn.PReLU's and keep the activation's layout
    x = torch.randn(4, 8, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    fast, ref = FastPReLU(8), nn.PReLU(8)
    g = torch.randn(4, 8, 6, 6)
    gx, gw = torch.autograd.grad(fast(x), (x, fast.weight), g)
    rx, rw = torch.autograd.grad(ref(x), (x, ref.weight), g)
    assert gx.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-5)
