"""Where a `relubench train` process's wall time goes, phase by phase.

Runs the command a user runs (default: the fast recipe on full MNIST, `relubench train --config
configs/mnist-fast.yaml`) as its own process, `--rounds` times, and splits each process's wall
time, from the launch to the exit, with the `timing` record its summary.json keeps:

    start-up     the interpreter, imports and the CLI: launch to the run's first line
    setup        device, memory check, the run folder's claim
    data         reading, checking and normalising the dataset (and its validation split)
    build        model, initialisation, optimizer, schedule
    epoch 0      the evaluation and probe of the untrained net, its files
    train / evaluate / write, per epoch: the steps; test (with the probe) and validation
                 evaluation; the CSVs, summary.json and checkpoint
    exit         after the last file, to the process's end

Medians over rounds, as seconds and as shares of the wall time; the table goes into
benchmarks/RESULTS.md with the machine named.

    python benchmarks/breakdown.py --data-dir ~/data          # full MNIST (see configs/)
    python benchmarks/breakdown.py --config configs/mnist-mini.yaml   # the default run
    python benchmarks/breakdown.py --quick                    # tiny, to check the script runs
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record, table  # noqa: E402  (sibling benchmark helper)

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--dataset", "synthetic", "--epochs", "2", "--width", "4", "--set", "train_size=1024",
         "--set", "test_size=256", "--set", "probe_size=128"]  # fmt: skip


def one_round(args: list[str], out: Path) -> tuple[dict[str, float], dict, list[dict]]:
    """Run the command once: its phases in seconds (a dict in time order, ending with the
    process's wall time), its summary.json and its metrics.csv rows."""
    cmd = [sys.executable, "-m", "relubench", "train", *args, "--out", str(out)]
    launched = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    ended = time.time()
    if done.returncode != 0:  # what the run said on its way out, not a bare exit code
        sys.exit(f"relubench train exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    (folder,) = [p for p in out.iterdir() if (p / "summary.json").is_file()]
    summary = json.loads((folder / "summary.json").read_text())
    with open(folder / "metrics.csv", newline="") as f:
        metrics = list(csv.DictReader(f))
    t = summary["timing"]
    entered = t["entered_ms"] / 1000
    epochs = t["epochs"]
    phases = {
        "start-up (interpreter, imports, CLI)": entered - launched,
        "setup (device, memory check, claim)": t["setup_s"],
        "data (read, check, normalise)": t["data_s"],
        "build (model, init, optimizer)": t["build_s"],
        "epoch 0 (evaluate + probe, write)": epochs[0]["eval_s"] + epochs[0]["write_s"],
    }
    for e in epochs[1:]:
        n = e["epoch"]
        phases[f"epoch {n}: train"] = e["train_s"]
        phases[f"epoch {n}: evaluate + probe"] = e["eval_s"]
        phases[f"epoch {n}: write (CSVs, summary, checkpoint)"] = e["write_s"]
    inside = sum(v for k, v in phases.items() if not k.startswith("start-up"))
    phases["exit (after the last file)"] = ended - entered - inside
    phases["wall time of the process"] = ended - launched
    return phases, summary, metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist-fast.yaml", help="recipe YAML")
    parser.add_argument("--data-dir", help="where full MNIST is (the recipe's dataset)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="processes (default: 3)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="k=v")
    parser.add_argument("--quick", action="store_true", help="tiny: a check that it runs")
    args = parser.parse_args()
    config = args.config if Path(args.config).is_file() else str(ROOT / args.config)
    shown = ["--config", args.config, "--threads", str(args.threads), "--device", "cpu"]
    shown += [a for s in args.sets for a in ("--set", s)] + (QUICK if args.quick else [])
    cmd = [config if a == args.config else a for a in shown]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    rounds = 1 if args.quick else args.rounds
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            phases, summary, _ = one_round(cmd, Path(tmp) / f"round{r}")
            cfg = summary["config"]
            runs.append(phases)
            wall = runs[-1]["wall time of the process"]
            print(f"round {r + 1}/{rounds}: {wall:.2f} s")
    wall = statistics.median(p["wall time of the process"] for p in runs)
    rows = []
    for phase in runs[0]:
        s = statistics.median(p[phase] for p in runs)
        rows.append((phase, f"{s:.2f}", f"{100 * s / wall:.1f}%"))
    lines = [
        f"`relubench train {' '.join(shown)}` ({cfg['dataset']}, {cfg['model']}, {cfg['act']}, "
        f"{cfg['epochs']} epoch{'s' if cfg['epochs'] != 1 else ''}): median of {rounds} "
        "processes, each timed from its launch to its exit; the phases are the run's own "
        "`timing` record (summary.json).",
        "",
        *table(("phase", "seconds", "share of wall"), rows),
    ]
    print("\n".join(lines))
    record(__file__, lines, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
