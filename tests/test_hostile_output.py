"""Hostile run folders and outputs (issue 27, the analysis side): what a run folder holds never
reaches a terminal raw nor an HTML page unescaped, outputs never land inside a run folder,
special and huge files are refused before they are read, out-of-range numbers are never
shown, and every bad input is one line and exit code 2 (tests/test_hostile.py's style)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from limits import run_limited
from test_hostile import one_line_error
from typer.testing import CliRunner

import relubench
from relubench.analysis.load import find_runs
from relubench.analysis.study_runs import read_runs
from relubench.cli import app
from relubench.errors import CompareError, RelubenchError
from relubench.runfolder import Malformed, read_table
from relubench.testing import make_run

runner = CliRunner()
CONTROLS = ("\x1b", "\x07", "\x9b", "\x08", "\r")
SCRIPT = "<script>alert(1)</script>"


def edit_summary(folder: Path, **changes) -> Path:
    path = folder / "summary.json"
    summary = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "config":
            summary["config"].update(value)
        else:
            summary[key] = value
    path.write_text(json.dumps(summary))
    return folder


def no_controls(text: str) -> None:
    bad = sorted({repr(c) for c in text if c in CONTROLS})
    assert not bad, f"raw controls {bad} in {text!r}"


# --- 1. control characters and markup ------------------------------------------------------


@pytest.fixture
def nasty(tmp_path: Path) -> Path:
    """Runs whose run id, error, config values and layer names hold controls and markup."""
    root = tmp_path / "r"
    for seed in (0, 1):
        make_run(root, "relu", seed, dataset="synthetic")
        f = make_run(root, "prelu", seed, dataset="synthetic")
        edit_summary(f, config={"model": "cnn\x1b[2J[b, c]"})
    failed = make_run(root, "elu", 0, status="failed", epochs_done=1, dataset="synthetic")
    edit_summary(failed, run_id="\x1b]0;pwned\x07x\x9b", error="\x1b[2Jboom [/] \x08\r[bold]")
    bad = root / "bad\x1b[31mfolder"
    bad.mkdir()
    (bad / "summary.json").write_text("{")
    return root


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "latex"])
def test_compare_never_prints_controls_from_run_folders(nasty, fmt):
    r = runner.invoke(app, ["compare", str(nasty), "--format", fmt], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    no_controls(r.stdout + r.stderr)
    if fmt in ("table", "markdown"):
        assert "[b, c]" in r.stdout  # markup-looking text is shown, not eaten
        assert "[/]" in r.stdout and "[bold]" in r.stdout


def test_an_error_line_never_carries_controls_or_markup(tmp_path):
    r = runner.invoke(app, ["compare", str(tmp_path / "no\x1b]0;x\x07pe[/]")])
    line = one_line_error(r, "no runs to compare")
    no_controls(line)
    assert "[/]" in line


def test_a_warning_for_a_bad_table_never_carries_controls(tmp_path):
    run = make_run(tmp_path / "r", "relu", 0)
    (run / "metrics.csv").write_text("epoch,\x1b[2Jx\n0,zz\n")
    r = runner.invoke(app, ["plot", str(run), "--out", str(tmp_path / "figs")])
    assert r.exit_code == 2
    no_controls(r.output)


def test_rich_markup_in_out_and_in_errors_is_text(nasty, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["compare", str(nasty), "--out", "[/bold]"])
    assert r.exit_code == 0, r.output
    assert "[/bold]" in r.stdout and (tmp_path / "[/bold]").is_file()
    r = runner.invoke(app, ["report", str(nasty), "--out", "[/]x.html"])
    assert r.exit_code == 0, r.output
    assert "[/]x.html" in r.stdout
    r = runner.invoke(app, ["plot", str(nasty), "--out", "[/]figs"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "[/]figs" / "accuracy.png").is_file()


def test_the_report_escapes_every_value_of_every_file(tmp_path):
    study = tmp_path / "study"
    runs = study / "runs"
    for act in ("relu", "prelu"):
        for seed in (0, 1):
            f = make_run(runs, act, seed, layers=(SCRIPT, "b"), units=(4, 8))
            edit_summary(
                f,
                run_id=f"{f.name}{SCRIPT}",
                config={"dataset": SCRIPT, "out": SCRIPT, SCRIPT: SCRIPT},
                platform=SCRIPT,
                device_name=SCRIPT,
                torch=SCRIPT,
            )
    failed = make_run(runs, "elu", 0, status="failed", epochs_done=1)
    edit_summary(failed, run_id=SCRIPT, error=SCRIPT)
    claim = {k: SCRIPT for k in ("claim", "paper", "measured", "criterion", "verdict", "id")}
    verdict = dict.fromkeys(("study", "title", "source", "quick", "runs"), SCRIPT)
    verdict.update(claims=[claim], left_out=[{"run": SCRIPT, "why": SCRIPT}])
    (study / "verdict.json").write_text(json.dumps(verdict))
    (study / f"{SCRIPT.replace('/', '')}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(study), "--by", f"act,dataset,{SCRIPT}", "--out",
                            str(out), "--title", SCRIPT, "--include-incomplete"])  # fmt: skip
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page


# --- 2. outputs never inside a run folder --------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "{r}", "--out", "{run}/summary.json"],
        ["compare", "{r}", "--out", "{run}/table.md"],
        ["compare", "{r}", "--out", "{link}/summary.json"],
        ["compare", "{r}", "--out", "{run}/sub/deeper/t.csv"],
        ["plot", "{r}", "--out", "{run}"],
        ["plot", "{r}", "--out", "{run}/figs"],
        ["report", "{r}", "--out", "{run}/config.yaml"],
        ["export", "tensorboard", "{r}", "--out", "{run}"],
        ["export", "tensorboard", "{r}", "--out", "{r}"],  # would write {r}/<run id>/
    ],
    ids=lambda a: " ".join(a),
)
def test_no_output_inside_a_run_folder(tmp_path, args):
    root = tmp_path / "r"
    run = make_run(root, "relu", 0)
    make_run(root, "relu", 1)
    os.symlink(run, tmp_path / "link")
    before = _files(run)
    where = {"r": root, "run": run, "link": tmp_path / "link"}
    r = runner.invoke(app, [a.format(**where) for a in args])
    one_line_error(r, "inside the run folder")
    assert _files(run) == before


def test_compare_out_dash_is_stdout_and_plot_report_refuse_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "r", "relu", 0)
    r = runner.invoke(app, ["compare", "r", "--out", "-", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["groups"]
    r = runner.invoke(app, ["compare", "r", "--out", "-"])
    assert r.exit_code == 0 and "final test accuracy" in r.stdout
    for cmd in (["plot"], ["report"], ["export", "tensorboard"]):
        r = runner.invoke(app, [*cmd, "r", "--out", "-"])
        one_line_error(r, "--out -")
    assert not (tmp_path / "-").exists()


def test_compare_out_an_existing_folder_and_a_file_as_input_are_one_line(tmp_path):
    make_run(tmp_path / "r", "relu", 0)
    (tmp_path / "somefile.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    r = runner.invoke(app, ["compare", str(tmp_path / "r"), "--out", str(tmp_path / "folder")])
    one_line_error(r, "is a folder; give a file name")
    r = runner.invoke(app, ["compare", str(tmp_path / "somefile.txt")])
    one_line_error(r, "is a file, not a run folder")


# --- 3. special files and huge files -------------------------------------------------------


def _special_runs(root: Path) -> None:
    make_run(root / "good", "relu", 0)
    for seed, (name, target) in enumerate([("zero", "/dev/zero"), ("random", "/dev/urandom")]):
        f = make_run(root / name, "relu", 1 + seed)
        (f / "summary.json").unlink()
        os.symlink(target, f / "summary.json")
    f = make_run(root / "fifo", "relu", 3)
    (f / "summary.json").unlink()
    os.mkfifo(f / "summary.json")
    for seed, (name, target) in enumerate([("mzero", "/dev/zero"), ("mfifo", None)]):
        f = make_run(root / name, "relu", 4 + seed)
        (f / "metrics.csv").unlink()
        if target:
            os.symlink(target, f / "metrics.csv")
        else:
            os.mkfifo(f / "metrics.csv")
    big = make_run(root / "big", "relu", 9)
    with open(big / "metrics.csv", "r+b") as fh:  # 100 MB, sparse: no disk, the size counts
        fh.truncate(100 * 2**20)
    long = make_run(root / "long", "relu", 10)  # a valid table of 150,000 epochs (6 MB)
    header = (long / "metrics.csv").read_text().splitlines()[0]
    row = ",".join(["0.5"] * (header.count(",")))
    rows = "".join(f"{i},{row}\n" for i in range(150_000))
    (long / "metrics.csv").write_text(f"{header}\n{rows}")


@pytest.mark.parametrize(
    "cmd",
    [
        ["compare"],
        ["plot", "--out", "{tmp}/figs"],
        ["report", "--out", "{tmp}/r.html"],
        ["export", "tensorboard", "--out", "{tmp}/tb"],
    ],  # fmt: skip
    ids=lambda c: c[0],
)
def test_special_and_huge_files_are_refused_bounded(tmp_path, cmd):
    root = tmp_path / "runs"
    _special_runs(root)
    args = [cmd[0], *cmd[1:2]] if cmd[0] == "export" else [cmd[0]]
    rest = cmd[2:] if cmd[0] == "export" else cmd[1:]
    r = run_limited([*args, str(root), *(a.format(tmp=tmp_path) for a in rest)], 900, 60)
    assert not r.timed_out, r.stderr
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    said = " ".join(r.stderr.split())
    assert "summary.json is not a regular file" in said
    if cmd[0] != "compare":
        assert "metrics.csv is not a regular file" in said
        assert "metrics.csv is 104,857,600 bytes" in said
        assert "metrics.csv has more than 100,000 rows" in said


def test_read_summary_and_read_table_refuse_special_files(tmp_path):
    f = tmp_path / "run"
    f.mkdir()
    os.symlink("/dev/zero", f / "summary.json")
    os.symlink("/dev/urandom", f / "layers.csv")
    os.mkfifo(f / "metrics.csv")
    code = f"""
