"""Benchmarks and experiments are scripts, never timed tests. Here each runs as the module a user
runs, `python -m benchmarks.NAME --quick` (tiny sizes, one round), and records its section into
a temp copy of the results record: $RELUBENCH_RESULTS points there, so benchmarks/RESULTS.md is
never written. The section must hold the script's figures, finite: a script that measures
nothing fails. Then the shared harness (benchmarks/harness.py), in process."""

from __future__ import annotations

import ast
import importlib
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
NOT_SCRIPTS = {"__init__", "harness", "fake_runs"}  # shared modules, not benchmarks
EARLIER = "# earlier record\n\n<!-- bench:other -->\nkept\n<!-- /bench:other -->\n"


def modules(package: str) -> list[str]:
    """`benchmarks.step_cost`, ...: the scripts of a folder of the checkout."""
    names = (p.stem for p in (ROOT / package).glob("*.py"))
    return sorted(f"{package}.{n}" for n in names if n not in NOT_SCRIPTS)


# ---------------------------------------------------------------- reading a recorded section

NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


def section(text: str, key: str) -> str:
    found = re.search(rf"<!-- bench:{key} -->\n(.*?)\n<!-- /bench:{key} -->", text, re.DOTALL)
    assert found, f"no section bench:{key} in the record"
    return found.group(1)


def tables(block: str) -> list[list[dict[str, str]]]:
    """Every markdown table of `block`, as rows keyed by the header's cells."""
    groups: list[list[list[str]]] = [[]]
    for text in block.splitlines():
        if text.startswith("|"):
            groups[-1].append([c.strip() for c in text.strip().strip("|").split("|")])
        elif groups[-1]:
            groups.append([])
    return [
        [dict(zip(g[0], row, strict=True)) for row in g[2:]]
        for g in groups
        if len(g) > 2 and all(set(c) <= set("-:") for c in g[1])
    ]


def cells(block: str, column: str, row: str | None = None) -> list[str]:
    """The cells of `column` in every table that has it; only the row whose first cell is `row`,
    if given. At least one."""
    out = [
        r[column]
        for t in tables(block)
        for r in t
        if column in r and (row is None or next(iter(r.values())) == row)
    ]
    assert out, f"no cell of column {column!r}{f' in row {row!r}' if row else ''}:\n{block}"
    return out


def number(cell: str) -> float:
    """The number a cell starts with ("16.1 ms (13.5 ms writing)" -> 16.1); finite."""
    found = NUMBER.match(cell)
    assert found, f"no figure in {cell!r}"
    value = float(found.group().replace(",", ""))
    assert math.isfinite(value), cell
    return value


def positive(block: str, column: str, row: str | None = None) -> None:
    for cell in cells(block, column, row):
        assert number(cell) > 0, f"{column}: {cell!r}"


def finite(block: str, column: str, row: str | None = None) -> None:
    for cell in cells(block, column, row):
        number(cell)


def every(block: str, column: str, value: str) -> None:
    assert set(cells(block, column)) == {value}, f"{column}: {cells(block, column)}"


def line(block: str, pattern: str) -> float:
    """The number a line of the block gives after `pattern` (a regex ending where it starts)."""
    found = re.search(pattern + r"\s*(" + NUMBER.pattern + ")", block, re.IGNORECASE)
    assert found, f"no line matching {pattern!r}:\n{block}"
    return number(found.group(1))


# ---------------------------------------------------------------- each script's figures


def breakdown(b: str) -> None:
    positive(b, "seconds", "wall time of the process")
    finite(b, "share of wall")


def checkpoint_cost(b: str) -> None:
    positive(b, "epoch")
    positive(b, "checkpoint")  # "16.1 ms (13.5 ms writing)"
    finite(b, "share")


def cifar_step(b: str) -> None:
    for column in ("ms/step", "samples/s", "x relu", "cpu ms/step"):
        positive(b, column)


def compare_bench(b: str) -> None:
    positive(b, "seconds")
    every(b, "torch imported", "no")
    every(b, "exit", "ok")


def cpu_levers(b: str) -> None:
    positive(b, "ms/step")
    positive(b, "x default")


def data_pipeline(b: str) -> None:
    positive(b, "s/epoch")
    positive(b, "images/s")
    assert line(b, r"the mirror copy:") >= 0


def overhead(b: str) -> None:
    finite(b, "figure")  # the probe's share may be negative: noise, on a tiny run
    positive(b, "figure", "`relubench --help`")
    positive(b, "figure", "`relubench --version`")
    assert len(cells(b, "verdict")) == 6  # probe, --help, --version, compare, 2 checkpoints


