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

The summary goes into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.overhead           # all four at full size
    python -m benchmarks.overhead --quick   # tiny, to check the script runs
"""

from __future__ import annotations

from benchmarks import checkpoint_cost, compare_bench, probe_overhead
from benchmarks.harness import arguments, record, set_threads, table

PROBE_BAR, STARTUP_BAR = 0.03, 0.5


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> int:
    parser = arguments(__doc__, rounds=3, threads=0, rounds_help="probe on/off pairs")
    parser.add_argument(
        "--repeats", type=int, default=7, help="fresh processes per CLI command (default: 7)"
    )
    args = parser.parse(quick={"repeats": 1})
    set_threads(args.threads)

    print("== probe")
    overrides = {"act": "prelu", "epochs": 2, "device": "cpu", "threads": args.threads}
    if args.quick:
        overrides.update(probe_overhead.QUICK)
    off, on, _ = probe_overhead.measure(overrides, args.rounds)
    probe_cost = (on - off) / off

    print("== start-up")
    repeats = args.repeats
    startup = compare_bench.timed({"--help": ["--help"], "--version": ["--version"]}, repeats)
    ok, imported = True, False
    for name, (seconds, torch, code) in startup.items():
        print(f"  relubench {name:<10} {seconds:5.2f} s   torch imported: {torch}")
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
            f"{startup['--help'][0]:.2f} s",
            f"<= {STARTUP_BAR} s",
            verdict(startup["--help"][0] <= STARTUP_BAR),
        ),
        ("`relubench --version`", f"{startup['--version'][0]:.2f} s", "", ""),
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
        f"Probe: {overrides}, median of {args.rounds} on/off pairs; "
        f"start-up: median of {repeats} fresh processes, torch imported by them: "
        f"{'YES' if imported else 'no'}; all exited 0 and torch-free: {ok}.",
        "",
        *table(("what", "figure", "bar", "verdict"), rows, "llll"),
    ]
    record(__file__, lines, quick=args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
