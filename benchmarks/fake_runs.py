"""Many hand-made run folders for the benchmarks: the six activations in turn, seeds 0.., each
written by `relubench.testing.make_run` in the exact format `relubench train` writes (no torch:
a folder costs a few file writes, so a benchmark can make a thousand of them).

    python -m benchmarks.fake_runs OUT --runs 12 --epochs 5    # write some, to look at
    python -m benchmarks.fake_runs --quick                     # 6 runs into a temp folder

A helper of compare_bench.py, not a benchmark: it measures nothing and records nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import arguments
from relubench.registry.activations import FAMILY
from relubench.runfolder import check_run_folder
from relubench.testing import make_run


def make_runs(root: str | Path, runs: int, epochs: int, width: int = 32) -> list[Path]:
    """`runs` folders: the six activations in turn, seeds 0.. for each, with a deterministic,
    plausible spread (accuracy 95-99%, dead fraction 2-30%, growing for ReLU only)."""
    folders = []
    for i in range(runs):
        act, seed = FAMILY[i % len(FAMILY)], i // len(FAMILY)
        jitter = ((seed * 7919 + i) % 100) / 100
        folders.append(
            make_run(
                root,
                act,
                seed,
                final_acc=0.95 + 0.04 * jitter,
                best_acc=min(0.999, 0.955 + 0.04 * jitter),
                epochs=epochs,
                init_dead=0.02 + 0.05 * jitter,
                final_dead=0.02 + 0.28 * jitter * (act == "relu"),
                seconds=3.0 + jitter,
                alpha_first=0.4 + 0.2 * jitter,
                alpha_last=0.05 + 0.1 * jitter,
                width=width,
                dataset="mnist-mini",
            )
        )
    return folders


def main() -> int:
    parser = arguments(__doc__, quick_help="6 runs of 3 epochs, then removed")
    parser.add_argument("out", nargs="?", help="parent folder of the runs (default: a temp one)")
    parser.add_argument("--runs", type=int, default=6, help="run folders (default 6)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    args = parser.parse(quick={"runs": 6, "epochs": 3})
    with tempfile.TemporaryDirectory(prefix="relubench-fake-runs-") as tmp:
        root = Path(tmp if args.quick or not args.out else args.out)
        folders = make_runs(root, args.runs, args.epochs)
        bad = {f.name: p for f in folders if (p := check_run_folder(f))}
        print(f"wrote {len(folders)} run folders under {root}; problems: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
