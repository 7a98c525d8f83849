"""How fast `relubench compare` reads many runs, and what the CLI costs to start.

Writes N run folders of E epochs each (default 1,000 x 30, the issue's bar) in a temporary
folder, in the exact format `relubench train` writes (benchmarks/fake_runs.py, built from
relubench.runfolder's contract): config.yaml, metrics.csv, layers.csv, alphas.csv for the PReLU
runs (default cnn width 32: 352 slopes per epoch), summary.json. Six activations, seeds 0.. for
each. Then times, each as a fresh subprocess so that interpreter and
import start-up count, taking turns over rounds, the median of:

  relubench compare --help            start-up alone
  relubench compare DIR               the Rich table          (bar: <= 2 s for 1,000 runs)
  relubench compare DIR --format json
  relubench plot DIR --out ...        (with --plot; reads every CSV, so it is slower)

and reports whether any of them imported torch (they must not). The table goes into
benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.compare_bench             # 1,000 runs x 30 epochs, 5 rounds
    python -m benchmarks.compare_bench --plot      # ... and time `relubench plot` too
    python -m benchmarks.compare_bench --quick     # 20 runs, 1 round: checks the script runs
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.fake_runs import make_runs
from benchmarks.harness import arguments, interleave, medians, record, table

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


def cli(args: list[str]) -> tuple[float, bool, int]:
    """Wall seconds of `relubench *args` in a fresh interpreter; torch imported; exit code."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    return time.perf_counter() - t0, "TORCH_IMPORTED=True" in p.stderr, p.returncode


def timed(commands: dict[str, list[str]], rounds: int) -> dict[str, tuple[float, bool, int]]:
    """Per command (name: CLI arguments), taking turns over `rounds` fresh processes each: the
    median wall seconds, whether any imported torch, the first non-zero exit code (else 0)."""
    samples = interleave({name: (lambda a=a: cli(a)) for name, a in commands.items()}, rounds)
    seconds = medians({name: [s for s, _, _ in runs] for name, runs in samples.items()})
    return {
        name: (seconds[name], any(t for _, t, _ in runs), next((c for *_, c in runs if c), 0))
        for name, runs in samples.items()
    }


def bench(runs: int, epochs: int, rounds: int, plot: bool = False) -> tuple[float, bool, list[str]]:
    """Time compare (and plot) on `runs` generated folders.

    Returns the table's seconds, whether all ran without importing torch, and markdown lines."""
    with tempfile.TemporaryDirectory(prefix="relubench-bench-") as tmp:
        root = Path(tmp) / "results"
        gen_s = generate(root, runs, epochs)
        size_mb = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6
        print(f"wrote {runs} run folders x {epochs} epochs ({size_mb:.0f} MB) in {gen_s:.1f} s")
        print(f"median of {rounds} fresh processes each, taking turns:")
        commands = {
            "relubench compare --help": ["compare", "--help"],
            f"relubench compare <{runs} runs>": ["compare", str(root)],
            f"relubench compare <{runs} runs> -f json": ["compare", str(root), "-f", "json"],
        }
        if plot:
            figs = str(Path(tmp) / "figures")
            commands[f"relubench plot <{runs} runs>"] = ["plot", str(root), "--out", figs]
        results = timed(commands, rounds)
        ok, md_rows = True, []
        for name, (seconds, torch, code) in results.items():
            status = "ok" if code == 0 else f"EXIT {code}"
            imported = "YES" if torch else "no"
            print(f"  {name:<45} {seconds:6.2f} s   torch imported: {imported}   {status}")
            md_rows.append((f"`{name}`", f"{seconds:.2f}", imported, status))
            ok &= not torch and code == 0
        table_s = results[f"relubench compare <{runs} runs>"][0]
    verdict = "meets" if table_s <= BAR_SECONDS else "MISSES"
    summary = f"compare over {runs} runs: {table_s:.2f} s, {verdict} the {BAR_SECONDS:.0f} s bar"
    print(summary)
    lines = [
        f"{runs} generated run folders x {epochs} epochs ({size_mb:.0f} MB, written in "
        f"{gen_s:.1f} s); median of {rounds} fresh processes per command:",
        "",
        *table(("command", "seconds", "torch imported", "exit"), md_rows, "lrll"),
        "",
        summary + ".",
    ]
    return table_s, ok, lines


def main() -> int:
    parser = arguments(__doc__, rounds=5, rounds_help="fresh processes per command, in turns")
    parser.add_argument("--runs", type=int, default=1000, help="run folders (default 1000)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    parser.add_argument("--plot", action="store_true", help="also time `relubench plot`")
    args = parser.parse(quick={"runs": 20})
    _, ok, lines = bench(args.runs, args.epochs, args.rounds, args.plot)
    record(__file__, lines, quick=args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
