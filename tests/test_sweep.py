"""Sweeps: expansion, resume after a real kill, two sweeps on one folder, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY, kill_at
from typer.testing import CliRunner

from relubench.cli import app
from relubench.config import merge
from relubench.errors import ConfigError
from relubench.runner.execute import threads_per_run
from relubench.runner.lock import RunBusy, RunLock, held
from relubench.runner.plan import expand

runner = CliRunner()
CONFIGS = Path(__file__).parents[1] / "configs"


def write_sweep(tmp_path: Path, spec: dict) -> Path:
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    return f


def test_grid_times_base_plus_runs(tmp_path):
    f = write_sweep(
        tmp_path,
        {
            "base": {**TINY, "out": str(tmp_path / "r")},
            "grid": {"act": ["relu", "prelu", "elu"], "seed": [0, 1]},
            "runs": [
                {"act": "selu", "model": "mlp"},
                {"act": "relu", "seed": 0},
            ],  # 2nd is a repeat
        },
    )
    plan = expand(f)
    assert len(plan.configs) == 7 and len(list(plan.todo)) == 7
    assert [c.act for c in plan.configs[:4]] == ["relu", "relu", "prelu", "prelu"]
    assert {c.epochs for c in plan.configs} == {1}
    assert plan.configs[-1].model == "mlp"


def test_ids_are_stable_and_independent_of_key_order(tmp_path):
    a = write_sweep(tmp_path, {"base": {"epochs": 2, "lr": 0.05}, "grid": {"act": ["relu"]}})
    (tmp_path / "b").mkdir()
    b = write_sweep(tmp_path / "b", {"grid": {"act": ["relu"]}, "base": {"lr": 0.05, "epochs": 2}})
    assert [c.run_id for c in expand(a).configs] == [c.run_id for c in expand(b).configs]


def test_base_may_name_a_recipe():
    plan = expand(CONFIGS / "all-acts.yaml")
    assert len(plan.configs) == 18 + 3  # six activations x 3 seeds, and leaky at 0.25 x 3
    assert [c.leaky_slope for c in plan.configs if c.leaky_slope != 0.01] == [0.25] * 3
    assert {c.act for c in plan.configs} == {
        "relu",
        "leaky",
        "prelu",
        "prelu-shared",
        "elu",
        "selu",
    }
    assert {c.seed for c in plan.configs} == {0, 1, 2} and plan.configs[0].lr == 0.1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"grid": {"activation": ["relu"]}}, "unknown config key 'activation' in"),
        ({"base": {"lr": 0.1}, "grid": {"act": ["relu", "swish"]}}, "unknown act 'swish'"),
        ({"grid": {"epochs": [1, "two"]}}, "epochs must be int"),
        ({"grids": {"act": ["relu"]}}, "unknown sweep key 'grids'"),
        ({"base": "no/such.yaml"}, "config file no/such.yaml not found"),
        # runtime keys are not in the run id: these two runs would share one folder
        ({"grid": {"act": ["relu"], "amp": [True, False]}}, "differ only in amp"),
    ],
)
def test_bad_sweep_files_name_the_file_and_key(tmp_path, spec, message):
    f = write_sweep(tmp_path, spec)
    with pytest.raises(ConfigError) as e:
        expand(f)
    assert message in str(e.value)
    r = runner.invoke(app, ["sweep", str(f)])
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.output


def test_a_missing_dataset_stops_the_sweep_once_before_any_run(tmp_path):
    data_dir = tmp_path / "data"
    spec = {"base": {**TINY, "dataset": "mnist", "data_dir": str(data_dir)}}
    f = write_sweep(tmp_path, {**spec, "grid": {"act": ["relu", "prelu"]}})
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    (line,) = r.stderr.strip().splitlines()
    assert f"dataset mnist not found in {data_dir / 'MNIST'}" in line
    assert "relubench data download mnist" in line and "download: true in the sweep" in line
    assert not (tmp_path / "r").exists()  # no run started


def test_threads_are_split_between_jobs():
    assert threads_per_run(1, cores=2) == 2 and threads_per_run(2, cores=2) == 1
    assert threads_per_run(3, cores=2) == 1 and threads_per_run(2, cores=8) == 4


def test_a_claim_is_exclusive_and_dies_with_its_process(tmp_path):
    cfg = expand(write_sweep(tmp_path, {"base": {"out": str(tmp_path)}})).configs[0]
    a = RunLock(cfg)
    folder = a.acquire()
    assert folder == cfg.run_dir and held(folder)
    with pytest.raises(RunBusy, match=f"being written by pid {os.getpid()}"):
        RunLock(cfg).acquire()
    a.release()
    assert not held(folder) and not folder.exists()  # nothing was written: nothing is left
    # junk in the lock file (or a pid of some unrelated live process) means nothing: only a
    # live holder of the lock counts
    for junk in ('{"pid": "abc"}', "[1, 2]", '{"pid": 1}', "\x00garbage"):
        folder.mkdir(exist_ok=True)
        (folder / ".lock").write_text(junk)
        with RunLock(cfg) as again:
            assert again == folder
    # a process killed while holding the claim frees it at once
    code = (
        "import sys, time; from relubench.config import merge; "
        "from relubench.runner.lock import RunLock; "
        f"RunLock(merge({{'out': {str(tmp_path)!r}}})).acquire(); print('held', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert held(folder)
    finally:
        proc.kill()
        proc.wait()
    assert not held(folder) and RunLock(cfg).acquire() == folder


def test_an_id_collision_gets_a_longer_id_never_the_other_config_s_folder(tmp_path):
    cfg = merge({"out": str(tmp_path), "dataset": "synthetic"})
    short = cfg.run_dir
    # another experiment whose hash shares the first 8 digits (forged: a real one needs ~2^32
    # configs) already lives at the short id
    other = merge({"out": str(tmp_path), "dataset": "synthetic", "lr": 0.05})
    short.mkdir(parents=True)
    summary = {"status": "complete", "config_hash": other.config_hash, "config": {}}
    (short / "summary.json").write_text(json.dumps(summary))
    assert cfg.run_id == cfg.run_ids()[1] and len(cfg.run_id.rsplit("-", 1)[1]) == 16
    with RunLock(cfg) as folder:
        assert folder == cfg.run_dir != short
    assert json.loads((short / "summary.json").read_text()) == summary  # untouched


def test_cli_sweep_runs_then_skips_everything(tmp_path):
    out = tmp_path / "r"
    f = write_sweep(
        tmp_path, {"base": {**TINY, "out": str(out)}, "grid": {"act": ["relu", "prelu"]}}
    )
    r = runner.invoke(app, ["sweep", str(f)])
    assert r.exit_code == 0, r.output
    assert len(ran_by(r.output)) == 2 and "relubench compare" in r.output
    stamps = {
        p.name: (p / "summary.json").read_text()
        for p in out.iterdir()
        if p.is_dir() and p.name[0] != "."
    }
    r = runner.invoke(app, ["sweep", str(f), "--dry-run"])
    assert r.exit_code == 0 and r.output.count("complete") >= 2 and "0 to run" in r.output
    r = runner.invoke(app, ["sweep", str(f)])
    assert r.exit_code == 0 and "skipped: complete" in r.output
    assert stamps == {
        p.name: (p / "summary.json").read_text()
        for p in out.iterdir()
        if p.is_dir() and p.name[0] != "."
    }


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "r"
    f = write_sweep(
        tmp_path,
        {"base": {**TINY, "out": str(out), "schedule": "none"}, "grid": {"lr": [1000, 0.05]}},
    )
    r = runner.invoke(app, ["sweep", str(f)])
    assert r.exit_code == 1 and "1 of 2 runs did not complete" in r.stderr
    statuses = sorted(
        json.loads((p / "summary.json").read_text())["status"]
        for p in out.iterdir()
        if p.is_dir() and p.name[0] != "."
    )
    assert statuses == ["complete", "diverged"]


def sweep_proc(f: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "relubench", "sweep", str(f), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def ran_by(log: str) -> list[str]:
    """Run ids a sweep reports as run to completion (one `complete <run-id>` line each)."""
    return [line.split()[1] for line in log.splitlines() if line.startswith("complete ")]


def completed(out: Path) -> dict[str, str]:
    found = {}
    for p in out.iterdir() if out.exists() else []:
        s = p / "summary.json"
        if s.exists() and json.loads(s.read_text())["status"] == "complete":
            found[p.name] = json.loads(s.read_text())["started_at"] + s.read_text()
    return found


def checkpoints(out: Path) -> dict[str, int]:
    """Run id -> the epoch of its checkpoint, for the runs that have one."""
    return {
        p.parent.name: torch.load(p, weights_only=True)["epoch"]
        for p in out.glob("*/checkpoint.pt")
    }


@pytest.mark.slow
def test_resume_after_a_real_kill(tmp_path):
    """A sweep killed outright (SIGKILL: no clean-up at all, as if the machine died) in its third
    run, mid-epoch 3: the finished runs are not run again, the unfinished one resumes from its
    last complete epoch (only the epoch in progress is trained again), the rest run."""
    out = tmp_path / "r"
    acts = ["relu", "leaky", "prelu", "elu", "selu"]
    spec = {
        "base": {**TINY, "out": str(out), "epochs": 4, "train_size": 768},  # 12 steps an epoch
        "grid": {"act": acts},
    }
    f = write_sweep(tmp_path, spec)
    ids = {c.act: c.run_id for c in expand(f).configs}
    kill_at({"at": "step", "epoch": 3, "step": 10, "act": "prelu", "sweep": str(f)})
    before, at_kill = completed(out), checkpoints(out)
    assert set(before) == {ids["relu"], ids["leaky"]}
    assert at_kill == {ids["prelu"]: 2}  # killed inside a run, its epoch 2 checkpointed
    r = runner.invoke(app, ["sweep", str(f)])
    assert r.exit_code == 0, r.output
    after = completed(out)
    assert set(after) == set(ids.values())  # the union is complete
    assert all(after[k] == v for k, v in before.items())  # nothing finished was run again
    assert sorted(ran_by(r.output)) == sorted(ids[a] for a in ("prelu", "elu", "selu"))
    folder = out / ids["prelu"]
    resumes = json.loads((folder / "summary.json").read_text())["resumes"]
    assert [r["from_epoch"] for r in resumes] == [2]
    epochs = [line.split(",")[0] for line in (folder / "metrics.csv").open()][1:]
    assert epochs == ["0", "1", "2", "3", "4"]  # every epoch once
    assert not list(out.rglob(".*.tmp"))  # no half-written file anywhere
    assert not list(out.glob("*/checkpoint.pt"))  # every run complete: none kept


@pytest.mark.slow
def test_two_sweeps_on_one_folder_run_each_run_exactly_once(tmp_path):
    out = tmp_path / "r"
    acts = ["relu", "leaky", "prelu", "prelu-shared", "elu", "selu"]
    f = write_sweep(
        tmp_path, {"base": {**TINY, "out": str(out), "train_size": 512}, "grid": {"act": acts}}
    )
    a, b = sweep_proc(f), sweep_proc(f)
    logs = [p.communicate(timeout=300)[0] for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, logs
    ran = ran_by(logs[0]) + ran_by(logs[1])
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 6  # every run exactly once
    assert len(completed(out)) == 6
    assert not any(held(f) for f in out.iterdir())  # every claim released


def test_runs_only_sweeps_train_the_listed_runs_only(tmp_path):
    f = write_sweep(tmp_path, {"base": {**TINY, "out": str(tmp_path)}, "runs": [{"act": "elu"}]})
    assert [c.act for c in expand(f).configs] == ["elu"]


def test_grid_values_valid_only_together_are_accepted(tmp_path):
    # augment is defined for CIFAR only: with the dataset from the grid, every run is valid
    spec = {"base": {"augment": True, "out": str(tmp_path)}, "grid": {"dataset": ["cifar10"]}}
    assert [c.dataset for c in expand(write_sweep(tmp_path, spec)).configs] == ["cifar10"]
    with pytest.raises(ConfigError, match="unknown act 'swish'"):  # a value bad on its own
        expand(write_sweep(tmp_path, {"grid": {"act": ["relu", "swish"]}}))
