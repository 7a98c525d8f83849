"""Checkpoints and resume: the state round trip, real kills, a corrupt or foreign checkpoint."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, kill_at

from relubench.config import merge
from relubench.runner import checkpoint
from relubench.runner.checkpoint import CHECKPOINT, CheckpointError, capture, restore
from relubench.runner.loop import train_one_epoch
from relubench.runner.reporters import QuietReporter
from relubench.runner.train import build_loop, load_data, run

TIMING = ("epoch_seconds", "samples_per_s")


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    """A CSV's rows without the timing columns (the only ones a resume may change)."""
    with open(folder / name, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def same_files(a: Path, b: Path) -> None:
    for name in ("metrics.csv", "layers.csv", "alphas.csv"):
        assert (a / name).is_file() == (b / name).is_file(), name
        if (a / name).is_file():
            assert rows(a, name) == rows(b, name), name


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def fresh_loop(cfg):
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    return build_loop(cfg, data, torch.device("cpu"), QuietReporter()), data


@pytest.mark.parametrize("act", ["rrelu", "prelu"])
def test_the_state_round_trip_restores_every_generator_and_the_schedule(tiny, tmp_path, act):
    """Capture after an epoch, save, read, restore into a new loop: the next epoch is the same,
    step for step, as the original loop's (dropout and rrelu draw from torch's generator)."""
    cfg = merge({**tiny, "act": act, "epochs": 3, "dropout": 0.3})
    loop, data = fresh_loop(cfg)
    train_one_epoch(loop, data.x_train, data.y_train, 1)
    cfg.run_dir.mkdir(parents=True)
    checkpoint.save(cfg.run_dir, cfg, 1, capture(loop), {}, {})
    expected = train_one_epoch(loop, data.x_train, data.y_train, 2)

    ckpt = checkpoint.read(cfg.run_dir, cfg)
    other, _ = fresh_loop(cfg)
    torch.manual_seed(123)  # whatever the generators did meanwhile, the checkpoint's count
    other.generator.manual_seed(456)
    restore(other, ckpt["state"])
    assert other.sched.last_epoch == loop.sched.last_epoch - len(data.y_train) // cfg.batch_size
    got = train_one_epoch(other, data.x_train, data.y_train, 2)
    assert got["train_loss"] == expected["train_loss"]
    assert got["train_acc"] == expected["train_acc"]
    theirs = other.model.state_dict()
    for name, p in loop.model.state_dict().items():
        assert torch.equal(p, theirs[name]), name
    assert other.opt.param_groups[0]["lr"] == loop.opt.param_groups[0]["lr"]
    assert torch.equal(other.generator.get_state(), loop.generator.get_state())
    assert ckpt["epoch"] == 1 and ckpt["changed"] == {}


class StopAfter(QuietReporter):
    """Ctrl-C once epoch `n`'s checkpoint is written."""

    def __init__(self, n: int) -> None:
        self.n = n

    def saved(self, epoch: int) -> None:
        if epoch == self.n:
            raise KeyboardInterrupt


def interrupted(cfg, after: int = 1) -> Path:
    with pytest.raises(KeyboardInterrupt):
        run(cfg, StopAfter(after))
    assert summary(cfg.run_dir)["status"] == "interrupted"
    assert (cfg.run_dir / CHECKPOINT).is_file()
    return cfg.run_dir


def test_an_interrupted_run_resumes_and_lands_on_the_uninterrupted_numbers(tiny, tmp_path):
    cfg = merge({**tiny, "act": "prelu", "epochs": 4})
    whole = run(merge({**cfg.to_dict(), "out": str(tmp_path / "whole")}))
    folder = interrupted(cfg, after=2)
    s = run(cfg)
    assert s["status"] == "complete" and s["epochs_done"] == 4
    assert [r["from_epoch"] for r in s["resumes"]] == [2]
    assert whole["resumes"] == []
    same_files(folder, tmp_path / "whole" / whole["run_id"])
    assert s["final_test_acc"] == whole["final_test_acc"]
    assert not (folder / CHECKPOINT).exists()  # removed once complete
    assert s["started_at"] <= s["resumes"][0]["at"]


def test_restart_starts_an_unfinished_run_over(tiny):
    cfg = merge({**tiny, "epochs": 3})
    interrupted(cfg)
    s = run(cfg, restart=True)
    assert s["status"] == "complete" and s["resumes"] == []


def test_a_changed_runtime_key_resumes_and_is_recorded(tiny):
    cfg = merge({**tiny, "epochs": 3})
    interrupted(cfg)
    s = run(merge({**tiny, "epochs": 3, "threads": 2}))
    assert s["status"] == "complete"
    assert s["resumes"][0]["changed"] == {"threads": [1, 2]}


def test_a_changed_experiment_key_is_another_run_and_never_resumes_this_one(tiny):
    cfg = merge({**tiny, "epochs": 3})
    folder = interrupted(cfg)
    other = run(merge({**tiny, "epochs": 3, "lr": 0.02}))
    assert other["resumes"] == [] and other["run_id"] != folder.name
    assert summary(folder)["status"] == "interrupted"  # untouched, still resumable


def test_a_checkpoint_of_another_config_is_refused_in_one_line(tiny, tmp_path):
    cfg = merge({**tiny, "epochs": 3})
    folder = interrupted(cfg)
    other = merge({**tiny, "epochs": 3, "lr": 0.02, "out": str(tmp_path / "o")})
    interrupted(other)
    (other.run_dir / CHECKPOINT).replace(folder / CHECKPOINT)  # copied in by hand
    with pytest.raises(CheckpointError, match=r"another config \(lr: 0.02 in the checkpoint"):
        run(cfg)
    assert summary(folder)["status"] == "interrupted"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "relubench", "train", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def flags(tiny: dict, **more) -> list[str]:
    return [a for k, v in {**tiny, **more}.items() for a in ("--set", f"{k}={v}")]


@pytest.mark.parametrize("garbage", [b"", b"not a checkpoint", b"PK\x03\x04" + b"\0" * 64])
def test_a_corrupt_checkpoint_is_refused_and_the_folder_kept(tiny, garbage):
    cfg = merge({**tiny, "epochs": 3})
    folder = interrupted(cfg)
    (folder / CHECKPOINT).write_bytes(garbage)
    before = (folder / "metrics.csv").read_text()
    with pytest.raises(CheckpointError, match="cannot read the checkpoint .* pass --restart"):
        run(cfg)
    assert (folder / "metrics.csv").read_text() == before  # nothing lost
    assert summary(folder)["status"] == "interrupted"


def test_the_cli_says_so_in_one_line_and_restart_goes_on(tiny):
    folder = interrupted(merge({**tiny, "epochs": 3}))
    (folder / CHECKPOINT).write_bytes(b"\x80\x02garbage")
    r = cli(*flags(tiny, epochs=3))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "cannot read the checkpoint" in r.stderr and "--restart" in r.stderr
    r = cli(*flags(tiny, epochs=3), "--restart")
    assert r.returncode == 0, r.stderr
    assert summary(folder)["status"] == "complete" and summary(folder)["resumes"] == []


class FailAfter(StopAfter):
    def saved(self, epoch: int) -> None:
        raise RuntimeError("disk on fire")


def test_diverged_and_failed_runs_keep_no_checkpoint_and_start_over(tiny):
    cfg = merge({**tiny, "act": "prelu-shared", "lr": 50.0, "epochs": 3})
    s = run(cfg)
    assert s["status"] == "diverged" and not (cfg.run_dir / CHECKPOINT).exists()
    assert run(cfg)["resumes"] == []
    cfg = merge({**tiny, "epochs": 3})
    with pytest.raises(RuntimeError):
        run(cfg, FailAfter(1))
    assert summary(cfg.run_dir)["status"] == "failed"
    assert not (cfg.run_dir / CHECKPOINT).exists()
    assert run(cfg)["resumes"] == []


def test_no_checkpoint_when_switched_off(tiny):
    cfg = merge({**tiny, "epochs": 3, "checkpoint": False})
    with pytest.raises(KeyboardInterrupt):
        run(cfg, StopAfter(1))
    assert not (cfg.run_dir / CHECKPOINT).exists()
    assert run(cfg)["resumes"] == []  # nothing to resume from: a fresh start


# A run killed outright (SIGKILL: no clean-up at all) at each kind of moment after its first
# checkpoint: at epoch 3 of 4 (12 steps an epoch), by a child process that kills itself there.
MORE = {"act": "prelu", "epochs": 4, "train_size": 768}
KILLS = {  # where -> (epoch of the checkpoint left, metrics.csv's epochs, summary's epochs_done)
    "mid-epoch": ({"at": "step", "epoch": 3, "step": 10}, 2, 3, 2),
    "after-the-epoch-rows": ({"at": "epoch", "epoch": 3}, 2, 4, 2),  # an epoch past the ckpt
    "mid-checkpoint-write": ({"at": "checkpoint", "epoch": 3}, 2, 4, 3),  # a temp file left
}  # killed right after its checkpoint, a run leaves the folder a mid-epoch kill leaves


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The folder of the uninterrupted run the killed ones must land on."""
    cfg = merge({**TINY, **MORE, "out": str(tmp_path_factory.mktemp("whole"))})
    assert run(cfg)["resumes"] == []
    return cfg.run_dir


@pytest.mark.slow
@pytest.mark.parametrize("where", KILLS)
def test_a_run_killed_anywhere_resumes_bit_for_bit(tiny, whole, where):
    """SIGKILL, then the same run again: it resumes from the last whole checkpoint, no epoch is
    in the files twice, and they equal the uninterrupted run's but for the timing columns."""
    point, ckpt_epoch, rows_then, done_then = KILLS[where]
    cfg = merge({**tiny, **MORE})
    kill_at({**point, "train": cfg.to_dict()})
    killed = summary(cfg.run_dir)
    assert killed["status"] == "running" and killed["epochs_done"] == done_then
    assert torch.load(cfg.run_dir / CHECKPOINT, weights_only=True)["epoch"] == ckpt_epoch
    assert [r["epoch"] for r in rows(cfg.run_dir, "metrics.csv")] == [
        str(e) for e in range(rows_then)
    ]
    assert bool(list(cfg.run_dir.glob(".*.tmp"))) == (where == "mid-checkpoint-write")
    s = run(cfg)
    assert s["status"] == "complete" and s["epochs_done"] == 4
    assert [r["from_epoch"] for r in s["resumes"]] == [ckpt_epoch]
    epochs = [r["epoch"] for r in rows(cfg.run_dir, "metrics.csv")]
    assert epochs == [str(e) for e in range(5)]  # every epoch once
    same_files(cfg.run_dir, whole)
    assert s["final_test_acc"] == summary(whole)["final_test_acc"]
    assert not list(cfg.run_dir.glob(".*.tmp")) and not (cfg.run_dir / CHECKPOINT).exists()


def test_a_sigterm_while_the_checkpoint_is_written_is_held_until_it_is_whole(tiny, monkeypatch):
    # torch's C++ writer turns a KeyboardInterrupt raised inside it into a RuntimeError: the
    # run ended `failed` and lost its checkpoint. Now the signal waits for the files, then stops
    written = checkpoint.atomic_write

    def signalled_midway(path, write):
        def write_after_a_sigterm(f):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the checkpoint is written
            write(f)

        return written(path, write_after_a_sigterm)

    monkeypatch.setattr(checkpoint, "atomic_write", signalled_midway)
    cfg = merge({**tiny, "epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    folder = cfg.run_dir
    assert summary(folder)["status"] == "interrupted"
    assert summary(folder)["epochs_done"] == 1
    assert torch.load(folder / CHECKPOINT, weights_only=False)["epoch"] == 1  # whole, and kept
    monkeypatch.undo()
    assert run(cfg)["resumes"][0]["from_epoch"] == 1  # the same command goes on from it
