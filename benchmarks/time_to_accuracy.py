"""Time to accuracy: relubench's fast recipe against the standard PyTorch MNIST example.

The reference is pytorch/examples `mnist/main.py` as published: conv32 -> conv64 -> max-pool
-> dropout 0.25 -> fc128 -> dropout 0.5 -> fc10, log-softmax + NLL; torchvision's MNIST
dataset through a DataLoader with ToTensor + Normalize((0.1307,), (0.3081,)), batch 64
(test batch 1000), Adadelta lr 1.0, StepLR(step 1, gamma 0.7), up to 14 epochs, test after
every epoch. Shuffled, as on its accelerator path; no loader workers, as on its CPU path.
It stops once it has reached the highest threshold (it would only go on to 14 epochs).

relubench runs `configs/mnist-fast.yaml` through `relubench.runner.train.run`, the code path of
`relubench train`: probe, run folder and all. Its one-cycle schedule spans its epochs, so it
always runs its whole recipe.

The two alternate (reference, relubench, reference, relubench, ...) on the same data in one
process with the same torch thread count. For each, the clock starts before the data is
loaded; test evaluation counts. Reported per threshold: the median over rounds of the wall
time at the end of the first epoch whose test accuracy reached it, the epochs that took, and
the ratio reference / relubench. The table goes into benchmarks/RESULTS.md
(benchmarks/record.py).

    python scripts/build_mnist_mini.py --full ~/data             # full MNIST, offline
    python benchmarks/time_to_accuracy.py --data-dir ~/data      # side by side, 2 rounds
    python benchmarks/time_to_accuracy.py                        # no full MNIST: mnist-mini
    python benchmarks/time_to_accuracy.py --quick                # tiny, to check the script runs

Without full MNIST under --data-dir, both run on the embedded mnist-mini (10k train, 2k test,
written to a temporary folder in torchvision's layout for the reference), and the thresholds
drop to 97.0/98.0/98.5%, since a 10k training set does not reach full MNIST's accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relubench.config import load_yaml, merge
from relubench.data.store import ASSETS, data_root, missing_files
from relubench.registry.datasets import get_spec
from relubench.runner.events import QuietReporter
from relubench.runner.train import run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record, table  # noqa: E402  (sibling benchmark helper)

ROOT = Path(__file__).resolve().parents[1]
FULL_THRESHOLDS = (0.98, 0.99, 0.992)
MINI_THRESHOLDS = (0.97, 0.98, 0.985)

Timeline = list[tuple[float, int, float]]  # (seconds since start, epoch, test accuracy)


class Net(nn.Module):
    """pytorch/examples mnist/main.py's network, unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def reference(root: Path, max_epochs: int, stop_at: float, limit: int = 0) -> Timeline:
    """The published recipe; returns its test accuracy after each epoch, timed from the start."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets as tv_datasets
    from torchvision import transforms

    t0 = time.perf_counter()
    torch.manual_seed(1)  # the example's default --seed
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    train_set = tv_datasets.MNIST(str(root), train=True, download=False, transform=transform)
    test_set = tv_datasets.MNIST(str(root), train=False, download=False, transform=transform)
    if limit:  # --quick only
        train_set, test_set = Subset(train_set, range(limit)), Subset(test_set, range(limit))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    timeline: Timeline = []
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += model(x).argmax(dim=1).eq(y).sum().item()
        scheduler.step()
        acc = correct / len(test_set)
        timeline.append((time.perf_counter() - t0, epoch, acc))
        print(f"  reference epoch {epoch}: {acc:.2%} at {timeline[-1][0]:.1f} s", flush=True)
        if acc >= stop_at:
            break
    return timeline


class Clock(QuietReporter):
    """Records (seconds since start, epoch, test accuracy) after every trained epoch."""

    def __init__(self, t0: float) -> None:
        self.t0, self.timeline = t0, []

    def epoch(self, row: dict[str, Any], probe: Any) -> None:
        if row["epoch"] > 0:  # epoch 0 is the untrained net (its evaluation still counts)
            self.timeline.append((time.perf_counter() - self.t0, row["epoch"], row["test_acc"]))
            print(
                f"  relubench epoch {row['epoch']}: {row['test_acc']:.2%} at "
                f"{self.timeline[-1][0]:.1f} s",
                flush=True,
            )


def relubench_recipe(overrides: dict[str, Any]) -> Timeline:
    t0 = time.perf_counter()  # before the config is read and the data loaded
    clock = Clock(t0)
    with tempfile.TemporaryDirectory() as out:
        cfg = merge(load_yaml(ROOT / "configs" / "mnist-fast.yaml"), {**overrides, "out": out})
        summary = run(cfg, clock)
    if summary["status"] != "complete":
        sys.exit(f"relubench run {summary['status']}: {summary.get('error')}")
    return clock.timeline


def first_reach(timeline: Timeline, threshold: float) -> tuple[float, int] | None:
    return next(((t, e) for t, e, acc in timeline if acc >= threshold), None)


def mnist_mini_as_torchvision(folder: Path) -> None:
    """Write the embedded subset as uncompressed IDX files where torchvision's MNIST looks."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in sorted((ASSETS / "mnist-mini").glob("*-ubyte.gz")):
        (raw / gz.name[: -len(".gz")]).write_bytes(gzip.decompress(gz.read_bytes()))


