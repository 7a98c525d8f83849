"""Step cost per activation: one training step per activation as a ratio to ReLU's, per model,
and the achieved GFLOP/s as a fraction of this machine's fp32 matmul peak, measured alongside.

A step is what `relubench train` does per batch: forward, cross-entropy, backward, SGD step
(the run's optimizer: momentum 0.9, weight decay on conv/linear weights only), on one fixed
batch of the model's real input shape (cnn: 1x28x28 as MNIST, resnet20: 3x32x32 as CIFAR-10),
in the memory format `relubench train` uses for that model. The activations take turns, N steps
each per round (interleaved, so drifts in machine load hit all alike), each turn from the
weights and momentum its net had after the warm-up (so no net drifts off into values training
never sees, see `rewinder`); a row's figure is the median over rounds, and its ratio to ReLU
the median of the per-round ratios (each against the ReLU turn of the same round). The peak is
the faster of two fp32 dense kernels, a large `torch.mm` (MKL) and a compute-bound 3x3
convolution (oneDNN), each the best of 3 calls at the start of every round; FLOPs per step are
what `FlopCounterMode` counts in one step (convolutions and matmuls, forward and backward).
The tables go into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.step_cost                               # cnn, resnet20; 7 rounds x 5 steps
    python -m benchmarks.step_cost --models cnn --rounds 11
    python -m benchmarks.step_cost --prelu-impls torch,fast      # + PReLU rows per implementation
    python -m benchmarks.step_cost --quick                       # tiny: a check that it runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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
from relubench.config import merge
from relubench.nn.fast_prelu import FastPReLU
from relubench.nn.models import build_model
from relubench.registry.activations import FAMILY, act_names
from relubench.registry.datasets import DATASETS, DatasetSpec
from relubench.registry.models import get_model
from relubench.runner.loop import make_optimizer

# The dataset whose input shape (and classes) each model is timed with: MNIST's 1x28x28 for the
# MNIST nets, CIFAR's 3x32x32 for the CIFAR nets.
MODEL_DATA = {"cnn": "mnist", "mlp": "mnist", "resnet20": "cifar10", "vgg": "cifar10"}
# PReLU implementations for --prelu-impls: rows "prelu[torch]", "prelu-shared[fast]", ...
PRELU_IMPLS: dict[str, type[nn.PReLU]] = {"torch": nn.PReLU, "fast": FastPReLU}
BAR = 1.10  # slowest family activation's step <= 1.10x ReLU's
PEAK = "(fp32 peak)"  # the turn that measures the machine's peak, first in every round


# ---------------------------------------------------------------- the machine's fp32 peak


def best_seconds(fn: Callable[[], object], reps: int = 3) -> float:
    """The fastest of `reps` timed calls, after one untimed call (kernel choice, page faults)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_peaks(n: int) -> dict[str, float]:
    """fp32 GFLOP/s of the two dense kernels torch has here: MKL's sgemm (`torch.mm`, n x n x n)
    and oneDNN's brgemm, through a compute-bound 3x3 convolution of 8n/64 channels.

    Both, because on an AMD CPU oneDNN's kernels can run faster than MKL's sgemm (figures in
    benchmarks/RESULTS.md), and the models' convolutions are oneDNN's: a peak from torch.mm
    alone would let them look faster than the machine.
    """
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    mm = 2 * n**3 / best_seconds(lambda: torch.mm(a, b, out=out)) / 1e9
    c, side, batch = n // 8, 16, max(1, n // 64)  # 2048 -> 256 channels, 16x16, batch 32
    x = torch.randn(batch, c, side, side).contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, c, 3, 3).contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * side * side * c * c * 9
    conv = flops / best_seconds(lambda: F.conv2d(x, w, padding=1)) / 1e9
    return {"torch.mm (MKL sgemm)": mm, "3x3 conv (oneDNN)": conv}


# ---------------------------------------------------------------- one model, one activation


@dataclass
class Row:
    name: str  # activation, or "prelu[fast]" for an implementation row
    model: nn.Module
    opt: torch.optim.Optimizer