from relubench.analysis.load import load_run
from relubench.runfolder import Malformed, read_summary, read_table
assert read_summary({str(f)!r}) is None
for call in (lambda: load_run({str(f)!r}), lambda: read_table({str(f / "layers.csv")!r}),
             lambda: read_table({str(f / "metrics.csv")!r})):
    try:
        call()
    except Malformed as e:
        print(e)
"""
    r = run_limited(["-c", code], 300, 30)
    assert not r.timed_out and r.returncode == 0, r.stderr
    assert r.lines == [f"{n} is not a regular file" for n in
                       ("summary.json", "layers.csv", "metrics.csv")]  # fmt: skip


def test_a_special_verdict_json_or_figure_is_one_warning(tmp_path):
    make_run(tmp_path / "a" / "runs", "relu", 0)
    os.symlink("/dev/zero", tmp_path / "a" / "verdict.json")
    make_run(tmp_path / "b" / "runs", "relu", 1)
    doc = {"study": "s", "title": "t", "source": "x", "runs": 1, "claims": []}
    (tmp_path / "b" / "verdict.json").write_text(json.dumps(doc))
    os.mkfifo(tmp_path / "b" / "fig.png")
    out = str(tmp_path / "r.html")
    r = run_limited(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", out], 900, 60)
    assert not r.timed_out and r.returncode == 0, r.stderr
    assert "verdict.json is not a regular file" in " ".join(r.stderr.split())
    assert "fig.png is not a regular file" in " ".join(r.stderr.split())


# --- 4. wrong numbers are never shown ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"final_dead_frac": 5.0}, "final_dead_frac is 5.0, outside [0, 1]"),
        ({"init_dead_frac": -0.1}, "init_dead_frac is -0.1, outside [0, 1]"),
        ({"final_test_acc": True}, "final_test_acc is True, not a number"),
        ({"wall_seconds": "fast"}, "wall_seconds is 'fast', not a number"),
        ({"epochs_done": -2}, "epochs_done is -2.0, below 0"),
        ({"layers": 5}, "layers is 5, not a list"),
        ({"layers": [5]}, "layers[0] is 5, not an object"),
        ({"layers": [{"layer": "a", "alpha_mean": True}]}, "alpha_mean is True, not a number"),
        ({"layers": [{"layer": "a", "alpha_mean": "x"}]}, "alpha_mean is 'x', not a number"),
        ({"config": 5}, "config"),
        ({"final_test_acc": 10**400}, "final_test_acc is 1000000000"),  # no float holds it
    ],
    ids=lambda v: str(v)[:40],
)
def test_out_of_range_summaries_are_skipped_with_the_reason(tmp_path, changes, why):
    make_run(tmp_path / "r", "prelu", 0)
    bad = make_run(tmp_path / "r", "prelu", 1)
    path = bad / "summary.json"
    summary = json.loads(path.read_text())
    summary.update(changes)
    path.write_text(json.dumps(summary))
    if changes.get("config") == 5:
        (bad / "config.yaml").write_text("- 1\n")
    r = runner.invoke(app, ["compare", str(tmp_path / "r"), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "skipped 1" in r.stderr and why in " ".join(r.stderr.split())
    assert len(json.loads(r.stdout)["groups"][0]["runs"]) == 1


def test_a_nan_in_a_study_table_leaves_the_run_out_by_name(tmp_path):
    good = make_run(tmp_path, "relu", 0, layer_stats={"out_std": [1.0] * 4})
    bad = make_run(tmp_path, "relu", 1, layer_stats={"out_std": [1.0, math.nan, 1.0, 1.0]})
    runs, skipped = read_runs([good, bad])
    assert [r.run_id for r in runs] == [good.name]
    ((path, why),) = skipped
    assert path == str(bad) and "out_std" in why and "nan" in why and "layers.csv" in why


# --- 5. one line, never a traceback --------------------------------------------------------


def test_read_table_refuses_huge_fields_and_bad_bytes_and_reads_a_bom(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,layer\n0," + "x" * 200_000 + "\n")
    with pytest.raises(Malformed, match="metrics.csv unreadable"):
        read_table(p)
    p.write_bytes("\ufeffepoch,test_acc\n0,0.5\n".encode())
    assert read_table(p).rows == [{"epoch": 0, "test_acc": 0.5}]
    p.write_bytes(b"epoch,test_acc\n0,0.5\xff\n")
    with pytest.raises(Malformed, match="metrics.csv is not UTF-8 text"):
        read_table(p)


def test_a_broken_verdict_json_is_one_warning_in_the_report(tmp_path):
    for name, doc in {"a": {"claims": 5, "title": "t", "study": "s"}, "b": {"claims": []}}.items():
        study = tmp_path / name
        make_run(study / "runs", "relu", 0)
        (study / "verdict.json").write_text(json.dumps(doc))
        out = tmp_path / f"{name}.html"
        r = runner.invoke(app, ["report", str(study), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "verdict.json" in r.stderr and "warning" in r.stderr
        assert out.is_file()


@pytest.mark.parametrize(
    "call",
    [
        lambda p: relubench.compare(p, by=5),
        lambda p: relubench.compare(p, tune=[1]),
        lambda p: relubench.compare(p, baseline=3),
        lambda p: relubench.compare(p, include_incomplete="no"),
        lambda p: relubench.load_runs((1, 2)),
        lambda p: relubench.load_runs(5),
        lambda p: relubench.load_runs(p / "missing"),
        lambda p: relubench.compare(p / "missing"),
        lambda p: relubench.comparison(None),
    ],
)
def test_the_api_refuses_wrong_types_and_missing_paths_alike(tmp_path, call):
    make_run(tmp_path / "r", "relu", 0)
    with pytest.raises(RelubenchError) as e:
        call(tmp_path)
    assert isinstance(e.value, CompareError)
    assert "\n" not in str(e.value)


def test_load_runs_and_compare_agree_on_a_missing_path(tmp_path):
    with pytest.raises(CompareError) as a:
        relubench.load_runs(tmp_path / "nope")
    with pytest.raises(CompareError) as b:
        relubench.compare(tmp_path / "nope")
    assert str(a.value) == str(b.value)


# --- 6. friction ---------------------------------------------------------------------------


def test_a_path_given_twice_counts_once_and_says_nothing(tmp_path):
    root = tmp_path / "res"
    run = make_run(root, "relu", 0)
    folders, problems = find_runs([root, root, str(root) + "/", run])
    assert folders == [run] and problems == []
    r = runner.invoke(app, ["compare", str(root), str(root), "--format", "json"])
    assert r.exit_code == 0 and r.stderr == "", r.stderr


def test_a_layer_name_with_controls_is_drawn_escaped_and_never_reaches_stderr(tmp_path):
    run = make_run(tmp_path / "r", "prelu", 0)
    layers = run / "layers.csv"
    layers.write_text(layers.read_text().replace("block1", "blo\x1b]0;X\x07ck1"))
    r = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", str(tmp_path / "f")])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr and "Glyph" not in r.stderr
    assert "blo\\x1b]0;X\\x07ck1" in (tmp_path / "f" / "dead_layers.svg").read_text()
