"""Benchmarks are scripts, never timed tests: here we only check that each one runs (--quick)
and writes its own section of the results record (into a temp copy, never the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = {"record", "fake_runs"}  # modules the scripts share, not benchmarks
BENCHMARKS = sorted(
    p for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py") if p.stem not in HELPERS
)


@pytest.mark.slow  # a torch process per script: a few seconds each
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_runs_quick_and_records_its_section(script, tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# earlier record\n\n<!-- bench:other -->\nkept\n<!-- /bench:other -->\n")
    r = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RELUBENCH_RESULTS": str(results)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip()
    text = results.read_text()
    assert f"<!-- bench:{script.stem} -->" in text and f"<!-- /bench:{script.stem} -->" in text
    assert "<!-- bench:other -->\nkept\n<!-- /bench:other -->" in text  # others untouched


def test_the_recorded_command_names_no_folder_of_this_machine():
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from record import command_line

    script = str(Path(__file__).parents[1] / "benchmarks" / "breakdown.py")
    line = command_line([script, "--data-dir", "/home/someone/data", "--rounds", "3"])
    assert line == "python benchmarks/breakdown.py --data-dir DIR --rounds 3"
    line = command_line([script, "--data-dir=/home/someone/data"])
    assert line == "python benchmarks/breakdown.py --data-dir=DIR"