def use_prelu(model: nn.Module, cls: type[nn.PReLU]) -> nn.Module:
    """Swap every PReLU of `model` for `cls`, keeping its slopes (so its init)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.PReLU) and type(child) is not cls:
                new = cls(child.num_parameters).to(child.weight.device)
                with torch.no_grad():
                    new.weight.copy_(child.weight)
                setattr(parent, name, new)
    return model


def make_row(
    name: str,
    model_name: str,
    spec: DatasetSpec,
    batch: int,
    fmt: torch.memory_format,
    width: int = 0,
) -> Row:
    act, _, impl = name.partition("[")
    cfg = merge(
        {"model": model_name, "dataset": spec.name, "act": act, "batch_size": batch,
         "device": "cpu", "width": width}
    )  # fmt: skip
    torch.manual_seed(0)  # the same init for every row
    model = build_model(cfg, spec.channels, spec.size, spec.classes)
    if impl:
        model = use_prelu(model, PRELU_IMPLS[impl.rstrip("]")])
    model = model.to(memory_format=fmt)
    return Row(name, model, make_optimizer(cfg, model))


def stepper(row: Row, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    model, opt = row.model, row.opt
    model.train()

    def step() -> None:  # as in relubench.runner.loop.train_one_epoch
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def rewinder(row: Row) -> Callable[[], None]:
    """A function that puts the row's weights, batch-norm statistics and momentum back to what
    they are now, in place (the same tensors, so no allocation changes).

    Every turn starts from the same state: a net stepped over and over on one batch of noise
    with random labels drifts far from anything training sees (the ELU net's pre-activations
    went below exp's underflow point, and its step slowed for that; benchmarks/RESULTS.md).
    """
    saved = [t.detach().clone() for t in _state(row)]

    def rewind() -> None:
        with torch.no_grad():
            for t, s in zip(_state(row), saved, strict=True):
                t.copy_(s)

    return rewind


def _state(row: Row) -> list[torch.Tensor]:
    tensors = list(row.model.state_dict(keep_vars=True).values())
    for state in row.opt.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v)]
    return tensors


def step_flops(row: Row, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one forward + backward (conv and matmul kernels: what the peak measures)."""
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(row.model(x), y).backward()
    row.opt.zero_grad(set_to_none=True)
    return counter.get_total_flops()


# ---------------------------------------------------------------- the benchmark


def bench_model(model_name: str, rows: list[str], args: argparse.Namespace) -> list[str]:
    """Time one model's rows; print them and return them as markdown lines."""
    spec = DATASETS[MODEL_DATA.get(model_name, "cifar10")]
    try:
        channels_last = (
            get_model(model_name).channels_last
            if args.memory_format == "auto"
            else args.memory_format == "channels_last"
        )
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        built = [make_row(r, model_name, spec, args.batch_size, fmt) for r in rows]
    except ValueError as e:  # ConfigError too: a model this checkout does not have (yet)
        print(f"skipped model {model_name}: {e}\n")
        return [f"Skipped model {model_name}: {e}", ""]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, spec.channels, spec.size, spec.size, generator=g)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, spec.classes, (args.batch_size,), generator=g)
    flops = step_flops(built[0], x, y)
    steps = {r.name: stepper(r, x, y) for r in built}
    for r in built:  # warm-up: first steps allocate, pick kernels, create momentum buffers
        for _ in range(args.warmup):
            steps[r.name]()
    rewinds = {r.name: rewinder(r) for r in built}

    # every round: the peak first, then each row from its post-warm-up state (rewound)
    turns: dict[str, Callable[[], object]] = {PEAK: lambda: gemm_peaks(args.matmul_size)}
    for r in built:
        turns[r.name] = timer(steps[r.name], args.steps, before=rewinds[r.name])
    samples = interleave(
        turns,
        args.rounds,
        show=(lambda v: f"{1e3 * v:.1f}" if isinstance(v, float) else None)
        if args.verbose
        else None,
    )
    peaks: list[dict[str, float]] = samples.pop(PEAK)  # type: ignore[assignment]
    seconds: dict[str, list[float]] = samples  # type: ignore[assignment]  # per step, per round

    kernels = medians({k: [p[k] for p in peaks] for k in peaks[0]})
    peak = max(kernels.values())
    base = next((r for r in built if r.name == "relu"), built[0])
    ratios = median_ratios(seconds, base.name)
    params = sum(p.numel() for p in base.model.parameters())
    title = (
        f"{model_name} ({params / 1e6:.2f}M parameters), input {spec.channels}x{spec.size}x"
        f"{spec.size} ({spec.name}), batch {args.batch_size}, "
        f"{'channels_last' if channels_last else 'contiguous'}; {flops / 1e9:.2f} GFLOP/step; "
        f"median of {args.rounds} rounds x {args.steps} steps"
    )
    print(title)
    md_rows = []
    print(
        f"  {'activation':22} {'ms/step':>8} {'spread':>7} {'samples/s':>10} "
        f"{'x ' + base.name:>7} {'GFLOP/s':>8} {'of peak':>8}"
    )
    for r in built:
        med = statistics.median(seconds[r.name])
        spread = statistics.median(abs(s - med) for s in seconds[r.name]) / med  # MAD, relative
        ratio = ratios[r.name]
        gflops = flops / med / 1e9
        print(
            f"  {r.name:22} {1e3 * med:8.1f} {100 * spread:6.1f}% {args.batch_size / med:10.0f} "
            f"{ratio:7.3f} {gflops:8.1f} {100 * gflops / peak:7.1f}%"
        )
        md_rows.append(
            (r.name, f"{1e3 * med:.1f}", f"{100 * spread:.1f}%", f"{args.batch_size / med:.0f}",
             f"{ratio:.3f}", f"{gflops:.1f}", f"{100 * gflops / peak:.1f}%")
        )  # fmt: skip
    notes = []
    plain = [r for r in built if "[" not in r.name]  # the registry's own activations
    if plain and base.name == "relu":
        slowest = max(plain, key=lambda r: ratios[r.name])
        verdict = "meets" if ratios[slowest.name] <= BAR else "misses"
        notes.append(
            f"slowest: {slowest.name}, {ratios[slowest.name]:.3f}x relu's step "
            f"({verdict} the bar of {BAR:.2f}x)"
        )
    notes.append(
        "fp32 peak in this model's rounds (median of rounds, best of 3 calls each): "
        + ", ".join(f"{k} {v:.1f}" for k, v in kernels.items())
        + f" GFLOP/s; 'of peak' is against {peak:.1f}"
    )
    for note in notes:
        print("  " + note)
    print()
    header = ("activation", "ms/step", "spread", "samples/s", f"x {base.name}", "GFLOP/s")
    return [
        f"**{title}**",
        "",
        *table((*header, "of peak"), md_rows),
        "",
        *(f"- {n}" for n in notes),
        "",
    ]


