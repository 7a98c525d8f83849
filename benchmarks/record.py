"""Frozen records: each benchmark script writes its results into benchmarks/RESULTS.md.

A script calls `record(__file__, lines, quick=args.quick)` at its end. Its figures go into its
own block of RESULTS.md, between stable markers:

    <!-- bench:step_cost -->
    ... machine, torch, python, date, the exact command, the script's table ...
    <!-- /bench:step_cost -->

Re-running a script replaces only that block: other scripts' blocks, and anything written
outside the markers (such as figures recorded from earlier measurements), stay as they are.
A script with no block yet gets one, under its own heading at the end of the file. The file
is rewritten atomically (relubench.files.atomic_write).

`--quick` runs are smoke checks: their figures mean nothing, so they are not recorded unless
$RELUBENCH_RESULTS names a file to record into (the test suite can point it at a temp file).

    python benchmarks/record.py      # prints this machine's header line
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from relubench.files import atomic_write

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
RESULTS_ENV = "RELUBENCH_RESULTS"  # records into this file instead (quick runs too)


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
    try:  # without importing torch: compare_bench's own process must stay torch-free
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


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran, with the script's path relative to the checkout."""
    argv = list(sys.argv if argv is None else argv)
    for i, arg in enumerate(argv):  # a folder of this machine's is no part of the record
        if arg == "--data-dir" and i + 1 < len(argv):
            argv[i + 1] = "DIR"
        elif arg.startswith("--data-dir="):
            argv[i] = "--data-dir=DIR"
    script = Path(argv[0]).resolve()
    if script.is_file() and script.is_relative_to(ROOT):
        argv[0] = str(script.relative_to(ROOT))
    return shlex.join(["python", *argv])


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


if __name__ == "__main__":  # `--quick` too (the test suite runs every script with it)
    print(machine())
