"""What a CIFAR-10 training step costs per activation: samples/s, and the ratio to ReLU.

Each activation trains the same model (resnet20 by default) on synthetic data of CIFAR-10's
shape (3 x 32 x 32, 10 classes) through the real loop, `relubench.runner.loop.train_one_epoch`
(a `Loop` as `relubench.runner.train.build_loop` makes it), with the
optimizer, schedule, memory format and augmentation a `relubench train` run would use. The
activations take turns, one short epoch each per round (interleaved, so drifts in machine load
hit all alike); the report is the median over rounds of the time per step, as samples/s and as
a ratio to ReLU's. It also reports process CPU time per step: on a machine shared with other
work that is the steadier measure (with 1 thread it is the step's own compute). The table goes
into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.cifar_step                      # resnet20, batch 128, 5 rounds
    python -m benchmarks.cifar_step --model vgg --no-augment
    python -m benchmarks.cifar_step --quick              # tiny, to check the script runs
"""

from __future__ import annotations

import time

import torch

from benchmarks.harness import arguments, interleave, medians, record, set_threads, table
from relubench.config import merge
from relubench.data.augment import CropFlip
from relubench.nn.models import build_model
from relubench.registry.activations import FAMILY, act_names
from relubench.registry.datasets import DATASETS
from relubench.registry.models import get_model
from relubench.runner.loop import (
    Loop,
    MixedPrecision,
    make_optimizer,
    make_schedule,
    train_one_epoch,
)


def main() -> None:
    parser = arguments(__doc__, rounds=5, threads=0, rounds_help="turns per activation")
    parser.add_argument("--model", default="resnet20", help="model (default: resnet20)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (128)")
    parser.add_argument("--steps", type=int, default=8, help="steps per turn (default: 8)")
    parser.add_argument("--width", type=int, default=0, help="model width (default: model's)")
    parser.add_argument("--no-augment", action="store_true", help="skip crop + flip")
    parser.add_argument(
        "--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto",
        help="auto: what `relubench train` uses for the model (default)",
    )  # fmt: skip
    parser.add_argument(
        "--acts", default=",".join(FAMILY),
        help=f"comma-separated, of {','.join(act_names())} (default: the six of the family)",
    )  # fmt: skip
    args = parser.parse(quick={"width": 4, "steps": 2, "batch_size": 16})
    width, steps, rounds, batch = args.width, args.steps, args.rounds, args.batch_size
    set_threads(args.threads)
    spec = DATASETS["cifar10"]
    acts = args.acts.split(",")
    channels_last = (
        get_model(args.model).channels_last
        if args.memory_format == "auto"
        else args.memory_format == "channels_last"
    )
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    # synthetic CIFAR-10: one extra step's worth of images, so every turn has `steps` steps
    g = torch.Generator().manual_seed(0)
    n = batch * steps
    u8 = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    x = ((u8.float() / 255 - torch.tensor(spec.mean).view(1, 3, 1, 1))
         / torch.tensor(spec.std).view(1, 3, 1, 1)).contiguous(memory_format=fmt)  # fmt: skip

    cpu_device = torch.device("cpu")
    runs: dict[str, Loop] = {}
    for act in acts:
        cfg = merge(
            {"dataset": "cifar10", "model": args.model, "act": act, "width": width,
             "batch_size": batch, "augment": not args.no_augment, "device": "cpu"}
        )  # fmt: skip
        torch.manual_seed(0)
        model = build_model(cfg, 3, 32, 10).to(memory_format=fmt)
        opt = make_optimizer(cfg, model)
        aug = None
        if cfg.augment:
            gen = torch.Generator().manual_seed(1)
            aug = CropFlip(u8, spec.mean, spec.std, gen)
        runs[act] = Loop(
            model=model,
            opt=opt,
            sched=make_schedule(cfg, opt, 10**6),
            batch_size=batch,
            generator=torch.Generator(),
            precision=MixedPrecision(False, cpu_device),
            augment=aug,
        )

    def turn(act: str) -> tuple[float, float]:
        """Wall and CPU seconds per step of one short epoch."""
        loop = runs[act]
        loop.generator = torch.Generator().manual_seed(2)  # the same batches every turn
        t0, c0 = time.perf_counter(), time.process_time()
        train_one_epoch(loop, x, y, 1)
        return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps

    samples = interleave(
        {act: (lambda act=act: turn(act)) for act in acts},
        rounds,
        warmup=1,  # first calls allocate and pick kernels
        show=lambda t: f"{1e3 * t[0]:.0f} ms",
    )
    times = {a: [wall for wall, _ in samples[a]] for a in acts}
    cpu = {a: [c for _, c in samples[a]] for a in acts}

    params = sum(p.numel() for p in runs[acts[0]].model.parameters())
    title = (
        f"{args.model} ({params / 1e6:.2f}M parameters with {acts[0]}), batch {batch}, "
        f"{'channels_last' if channels_last else 'contiguous'}, augment "
        f"{'off' if args.no_augment else 'on'}, {torch.get_num_threads()} threads, "
        f"median of {rounds} rounds x {steps} steps"
    )
    print("\n" + title)
    ref = "relu" if "relu" in acts else acts[0]
    wall, used = medians(times), medians(cpu)
    print(
        f"{'act':14} {'ms/step':>8} {'samples/s':>10} {'x ' + ref:>8} {'cpu ms':>8} {'x ' + ref:>8}"
    )
    rows = []
    for a in acts:
        print(
            f"{a:14} {1e3 * wall[a]:8.1f} {batch / wall[a]:10.0f} {wall[a] / wall[ref]:8.2f} "
            f"{1e3 * used[a]:8.1f} {used[a] / used[ref]:8.2f}"
        )
        rows.append(
            (a, f"{1e3 * wall[a]:.1f}", f"{batch / wall[a]:.0f}", f"{wall[a] / wall[ref]:.2f}",
             f"{1e3 * used[a]:.1f}", f"{used[a] / used[ref]:.2f}")
        )  # fmt: skip
    slow, slow_cpu = max(acts, key=wall.get), max(acts, key=used.get)
    verdict = (
        f"slowest: {slow}, {wall[slow] / wall[ref]:.2f}x {ref}'s step time "
        f"(by CPU time: {slow_cpu}, {used[slow_cpu] / used[ref]:.2f}x)"
    )
    print(verdict)
    header = ("act", "ms/step", "samples/s", f"x {ref}", "cpu ms/step", f"cpu x {ref}")
    lines = [title + ":", "", *table(header, rows), "", verdict[0].upper() + verdict[1:] + "."]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