def main() -> None:
    parser = arguments(__doc__, rounds=7, threads=0, rounds_help="turns per activation")
    parser.add_argument("--models", default="cnn,resnet20", help="comma-separated (cnn,resnet20)")
    parser.add_argument(
        "--acts", default=",".join(FAMILY),
        help=f"comma-separated, of {','.join(act_names())} (default: the six of the family)",
    )  # fmt: skip
    parser.add_argument(
        "--prelu-impls", default="",
        help=f"also time prelu and prelu-shared with each of: {','.join(PRELU_IMPLS)} (none)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (128)")
    parser.add_argument("--steps", type=int, default=5, help="steps per turn (5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per row first (2)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the peak's mm (2048)")
    parser.add_argument(
        "--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto",
        help="auto: what `relubench train` uses for the model (default)",
    )  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="print every round's times")
    args = parser.parse(quick={"batch_size": 8, "steps": 1, "warmup": 1, "matmul_size": 256})
    if args.quick:
        # one thread: two multi-threaded torch processes on a busy machine can slow each other
        # down 50x or more (their OpenMP teams wait for each other's preempted threads)
        args.threads = args.threads or 1
    set_threads(args.threads)

    rows = args.acts.split(",")
    if "relu" in rows:  # the baseline first: it is what every ratio divides by
        rows.remove("relu")
        rows.insert(0, "relu")
    for impl in filter(None, args.prelu_impls.split(",")):
        if impl not in PRELU_IMPLS:
            parser.error(f"unknown PReLU implementation {impl!r}; choose from {list(PRELU_IMPLS)}")
        rows += [f"prelu[{impl}]", f"prelu-shared[{impl}]"]

    load = os.getloadavg()[0]
    head = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start"
    )
    print(head + "\n")
    lines = [head + ".", ""]
    for model_name in args.models.split(","):
        lines += bench_model(model_name, rows, args)
    print(f"load average {os.getloadavg()[0]:.2f} at the end (1 min)")
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
