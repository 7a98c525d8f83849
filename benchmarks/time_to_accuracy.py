"""Time to accuracy: relubench's one-epoch recipe against the standard PyTorch MNIST example.

The reference is pytorch/examples `mnist/main.py` as published: conv32 -> conv64 -> max-pool
-> dropout 0.25 -> fc128 -> dropout 0.5 -> fc10, log-softmax + NLL; torchvision's MNIST
dataset through a DataLoader with ToTensor + Normalize((0.1307,), (0.3081,)), batch 64
(test batch 1000), Adadelta lr 1.0, StepLR(step 1, gamma 0.7), up to 14 epochs, test after
every epoch. Shuffled, as on its accelerator path; no loader workers, as on its CPU path.
It stops once it has reached the highest threshold (it would only go on to 14 epochs).

relubench runs a recipe (default `configs/mnist-one-epoch.yaml`; `--config` for another) as
the command a user types, `relubench train --config RECIPE --set seed=S`, one process per seed
(default seeds 0-4), each timed from its launch to its exit: the interpreter, imports, data
loading, the evaluation and probe at init and after every epoch, the run folder, all count. The
reference is timed in this process from before its data is loaded (its imports are not
counted), so the ratio errs in the reference's favour. Both use the same torch thread count
(`--threads`; default: torch's).

They alternate (reference, every seed, reference, every seed, ...). Reported per threshold:
the reference's median over rounds; relubench's median over seeds (each seed's median over
rounds), its slowest seed, and the speed-up against that slowest seed, so it holds for every
seed. Then a line per seed. The tables go into benchmarks/RESULTS.md (benchmarks/harness.py).

    python scripts/build_mnist_mini.py --full ~/data             # full MNIST, offline
    python -m benchmarks.time_to_accuracy --data-dir ~/data      # side by side, seeds 0-4
    python -m benchmarks.time_to_accuracy --data-dir ~/data --config configs/mnist-fast.yaml
    python -m benchmarks.time_to_accuracy                        # no full MNIST: mnist-mini
    python -m benchmarks.time_to_accuracy --quick                # tiny, to check the script runs

Without full MNIST under --data-dir, both run on the embedded mnist-mini (10k train, 2k test,
written to a temporary folder in torchvision's layout for the reference), and the thresholds
drop to 97.0/98.0/98.5%, since a 10k training set does not reach full MNIST's accuracy.
"""

from __future__ import annotations

import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.breakdown import one_round  # a timed `relubench train` process
from benchmarks.harness import ROOT, arguments, interleave, positive, record, set_threads, table
from relubench.data.store import ASSETS, data_root, missing_files
from relubench.registry.datasets import get_spec

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


def relubench_recipe(args: list[str], seed: int) -> Timeline:
    """`relubench train ARGS --set seed=SEED` as a process. An epoch's time is the process's,
    from its launch to that epoch's files written (the last epoch's: to the process's exit)."""
    with tempfile.TemporaryDirectory() as out:
        phases, summary, metrics = one_round([*args, "--set", f"seed={seed}"], Path(out))
    if summary["status"] != "complete":
        sys.exit(f"relubench run {summary['status']}: {summary.get('error')}")
    acc = {int(r["epoch"]): float(r["test_acc"]) for r in metrics}
    timeline: Timeline = []
    elapsed = 0.0
    for name, seconds in list(phases.items())[:-1]:  # the last is the wall time itself
        elapsed += seconds
        if ": write" in name:  # "epoch N: write (...)"
            n = int(name.split()[1].rstrip(":"))
            timeline.append((elapsed, n, acc[n]))
    last = timeline[-1]
    timeline[-1] = (phases["wall time of the process"], last[1], last[2])
    print(f"  relubench seed {seed}: {last[2]:.2%} after epoch {last[1]}, "
          f"{timeline[-1][0]:.1f} s (process)", flush=True)  # fmt: skip
    return timeline


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
    finals = ", ".join(f"{tl[-1][2]:.2%} after epoch {tl[-1][1]}" for tl in runs)
    print(f"  {name:<10} final: {finals}")
    return medians, cells, finals