def probe_overhead(b: str) -> None:
    positive(b, "epoch s, probe off", "median")
    positive(b, "epoch s, probe on", "median")


def resume(b: str) -> None:
    positive(b, "killed at")
    every(b, "every epoch once", "yes")
    every(b, "identical", "yes")


def step_cost(b: str) -> None:
    for column in ("ms/step", "samples/s", "x relu", "GFLOP/s", "of peak"):
        positive(b, column)


def sweep_bench(b: str) -> None:
    for column in ("--jobs 1 s", "--jobs 2 s", "speed-up"):
        positive(b, column)
    assert line(b, r"sweep: median") > 0


def slope_step(b: str) -> None:
    positive(b, "ms per step")
    positive(b, "ratio to grad")
    assert set(cells(b, "slope_update")) == {"grad", "sign"}


def time_to_accuracy(b: str) -> None:
    positive(b, "process wall")
    assert all(0 <= number(c) <= 100 for c in cells(b, "relubench final"))  # "97.10% after 1 epoch"
    assert 0 <= line(b, r"reference final:") <= 100


def stability(b: str) -> None:
    assert all(number(c) >= 1 for c in cells(b, "runs"))
    finite(b, "diverged")
    assert all(0 <= number(c) <= 100 for c in cells(b, "final acc %"))


def slope_trace(b: str) -> None:
    for first in cells(b, "loss", "1"):  # the first step of each slope_lr
        assert number(first) > 0
    for first in cells(b, "slope mean [min, max]", "1"):
        number(first)


def slope_learning(b: str) -> None:
    for column in ("end from 0.0", "end from 0.25", "end from 0.5", "spread"):
        finite(b, column)
    assert set(cells(b, "learns (every seed)")) <= {"**yes**", "no"}
    assert set(cells(b, "forgets (mean gap)")) <= {"**yes**", "no"}
    assert len(cells(b, "layer")) >= 2  # a row per activation layer


def exp_range(b: str) -> None:
    for column in ("exp", "ELU forward, no floor", "ELU forward", "floor's gain"):
        positive(b, column)


BENCHMARKS = (
    breakdown,
    checkpoint_cost,
    cifar_step,
    compare_bench,
    cpu_levers,
    data_pipeline,
    overhead,
    probe_overhead,
    resume,
    slope_step,
    step_cost,
    sweep_bench,
    time_to_accuracy,
)
EXPERIMENTS = (stability, slope_trace, slope_learning, exp_range)
FIGURES: dict[str, Callable[[str], None]] = {
    **{f"benchmarks.{check.__name__}": check for check in BENCHMARKS},
    **{f"experiments.{check.__name__}": check for check in EXPERIMENTS},
}


# scripts whose --quick run a test of their own makes (and checks), for a reason
ELSEWHERE = {
    # a Ray cluster in a network namespace: skipped (with its reason) where none can be made
    "benchmarks.ray_cluster": "tests/test_ray_cluster.py",
}


def test_every_script_has_a_smoke_test():
    assert sorted([*FIGURES, *ELSEWHERE]) == modules("benchmarks") + modules("experiments")
    assert all((ROOT / test).is_file() for test in ELSEWHERE.values())


@pytest.mark.slow  # a torch process per script: a few seconds each
@pytest.mark.parametrize("module", sorted(FIGURES))
def test_script_runs_quick_and_records_its_figures(module, tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(EARLIER)
    before = RESULTS.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RELUBENCH_RESULTS": str(results)},
    )
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert RESULTS.read_bytes() == before  # the repository's record untouched
    text = results.read_text()
    key = module.rpartition(".")[2]
    block = section(text, key)
    assert f"    python -m {module} --quick\n" in block  # the command, as a user types it
    FIGURES[module](block)
    assert "<!-- bench:other -->\nkept\n<!-- /bench:other -->" in text  # others untouched


# ---------------------------------------------------------------- the harness, in process


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # as `python -m` from the checkout has it
    return importlib.import_module("benchmarks.harness")


def test_the_recorded_command_is_the_module_with_no_folder_of_this_machine(harness):
    script = str(ROOT / "benchmarks" / "breakdown.py")
    line = harness.command_line([script, "--data-dir", "/home/someone/data", "--rounds", "3"])
    assert line == "python -m benchmarks.breakdown --data-dir DIR --rounds 3"
    line = harness.command_line([script, "--data-dir=/home/someone/data"])
    assert line == "python -m benchmarks.breakdown --data-dir=DIR"
    line = harness.command_line([str(ROOT / "experiments" / "stability.py"), "--quick"])
    assert line == "python -m experiments.stability --quick"


