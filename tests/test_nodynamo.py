"""Optimizers without torch._dynamo: the same numbers as torch.optim's, and a faster start."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from relubench.runner import nodynamo


def train(opt_cls: type, steps: int = 6, **kw) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.PReLU(16), nn.Linear(16, 3))
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim > 1]
    rest = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.ndim > 1)]
    opt = opt_cls([{"params": decay, "weight_decay": 5e-4}, {"params": rest}], **kw)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=kw["lr"], total_steps=steps)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    return model, opt


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        (torch.optim.Adam, {"lr": 0.01}),
        (torch.optim.AdamW, {"lr": 0.01}),
    ],
    ids=["sgd", "adam", "adamw"],
)
def test_eager_optimizers_give_torch_optims_numbers_bit_for_bit(cls, kw):
    theirs, their_opt = train(cls, **kw)
    ours, our_opt = train(nodynamo.eager(cls), **kw)
    assert nodynamo.eager(cls) is not cls and issubclass(nodynamo.eager(cls), cls)
    for a, b in zip(theirs.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)
    mine, other = our_opt.state_dict(), their_opt.state_dict()
    assert mine["param_groups"] == other["param_groups"]
    for k, state in other["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(mine["state"][k][name]))


def test_a_step_that_is_not_torchs_wrapper_is_left_alone():
    class Plain(torch.optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    assert nodynamo.eager(Plain) is Plain


@pytest.mark.slow  # a process: the import state must be fresh
def test_a_run_with_a_checkpoint_and_a_resume_never_imports_torch_dynamo(tmp_path):
    """If this fails after a torch upgrade, torch changed the wrappers nodynamo relies on: runs
    are still right, only their start-up is slower again; update nodynamo for the new torch."""
    code = f"""
import sys
from relubench.config import merge
from relubench.runner.train import run
base = dict(dataset="synthetic", train_size=256, test_size=64, probe_size=32, width=4,
            threads=1, epochs=2, act="prelu", out={str(tmp_path)!r})
for opt in ("sgd", "adam", "adamw"):
    cfg = merge({{**base, "optimizer": opt}})
    assert run(cfg)["status"] == "complete"
cfg = merge(base)
from relubench.runner.train import build_loop, load_data
from relubench.runner.checkpoint import capture, restore
import torch
from relubench.runner import nodynamo
with nodynamo.skipped():
    loop = build_loop(cfg, load_data(cfg), torch.device("cpu"), None)
    restore(loop, capture(loop))
print("torch._dynamo" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def _state(wrapped: list) -> list:
    return [getattr(fn, "__dynamo_disable", None) for fn in wrapped]


def test_a_run_leaves_a_library_users_optimizers_as_torch_made_them(tmp_path):
    """Inside a run torch.optim's wrappers find their function without importing
    torch._dynamo; after it every wrapper is as it was (uncached, or cached by torch._dynamo
    if something used it before), so a notebook that later compiles its own model gets
    torch's own optimizers."""
    import relubench
    from relubench.runner.reporters import QuietReporter

    wrapped = [w.__wrapped__ for w in nodynamo._wrappers() if hasattr(w, "__wrapped__")]
    assert wrapped, "torch.optim no longer wraps its functions as nodynamo expects"
    before = _state(wrapped)
    inside: list[bool] = []

    class Watch(QuietReporter):
        def step(self, epoch: int, step: int, loss: float, acc: float) -> None:
            inside.append(all(cached is not None for cached in _state(wrapped)))

    run = relubench.train(
        dataset="synthetic", train_size=64, test_size=32, probe_size=16, width=4, epochs=1,
        batch_size=32, act="prelu", threads=1, out=str(tmp_path), reporter=Watch(),
    )  # fmt: skip
    assert run.status == "complete"
    assert inside and all(inside)  # no wrapper had to import torch._dynamo while training
    after = _state(wrapped)
    assert all(a is b for a, b in zip(after, before, strict=True))  # as before the run
    with nodynamo.skipped() as outer, nodynamo.skipped() as nested:
        assert nested == 0 and outer == sum(b is None for b in before)
    assert all(a is b for a, b in zip(_state(wrapped), before, strict=True))
