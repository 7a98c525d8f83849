"""Why PReLU diverged, and why its slopes then froze: the slopes and the loss, step by step.

    python -m experiments.slope_trace               # prelu-shared, seed 0, 1 epoch, 2 threads
    python -m experiments.slope_trace --act prelu --threads 1
    python -m experiments.slope_trace --quick       # tiny synthetic run, for the test suite

Trains the default recipe's first epoch three times: slopes stepped by their gradient at
`slope_lr` 1.0 (every parameter at one learning rate, as before either key existed), by their
gradient at `slope_lr` 0.01 (the default from then until `slope_update`), and at today's
default (by the sign of their gradient, `slope_lr` 0.03); it records every step: the loss, each
activation layer's slope (one shared, or the mean of a channel's; min and max for per-channel),
and the gradient norm of each layer's slope. Draws them into --figure (PNG) and
records, per step of note, the slope that moved most, in benchmarks/RESULTS.md
(benchmarks/harness.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.harness import arguments, record, set_threads, table
from relubench.config import SLOPE_LR, merge
from relubench.data.batches import batches
from relubench.nn.activations import slope_of
from relubench.runner.train import build_loop, load_data

VARIANTS = {  # label: what the run sets
    "grad, slope_lr 1": {"slope_update": "grad", "slope_lr": 1.0},
    "grad, slope_lr 0.01": {"slope_update": "grad", "slope_lr": 0.01},
    f"sign, slope_lr {SLOPE_LR:g} (default)": {},
}


def trace(overrides: dict) -> list[dict]:
    """One epoch, every step: loss, lr, and per slope layer its value range and grad norm."""
    cfg = merge(overrides)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    loop = build_loop(cfg, data, torch.device("cpu"), reporter=None)  # type: ignore[arg-type]
    slopes = [(n, slope_of(m)) for n, m in loop.model.named_modules() if slope_of(m) is not None]
    rows = []
    loop.model.train()
    source = batches(data.x_train, data.y_train, cfg.batch_size, loop.generator, drop_last=True)
    for step, (xb, yb) in enumerate(source, 1):
        loss = F.cross_entropy(loop.model(xb), yb)
        loop.opt.zero_grad(set_to_none=True)
        loss.backward()
        row = {"step": step, "loss": loss.item(), "lr": loop.opt.param_groups[0]["lr"]}
        for name, a in slopes:
            row[name] = (a.min().item(), a.mean().item(), a.max().item(), a.grad.norm().item())
        rows.append(row)
        if not math.isfinite(row["loss"]):
            break
        if loop.shape is not None:  # the run's own gradient shaping (slope_update sign)
            loop.shape()
        loop.opt.step()
        loop.sched.step()
    return rows


def draw(traces: dict[str, list[dict]], act: str, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.2), dpi=120, layout="constrained")
    axes = fig.subplots(1, len(traces), sharey=False, squeeze=False)[0]
    for ax, (variant, rows) in zip(axes, traces.items(), strict=True):
        layers = [k for k in rows[0] if k not in ("step", "loss", "lr")]
        steps = [r["step"] for r in rows]
        for layer in layers:
            ax.plot(steps, [r[layer][1] for r in rows], label=f"{layer} slope")
        ax.set_ylim(-1.5, 1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("slope a (mean over channels)")
        twin = ax.twinx()
        twin.plot(steps, [min(r["loss"], 1e3) for r in rows], color="black", ls=":", label="loss")
        twin.set_yscale("log")
        twin.set_ylabel("training loss (dotted)")
        end = "diverged" if not math.isfinite(rows[-1]["loss"]) else "trained"
        ax.set_title(f"{variant}: {end} (step {rows[-1]['step']})")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    fig.suptitle(f"{act}: learned slopes per step in the first epoch, three ways to step them")
    fig.savefig(path)


def main() -> None:
    parser = arguments(__doc__, threads=2, quick_help="a tiny synthetic run, no figure")
    parser.add_argument("--act", default="prelu-shared", help="(default: prelu-shared)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--figure", default="docs/slope-trace.png", help="PNG to write")
    args = parser.parse()
    set_threads(args.threads)
    base = {"act": args.act, "seed": args.seed, "epochs": 1}
    if args.quick:
        base.update(dataset="synthetic", width=4, train_size=256, test_size=64, probe_size=32)
    traces = {label: trace({**base, **sets}) for label, sets in VARIANTS.items()}
    lines = []
    for variant, rows in traces.items():
        end = rows[-1]
        layers = [k for k in end if k not in ("step", "loss", "lr")]
        cells = []
        for r in rows[:: max(1, len(rows) // 8)] + ([end] if rows[-1] is not rows[0] else []):
            worst = max(layers, key=lambda k: abs(r[k][1] - 0.25))
            lo, mean, hi, g = r[worst]
            cells.append((r["step"], f"{r['lr']:.3f}", f"{r['loss']:.3g}", worst,
                          f"{mean:.3g} [{lo:.3g}, {hi:.3g}]", f"{g:.3g}"))  # fmt: skip
        outcome = "diverged" if not math.isfinite(end["loss"]) else "trained"
        print(f"{variant}: {outcome} at step {end['step']}")
        lines += [
            f"{variant} ({args.act}, seed {args.seed}, {args.threads} threads): "
            f"{outcome}, last step {end['step']}; the slope furthest from its 0.25 start:",
            "",
            *table(("step", "lr", "loss", "layer", "slope mean [min, max]", "grad norm"), cells),
            "",
        ]
    if not args.quick:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        draw(traces, args.act, Path(args.figure))
        lines.append(f"Figure: {args.figure}.")
        print(f"wrote {args.figure}")
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
