"""Stability: does every model train with every activation at its defaults? A matrix of short
runs, counted.

    python -m experiments.stability                    # the bar: 0 diverged (every model)
    python -m experiments.stability --models cnn       # the cnn's 150 runs alone
    python -m experiments.stability --set slope_lr=1 --set slope_update=grad --models cnn
                                                       # the cnn before the slope fixes
    python -m experiments.stability --models plain --epochs 2 --seeds 3 --jobs 1 --set lr=0.05
                                                       # a candidate default lr for plain
    python -m experiments.stability --quick            # a few tiny runs, for the test suite

The matrix, each model at its defaults (its own default lr, `relubench.registry.models`), the six
family activations in every cell:

- cnn on mnist-mini: `epochs` {1, 2, 5} x seeds 0-4 on one torch thread, plus `epochs` 1 x
  seeds 0-4 on two threads, and with `--batch-size 64` (150 runs). Short runs are where a
  learned slope or a warm-up blows up: the one-cycle schedule peaks within the first epoch.
- mlp on mnist-mini: `epochs` {1, 2, 5} x seeds 0-4 (90 runs); and on synthetic, 6 epochs x
  seeds 0-4 (30 runs), where a plain MLP reaches 100% and then ran away at lr 0.1.
- plain (the conv net without batch norm) on mnist-mini: `epochs` {1, 2, 5} x seeds 0-4 (90
  runs), as the mlp.
- resnet20 and vgg on synthetic-rgb (CIFAR's 3x32x32; no CIFAR copy needed): 5 epochs x seeds
  0-1 (12 runs each).

Runs go through `relubench sweep --jobs 2` (resumable: an interrupted benchmark continues in the
same --out). Per model and activation it prints runs, diverged, mean ± std final accuracy and the
worst run; the table goes into benchmarks/RESULTS.md (benchmarks/harness.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.harness import arguments, record, table
from relubench.registry.activations import FAMILY
from relubench.registry.models import MODELS


def variants(args: argparse.Namespace) -> list[tuple[str, dict, dict]]:
    """(label, base, grid) of every sweep in the matrix, for the chosen models."""
    seeds = list(range(args.seeds))
    acts = args.acts.split(",")
    if args.quick:
        tiny = dict(dataset="synthetic", width=4, train_size=256, test_size=64, probe_size=32)
        return [("1 epoch", {**tiny, "threads": 1}, {"act": acts, "epochs": [1], "seed": [0]})]
    out = []
    for model in args.models.split(","):
        if model in ("cnn", "mlp", "plain"):
            grid = {"act": acts, "epochs": args.epochs, "seed": seeds}
            out.append(("1 thread", {"model": model, "threads": 1}, grid))
        if model == "cnn":
            one = {"act": acts, "epochs": [1], "seed": seeds}
            out.append(("epochs 1, 2 threads", {"model": model, "threads": 2}, one))
            b64 = {"model": model, "threads": 1, "batch_size": 64}
            out.append(("epochs 1, batch 64", b64, one))
        if model == "mlp":
            base = {"model": model, "dataset": "synthetic", "threads": 1}
            out.append(("6 epochs", base, {"act": acts, "epochs": [6], "seed": seeds}))
        if model in ("resnet20", "vgg"):
            base = {"model": model, "dataset": "synthetic-rgb", "threads": 1}
            grid = {"act": acts, "epochs": [5], "seed": seeds[: args.big_seeds]}
            out.append(("5 epochs", base, grid))
    return out


def run_matrix(args: argparse.Namespace, base: dict, out: Path, tmp: Path) -> list[dict]:
    """Run every sweep of the matrix into `out`; the summaries of this matrix's runs."""
    for i, (label, extra, grid) in enumerate(variants(args)):
        folder = "-".join([extra.get("model", "cnn"), *label.replace(",", "").split()])
        spec = {"base": {**base, **extra, "out": str(out / folder)}, "grid": grid}
        f = tmp / f"sweep{i}.yaml"
        f.write_text(yaml.safe_dump(spec))
        r = subprocess.run(
            [sys.executable, "-m", "relubench", "sweep", str(f), "--jobs", str(args.jobs)],
            capture_output=True,
            text=True,
        )
        if r.returncode not in (0, 1):  # 1: some runs did not complete, which we count
            sys.exit(f"sweep failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("*/*/summary.json"))]
    # only this matrix's runs, if --out holds others (another --set, other acts) too
    acts = args.acts.split(",")
    return [
        s
        for s in summaries
        if all(s["config"].get(k) == v for k, v in base.items()) and s["config"]["act"] in acts
    ]


def row(mine: list[dict]) -> tuple[int, int, str, str]:
    """runs, diverged, mean ± std final accuracy, the worst run of one cell."""
    div = [s for s in mine if s["status"] == "diverged"]
    accs = [100 * s["final_test_acc"] for s in mine if s["status"] == "complete"]
    worst = min(mine, key=lambda s: (s["status"] == "complete", s["final_test_acc"] or 0))
    w = worst["config"]
    where = f"s{w['seed']} e{w['epochs']} t{w['threads']} b{w['batch_size']}"
    complete = worst["status"] == "complete"
    what = f"{100 * worst['final_test_acc']:.2f}%" if complete else worst["status"]
    spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
    mean = f"{statistics.mean(accs):.2f}{spread}" if accs else "–"
    return len(mine), len(div), mean, f"{what} ({where})"


def main() -> None:
    parser = arguments(__doc__, quick_help="tiny synthetic runs: a check that the script runs")
    parser.add_argument("--acts", default=",".join(FAMILY), help="(default: the six)")
    parser.add_argument("--models", default=",".join(MODELS), help="(default: every model)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 5], help="cnn, mlp, plain")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    parser.add_argument("--big-seeds", type=int, default=2, help="resnet20, vgg (default: 2)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default: 2)")
    parser.add_argument("--set", action="append", default=[], help="config key=value, all runs")
    parser.add_argument("--out", help="keep the run folders here (default: a temp folder)")
    args = parser.parse()
    if args.quick:
        args.acts, args.models = "relu,prelu-shared", "cnn"
    base: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        base[key] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory(prefix="relubench-stability-") as tmp:
        summaries = run_matrix(args, base, Path(args.out or tmp), Path(tmp))
    rows, total, diverged = [], 0, 0
    for model in args.models.split(","):
        cells: dict[tuple[str, str], list[dict]] = {}
        for s in summaries:
            if s["config"]["model"] == model:
                cells.setdefault((s["config"]["dataset"], s["config"]["act"]), []).append(s)
        for (dataset, act), mine in sorted(cells.items(), key=lambda kv: (
                kv[0][0], args.acts.split(",").index(kv[0][1]))):  # fmt: skip
            n, div, mean, worst = row(mine)
            rows.append((model, dataset, act, n, div, mean, worst))
            total, diverged = total + n, diverged + div
            print(f"{model:8} {dataset:13} {act:13} runs {n:3}  diverged {div:2}  acc {mean:>14}")
    print(f"all: {total} runs, {diverged} diverged")
    settings = ", ".join(f"{k}={v}" for k, v in base.items()) or "the defaults"
    big = {"resnet20", "vgg"} & set(args.models.split(","))
    what = "; ".join(f"{label} ({', '.join(f'{k}={v}' for k, v in extra.items())})"
                     for label, extra, _ in variants(args))  # fmt: skip
    lines = [
        f"At {settings}. Sweeps: {what}; the six activations in each, epochs "
        f"{args.epochs} (cnn, mlp, plain on mnist-mini) x seeds 0-{args.seeds - 1}"
        + ("" if args.quick or not big else f"; resnet20 and vgg seeds 0-{args.big_seeds - 1}")
        + ". Final test accuracy of the complete runs, % (worst: seed, epochs, threads, batch):",
        "",
        *table(
            ("model", "dataset", "act", "runs", "diverged", "final acc %", "worst run"),
            rows,
            "lllrrrl",
        ),
        "",
        f"All: {total} runs, {diverged} diverged.",
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
