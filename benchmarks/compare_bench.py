"""How fast `relubench compare` reads many runs, and what the CLI costs to start.

Writes N run folders of E epochs each (default 1,000 x 30, the issue's bar) in a temporary
folder, in the exact format `relubench train` writes (benchmarks/fake_runs.py, built from
relubench.runfolder's contract): config.yaml, metrics.csv, layers.csv, alphas.csv for the PReLU
runs (default cnn width 32: 352 slopes per epoch), summary.json. Six activations, seeds 0.. for
each. Then times, each as a fresh subprocess so that interpreter and
import start-up count, the median over repeats of:

  relubench compare --help            start-up alone
  relubench compare DIR               the Rich table          (bar: <= 2 s for 1,000 runs)
  relubench compare DIR --format json
  relubench plot DIR --out ...        (with --plot; reads every CSV, so it is slower)

and reports whether any of them imported torch (they must not). The table goes into
benchmarks/RESULTS.md (benchmarks/record.py).

    python benchmarks/compare_bench.py             # 1,000 runs x 30 epochs, 5 repeats
    python benchmarks/compare_bench.py --plot      # ... and time `relubench plot` too
    python benchmarks/compare_bench.py --quick     # 20 runs, 1 repeat: checks the script runs
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_runs import make_runs  # noqa: E402  (sibling benchmark helpers)
from record import record, table  # noqa: E402

BAR_SECONDS = 2.0

# Runs the CLI as `relubench ...` would, then says on stderr whether torch got imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('TORCH_IMPORTED=' + str('torch' in sys.modules), "
    "file=sys.stderr))\n"
    "sys.argv = ['relubench', *sys.argv[1:]]\n"
    "from relubench.cli import main\n"
    "main()\n"
)


def generate(root: Path, runs: int, epochs: int) -> float:
    """Write `runs` run folders under root; returns seconds taken."""
    t0 = time.perf_counter()
    make_runs(root, runs, epochs, width=32)  # the cnn at its default width
    return time.perf_counter() - t0


def timed(args: list[str], repeats: int) -> tuple[float, bool, int]:
    """Median wall seconds of `relubench *args` in fresh interpreters; torch imported; exit code."""
    times, torch, code = [], False, 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - t0)
        torch |= "TORCH_IMPORTED=True" in p.stderr
        code = code or p.returncode
    return statistics.median(times), torch, code


def bench(
    runs: int, epochs: int, repeats: int, plot: bool = False
) -> tuple[float, bool, list[str]]:
    """Time compare (and plot) on `runs` generated folders.

    Returns the table's seconds, whether all ran without importing torch, and markdown lines."""
    with tempfile.TemporaryDirectory(prefix="relubench-bench-") as tmp:
        root = Path(tmp) / "results"
        gen_s = generate(root, runs, epochs)
        size_mb = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6
        print(f"wrote {runs} run folders x {epochs} epochs ({size_mb:.0f} MB) in {gen_s:.1f} s")
        print(f"median of {repeats} fresh processes each:")
        rows = [
            ("relubench compare --help", ["compare", "--help"]),
            (f"relubench compare <{runs} runs>", ["compare", str(root)]),
            (f"relubench compare <{runs} runs> -f json", ["compare", str(root), "-f", "json"]),
        ]
        if plot:
            figs = str(Path(tmp) / "figures")
            rows.append((f"relubench plot <{runs} runs>", ["plot", str(root), "--out", figs]))
        ok, table_s, md_rows = True, 0.0, []
        for name, cli_args in rows:
            seconds, torch, code = timed(cli_args, repeats)
            if cli_args == ["compare", str(root)]:
                table_s = seconds
            status = "ok" if code == 0 else f"EXIT {code}"
            imported = "YES" if torch else "no"
            print(f"  {name:<45} {seconds:6.2f} s   torch imported: {imported}   {status}")
            md_rows.append((f"`{name}`", f"{seconds:.2f}", imported, status))
            ok &= not torch and code == 0
    verdict = "meets" if table_s <= BAR_SECONDS else "MISSES"
    summary = f"compare over {runs} runs: {table_s:.2f} s, {verdict} the {BAR_SECONDS:.0f} s bar"
    print(summary)
    lines = [
        f"{runs} generated run folders x {epochs} epochs ({size_mb:.0f} MB, written in "
        f"{gen_s:.1f} s); median of {repeats} fresh processes per command:",
        "",
        *table(("command", "seconds", "torch imported", "exit"), md_rows, "lrll"),
        "",
        summary + ".",
    ]
    return table_s, ok, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="run folders (default 1000)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per command (default 5)")
    parser.add_argument("--plot", action="store_true", help="also time `relubench plot`")
    parser.add_argument("--quick", action="store_true", help="20 runs, 1 repeat: a smoke check")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeats = 20, 1
    _, ok, lines = bench(args.runs, args.epochs, args.repeats, args.plot)
    record(__file__, lines, quick=args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
