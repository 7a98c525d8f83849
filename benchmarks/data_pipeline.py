"""One epoch of augmented CIFAR-10 batches: relubench's in-memory pipeline vs a DataLoader.

Both produce the same thing: shuffled batches of 128 normalised float images, each randomly
cropped from a 4-pixel zero padding and flipped with probability 1/2, from the same synthetic
uint8 data of CIFAR-10's size (50,000 x 3 x 32 x 32).

- relubench: `relubench.data.augment.CropFlip.batches`, what `relubench train --augment` runs;
- torchvision: the usual recipe, a Dataset that makes a PIL image per sample (as
  torchvision.datasets.CIFAR10 does) with RandomCrop(32, padding=4), RandomHorizontalFlip,
  ToTensor, Normalize, batched by a DataLoader (num_workers 0, and with --workers N also N).

They take turns (interleaved rounds, medians), so drifts in machine load hit both alike. Both
run on one thread by default: the DataLoader's per-sample work is single-threaded anyway, and
on a machine shared with other work a second torch thread waits for a busy core. The table
goes into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.data_pipeline                # 3 rounds, full size
    python -m benchmarks.data_pipeline --workers 2    # also a DataLoader with 2 workers
    python -m benchmarks.data_pipeline --quick        # 2,000 images, 1 round: a check only
"""

from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
import torch

from benchmarks.harness import arguments, interleave, medians, record, set_threads, table
from relubench.data.augment import CropFlip
from relubench.registry.datasets import get_spec

SPEC = get_spec("cifar10")


class PilCifar(torch.utils.data.Dataset):
    """torchvision.datasets.CIFAR10's __getitem__, on in-memory HWC uint8 arrays."""

    def __init__(self, images: np.ndarray, labels: list[int], transform) -> None:
        self.data, self.targets, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def torchvision_epoch(dataset: PilCifar, batch: int, workers: int, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True, generator=g
    )
    t0 = time.perf_counter()
    for _batch in loader:
        pass
    return time.perf_counter() - t0


def relubench_epoch(
    u8: torch.Tensor, y: torch.Tensor, batch: int, seed: int
) -> tuple[float, float]:
    """(set-up, epoch) seconds: a run sets up once (the mirror copy), then runs every epoch."""
    t0 = time.perf_counter()
    aug = CropFlip(u8, SPEC.mean, SPEC.std, torch.Generator().manual_seed(seed))
    t1 = time.perf_counter()
    for _batch in aug.batches(y, batch, torch.Generator().manual_seed(seed + 1)):
        pass
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    parser = arguments(
        __doc__, rounds=3, threads=1, rounds_help="turns each",
        threads_help="torch threads (1, like the DataLoader's per-sample work)",
    )  # fmt: skip
    parser.add_argument("--images", type=int, default=SPEC.train, help="(default: 50000)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--workers", type=int, default=0, help="also time N DataLoader workers")
    args = parser.parse(quick={"images": 2_000})
    import torchvision.transforms as T

    set_threads(args.threads)
    n, rounds = args.images, args.rounds
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    transform = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(SPEC.mean, SPEC.std),
        ]
    )
    dataset = PilCifar(u8.permute(0, 2, 3, 1).numpy(), y.tolist(), transform)
    loaders = {"DataLoader, 0 workers": 0}
    if args.workers:
        loaders[f"DataLoader, {args.workers} workers"] = args.workers

    ours = "relubench CropFlip"
    seeds = {name: itertools.count() for name in [ours, *loaders]}  # round r's seed: r
    turns = {ours: lambda: relubench_epoch(u8, y, args.batch_size, next(seeds[ours]))}
    for name, workers in loaders.items():
        turns[name] = lambda name=name, w=workers: torchvision_epoch(
            dataset, args.batch_size, w, next(seeds[name])
        )
    samples = interleave(
        turns, rounds, show=lambda t: f"{t[1] if isinstance(t, tuple) else t:.3f} s"
    )
    setup = [s for s, _ in samples[ours]]
    epoch = medians({ours: [e for _, e in samples[ours]], **{k: samples[k] for k in loaders}})
    title = (
        f"one epoch of {n:,} CIFAR-shaped images, batch {args.batch_size}, crop+flip+normalise, "
        f"{torch.get_num_threads()} torch threads, median of {rounds} rounds"
    )
    print("\n" + title)
    print(f"{'pipeline':26} {'s/epoch':>9} {'images/s':>11} {'x slower':>9}")
    rows = []
    for name, m in epoch.items():
        print(f"{name:26} {m:9.3f} {n / m:11,.0f} {m / epoch[ours]:9.1f}")
        rows.append((name, f"{m:.3f}", f"{n / m:,.0f}", f"{m / epoch[ours]:.1f}"))
    setup_line = (
        f"relubench's once-per-run set-up, the mirror copy: {statistics.median(setup):.3f} s"
    )
    print(f"({setup_line})")
    lines = [
        title[0].upper() + title[1:] + ":",
        "",
        *table(("pipeline", "s/epoch", "images/s", "x slower"), rows),
        "",
        setup_line + ".",
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
