"""Why a run diverged: a replay of the failing epoch, step by step, from a snapshot.

The training loop checks the loss once every 10 steps (one host sync, for the live bar), so
when it finds a non-finite loss the damage is up to 10 steps old. Rather than pay a check per
step in every run, each epoch starts from a snapshot (`relubench.runner.checkpoint.capture`:
model, optimizer, schedule, generators; a few MB for these models); on divergence the epoch is
replayed from it, deterministically, with every step checked, which finds the first bad step,
the parameter that ran away and the gradient norms of the optimizer's groups just before.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from relubench.data.batches import batches
from relubench.nn.activations import slope_of
from relubench.runner.checkpoint import restore
from relubench.runner.loop import Loop, training_loss

GROUPS = ("weights", "norms and biases", "slopes")  # param_groups' order


def _names(loop: Loop) -> dict[int, str]:
    """Parameter -> a name for people: `dense.act slope`, `block2.conv.weight`."""
    slopes = {id(slope_of(m)): n for n, m in loop.model.named_modules() if slope_of(m) is not None}
    return {
        id(p): f"{slopes[id(p)]} slope" if id(p) in slopes else n
        for n, p in loop.model.named_parameters()
    }


def _value(p: torch.Tensor) -> float:
    """A parameter as one number: its value if it is one (a shared slope), else max |value|."""
    t = p.detach()
    return float(t.reshape(-1)[0]) if t.numel() == 1 else float(t.abs().max())


def replay(
    loop: Loop, snap: dict[str, Any], x: torch.Tensor | None, y: torch.Tensor, epoch: int
) -> dict:
    """Replay `epoch` from `snap` checking every step; the diagnosis for summary.json."""
    restore(loop, snap)
    names = _names(loop)
    model, opt = loop.model, loop.opt
    params = [p for g in opt.param_groups for p in g["params"]]
    start = {id(p): _value(p) for p in params}
    finite = dict(start)  # each parameter's value at its last finite step
    model.train()
    if loop.augment is None:
        source = batches(x, y, loop.batch_size, loop.generator, drop_last=True)
    else:
        source = loop.augment.batches(y, loop.batch_size, loop.generator)
    norms: dict[str, float] = {}
    leader: tuple[torch.Tensor, int, float] | None = None  # the first to run away, when, to what
    for step, batch in enumerate(itertools.chain(source, [None]), 1):
        lr = opt.param_groups[0]["lr"]
        bad = [p for p in params if not math.isfinite(_value(p))]
        loss = torch.tensor(math.nan if bad else 0.0)
        if batch is not None and not bad:  # (None: after the epoch's last step)
            with loop.precision.autocast():
                loss = training_loss(loop, model(batch[0]), batch[1])
        if bad or not math.isfinite(loss.item()):
            if leader is None:  # nothing grew 10x before: the first non-finite, or the largest
                p = (
                    bad[0]
                    if bad
                    else max(params, key=lambda q: _growth(finite[id(q)], start[id(q)]))
                )
                leader = (p, step - 1, finite[id(p)])
            p, at, value = leader
            return _json_safe(
                {
                    "epoch": epoch,
                    "step": step,
                    "lr": lr,
                    "loss": str(loss.item()),
                    "parameter": names[id(p)],
                    "scalar": p.numel() == 1,
                    "start": start[id(p)],
                    "ran_away_at_step": at,
                    "value_then": value,
                    "grad_norm": norms,  # per optimizer group, at the last step with finite ones
                }
            )
        if batch is None:
            break
        opt.zero_grad(set_to_none=True)
        loop.precision.backward_step(loss, opt, loop.shape)
        loop.sched.step()
        now = {GROUPS[min(i, 2)]: _norm(g["params"]) for i, g in enumerate(opt.param_groups)}
        if all(math.isfinite(v) for v in now.values()):
            norms = now
        for p in params:
            v = _value(p)
            if math.isfinite(v):
                finite[id(p)] = v
        if leader is None:
            p = max(params, key=lambda q: _growth(finite[id(q)], start[id(q)]))
            if _growth(finite[id(p)], start[id(p)]) > RUNAWAY:
                leader = (p, step, finite[id(p)])
    return {"epoch": epoch, "step": None, "note": "the replay did not diverge"}


RUNAWAY = 10.0  # a parameter "runs away" when (|v| + 0.1) / (|v at epoch start| + 0.1) passes this


def _growth(value: float, start: float) -> float:
    """How far a parameter moved from its value at the epoch's start, with a floor of 0.1 so
    a bias starting at 0 is not infinitely grown by its first step."""
    return (abs(value) + 0.1) / (abs(start) + 0.1)


def _json_safe(value: Any) -> Any:
    """nan and inf as text: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _norm(params: list[torch.Tensor]) -> float:
    grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


def message(d: dict[str, Any], peak_lr: float, slopes: bool, reason: str = "") -> str:
    """The one line a person reads: what ran away, and what to try. `reason`: what stopped the
    run (the training loss, or an evaluation that became non-finite), said when the replay
    finds no step whose training loss is non-finite."""
    hint = f"try --lr {peak_lr / 10:.3g}"
    if slopes:
        hint += " or a lower --set slope_lr"
    if d.get("step") is None:
        return f"{reason or 'training loss became non-finite in epoch ' + str(d['epoch'])}; {hint}"
    what = "value" if d.get("scalar") else "largest |value|"
    return (
        f"loss became {d['loss']} at epoch {d['epoch']}, step {d['step']} (lr {_g(d['lr'])}): "
        f"{d['parameter']} ran away first ({what} {_g(d['start'])} -> {_g(d['value_then'])} by "
        f"step {d['ran_away_at_step']}); {hint}"
    )


def _g(value: Any) -> str:
    """A number of the diagnosis for the message; nan and inf are kept as text (_json_safe)."""
    return f"{value:.3g}" if isinstance(value, (int, float)) else str(value)