def has_full_mnist(data_dir: str | None) -> bool:
    if not data_dir:
        return False
    return not missing_files(get_spec("mnist"), data_root(data_dir))


def report(
    name: str, runs: list[Timeline], thresholds: tuple[float, ...]
) -> tuple[dict[float, float | None], dict[float, str], str]:
    """Print a line per threshold. Returns the median seconds to each (None: not every run),
    a table cell for each, and the final accuracies."""
    medians: dict[float, float | None] = {}
    cells: dict[float, str] = {}
    for th in thresholds:
        hits = [first_reach(tl, th) for tl in runs]
        if all(hits):
            secs = statistics.median(h[0] for h in hits)
            epochs = statistics.median(h[1] for h in hits)
            medians[th] = secs
            cells[th] = f"{secs:.1f} s ({epochs:g} epoch{'s' if epochs != 1 else ''})"
            print(f"  {name:<10} {th:.1%}: {secs:7.1f} s  epochs {epochs:g}")
        else:
            medians[th] = None
            missed = sum(not h for h in hits)
            cells[th] = f"not reached in {missed} of {len(runs)} runs"
            print(f"  {name:<10} {th:.1%}: {cells[th]}")
    finals = ", ".join(f"{tl[-1][2]:.2%} after {tl[-1][1]} epochs" for tl in runs)
    print(f"  {name:<10} final: {finals}")
    return medians, cells, finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", help="folder holding MNIST/raw (torchvision's layout); default: mnist-mini"
    )
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs (default: 2)")
    parser.add_argument("--ref-epochs", type=int, default=14, help="reference cap (default: 14)")
    parser.add_argument("--quick", action="store_true", help="tiny runs, 1 round: a check only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {"device": "cpu"}
        if has_full_mnist(args.data_dir):
            root, thresholds = Path(data_root(args.data_dir)), FULL_THRESHOLDS
            overrides.update(dataset="mnist", data_dir=str(root))
            data_line = "data: full MNIST (60k train, 10k test)"
            print(f"{data_line} from {root}")
        else:
            if args.data_dir:
                print(f"no full MNIST under {args.data_dir}; falling back to mnist-mini")
            root, thresholds = Path(tmp), MINI_THRESHOLDS
            mnist_mini_as_torchvision(root)
            overrides.update(dataset="mnist-mini")
            data_line = "data: mnist-mini (10k train, 2k test); thresholds scaled to " + "/".join(
                f"{t:.1%}" for t in thresholds
            )
            print(data_line)
        limit, rounds, ref_epochs = 0, args.rounds, args.ref_epochs
        if args.quick:
            limit, rounds, ref_epochs = 1000, 1, 1
            overrides.update(train_size=limit, test_size=limit, epochs=1, probe_size=256)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {rounds} rounds")

        recipes: dict[str, Callable[[], Timeline]] = {
            "reference": lambda: reference(root, ref_epochs, thresholds[-1], limit),
            "relubench": lambda: relubench_recipe(overrides),
        }
        runs: dict[str, list[Timeline]] = {name: [] for name in recipes}
        for r in range(rounds):  # alternating, so drifts in machine load hit both alike
            for name, recipe in recipes.items():
                print(f"round {r + 1}, {name}", flush=True)
                runs[name].append(recipe())

    print("\ntime to test accuracy (median over rounds; evaluation and data loading count)")
    reports = {name: report(name, tls, thresholds) for name, tls in runs.items()}
    med = {name: r[0] for name, r in reports.items()}
    rows = []
    for th in thresholds:
        ref, ours = med["reference"][th], med["relubench"][th]
        speedup = "-"
        if ref and ours:
            speedup = f"{ref / ours:.1f}x"
            print(f"  speed-up to {th:.1%}: {speedup} ({ref:.1f} s / {ours:.1f} s)")
        rows.append(
            (f"{th:.1%}", reports["reference"][1][th], reports["relubench"][1][th], speedup)
        )
    lines = [
        f"{data_line}; torch {torch.get_num_threads()} threads; median of {rounds} rounds; "
        "evaluation and data loading count:",
        "",
        *table(("test accuracy", "reference", "relubench", "speed-up"), rows),
        "",
        *(f"- {name} final: {r[2]}" for name, r in reports.items()),
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
