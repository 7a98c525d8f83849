"""Stability: does every activation train at the defaults? A matrix of short runs, counted.

    python -m experiments.stability                    # the bar: 0 diverged (150 runs)
    python -m experiments.stability --set slope_lr=1   # the same matrix before the slope fix
    python -m experiments.stability --quick            # a few tiny runs, for the test suite

The matrix, at the defaults on mnist-mini: the six family activations x `epochs` {1, 2, 5} x
seeds 0-4 with one torch thread per run, plus `epochs` 1 x seeds 0-4 with two threads, and with
`--batch-size 64`. Short runs are where a learned slope or a warm-up blows up: the one-cycle
schedule reaches its peak lr within the first epoch. Runs go through `relubench sweep --jobs 2`
(resumable: an interrupted benchmark continues in the same --out). Per activation it prints
runs, diverged, mean ± std final accuracy and the worst run; the table goes into
benchmarks/RESULTS.md (benchmarks/harness.py).
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


def sweeps(args: argparse.Namespace, base: dict) -> list[dict]:
    """The sweep files of the matrix (one per variant: a sweep has one base)."""
    seeds = list(range(args.seeds))
    acts = args.acts.split(",")
    out = [
        {
            "base": {**base, "threads": 1},
            "grid": {"act": acts, "epochs": args.epochs, "seed": seeds},
        }
    ]
    if not args.quick:
        out += [
            {"base": {**base, "threads": 2}, "grid": {"act": acts, "epochs": [1], "seed": seeds}},
            {"base": {**base, "threads": 1, "batch_size": 64},
             "grid": {"act": acts, "epochs": [1], "seed": seeds}},
        ]  # fmt: skip
    return out


def main() -> None:
    parser = arguments(__doc__, quick_help="tiny synthetic runs: a check that the script runs")
    parser.add_argument("--acts", default=",".join(FAMILY), help="(default: the six)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default: 2)")
    parser.add_argument("--set", action="append", default=[], help="config key=value, all runs")
    parser.add_argument("--out", help="keep the run folders here (default: a temp folder)")
    args = parser.parse()
    base: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        base[key] = yaml.safe_load(value)
    if args.quick:
        args.epochs, args.seeds, args.acts = [1], 1, "relu,prelu-shared"
        base.update(dataset="synthetic", width=4, train_size=256, test_size=64, probe_size=32)
    with tempfile.TemporaryDirectory(prefix="relubench-stability-") as tmp:
        out = Path(args.out or tmp)
        for i, spec in enumerate(sweeps(args, base)):
            spec["base"]["out"] = str(out / f"variant{i}")
            f = Path(tmp) / f"sweep{i}.yaml"
            f.write_text(yaml.safe_dump(spec))
            r = subprocess.run(
                [sys.executable, "-m", "relubench", "sweep", str(f), "--jobs", str(args.jobs)],
                capture_output=True,
                text=True,
            )
            if r.returncode not in (0, 1):  # 1: some runs did not complete, which we count
                sys.exit(f"sweep failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        summaries = [json.loads(p.read_text()) for p in sorted(out.glob("*/*/summary.json"))]
    # only this matrix's runs, if --out holds others (another --set) too
    summaries = [s for s in summaries if all(s["config"].get(k) == v for k, v in base.items())]
    rows, total, diverged = [], 0, 0
    for act in args.acts.split(","):
        mine = [s for s in summaries if s["config"]["act"] == act]
        div = [s for s in mine if s["status"] == "diverged"]
        accs = [100 * s["final_test_acc"] for s in mine if s["status"] == "complete"]
        worst = min(mine, key=lambda s: (s["status"] == "complete", s["final_test_acc"] or 0))
        w = worst["config"]
        where = f"s{w['seed']} e{w['epochs']} t{w['threads']} b{w['batch_size']}"
        what = (
            worst["status"]
            if worst["status"] != "complete"
            else f"{100 * worst['final_test_acc']:.2f}%"
        )
        spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        mean = f"{statistics.mean(accs):.2f}{spread}" if accs else "–"
        rows.append((act, len(mine), len(div), mean, f"{what} ({where})"))
        total, diverged = total + len(mine), diverged + len(div)
        print(f"{act:13} runs {len(mine):3}  diverged {len(div):2}  acc {mean:>14}  worst {what}")
    print(f"all: {total} runs, {diverged} diverged")
    settings = ", ".join(f"{k}={v}" for k, v in base.items()) or "the defaults"
    lines = [
        f"mnist-mini, {settings}; epochs {args.epochs} x seeds 0-{args.seeds - 1} on 1 thread"
        + ("" if args.quick else ", plus epochs 1 on 2 threads and with batch 64")
        + "; final test accuracy of the complete runs, % (worst: seed, epochs, threads, batch):",
        "",
        *table(("act", "runs", "diverged", "final acc %", "worst run"), rows, "lrrrl"),
        "",
        f"All: {total} runs, {diverged} diverged.",
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
