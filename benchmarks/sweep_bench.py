"""Sweep throughput and resume overhead, measured through the real CLI (`python -m relubench`).

1. A 12-run sweep of small runs (6 activations x 2 seeds, mnist-mini slices) with `--jobs 1`
   and with `--jobs 2`, taking turns over `--rounds` rounds (default: one each), each into a
   fresh folder: median wall time, speed-up, and whether both produced identical metrics
   (timing columns aside). Once with the sweep's default thread split, once with 1 thread
   per run.
2. Resume overhead: a 102-run sweep whose runs are all complete, run again (3 times): wall
   time of the command that skips everything (start-up included).

The figures go into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.sweep_bench              # the full measurement
    python -m benchmarks.sweep_bench --rounds 3   # each sweep three times, in turns
    python -m benchmarks.sweep_bench --quick      # tiny, to check the script runs
"""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.harness import arguments, interleave, medians, record, table
from relubench.config import to_yaml
from relubench.runfolder import RunWriter
from relubench.runner.plan import expand

ACTS = ["relu", "leaky", "prelu", "prelu-shared", "elu", "selu"]


def sweep(spec_file: Path, *args: str) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "relubench", "sweep", str(spec_file), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:  # a run failed or diverged: its time would not be comparable
        sys.exit(f"{' '.join(cmd[1:])} exited {done.returncode}:\n{done.stdout[-2000:]}")
    return time.perf_counter() - t0


def metrics(out: Path) -> dict[str, list[dict]]:
    found = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name[0] != "."):
        with open(folder / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        found[folder.name] = [
            {k: v for k, v in r.items() if k not in ("epoch_seconds", "samples_per_s")}
            for r in rows
        ]
    return found


def throughput(
    tmp: Path, quick: bool, threads: int, rounds: int
) -> tuple[str, str, str, str, str, str]:
    """threads = 0: the sweep's default split (jobs 1: all cores, jobs 2: half each)."""
    # lr 0.02: at 0.05-0.1 a shared PReLU slope can blow up (diverged) in so short a schedule
    base = {"epochs": 3, "train_size": 3000, "test_size": 500, "probe_size": 256, "width": 16,
            "lr": 0.02}  # fmt: skip
    seeds = [0, 1]
    if quick:
        base = {
            "dataset": "synthetic",
            "epochs": 1,
            "train_size": 128,
            "test_size": 64,
            "probe_size": 64,
            "batch_size": 64,
            "width": 4,
        }
        seeds = [0]
    base["threads"] = threads
    counter, folders = itertools.count(), {}

    def run(jobs: int) -> float:
        """One sweep with `jobs` into a fresh folder (the round's), seconds."""
        out = tmp / f"t{threads}-jobs{jobs}-{next(counter)}"
        spec = {"base": {**base, "out": str(out)}, "grid": {"act": ACTS, "seed": seeds}}
        f = out.with_suffix(".yaml")
        f.write_text(yaml.safe_dump(spec))
        folders[jobs] = out
        return sweep(f, "--jobs", str(jobs))

    times = medians(interleave({1: lambda: run(1), 2: lambda: run(2)}, rounds))
    same = metrics(folders[1]) == metrics(folders[2])
    how = f"{threads} thread per run" if threads else "threads split (jobs x threads <= cores)"
    print(
        f"{len(ACTS) * len(seeds)}-run sweep, {how}: --jobs 1 {times[1]:.1f} s, "
        f"--jobs 2 {times[2]:.1f} s, speed-up {times[1] / times[2]:.2f}x, "
        f"identical metrics: {same}"
    )
    return (
        f"{len(ACTS) * len(seeds)}-run sweep",
        how,
        f"{times[1]:.1f}",
        f"{times[2]:.1f}",
        f"{times[1] / times[2]:.2f}x",
        "yes" if same else "NO",
    )


def resume_overhead(tmp: Path, quick: bool) -> str:
    n_seeds = 2 if quick else 17  # 6 activations x 17 seeds = 102 runs
    out = tmp / "done"
    spec = {"base": {"out": str(out)}, "grid": {"act": ACTS, "seed": list(range(n_seeds))}}
    f = tmp / "done.yaml"
    f.write_text(yaml.safe_dump(spec))
    plan = expand(f)
    for cfg in plan.configs:  # finished runs as train leaves them: config, rows, a complete summary
        w = RunWriter(cfg.run_dir, has_alphas=False)
        summary = {"run_id": cfg.run_id, "status": "complete", "config_hash": cfg.config_hash}
        w.start(to_yaml(cfg), {**summary, "config": cfg.written()})
    times = sorted(sweep(f) for _ in range(3))
    line = (
        f"re-running a finished {len(plan.configs)}-run sweep: median {times[1]:.2f} s "
        f"(min {times[0]:.2f}, max {times[2]:.2f}) over 3 runs"
    )
    print(line)
    return line


def main() -> None:
    parser = arguments(__doc__, rounds=1, rounds_help="--jobs 1 / --jobs 2 pairs, in turns")
    args = parser.parse()
    with tempfile.TemporaryDirectory(prefix="relubench-sweep-bench-") as tmp:
        rows = [throughput(Path(tmp), args.quick, t, args.rounds) for t in (0, 1)]
        resumed = resume_overhead(Path(tmp), args.quick)
    header = ("sweep", "threads", "--jobs 1 s", "--jobs 2 s", "speed-up", "identical metrics")
    lines = [
        f"Wall time of `python -m relubench sweep`, start-up included; median of {args.rounds} "
        f"round{'s' if args.rounds != 1 else ''}:",
        "",
        *table(header, rows, "llrrrl"),
        "",
        resumed[0].upper() + resumed[1:] + ".",
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