def test_variants_take_turns_round_by_round(harness):
    calls: list[str] = []
    turns = {k: (lambda k=k: calls.append(k) or len(calls)) for k in "abc"}
    samples = harness.interleave(turns, 2, warmup=1)
    assert calls == list("abc" * 3)  # the warm-up, then two rounds
    assert samples == {"a": [4, 7], "b": [5, 8], "c": [6, 9]}
    assert harness.medians({"a": [3, 1, 2]}) == {"a": 2}
    ratios = harness.median_ratios({"base": [1, 2, 4], "x": [2, 2, 12]}, "base")
    assert ratios == {"base": 1, "x": 2}  # per round 2, 1, 3


def test_rotating_puts_each_key_first_in_turn_within_its_group(harness):
    order = harness.rotating(["a1", "a2", "a3", "b1", "b2", "b3"], group=3)
    assert order(0) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    assert order(1) == ["a2", "a3", "a1", "b2", "b3", "b1"]
    assert harness.rotating("xy")(3) == ["y", "x"]


def test_timer_times_calls_after_an_untimed_reset(harness):
    seen = []
    turn = harness.timer(lambda: seen.append("call"), 3, before=lambda: seen.append("reset"))
    seconds = turn()
    assert seen == ["reset", "call", "call", "call"] and seconds >= 0


def test_common_arguments_and_quick_settings(harness):
    parser = harness.arguments("Doc line.\n\nMore.", rounds=5, threads=0)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse([])
    assert (args.quick, args.rounds, args.threads, args.steps) == (False, 5, 0, 8)
    args = parser.parse(["--quick", "--rounds", "9"], quick={"steps": 1})
    assert (args.quick, args.rounds, args.steps) == (True, 1, 1)
    bare = harness.arguments(None).parse([])
    assert not hasattr(bare, "rounds") and not hasattr(bare, "threads")
    with pytest.raises(SystemExit):
        parser.parse(["--rounds", "0"])


def test_record_replaces_only_its_own_section(harness, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(harness.RESULTS_ENV, raising=False)
    assert harness.record("x.py", ["figures"], quick=True) is None  # not into RESULTS.md
    target = tmp_path / "R.md"
    target.write_text(EARLIER)
    script = str(ROOT / "benchmarks" / "step_cost.py")
    for figure in ("| a | 1 |", "| a | 2 |"):
        harness.record(script, [figure], argv=[script, "--rounds", "3"], path=target)
    text = target.read_text()
    assert text.count("<!-- bench:step_cost -->") == 1 and "| a | 2 |" in text
    assert "| a | 1 |" not in text and "## step_cost.py" in text
    assert "    python -m benchmarks.step_cost --rounds 3\n" in text
    assert EARLIER.strip() in text
    assert harness.table(("k", "v"), [("a", 1)]) == ["| k | v |", "| --- | ---: |", "| a | 1 |"]


def test_harness_and_compare_bench_leave_torch_unimported():
    probe = "import sys, benchmarks.compare_bench; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr[-2000:]


def test_fake_runs_writes_folders_the_contract_accepts(harness, tmp_path):
    from relubench.runfolder import check_run_folder

    fake_runs = importlib.import_module("benchmarks.fake_runs")
    folders = fake_runs.make_runs(tmp_path, 6, 3)
    assert len(folders) == 6 and not any(check_run_folder(f) for f in folders)


@pytest.mark.parametrize("module", sorted(FIGURES) + ["benchmarks.fake_runs"])
def test_scripts_run_as_modules_and_say_so(module):
    source = (ROOT / Path(*module.split("."))).with_suffix(".py").read_text()
    assert "sys.path" not in source
    usage = re.findall(r"^ *python (\S+ \S+)", ast.get_docstring(ast.parse(source)), re.M)
    assert usage and all(u == f"-m {module}" for u in usage if "scripts/" not in u), usage


def test_the_record_and_the_indexes_name_the_modules():
    text = RESULTS.read_text()
    assert not re.search(r"python (benchmarks|experiments)/", text)
    for module in FIGURES:
        package, _, name = module.partition(".")
        assert f"<!-- bench:{name} -->" in text
        assert f"`{name}.py`" in (ROOT / package / "README.md").read_text(), module
