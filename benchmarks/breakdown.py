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
benchmarks/RESULTS.md with the machine named (benchmarks/harness.py).

    python -m benchmarks.breakdown --data-dir ~/data          # full MNIST (see configs/)
    python -m benchmarks.breakdown --config configs/mnist-mini.yaml   # the default run
    python -m benchmarks.breakdown --quick                    # tiny, to check the script runs
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, arguments, interleave, medians, record, table

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
    parser = arguments(__doc__, rounds=3, threads=2, rounds_help="processes")
    parser.add_argument("--config", default="configs/mnist-fast.yaml", help="recipe YAML")
    parser.add_argument("--data-dir", help="where full MNIST is (the recipe's dataset)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="k=v")
    args = parser.parse()
    config = args.config if Path(args.config).is_file() else str(ROOT / args.config)
    shown = ["--config", args.config, "--threads", str(args.threads), "--device", "cpu"]
    shown += [a for s in args.sets for a in ("--set", s)] + (QUICK if args.quick else [])
    cmd = [config if a == args.config else a for a in shown]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    with tempfile.TemporaryDirectory() as tmp:
        folders = (Path(tmp) / f"round{r}" for r in range(args.rounds))
        rounds = interleave(
            {"process": lambda: one_round(cmd, next(folders))},
            args.rounds,
            show=lambda done: f"{done[0]['wall time of the process']:.2f} s",
        )["process"]
    runs = [phases for phases, _, _ in rounds]
    cfg = rounds[-1][1]["config"]
    phases = medians({phase: [p[phase] for p in runs] for phase in runs[0]})
    wall = phases["wall time of the process"]
    rows = [(phase, f"{s:.2f}", f"{100 * s / wall:.1f}%") for phase, s in phases.items()]
    lines = [
        f"`relubench train {' '.join(shown)}` ({cfg['dataset']}, {cfg['model']}, {cfg['act']}, "
        f"{cfg['epochs']} epoch{'s' if cfg['epochs'] != 1 else ''}): median of {args.rounds} "
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
