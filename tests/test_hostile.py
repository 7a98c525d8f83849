"""Hostile input: every bad input is one line on stderr and exit code 2, never a traceback,
and nothing finished is lost. The cases are the ones a hostile user tried (and a few more);
the concurrency and kill cases run real processes (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from relubench.cli import app
from relubench.testing import make_run

runner = CliRunner()
# a run that takes a second: synthetic data, a narrow net, one thread
QUICK = ["--dataset", "synthetic", "--width", "4", "--epochs", "1", "--threads", "1",
         "--set", "train_size=256", "--set", "test_size=64", "--set", "probe_size=32"]  # fmt: skip
ALIAS_BOMB = "\n".join(
    [f"base:\n  lr: 0.1\ngrid:\n  a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["  act: *a8"]
)


def one_line_error(r, fragment: str) -> str:
    """Exit code 2, no traceback, exactly one line of output, and it says `fragment`."""
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert fragment in " ".join(lines[0].split()), r.output
    return lines[0]


@pytest.fixture
def junk(tmp_path: Path) -> Path:
    """A folder of hostile files."""
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01\x02\xff\xfe")
    (tmp_path / "int-key.yaml").write_text("1: 2\n")
    (tmp_path / "null-key.yaml").write_text("null: 2\n")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB + "\n")
    (tmp_path / "empty-grid.yaml").write_text("grid:\n  act: []\n")
    return tmp_path


CASES = [
    # paths
    (["train", "--out", "{tmp}/afile/sub", *QUICK], "cannot write the run folder"),
    (["train", "--out", "/proc/relubench", *QUICK], "cannot write the run folder"),
    (["smoke", "--out", "{tmp}/afile"], "is a file; give a folder"),
    (["compare", "{tmp}/nothing-here"], "no runs to compare under"),
    # YAML
    (["train", "--config", "{tmp}/binary.yaml"], "is not text (UTF-8)"),
    (["train", "--config", "{tmp}/int-key.yaml"], "config keys are names; 1 in"),
    (["train", "--config", "{tmp}/null-key.yaml"], "config keys are names; None in"),
    (["train", "--config", "{tmp}/deep.yaml"], "is nested more than 50 levels deep"),
    (["sweep", "{tmp}/bomb.yaml", "--dry-run"], "unknown config key 'a0'"),
    (["sweep", "{tmp}/empty-grid.yaml"], "grid key act has an empty list"),
    (["train", "--set", "act=[1, 2]"], "act must be str, got [1, 2]"),
    # numbers
    (["train", "--lr", "nan"], "lr must be a finite number, got nan"),
    (["train", "--lr", "inf"], "lr must be a finite number, got inf"),
    (["train", "--weight-decay", "nan"], "weight_decay must be a finite number"),
    (["train", "--set", "prelu_init=nan"], "prelu_init must be a finite number"),
    (["train", "--set", "leaky_slope=.nan"], "leaky_slope must be a finite number"),
    (["train", "--lr", "1e300"], "lr must be <= 1000"),
    (["train", "--seed", str(2**70)], "seed must be <= 4.61169e+18"),
    (["train", "--seed", "-1"], "seed must be >= 0"),
    (["train", "--set", "train_size=50000"], "train_size 50,000 is larger than mnist-mini's"),
    (["train", "--set", "test_size=2001"], "test_size 2,001 is larger than mnist-mini's 2,000"),
    (["train", "--set", "val_size=-5"], "val_size must be >= 0"),
    (["train", "--set", "val_size=10000"], "val_size 10,000 is more than mnist-mini's 10,000"),
    (["train", "--set", "val_size=2000", "--set", "train_size=9000"], "+ train_size 9,000"),
    (["train", "--threads", str((os.cpu_count() or 1) + 1)], "logical cores; use at most"),
    (["train", *QUICK, "--width", "100000"], "this run needs at least"),
    (["train", *QUICK, "--set", "train_size=100000000"], "GB of memory (data"),
    # the parser's own refusals
    (["train", "--bogus"], "No such option: --bogus"),
    (["train", "--epochs", "x"], "Invalid value for '--epochs'"),
    (["compare"], "Missing argument 'paths'"),
    (["sweep", "{tmp}/bomb.yaml", "--jobs", "0"], "--jobs must be >= 1"),
    (["sweep", "{tmp}/bomb.yaml", "--backend", "slurm"], "unknown backend 'slurm'"),
]


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=lambda v: " ".join(v)[:40])
def test_bad_input_is_one_line_and_exit_2(junk, args, fragment):
    r = runner.invoke(app, [a.format(tmp=junk) for a in args], env={"COLUMNS": "400"})
    one_line_error(r, fragment)
    assert not list(junk.glob("**/summary.json"))  # nothing was started


def test_a_result_folder_that_cannot_be_written_is_one_line(tmp_path):
    make_run(tmp_path / "r", "relu", 0)
    for cmd in (["compare", "--out", "/proc/t.md"], ["report", "--out", "/proc/r.html"]):
        r = runner.invoke(app, [cmd[0], str(tmp_path / "r"), *cmd[1:]])
        one_line_error(r, "cannot write /proc/")
    r = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", "/proc/figures"])
    one_line_error(r, "cannot write figures into /proc/figures")


def test_malformed_result_folders_are_skipped_with_a_warning(tmp_path):
    root = tmp_path / "r"
    good = make_run(root, "relu", 0)
    for name, edit in {
        "list-value": lambda s: s["config"].update(act=["relu", "elu"]),
        "dict-value": lambda s: s["config"].update(lr={"a": 1}),
        "infinite": lambda s: s.update(epochs_done=float("inf")),
    }.items():
        folder = make_run(root / name, "relu", 1)
        summary = json.loads((folder / "summary.json").read_text())
        edit(summary)
        (folder / "summary.json").write_text(json.dumps(summary))
    os.symlink(root, root / "loop")  # a symlink loop under the results folder
    r = runner.invoke(app, ["compare", str(root), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "skipped 3" in r.stderr
    assert "not a single value" in r.stderr and "not a finite number" in r.stderr
    groups = json.loads(r.stdout)["groups"]
    assert [g["runs"] for g in groups] == [[good.name]]  # counted once despite the loop


def test_labels_are_never_read_as_tex(tmp_path):
    # a group label from a path with `$`: matplotlib would parse it as mathtext and fail
    out = tmp_path / "$\\frac{a$"
    make_run(out, "relu", 0)
    make_run(tmp_path / "plain", "relu", 0)
    r = runner.invoke(app, ["plot", str(tmp_path), "--by", "out", "--out", str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "figs" / "accuracy.png").is_file()


def test_a_crafted_cifar_pickle_is_refused_fast(tmp_path):
    from test_datasets import _pickle, write_cifar

    write_cifar(tmp_path)
    nested: list = [0]
    for _ in range(60):  # 2^60 labels once expanded, a few hundred bytes pickled
        nested = [nested, nested]
    _pickle(tmp_path / "cifar-10-batches-py" / "data_batch_1", {"data": None, "labels": nested})
    t0 = time.perf_counter()
    r = runner.invoke(app, ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                            "--model", "mlp", "--width", "4", "--epochs", "1"])  # fmt: skip
    one_line_error(r, "data_batch_1")
    assert time.perf_counter() - t0 < 10


def proc(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "relubench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


LONG = ["train", "--dataset", "synthetic", "--model", "mlp", "--width", "8", "--set", "depth=1",
        "--epochs", "2500", "--set", "train_size=128", "--set", "test_size=64",
        "--set", "probe_size=32", "--threads", "1"]  # fmt: skip


@pytest.mark.slow
def test_two_identical_trains_one_runs_the_other_says_so(tmp_path):
    first = proc(*LONG, "--out", str(tmp_path))
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*/metrics.csv")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = proc(*LONG, "--out", str(tmp_path))
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert "is being written by pid" in err and f"pid {first.pid}" in err
        assert first.poll() is None  # the first goes on, untouched
    finally:
        first.send_signal(signal.SIGTERM)  # what schedulers send: status interrupted
        first.communicate(timeout=60)
    (summary,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/summary.json")]
    assert summary["status"] == "interrupted" and summary["epochs_done"] >= 1


@pytest.mark.slow
def test_killing_a_sweep_kills_its_workers(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "dataset": "synthetic",
                    "model": "mlp",
                    "width": 8,
                    "depth": 1,
                    "epochs": 2500,
                    "train_size": 128,
                    "test_size": 64,
                    "probe_size": 32,
                    "out": str(tmp_path / "r"),
                },  # fmt: skip
                "grid": {"seed": [0, 1]},
            }
        )
    )
    parent = proc("sweep", str(sweep), "--jobs", "2")
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "r").glob("*/metrics.csv"))) < 2:
        assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
        time.sleep(0.2)
    workers = [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(parent.pid)], capture_output=True, text=True
    ).stdout.split()]  # fmt: skip
    assert workers
    parent.kill()  # kill -9: no cleanup of its own
    parent.communicate()
    deadline = time.monotonic() + 5
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in alive if Path(f"/proc/{w}").exists() and not _zombie(w)]
    assert not alive, f"workers {alive} outlived their sweep by 5 s"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_million_run_dry_run_is_quick_and_small(tmp_path):
    f = tmp_path / "huge.yaml"
    grid = {
        "act": ["relu", "leaky", "prelu", "prelu-shared", "elu", "selu"],
        "seed": list(range(1000)),
        "lr": [round(0.01 * i, 2) for i in range(1, 168)],
    }
    f.write_text(yaml.safe_dump({"base": {"out": str(tmp_path / "r")}, "grid": grid}))
    # the CLI in a process of its own, which reports its own peak memory: VmHWM (KB), which
    # starts afresh at exec (ru_maxrss would carry over this big test process's, via fork)
    code = (
        "import re, sys\nfrom relubench.cli import app\ntry:\n"
        f"    app(['sweep', {str(f)!r}, '--dry-run'])\nexcept SystemExit:\n    pass\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('peak', hwm, file=sys.stderr)"
    )
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())  # the title wraps to the table's width
    assert "1,002,000 runs, 0 complete, 1,002,000 to run, the first 1000:" in said
    assert seconds < 30
    peak_kb = int(r.stderr.split("peak")[-1])
    assert peak_kb < 500 * 1024
