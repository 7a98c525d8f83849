"""Faults, round two (issue 27): a full disk at any write, a damaged or crafted checkpoint, an
unreadable summary, --force, a non-finite evaluation, a sweep worker killed outright."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY
from limits import run_limited

from relubench import files
from relubench.config import merge
from relubench.runner import checkpoint, loop, train
from relubench.runner.checkpoint import CHECKPOINT, CheckpointError
from relubench.runner.train import FolderUnreadable, FolderUnwritable, run

FOUR = {"act": "prelu", "epochs": 4}  # prelu: alphas.csv too
TIMING = {"epoch_seconds", "samples_per_s"}


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def table(folder: Path, name: str) -> list[dict]:
    with open(folder / name) as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def epochs_in(folder: Path, name: str) -> list[str]:
    if not (folder / name).exists():  # a full disk before the run's first tables
        return []
    return sorted({r["epoch"] for r in table(folder, name)}, key=int)


class Full:
    """atomic_write that fails with ENOSPC, halfway through its data, at its `n`th call."""

    def __init__(self, n: int, code: int = errno.ENOSPC) -> None:
        self.n, self.code, self.calls = n, code, 0
        self.write = files.atomic_write

    def __call__(self, path, data) -> None:
        self.calls += 1
        if self.calls != self.n:
            return self.write(path, data)

        def half(f) -> None:
            buf = io.BytesIO()
            data(buf) if callable(data) else buf.write(
                data.encode() if isinstance(data, str) else data
            )
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            raise OSError(self.code, os.strerror(self.code))

        return self.write(path, half)


def full_at(monkeypatch, n: int) -> Full:
    full = Full(n)
    for module in (checkpoint, train, __import__("relubench.runfolder.write", fromlist=["x"])):
        monkeypatch.setattr(module, "atomic_write", full)
    return full


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    cfg = merge({**TINY, **FOUR, "out": str(tmp_path_factory.mktemp("whole"))})
    assert run(cfg)["status"] == "complete"
    return cfg.run_dir


def writes_of_a_run(tmp_path, monkeypatch) -> int:
    counter = full_at(monkeypatch, 0)
    run(merge({**TINY, **FOUR, "out": str(tmp_path / "count")}))
    monkeypatch.undo()
    return counter.calls


def consistent(folder: Path) -> None:
    """The tables hold the same epochs, those the summary says."""
    s = summary(folder)
    epochs = epochs_in(folder, "metrics.csv")
    assert epochs_in(folder, "layers.csv") == epochs == epochs_in(folder, "alphas.csv")
    assert len(epochs) - 1 == s["epochs_done"] or (not epochs and not s["epochs_done"])


def test_a_full_disk_at_any_write_resumes_to_the_uninterrupted_numbers(
    tmp_path, monkeypatch, whole
):
    total = writes_of_a_run(tmp_path, monkeypatch)
    assert total > 20
    for n in range(1, total + 1):
        cfg = merge({**TINY, **FOUR, "out": str(tmp_path / f"n{n}")})
        full_at(monkeypatch, n)
        with pytest.raises(FolderUnwritable, match="No space left on device.*rerun the same"):
            run(cfg)
        monkeypatch.undo()
        folder = cfg.run_dir
        s = summary(folder)
        assert s["status"] in ("running", "interrupted"), (n, s["status"])
        if (folder / "metrics.csv").exists():
            consistent(folder)
        assert not list(folder.glob(".*.tmp"))
        done = run(cfg)  # the same command, the disk freed
        assert done["status"] == "complete", n
        for name in ("metrics.csv", "layers.csv", "alphas.csv"):
            assert table(folder, name) == table(whole, name), (n, name)


def test_a_full_disk_without_checkpoints_leaves_consistent_tables(tmp_path, monkeypatch):
    cfg = merge({**TINY, **FOUR, "checkpoint": False, "out": str(tmp_path)})
    full_at(monkeypatch, 12)  # inside an epoch's tables
    with pytest.raises(FolderUnwritable):
        run(cfg)
    consistent(cfg.run_dir)


def test_a_full_disk_during_the_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    cfg = merge({**TINY, **FOUR, "out": str(tmp_path)})
    real = checkpoint.atomic_write
    saved = []

    def second_fails(path, data):
        saved.append(path)
        if len(saved) == 2:
            return Full(1)(path, data)
        return real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write", second_fails)
    with pytest.raises(FolderUnwritable):
        run(cfg)
    monkeypatch.undo()
    assert torch.load(cfg.run_dir / CHECKPOINT, weights_only=True)["epoch"] == 1  # kept
    assert run(cfg)["resumes"][0]["from_epoch"] == 1


def test_a_file_size_limit_is_one_line_and_resumable(tmp_path):
    """`ulimit -f` for real: the checkpoint passes the limit (EFBIG), the tables do not."""
    flags = [a for k, v in {**TINY, **FOUR, "out": tmp_path}.items() for a in ("--set", f"{k}={v}")]
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))\n"
        "from relubench.cli import main\nsys.argv = ['relubench', 'train', *sys.argv[1:]]\nmain()"
    )
    r = subprocess.run([sys.executable, "-c", code, *flags], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "File too large" in r.stderr and "rerun the same command" in r.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert summary(folder)["status"] == "interrupted"
    r = subprocess.run(
        [sys.executable, "-m", "relubench", "train", *flags], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert summary(folder)["status"] == "complete" and summary(folder)["epochs_done"] == 4


@pytest.mark.parametrize("damage", ["truncated", "folder"])
def test_an_unreadable_summary_stops_the_run_and_force_replaces_it(tiny, damage):
    cfg = merge(tiny)
    run(cfg)
    folder = cfg.run_dir
    before = (folder / "metrics.csv").read_text()
    s = folder / "summary.json"
    if damage == "truncated":
        s.write_text(s.read_text()[:40])
    else:
        s.unlink()
        s.mkdir()
    with pytest.raises(FolderUnreadable, match="cannot be read.*--force"):
        run(cfg)
    assert (folder / "metrics.csv").read_text() == before  # nothing replaced
    assert run(cfg, force=True)["status"] == "complete"
    assert summary(folder)["status"] == "complete" and not (folder / ".previous").exists()


def test_force_keeps_the_complete_run_until_the_new_one_completes(tiny):
    cfg = merge({**tiny, "epochs": 2})
    run(cfg)
    folder = cfg.run_dir
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}

    class Stop(train.QuietReporter):
        def saved(self, epoch: int) -> None:
            assert (folder / ".previous" / "summary.json").is_file()  # aside, not deleted
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cfg, Stop())  # what --force does: the complete run is trained again
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before  # the stopped replacement left the complete run as it was
    assert run(cfg)["status"] == "complete" and not (folder / ".previous").exists()


def test_a_non_finite_evaluation_is_a_divergence_and_summary_json_is_strict(tiny, monkeypatch):
    cfg = merge({**tiny, "epochs": 2, "val_size": 64})
    real = loop.evaluate  # what an epoch's evaluation (loop.measure) calls

    def nan_at_epoch_2(model, x, y, *a, **k):
        result, probe = real(model, x, y, *a, **k)
        if calls.append(1) or len(calls) >= 5:  # epoch 2's test and val evaluations
            result = {"loss": math.nan, "acc": result["acc"]}
        return result, probe

    calls: list[int] = []
    monkeypatch.setattr(loop, "evaluate", nan_at_epoch_2)
    s = run(cfg)
    assert s["status"] == "diverged" and "test_loss became nan at epoch 2" in s["error"]
    text = (cfg.run_dir / "summary.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    assert epochs_in(cfg.run_dir, "metrics.csv") == ["0", "1"]


def test_summary_json_writes_null_for_non_finite_numbers(tmp_path):
    from relubench.runfolder import RunWriter

    RunWriter(tmp_path, False).summary({"a": math.inf, "b": [math.nan, 1.5], "c": {"d": -math.inf}})
    text = (tmp_path / "summary.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "b": [None, 1.5], "c": {"d": None},
    }  # fmt: skip


def interrupted(cfg) -> Path:
    class Stop(train.QuietReporter):
        def saved(self, epoch: int) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cfg, Stop())
    return cfg.run_dir


def edit_checkpoint(folder: Path, edit) -> None:
    ckpt = torch.load(folder / CHECKPOINT, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, folder / CHECKPOINT)


EDITS = {
    "epoch 99": lambda c: c.update(epoch=99),
    "epoch -5": lambda c: c.update(epoch=-5),
    "epoch as text": lambda c: c.update(epoch="1"),
    "epoch 3, rows of 1": lambda c: c.update(epoch=3),
    "no rows": lambda c: c.pop("rows"),
    "rows mistyped": lambda c: c["rows"].update(metrics=5),
    "a row cell mistyped": lambda c: c["rows"]["metrics"][1].update(test_acc="high"),
    "no run": lambda c: c.pop("run"),
    "wall seconds mistyped": lambda c: c["run"].update(wall_seconds="x"),
    "resumes mistyped": lambda c: c["run"].update(resumes=5),
    "no state": lambda c: c.pop("state"),
    "no generators": lambda c: c["state"].pop("rng"),
    "config mistyped": lambda c: c.update(config=5),
    "a weight of the wrong shape": lambda c: c["state"]["model"].update(
        {next(k for k, v in c["state"]["model"].items() if v.ndim == 2): torch.zeros(3, 3)}
    ),
}


@pytest.mark.parametrize("edit", EDITS)
def test_a_checkpoint_with_edited_fields_is_refused_in_one_line(tiny, edit):
    cfg = merge({**tiny, "epochs": 4})
    folder = interrupted(cfg)
    edit_checkpoint(folder, EDITS[edit])
    before = {f: (folder / f).read_bytes() for f in ("metrics.csv", "summary.json")}
    with pytest.raises(CheckpointError, match="checkpoint .*--restart") as e:
        run(cfg)
    assert "\n" not in str(e.value)  # one line
    # nothing was trained: the folder stays as it was, its status and its checkpoint too
    assert {f: (folder / f).read_bytes() for f in before} == before
    assert (folder / CHECKPOINT).exists()
    assert run(cfg, restart=True)["status"] == "complete"


def test_a_checkpoint_zip_bomb_is_refused_before_it_is_loaded(tiny, tmp_path):
    cfg = merge({**tiny, "epochs": 4})
    folder = interrupted(cfg)
    path = folder / CHECKPOINT
    with zipfile.ZipFile(path) as z:
        records = {i.filename: z.read(i) for i in z.infolist()}
    big = next(n for n in records if "/data/" in n)
    with zipfile.ZipFile(path, "w", compresslevel=1) as z:
        for name, data in records.items():
            if name != big:
                z.writestr(name, data)
        info = zipfile.ZipInfo(big)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(2**24)
            for _ in range(128):  # 2 GB of zeros, a few MB deflated
                f.write(chunk)
    assert path.stat().st_size < 100 * 2**20
    flags = [a for k, v in {**tiny, "epochs": 4}.items() for a in ("--set", f"{k}={v}")]
    r = run_limited(["train", *flags], memory_mb=1500, seconds=120)
    assert not r.timed_out and r.returncode == 2, r.stderr[-2000:]
    assert len(r.lines) == 1 and "more than this run's state can" in r.stderr, r.lines


def test_a_special_file_as_checkpoint_is_refused(tiny):
    cfg = merge({**tiny, "epochs": 4})
    folder = interrupted(cfg)
    (folder / CHECKPOINT).unlink()
    os.mkfifo(folder / CHECKPOINT)
    with pytest.raises(CheckpointError, match="not a regular file"):
        run(cfg)


# --- sweeps ---------------------------------------------------------------------------------

KILLER = """
import json, os, signal
spec = json.loads(os.environ.get("RELUBENCH_TEST_KILL", "null"))
if spec:
    from relubench.runner.reporters import QuietReporter
    def start(self, cfg, steps):
        self.act = cfg.act
    def step(self, epoch, step, loss, acc):
        if (self.act, epoch, step) == (spec["act"], spec["epoch"], spec["step"]):
            marker = spec["marker"]
            if not os.path.exists(marker):  # once: the next sweep runs it whole
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
    QuietReporter.start, QuietReporter.step = start, step
