"""What measuring costs: the probe, the CLI's start-up, `compare` over 1,000 run folders, and
the per-epoch checkpoint.

Four figures, each against its bar (probe <= 3% of epoch time, `relubench --help` <= 0.5 s,
compare over 1,000 runs <= 2 s, checkpoint <= 2% of an epoch):

  probe      the same training run with the probe on and off, interleaved, median epoch time
             (benchmarks/probe_overhead.py; default: prelu cnn on mnist-mini, 2 epochs)
  start-up   `relubench --help` and `relubench --version` in fresh interpreters, median, and
             whether torch got imported (it must not be)
  compare    `relubench compare` on 1,000 generated run folders of 30 epochs
             (benchmarks/compare_bench.py)
  checkpoint the checkpoint written after each epoch, against that epoch, on the default cnn
             run and on resnet20 at CIFAR-10's epoch length (benchmarks/checkpoint_cost.py)

The summary goes into benchmarks/RESULTS.md (benchmarks/record.py).

    python benchmarks/overhead.py           # all three at full size (about 3 minutes)
    python benchmarks/overhead.py --quick   # tiny, to check the script runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkpoint_cost  # noqa: E402  (sibling benchmark scripts)
import compare_bench  # noqa: E402
import probe_overhead  # noqa: E402
from record import record, table  # noqa: E402

PROBE_BAR, STARTUP_BAR = 0.03, 0.5


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="probe on/off pairs (default: 3)")
    parser.add_argument("--repeats", type=int, default=7, help="CLI timings each (default: 7)")
    parser.add_argument("--quick", action="store_true", help="tiny runs: a check only")
    args = parser.parse_args()

    print("== probe")
    overrides = {"act": "prelu", "epochs": 2, "device": "cpu"}
    if args.quick:
        overrides.update(probe_overhead.QUICK)
    off, on, _ = probe_overhead.measure(overrides, 1 if args.quick else args.rounds)
    probe_cost = (on - off) / off

    print("== start-up")
    repeats = 1 if args.quick else args.repeats
    ok, imported = True, False
    startup = {}
    for cli_args in (["--help"], ["--version"]):
        seconds, torch, code = compare_bench.timed(cli_args, repeats)
        startup[cli_args[0]] = seconds
        print(f"  relubench {cli_args[0]:<10} {seconds:5.2f} s   torch imported: {torch}")
        ok &= not torch and code == 0
        imported |= torch

    print("== compare")
    runs, epochs = (20, 3) if args.quick else (1000, 30)
    table_s, compare_ok, _ = compare_bench.bench(runs, epochs, 1 if args.quick else 5)
    ok &= compare_ok

    print("== checkpoint")
    ckpt_rows = checkpoint_cost.results(1 if args.quick else 3, args.quick)

    bar_s = compare_bench.BAR_SECONDS
    rows = [
        (
            "probe",
            f"{probe_cost:+.1%} of epoch time ({off:.2f} s off, {on:.2f} s on)",
            f"<= {PROBE_BAR:.0%}",
            verdict(probe_cost <= PROBE_BAR),
        ),
        (
            "`relubench --help`",
            f"{startup['--help']:.2f} s",
            f"<= {STARTUP_BAR} s",
            verdict(startup["--help"] <= STARTUP_BAR),
        ),
        ("`relubench --version`", f"{startup['--version']:.2f} s", "", ""),
        (
            f"`relubench compare`, {runs} runs x {epochs} epochs",
            f"{table_s:.2f} s",
            f"<= {bar_s:.0f} s",
            verdict(table_s <= bar_s),
        ),
        *[(f"checkpoint: {r[0]}", f"{r[4]}, {r[5]} of an epoch", "<= 2%", r[6]) for r in ckpt_rows],
    ]
    print("\nsummary")
    for name, figure, bar, v in rows:
        print(f"  {name.replace('`', ''):40} {figure}{f', {v} the bar ({bar})' if bar else ''}")
    lines = [
        f"Probe: {overrides}, median of {1 if args.quick else args.rounds} on/off pairs; "
        f"start-up: median of {repeats} fresh processes, torch imported by them: "
        f"{'YES' if imported else 'no'}; all exited 0 and torch-free: {ok}.",
        "",
        *table(("what", "figure", "bar", "verdict"), rows, "llll"),
    ]
    record(__file__, lines, quick=args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
