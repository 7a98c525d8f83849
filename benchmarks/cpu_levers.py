"""CPU levers, decided by measurement: a training step of one model under each setting, as a
ratio to relubench's default (channels_last, float32, eager, torch's thread count).

Variants, timed in turns (interleaved, so drifts in machine load hit all alike), median of
rounds; each is the step `relubench train` takes (forward, cross-entropy, backward, SGD):

  default          channels_last memory format, float32, eager       what relubench does
  contiguous       NCHW memory format                                 (channels_last off)
  bf16 autocast    torch.autocast("cpu", bfloat16) around the forward
  torch.compile    torch.compile(model), default mode; compile time reported apart
  1 thread         torch.set_num_threads(1) for its turns
  batch N          samples/s at other batch sizes (the ratio is per sample, not per step)

The table goes into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.cpu_levers                       # cnn (MNIST shapes), all variants
    python -m benchmarks.cpu_levers --model resnet20      # CIFAR shapes
    python -m benchmarks.cpu_levers --no-compile          # skip torch.compile (slow to compile)
    python -m benchmarks.cpu_levers --quick               # tiny: a check that it runs
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks.harness import (
    arguments,
    interleave,
    median_ratios,
    medians,
    record,
    set_threads,
    table,
    timer,
)
from benchmarks.step_cost import MODEL_DATA, make_row
from relubench.registry.datasets import DATASETS


def make_step(
    model_name: str, act: str, width: int, batch: int, *, channels_last: bool = True,
    bf16: bool = False, compiled: bool = False, threads: int = 0,
) -> tuple[Callable[[], None], float]:  # fmt: skip
    """A training step closure for one variant, and the seconds its set-up took (compile)."""
    spec = DATASETS[MODEL_DATA[model_name]]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    row = make_row(act, model_name, spec, batch, fmt, width=width)
    model, opt = row.model, row.opt
    model.train()
    if compiled:
        model = torch.compile(model)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, spec.channels, spec.size, spec.size, generator=g).contiguous(
        memory_format=fmt
    )
    y = torch.randint(0, spec.classes, (batch,), generator=g)
    default_threads = torch.get_num_threads()

    def step() -> None:
        if threads:
            torch.set_num_threads(threads)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if threads:
            torch.set_num_threads(default_threads)

    t0 = time.perf_counter()
    step()  # first call: kernel choice, allocation; for torch.compile, the compilation
    return step, time.perf_counter() - t0


def main() -> None:
    parser = arguments(__doc__, rounds=5, threads=0, rounds_help="turns per variant")
    parser.add_argument("--model", default="cnn", help="cnn, mlp, resnet20 or vgg (default cnn)")
    parser.add_argument("--act", default="relu", help="activation (default relu)")
    parser.add_argument("--width", type=int, default=0, help="model width (default: model's)")
    parser.add_argument("--batch-size", type=int, default=128, help="default variant's batch")
    parser.add_argument("--steps", type=int, default=5, help="steps per turn (5)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse(quick={"width": 4, "batch_size": 16, "steps": 1, "no_compile": True})
    set_threads(args.threads)

    b = args.batch_size
    common = (args.model, args.act, args.width, b)
    variants: dict[str, tuple[tuple, dict, int]] = {
        "default (channels_last, fp32)": (common, {}, b),
        "contiguous (NCHW)": (common, {"channels_last": False}, b),
        "bf16 autocast": (common, {"bf16": True}, b),
        "1 thread": (common, {"threads": 1}, b),
    }
    if not args.no_compile:
        variants["torch.compile"] = (common, {"compiled": True}, b)
    for other in (b // 2, b * 2, b * 4):
        variants[f"batch {other}"] = ((args.model, args.act, args.width, other), {}, other)

    steps, setup = {}, {}
    for name, (pos, kw, _) in variants.items():
        steps[name], setup[name] = make_step(*pos, **kw)
        for _ in range(2):  # warm-up beyond the first call
            steps[name]()
    seconds = interleave(
        {name: timer(step, args.steps) for name, step in steps.items()}, args.rounds
    )

    base = "default (channels_last, fp32)"
    per_sample = {n: [s / variants[n][2] for s in secs] for n, secs in seconds.items()}
    ratios, meds = median_ratios(per_sample, base), medians(seconds)
    width = args.width or "default"
    title = (
        f"{args.model} ({args.act}, width {width}), {MODEL_DATA[args.model]} shapes, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; median of {args.rounds} rounds "
        f"x {args.steps} steps; 'x default' is time per sample against the default's, per round"
    )
    print(title)
    print(f"  {'variant':32} {'ms/step':>8} {'samples/s':>10} {'x default':>10}")
    rows = []
    for name in variants:
        med, ratio = meds[name], ratios[name]
        extra = f"   (first step {setup[name]:.1f} s)" if name == "torch.compile" else ""
        print(f"  {name:32} {1e3 * med:8.1f} {variants[name][2] / med:10.0f} {ratio:10.2f}x{extra}")
        rows.append(
            (name + extra.replace("   ", " "), f"{1e3 * med:.1f}",
             f"{variants[name][2] / med:.0f}", f"{ratio:.2f}x")
        )  # fmt: skip
    lines = [title + ":", "", *table(("variant", "ms/step", "samples/s", "x default"), rows)]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
