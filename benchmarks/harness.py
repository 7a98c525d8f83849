"""The benchmarks' shared harness: the common arguments, variants taking turns over rounds with
medians, and the frozen record of what a script measured, with the machine it ran on.

Every benchmark is a module, run from the checkout (the experiments likewise, as
`python -m experiments.NAME`). Its skeleton:

    from benchmarks.harness import arguments, interleave, medians, record, table, timer

    parser = arguments(__doc__, rounds=5, threads=0)      # --quick, --rounds, --threads
    parser.add_argument("--model", default="cnn")         # the script's own options
    args = parser.parse(quick={"model": "mlp"})           # --quick: rounds 1, and these
    samples = interleave({"a": timer(step_a), "b": timer(step_b)}, args.rounds)
    ... medians(samples), median_ratios(samples, "a") ...
    record(__file__, lines, quick=args.quick)

Arguments. `--quick` makes a script a smoke check: tiny sizes, one round, figures that mean
nothing. `--rounds N` is how many turns each variant takes; `--threads N` sets the torch threads
(0: torch's default). A script without rounds or a thread setting leaves that option out
(`rounds=None`, `threads=None`).

Rounds. The variants take turns, one turn each per round, so drifts in the machine's load (a
shared 2-core machine has them) hit all alike. A figure is the median over rounds, and a ratio
the median of the per-round ratios, each against the same round's baseline.

The record. `record(__file__, lines, quick=args.quick)` writes the script's lines (markdown: a
table, a few sentences) as its own block of benchmarks/RESULTS.md, between stable markers:

    <!-- bench:step_cost -->
    ... machine, torch, python, date, the exact command, the script's table ...
    <!-- /bench:step_cost -->

Re-running a script replaces only that block: other scripts' blocks, and anything written
outside the markers (such as figures recorded from earlier measurements), stay as they are. A
script with no block yet gets one, under its own heading at the end of the file. The file is
rewritten atomically (relubench.files.atomic_write). `--quick` runs are not recorded unless
$RELUBENCH_RESULTS names a file to record into (the test suite points it at a temp file).

This module imports no torch (compare_bench's own process must stay torch-free).

    python -m benchmarks.harness      # prints this machine's header line
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from relubench.files import atomic_write

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
RESULTS_ENV = "RELUBENCH_RESULTS"  # records into this file instead (quick runs too)

K = TypeVar("K")
T = TypeVar("T")


# ---------------------------------------------------------------- the common arguments


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose `parse` applies --quick's settings."""

    def parse(self, argv: Sequence[str] | None = None, quick: Mapping[str, Any] | None = None):
        """The parsed arguments; with --quick, `rounds` is 1 and `quick`'s items are set too."""
        args = self.parse_args(argv)
        if args.quick:
            if hasattr(args, "rounds"):
                args.rounds = 1
            for key, value in (quick or {}).items():
                setattr(args, key, value)
        return args