"""


def sweep_file(tmp_path: Path, acts: list[str], **base) -> Path:
    f = tmp_path / "s.yaml"
    spec = {"base": {**TINY, "out": str(tmp_path / "r"), **base}, "grid": {"act": acts}}
    f.write_text(yaml.safe_dump(spec))
    return f


def statuses(out: Path) -> dict[str, str]:
    return {
        summary(p)["config"]["act"]: summary(p)["status"]
        for p in out.iterdir()
        if (p / "summary.json").is_file()
    }


@pytest.mark.slow
def test_a_killed_worker_costs_only_its_run(tmp_path):
    """kill -9 of one worker of a 6-run --jobs 2 sweep: the other 5 complete in the same
    invocation, the killed one is `interrupted` and resumes on the next."""
    acts = ["relu", "leaky", "prelu", "elu", "selu", "gelu"]
    f = sweep_file(tmp_path, acts, epochs=3, train_size=768)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILLER)
    spec = {"act": "prelu", "epoch": 2, "step": 10, "marker": str(tmp_path / "killed")}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        "RELUBENCH_TEST_KILL": json.dumps(spec),
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "relubench", "sweep", str(f), "--jobs", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert (tmp_path / "killed").exists()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "BrokenProcessPool" not in r.stdout + r.stderr
    assert "leaked" not in r.stderr
    got = statuses(tmp_path / "r")
    assert got == {**dict.fromkeys(acts, "complete"), "prelu": "interrupted"}, got
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (prelu,) = [p for p in (tmp_path / "r").iterdir() if p.name.startswith("synthetic-cnn-prelu")]
    assert summary(prelu)["status"] == "complete"
    assert [x["from_epoch"] for x in summary(prelu)["resumes"]] == [1]


@pytest.mark.slow
def test_sigterm_to_a_sweep_leaves_its_runs_interrupted_without_a_warning(tmp_path):
    f = sweep_file(tmp_path, ["relu", "elu"], epochs=2000, train_size=128)
    p = subprocess.Popen(
        [sys.executable, "-m", "relubench", "sweep", str(f), "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out = tmp_path / "r"
    deadline = __import__("time").monotonic() + 120
    while len(list(out.glob("*/checkpoint.pt"))) < 2:
        assert __import__("time").monotonic() < deadline and p.poll() is None
        __import__("time").sleep(0.2)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    assert set(statuses(out).values()) == {"interrupted"}


def test_a_full_disk_in_a_sweep_is_one_line(tmp_path):
    f = sweep_file(tmp_path, ["relu", "elu"], epochs=2)
    code = (
        "import errno, sys\nfrom relubench.runfolder import write\nreal = write.atomic_write\n"
        "def full(path, data):\n"
        "    if str(path).endswith('layers.csv'):\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device', str(path))\n"
        "    real(path, data)\nwrite.atomic_write = full\n"
        "from relubench.cli import main\nsys.argv = ['relubench', 'sweep', sys.argv[1]]\nmain()"
    )
    r = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "the sweep stopped" in r.stderr and "No space left" in r.stderr
    assert len(statuses(tmp_path / "r")) == 1  # no other run started


def test_a_diagnosis_of_non_finite_numbers_is_still_one_line():
    """A run that starts from NaN weights (a damaged checkpoint) diagnoses values that are nan:
    the message says so instead of failing to format them."""
    from relubench.runner.diagnose import _json_safe, message

    d = _json_safe({"epoch": 2, "step": 1, "lr": 0.1, "loss": "nan", "parameter": "fc.weight",
                    "scalar": False, "start": float("nan"), "ran_away_at_step": 1,
                    "value_then": float("inf")})  # fmt: skip
    line = message(d, 0.1, slopes=False)
    assert "(largest |value| nan -> inf by step 1)" in line and "\n" not in line
