"""A run killed at a random moment and resumed lands on the uninterrupted run's numbers.

Trains the same `relubench train` command (default: prelu cnn, 6 epochs on mnist-mini) once
uninterrupted, then `--trials` times: started in its own process, SIGKILLed (no clean-up at
all) at a moment drawn uniformly over the run, then the same command again. Each trial checks
that no epoch appears twice in metrics.csv and that metrics.csv, layers.csv and alphas.csv equal
the uninterrupted run's except the timing columns. The table goes into benchmarks/RESULTS.md
(benchmarks/harness.py).

    python -m benchmarks.resume             # 3 trials
    python -m benchmarks.resume --quick     # tiny, to check the script runs
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import arguments, record, table
from relubench.config import merge

TIMING = ("epoch_seconds", "samples_per_s")
QUICK = {"dataset": "synthetic", "train_size": 1024, "test_size": 128, "probe_size": 128,
         "batch_size": 64, "width": 8}  # fmt: skip


def command(settings: dict, out: Path) -> list[str]:
    sets = [a for k, v in {**settings, "out": out}.items() for a in ("--set", f"{k}={v}")]
    return [sys.executable, "-m", "relubench", "train", *sets]


def kill_at(cmd: list[str], at: float) -> bool:
    """Start `cmd`, SIGKILL it `at` seconds later; False if it had already finished."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=at)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    if not (folder / name).is_file():
        return []
    with open(folder / name, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def main() -> int:
    parser = arguments(__doc__, threads=2, threads_help="torch threads of the run")
    parser.add_argument("--act", default="prelu", help="activation (default: prelu)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs (default: 6)")
    parser.add_argument("--trials", type=int, default=3, help="kills (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="draws the kill moments (0)")
    args = parser.parse(quick={"trials": 1, "epochs": 3})
    settings = {"act": args.act, "epochs": args.epochs, "threads": args.threads, "device": "cpu"}
    trials = args.trials
    if args.quick:
        settings.update(QUICK)
    draw = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run(command(settings, base / "whole"), check=True, capture_output=True)
        whole_s = time.perf_counter() - t0
        run_id = merge(settings).run_id
        whole = base / "whole" / run_id
        print(f"uninterrupted: {whole_s:.1f} s")
        table_rows, all_ok = [], True
        for t in range(1, trials + 1):
            out = base / f"trial{t}"
            at = draw.uniform(0.05, 0.95) * whole_s
            while not kill_at(command(settings, out), at):  # it finished first (a warm start
                at /= 2  # beats the cold uninterrupted run): start afresh, kill it earlier
                shutil.rmtree(out, ignore_errors=True)
            folder = out / run_id
            killed = json.loads((folder / "summary.json").read_text()) if folder.exists() else {}
            done_at_kill = killed.get("epochs_done", 0)
            r = subprocess.run(command(settings, out), capture_output=True, text=True)
            summary = json.loads((folder / "summary.json").read_text())
            epochs = [row["epoch"] for row in rows(folder, "metrics.csv")]
            once = epochs == [str(e) for e in range(args.epochs + 1)]
            same = all(
                rows(folder, name) == rows(whole, name)
                for name in ("metrics.csv", "layers.csv", "alphas.csv")
            )
            resumes = summary.get("resumes") or []
            ok = r.returncode == 0 and summary["status"] == "complete" and once and same
            all_ok &= ok
            table_rows.append(
                (
                    t,
                    f"{at:.1f} s",
                    killed.get("status", "(not started)"),
                    done_at_kill,
                    resumes[0]["from_epoch"] if resumes else "fresh start",
                    "yes" if once else "NO",
                    "yes" if same else "NO",
                )
            )
            if not ok:
                why = f"exit {r.returncode}, {summary['status']}, epochs {epochs}, same {same}"
                print(f"trial {t} failed: {why}\n{r.stderr[-1500:]}", file=sys.stderr)
            print(f"trial {t}: killed at {at:.1f} s ({done_at_kill} epochs done), resumed: "
                  f"{resumes}, every epoch once: {once}, identical: {same}")  # fmt: skip
    lines = [
        f"`relubench train` with {settings}: uninterrupted {whole_s:.1f} s; each trial SIGKILLs "
        "the same command at a random moment, then runs it again. Identical = metrics.csv, "
        "layers.csv and alphas.csv equal the uninterrupted run's except the timing columns.",
        "",
        *table(
            (
                "trial",
                "killed at",
                "status left",
                "epochs done",
                "resumed from epoch",
                "every epoch once",
                "identical",
            ),
            table_rows,
        ),  # fmt: skip
    ]
    record(__file__, lines, quick=args.quick)
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