def arguments(
    doc: str | None,
    *,
    rounds: int | None = None,
    threads: int | None = None,
    rounds_help: str = "interleaved rounds; figures are medians over them",
    threads_help: str = "torch threads",
    quick_help: str = "tiny sizes, one round: a check that the script runs, not a measurement",
) -> Parser:
    """A parser with --quick, and --rounds and --threads when given their defaults. The script
    adds its own options to it with `add_argument`."""
    parser = Parser(
        prog=shlex.join(["python", *invocation(sys.argv[0])]),
        description=doc.strip().splitlines()[0] if doc else None,
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if rounds is not None:
        parser.add_argument(
            "--rounds", type=positive, default=rounds, help=f"{rounds_help} (default: {rounds})"
        )
    if threads is not None:
        shown = "torch's" if threads == 0 else threads
        parser.add_argument(
            "--threads",
            type=non_negative,
            default=threads,
            help=f"{threads_help}, 0 for torch's default (default: {shown})",
        )
    return parser


def set_threads(threads: int) -> None:
    """torch.set_num_threads, unless 0 (torch's default). Imports torch only then."""
    if threads:
        import torch

        torch.set_num_threads(threads)


# ---------------------------------------------------------------- variants taking turns


def timer(
    fn: Callable[[], object], calls: int = 1, before: Callable[[], object] | None = None
) -> Callable[[], float]:
    """A turn: `before()` untimed (a reset, say), then `calls` calls of `fn`; its value is the
    wall seconds per call."""

    def turn() -> float:
        if before is not None:
            before()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / calls

    return turn


def rotating(keys: Sequence[K], group: int | None = None) -> Callable[[int], list[K]]:
    """An order for `interleave`: in round r, each run of `group` consecutive keys (default:
    all) starts at its r-th key, so each key goes first in turn."""
    size = group or len(keys)

    def order(r: int) -> list[K]:
        out: list[K] = []
        for start in range(0, len(keys), size):
            chunk = list(keys[start : start + size])
            k = r % len(chunk)
            out += chunk[k:] + chunk[:k]
        return out

    return order


def interleave(
    turns: Mapping[K, Callable[[], T]],
    rounds: int,
    *,
    warmup: int = 0,
    order: Callable[[int], Sequence[K]] | None = None,
    show: Callable[[T], str | None] | None = None,
) -> dict[K, list[T]]:
    """Every turn once per round, for `rounds` rounds; each turn's values, one per round.

    `warmup` untimed turns of each come first (first calls allocate and pick kernels). `order`
    gives the keys of round r (0-based; default: the mapping's order). With `show`, a line per
    round: `round r/N: KEY show(value), ...` (keys whose `show` is None left out)."""
    for _ in range(warmup):
        for turn in turns.values():
            turn()
    samples: dict[K, list[T]] = {k: [] for k in turns}
    for r in range(rounds):
        for k in order(r) if order else turns:
            samples[k].append(turns[k]())
        if show is not None:
            cells = ((k, show(v[-1])) for k, v in samples.items())
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {s}" for k, s in cells if s))
    return samples


def medians(samples: Mapping[K, Iterable[float]]) -> dict[K, float]:
    """The median of each key's values."""
    return {k: statistics.median(v) for k, v in samples.items()}


def median_ratios(samples: Mapping[K, Sequence[float]], base: K) -> dict[K, float]:
    """Per key, the median over rounds of its value over the base's value in the same round."""
    ref = samples[base]
    return {
        k: statistics.median(a / b for a, b in zip(v, ref, strict=True)) for k, v in samples.items()
    }


def ms(seconds: float) -> str:
    """A `show` for turns that return seconds."""
    return f"{1e3 * seconds:.1f} ms"


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_features() -> list[str]:
    """The vector extensions that move these timings most: AVX2, AVX-512, AMX."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    names = {"avx2": "AVX2", "avx512f": "AVX-512", "amx_tile": "AMX"}
    return [name for flag, name in names.items() if flag in flags]


def torch_version() -> str:
    try:  # without importing torch
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    """One line naming where the figures were measured."""
    features = cpu_features()
    isa = f" ({', '.join(features)})" if features else ""
    return (
        f"{cpu_model()}{isa}, {os.cpu_count()} cores, {platform.machine()}; "
        f"torch {torch_version()}, Python {platform.python_version()}"
    )


# ---------------------------------------------------------------- the record


def invocation(script: str | Path) -> list[str]:
    """How to run `script`: `-m benchmarks.NAME` for a module of the checkout's packages (run so,
    its sys.argv[0] is the file's path), else its path, relative to the checkout inside it."""
    path = Path(script).resolve()
    if not (path.is_file() and path.is_relative_to(ROOT)):
        return [str(script)]
    relative = path.relative_to(ROOT)
    if (path.parent / "__init__.py").is_file():
        return ["-m", ".".join(relative.with_suffix("").parts)]
    return [str(relative)]


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran, `python -m benchmarks.NAME ...`, with no folder of this machine's
    in it."""
    argv = list(sys.argv if argv is None else argv)
    for i, arg in enumerate(argv):  # a folder of this machine's is no part of the record
        if arg == "--data-dir" and i + 1 < len(argv):
            argv[i + 1] = "DIR"
        elif arg.startswith("--data-dir="):
            argv[i] = "--data-dir=DIR"
    return shlex.join(["python", *invocation(argv[0]), *argv[1:]])


def section_key(script: str | Path) -> str:
    """`benchmarks/step_cost.py` -> `step_cost`."""
    return Path(script).stem


def render(key: str, lines: Iterable[str], command: str, when: dt.datetime) -> str:
    body = "\n".join(lines).strip("\n")
    return (
        f"<!-- bench:{key} -->\n"
        f"Measured {when:%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"load average {os.getloadavg()[0]:.2f} at the end.\n\n"
        f"    {command}\n\n"
        f"{body}\n"
        f"<!-- /bench:{key} -->"
    )


def replace_section(text: str, key: str, block: str) -> str:
    """`text` with the block of `key` replaced by `block`, or `block` appended under a heading."""
    pattern = re.compile(
        rf"^<!-- bench:{re.escape(key)} -->\n.*?^<!-- /bench:{re.escape(key)} -->$",
        re.DOTALL | re.MULTILINE,
    )
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    head = text.rstrip("\n") + "\n\n" if text.strip() else "# Benchmark results\n\n"
    return f"{head}## {key}.py\n\n{block}\n"


def record(
    script: str | Path,
    lines: Iterable[str],
    *,
    quick: bool = False,
    argv: list[str] | None = None,
    path: str | Path | None = None,
) -> Path | None:
    """Write `lines` (markdown: a table, a few sentences) as the section of `script`.

    Returns the file written, or None for a `--quick` run with no $RELUBENCH_RESULTS.
    """
    target = path or os.environ.get(RESULTS_ENV)
    if target is None and quick:
        print(f"(--quick: not recorded in {RESULTS.relative_to(ROOT)})")
        return None
    target = Path(target or RESULTS).resolve()
    key = section_key(script)
    block = render(key, lines, command_line(argv), dt.datetime.now(dt.timezone.utc))
    old = target.read_text() if target.exists() else ""
    atomic_write(target, replace_section(old, key, block))
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(f"recorded in {shown} (section bench:{key})")
    return target


def table(header: Iterable[str], rows: Iterable[Iterable[object]], align: str = "") -> list[str]:
    """A markdown table; `align` has one letter per column, l or r (default: l, then r)."""
    header = list(header)
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


if __name__ == "__main__":
    print(machine())