def main() -> None:
    parser = arguments(__doc__, rounds=1, threads=0, rounds_help="reference, then every seed")
    parser.add_argument(
        "--data-dir", help="folder holding MNIST/raw (torchvision's layout); default: mnist-mini"
    )
    parser.add_argument("--config", default="configs/mnist-one-epoch.yaml", help="recipe YAML")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated (default: 0-4)")
    parser.add_argument("--ref-epochs", type=positive, default=14, help="reference cap (14)")
    args = parser.parse()
    config = args.config if Path(args.config).is_file() else str(ROOT / args.config)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {args.seeds!r}")
    set_threads(args.threads)
    threads = torch.get_num_threads()

    with tempfile.TemporaryDirectory() as tmp:
        train_args = ["--config", config, "--device", "cpu", "--threads", str(threads)]
        if has_full_mnist(args.data_dir):
            root, thresholds = Path(data_root(args.data_dir)), FULL_THRESHOLDS
            train_args += ["--dataset", "mnist", "--data-dir", str(root)]
            data_line = "data: full MNIST (60k train, 10k test)"
            print(f"{data_line} from {root}")
        else:
            if args.data_dir:
                print(f"no full MNIST under {args.data_dir}; falling back to mnist-mini")
            root, thresholds = Path(tmp), MINI_THRESHOLDS
            mnist_mini_as_torchvision(root)
            train_args += ["--dataset", "mnist-mini"]
            data_line = "data: mnist-mini (10k train, 2k test); thresholds scaled to " + "/".join(
                f"{t:.1%}" for t in thresholds
            )
            print(data_line)
        limit, rounds, ref_epochs = 0, args.rounds, args.ref_epochs
        if args.quick:
            limit, rounds, ref_epochs, seeds = 1000, 1, 1, seeds[:2]
            train_args += ["--epochs", "1"] + [
                a for kv in ("train_size=1000", "test_size=1000", "probe_size=256")
                for a in ("--set", kv)
            ]  # fmt: skip
        print(f"torch {torch.__version__}, {threads} threads, {rounds} rounds, seeds {seeds}")

        turns = {"reference": lambda: reference(root, ref_epochs, thresholds[-1], limit)}
        for s in seeds:
            turns[f"seed {s}"] = lambda s=s: relubench_recipe(train_args, s)
        # alternating, so drifts in machine load hit both alike
        timelines = interleave(turns, rounds)
        ref_runs = timelines["reference"]
        seed_runs = {s: timelines[f"seed {s}"] for s in seeds}

    recipe = Path(args.config).name
    print("\ntime to test accuracy (evaluation and data loading count)")
    ref_med, ref_cells, ref_final = report("reference", ref_runs, thresholds)
    per_seed = {s: report(f"seed {s}", tls, thresholds) for s, tls in seed_runs.items()}
    rows = []
    for th in thresholds:
        ours = [per_seed[s][0][th] for s in seeds]
        ref = ref_med[th]
        if any(t is None for t in ours):
            missed = sum(t is None for t in ours)
            rows.append((f"{th:.1%}", ref_cells[th], f"not reached by {missed} of "
                         f"{len(seeds)} seeds", "-", "-"))  # fmt: skip
            continue
        med, worst = statistics.median(ours), max(ours)
        speedup = f"{ref / worst:.1f}x" if ref else "-"
        if ref:
            print(f"  speed-up to {th:.1%}, slowest seed: {speedup} ({ref:.1f} s / {worst:.1f} s)")
        rows.append((f"{th:.1%}", ref_cells[th], f"{med:.1f} s", f"{worst:.1f} s", speedup))
    seed_rows = []
    for s in seeds:
        tl = seed_runs[s][-1]
        reach = per_seed[s][0][thresholds[1]]
        ref = ref_med[thresholds[1]]
        seed_rows.append((
            str(s), f"{tl[-1][2]:.2%} after {tl[-1][1]} epoch{'s' if tl[-1][1] != 1 else ''}",
            f"{statistics.median(t[-1][0] for t in seed_runs[s]):.1f} s",
            f"{reach:.1f} s" if reach else "not reached",
            f"{ref / reach:.1f}x" if ref and reach else "-",
        ))  # fmt: skip
    lines = [
        f"{data_line}; relubench `{recipe}` as a `relubench train` process per seed, from "
        f"launch to exit; the reference timed from its data loading; torch {threads} threads; "
        f"{rounds} round{'s' if rounds != 1 else ''}:",
        "",
        *table(
            (
                "test accuracy",
                "reference",
                "relubench, median of seeds",
                "slowest seed",
                "speed-up (slowest seed)",
            ),
            rows,
        ),  # fmt: skip
        "",
        *table(
            ("seed", "relubench final", "process wall", f"to {thresholds[1]:.1%}", "speed-up"),
            seed_rows,
        ),  # fmt: skip
        "",
        f"- reference final: {ref_final}",
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
