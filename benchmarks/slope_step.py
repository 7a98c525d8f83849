"""The cost of how a learned slope steps: one training step of `prelu` and `prelu-shared` with
`slope_update` grad (each slope by its gradient, the old default) and sign (by its gradient's
sign, the default), as a ratio to grad's step in the same round.

A step is the training loop's own (`relubench.runner.loop`): forward, cross-entropy, backward,
the slopes' gradients shaped (sign only), SGD step, schedule step, built by
`relubench.runner.train.build_loop` from the config, on one fixed batch of the dataset. The
variants take turns, N steps each per round; a figure is the median over rounds, a ratio the
median of the per-round ratios. The table goes into benchmarks/RESULTS.md.

    python -m benchmarks.slope_step                 # the default cnn on mnist-mini, 11 rounds
    python -m benchmarks.slope_step --quick         # tiny: a check that it runs
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.harness import (
    arguments,
    interleave,
    median_ratios,
    medians,
    ms,
    record,
    set_threads,
    table,
    timer,
)
from relubench.config import merge
from relubench.runner.loop import Loop
from relubench.runner.train import build_loop, load_data

UPDATES = ("grad", "sign")


def stepper(loop: Loop, x: torch.Tensor, y: torch.Tensor):  # noqa: ANN201
    """One training step as `train_one_epoch` takes it, on a fixed batch."""

    def step() -> None:
        out = loop.model(x)
        loss = F.cross_entropy(out, y)
        loop.opt.zero_grad(set_to_none=True)
        loop.precision.backward_step(loss, loop.opt, loop.shape)
        loop.sched.step()

    return step


def main() -> None:
    parser = arguments(__doc__, rounds=11, threads=1)
    parser.add_argument("--steps", type=int, default=5, help="steps per turn (default: 5)")
    parser.add_argument("--model", default="cnn", help="(default: cnn)")
    args = parser.parse(quick={"steps": 1})
    set_threads(args.threads)
    tiny = dict(dataset="synthetic", train_size=256, test_size=64, width=4) if args.quick else {}
    turns, shown = {}, []
    for act in ("prelu", "prelu-shared"):
        for update in UPDATES:
            cfg = merge({**tiny, "model": args.model, "act": act, "slope_update": update})
            torch.manual_seed(0)
            data = load_data(cfg)
            loop = build_loop(cfg, data, torch.device("cpu"), reporter=None)  # type: ignore[arg-type]
            x, y = data.x_train[: cfg.batch_size], data.y_train[: cfg.batch_size]
            turns[(act, update)] = timer(stepper(loop, x, y), calls=args.steps)
    samples = interleave(turns, args.rounds, warmup=1, show=ms)
    times = medians(samples)
    rows = []
    for act in ("prelu", "prelu-shared"):
        mine = {u: samples[(act, u)] for u in UPDATES}
        ratio = median_ratios(mine, "grad")
        for u in UPDATES:
            rows.append((act, u, f"{1e3 * times[(act, u)]:.2f}", f"{ratio[u]:.3f}"))
            shown.append(f"{act:13} {u:5} {1e3 * times[(act, u)]:7.2f} ms  x{ratio[u]:.3f}")
    print("\n".join(shown))
    lines = [
        f"{args.model} at its defaults, batch of the default recipe, {args.threads} torch "
        f"thread(s); {args.rounds} rounds x {args.steps} steps, medians; ratio: to the same "
        "activation's grad step in the same round.",
        "",
        *table(("act", "slope_update", "ms per step", "ratio to grad"), rows, "llrr"),
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
