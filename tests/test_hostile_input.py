"""Hostile input, round two (issue 27): special files, decompression bombs, numbers without
bound, duplicate YAML keys and YAML 1.1 numbers, config files that meant two things, data that
is not the registry's, RunConfigs made in Python, and friction in --help and the data commands.
Every input that could be unbounded runs in a child under a memory cap and a timeout."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from limits import run_limited
from test_config import OLD_PRELU
from test_datasets import FakeTorchvisionMNIST, OfflineMNIST, write_mnist
from test_hostile import one_line_error
from typer.testing import CliRunner

import relubench
from relubench.cli import app
from relubench.config import RunConfig, folder_hash, merge, resolve, to_yaml
from relubench.data import store
from relubench.data.readers import ReadError, read_idx_dataset
from relubench.errors import ConfigError
from relubench.registry.datasets import DATASETS, IDX_FILES, get_spec
from relubench.runner.plan import expand

runner = CliRunner()
WIDE = {"COLUMNS": "400"}


def limited_one_line(r, fragment: str) -> None:
    assert not r.timed_out, "hung"
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr[-2000:])
    assert len(r.lines) == 1 and r.lines[0].startswith("error: "), r.lines
    assert fragment in r.lines[0], r.lines[0]


# --- 1. special files -----------------------------------------------------------------------


@pytest.fixture
def specials(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")  # no writer ever opens it
    for name, base in (("zero", "/dev/zero"), ("urandom", "/dev/urandom"), ("fifo", "fifo")):
        (tmp_path / f"sweep-{name}.yaml").write_text(f"base: {base}\ngrid:\n  seed: [0, 1]\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--config", "/dev/zero"], "/dev/zero is a device or special file"),
        (["train", "--config", "/dev/urandom"], "is a device or special file"),
        (["train", "--config", "{tmp}/fifo"], "fifo is a FIFO, not a regular file"),
        (["sweep", "/dev/zero", "--dry-run"], "/dev/zero is a device or special file"),
        (["sweep", "{tmp}/fifo", "--dry-run"], "is a FIFO, not a regular file"),
        (["sweep", "{tmp}/sweep-zero.yaml", "--dry-run"], "/dev/zero is a device"),
        (["sweep", "{tmp}/sweep-urandom.yaml", "--dry-run"], "/dev/urandom is a device"),
        (["sweep", "{tmp}/sweep-fifo.yaml", "--dry-run"], "is a FIFO, not a regular file"),
    ],
)
def test_special_files_are_refused_without_reading_them(specials, args, fragment):
    argv = [a.format(tmp=specials) for a in args]
    limited_one_line(run_limited(argv, memory_mb=600, seconds=30, cwd=str(specials)), fragment)


def test_a_special_file_in_a_run_folder_is_no_run_and_does_not_hang(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    os.mkfifo(folder / "summary.json")
    (folder / "config.yaml").symlink_to("/dev/zero")
    code = (
        "from pathlib import Path; from relubench.config import folder_hash; "
        f"print(folder_hash(Path({str(folder)!r})))"
    )
    r = run_limited(["-c", code], memory_mb=300, seconds=20)
    assert not r.timed_out and r.returncode == 0 and r.stdout.strip() == "None", r.stderr


# --- 2. decompression bombs -----------------------------------------------------------------


def gz_bomb(path: Path, images: int) -> None:
    """An IDX images file claiming `images` 28x28 images of zeros: tiny gzipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, images, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(images * 784 >> 20):
            f.write(zeros)


def test_a_gzip_bomb_is_refused_at_the_size_the_registry_expects(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(tmp_path)
    gz_bomb(raw / "train-images-idx3-ubyte.gz", 400_000)  # 313 MB unpacked, 0.3 MB packed
    (raw / "train-images-idx3-ubyte").unlink()
    assert (raw / "train-images-idx3-ubyte.gz").stat().st_size < 1 << 20
    code = (
        "from pathlib import Path; from relubench.data.readers import read_idx_dataset\n"
        f"try: read_idx_dataset(Path({str(raw)!r}), 1, 28, 10, (), (60000, 10000))\n"
        "except Exception as e: print(type(e).__name__, e)"
    )
    r = run_limited(["-c", code], memory_mb=250, seconds=60)  # the bomb would need 313 MB
    assert not r.timed_out and r.returncode == 0, r.stderr[-2000:]
    assert "ReadError" in r.stdout and "holds more than the 47,040,016 bytes" in r.stdout
    assert "refused before unpacking the rest" in r.stdout


def test_a_plain_idx_file_larger_than_expected_is_refused_before_reading(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(tmp_path)
    read_idx_dataset(raw, 1, 28, 10, (), (40, 20))  # the files hold 40 and 20: they fit
    with pytest.raises(ReadError, match="holds more than the 15,696 bytes"):
        read_idx_dataset(raw, 1, 28, 10, (), (20, 20))  # train holds 40 > 20: refused


def test_the_cli_refuses_a_bomb_in_the_data_dir_in_one_line(tmp_path):
    raw = tmp_path / "d" / "MNIST" / "raw"
    write_mnist(tmp_path / "d")
    gz_bomb(raw / "train-images-idx3-ubyte.gz", 200_000)
    (raw / "train-images-idx3-ubyte").unlink()
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--out",
            str(tmp_path / "o"), "--epochs", "1", "--width", "4"]  # fmt: skip
    limited_one_line(run_limited(argv, memory_mb=1500, seconds=120), "holds more than")


# --- 3. numbers without bound -----------------------------------------------------------------

DIGITS_5000 = "1" * 5000
DIGITS_1000 = "1" * 1000


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--model", "mlp", "--set", "depth=1000000", "--set", "width=1"],
            "depth must be <= 1,000",
        ),
        (["--width", str(2**32)], "width must be <= 1,048,576, got 4294967296"),
        (["--set", f"seed={DIGITS_5000}"], "--set seed holds a number of 5,000 digits"),
        (["--set", f"seed={DIGITS_1000}"], "seed must be <= 4.61169e+18, got a number of about"),
        (["--set", f"lr={DIGITS_1000}"], "lr must be a finite number, got a number of about"),
        (
            ["--set", f"train_size={DIGITS_1000}"],
            "train_size must be <= 2,147,483,648, got a number of about",
        ),
        (["--set", "probe_size=-1"], "probe_size must be > 0"),
    ],
)
def test_numbers_have_bounds_checked_before_anything_is_built(args, fragment):
    one_line_error(runner.invoke(app, ["train", *args], env=WIDE), fragment)


def test_long_numbers_in_files_and_grids_are_one_line(tmp_path):
    (tmp_path / "c.yaml").write_text(f"seed: {DIGITS_5000}\n")
    (tmp_path / "s.yaml").write_text(f"grid:\n  seed: [{DIGITS_1000}]\n")
    (tmp_path / "d.yaml").write_text("grid:\n  depth: [2, 5000]\n  model: [mlp]\n")
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "c.yaml")], env=WIDE)
    one_line_error(r, "holds a number of 5,000 digits")
    r = runner.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--dry-run"], env=WIDE)
    one_line_error(r, "seed must be <= 4.61169e+18, got a number of about 1,000 digits")
    r = runner.invoke(app, ["sweep", str(tmp_path / "d.yaml"), "--dry-run"], env=WIDE)
    one_line_error(r, "depth must be <= 1,000, got 5000")


# --- 4. duplicate keys, YAML 1.1 numbers ------------------------------------------------------


def test_duplicate_yaml_keys_are_refused_with_the_key_and_lines(tmp_path):
    (tmp_path / "c.yaml").write_text("act: relu\nlr: 0.1\nact: elu\n")
    (tmp_path / "s.yaml").write_text("grid:\n  seed: [0]\ngrid:\n  act: [relu]\n")
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "c.yaml")], env=WIDE)
    one_line_error(r, "gives key 'act' twice (lines 1 and 3)")
    r = runner.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--dry-run"], env=WIDE)
    one_line_error(r, "gives key 'grid' twice (lines 1 and 3)")


def test_numbers_in_set_are_plain_decimals():
    assert resolve(None, ["seed=010"]).seed == 10  # not YAML 1.1's octal 8
    assert resolve(None, ["lr=1e-3"]).lr == 0.001
    for raw in ("1:0", "1_0", "0x10", "0o7"):
        with pytest.raises(ConfigError, match=f"epochs must be int, got '{raw}'.*plain decimal"):
            resolve(None, [f"epochs={raw}"])
    with pytest.raises(ConfigError, match="lr must be float, got '1_0'"):  # float() reads 10
        resolve(None, ["lr=1_0"])


# --- 5. a config file means the same in train and sweep ---------------------------------------


def test_an_edited_run_config_means_the_same_in_train_and_sweep(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    edited = to_yaml(merge({"out": str(tmp_path / "r")})).replace("act: relu", "act: prelu")
    (folder / "config.yaml").write_text(edited)
    (tmp_path / "sweep.yaml").write_text("base: run/config.yaml\ngrid:\n  seed: [0]\n")
    trained = resolve(folder / "config.yaml")
    (swept,) = expand(tmp_path / "sweep.yaml").configs
    assert trained.slope_lr == swept.slope_lr == 0.03 == merge({"act": "prelu"}).slope_lr
    assert trained.run_id == swept.run_id
    # a config.yaml written before every key was (no slope_lr): neutral in both, alike
    old = edited.replace("slope_lr: 0.03\n", "")
    (folder / "config.yaml").write_text(old)
    (swept,) = expand(tmp_path / "sweep.yaml").configs
    assert resolve(folder / "config.yaml").slope_lr == swept.slope_lr == 1.0


def test_config_yaml_holds_every_key_and_old_ids_stay():
    text = to_yaml(merge({}))
    assert all(f"\n{k}:" in text for k in RunConfig().to_dict())
    assert merge({}).run_id == "mnist-mini-cnn-relu-s0-ead83933"
    assert merge(OLD_PRELU).run_id == "mnist-mini-cnn-prelu-s0-c0a070ae"
    assert RunConfig().run_id == merge({}).run_id


# --- 6. the data a run saw is part of its identity --------------------------------------------


def test_a_copy_that_is_not_the_registry_data_gets_its_own_id(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    cfg = merge({"dataset": "mnist", "data_dir": str(tmp_path)})
    data_id = store.identity(get_spec("mnist"), tmp_path)
    assert data_id.startswith("40+20 images, files ")
    moved = store.identify(cfg)
    assert moved.data_id == data_id and moved.run_id != cfg.run_id
    # the registry's files (here: their sums made the tiny copy's) keep the id as it was
    sums = tuple(
        hashlib.sha256((tmp_path / "MNIST" / "raw" / f).read_bytes()).hexdigest() for f in IDX_FILES
    )
    monkeypatch.setitem(DATASETS, "mnist", replace(get_spec("mnist"), sha256=sums))
    assert store.identity(get_spec("mnist"), tmp_path) == ""
    assert store.identify(cfg) is cfg


def test_runs_on_another_copy_of_the_data_are_their_own_group_and_flagged(tmp_path):
    from relubench.analysis.stats import build_comparison
    from relubench.testing import make_run

    for seed in (0, 1):
        make_run(tmp_path, "relu", seed, final_acc=0.99, dataset="mnist")
        make_run(tmp_path, "relu", seed, final_acc=0.60, dataset="mnist",
                 data_id="40+20 images, files 0123456789abcdef")  # fmt: skip
    groups = {g["group"]: g for g in build_comparison([tmp_path]).groups}
    assert len(groups) == 2  # never pooled
    flags = sorted((g["final_acc"], g["flags"]) for g in groups.values())
    assert flags == [(pytest.approx(0.60), ["data"]), (pytest.approx(0.99), [])]
    assert store.identity(get_spec("mnist-mini")) == ""  # embedded: always the registry's


# --- 7. a RunConfig made in Python is validated -----------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: RunConfig(epochs=-3), "epochs must be > 0, got -3"),
        (lambda: RunConfig(epochs="3"), "epochs must be int, got '3'"),
        (lambda: RunConfig(width=2**32), "width must be <= 1,048,576"),
        (lambda: replace(RunConfig(), lr=float("nan")), "lr must be a finite number"),
        (lambda: relubench.train(5), "config must be a recipe's name, a YAML file's path or a"),
        (lambda: resolve(None, "epochs=2"), "--set takes a list of key=value strings"),
    ],
)
def test_configs_made_in_python_are_validated(make, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        make()


def test_run_config_normalises_what_merge_does():
    assert RunConfig(act="PReLU").act == "prelu" and RunConfig().width == 32


# --- 8. friction ------------------------------------------------------------------------------


def test_help_shows_no_value_for_flags_and_each_default_once():
    r = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "[default:" not in text and "<list[str]>" not in text and "KEY=VALUE" in text
    for name in ("--force", "--download", "--restart"):
        line = next(ln for ln in r.output.splitlines() if name in ln)
        assert "<bool>" not in line, line
    assert "…" not in r.output and "rrelu" in r.output and "cifar100" in r.output
    r = runner.invoke(app, ["sweep", "--help"], env={"COLUMNS": "100"})
    assert "[default:" not in r.output and "KEY=VALUE" in r.output


def test_a_grid_over_one_out_folder_spelled_three_ways_is_one_run(tmp_path):
    (tmp_path / "s.yaml").write_text("grid:\n  out: [a, a/, ./a]\n")
    plan = expand(tmp_path / "s.yaml")
    assert plan.count == 1 and plan.outs == ["a"]


def test_download_force_offline_keeps_the_copy(tmp_path, monkeypatch):
    import torchvision.datasets

    arrays = write_mnist(tmp_path)
    before = (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    monkeypatch.setattr(torchvision.datasets, "MNIST", OfflineMNIST)
    args = ["data", "download", "mnist", "--data-dir", str(tmp_path), "--force"]
    one_line_error(runner.invoke(app, args, env=WIDE), "could not download mnist")
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".relubench-download")]
    assert arrays  # the copy still loads
    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeTorchvisionMNIST)
    assert runner.invoke(app, args, env=WIDE).exit_code == 0  # online: replaced
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() != before


def test_a_damaged_system_copy_is_told(tmp_path, monkeypatch):
    write_mnist(tmp_path / "system", "fashion-mnist", gz=True)  # random pixels: not Zalando's
    monkeypatch.setenv(store.SYSTEM_ENV, str(tmp_path / "system"))
    found = store.locate(get_spec("fashion-mnist"), tmp_path / "empty")
    assert found is not None and found.system
    assert store.verify(get_spec("fashion-mnist"), found) == "fails its checksum"


def test_folder_hash_of_a_run_folder_still_reads_it(tmp_path):
    cfg = merge({"out": str(tmp_path)})
    cfg.run_dir.mkdir()
    (cfg.run_dir / "config.yaml").write_text(to_yaml(cfg))
    assert folder_hash(cfg.run_dir) == cfg.config_hash


def test_a_refused_start_leaves_no_out_folder(tmp_path):
    """A run refused before it trains (its dataset is not here) writes nothing, not even an
    empty --out."""
    out = tmp_path / "out"
    args = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "none"), "--out", str(out)]
    one_line_error(runner.invoke(app, args), "dataset mnist not found")
    assert not out.exists()


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (lambda: relubench.sweep(5), "spec must be str or Path or dict, got 5"),
        (lambda: relubench.sweep_plan(None), "spec must be str or Path or dict, got None"),
        (lambda: relubench.sweep("all-acts", jobs="2"), "jobs must be int or None, got '2'"),
        (lambda: relubench.sweep("all-acts", jobs=True), "jobs must be int or None, got True"),
        (lambda: relubench.sweep("all-acts", restart="no"), "restart must be bool, got 'no'"),
        (lambda: relubench.sweep("all-acts", overrides=5), "overrides must be dict or None"),
        (lambda: relubench.sweep("all-acts", cpus_per_run="a"), "cpus_per_run must be int or"),
        (lambda: relubench.run_study("born-dead", quick="no"), "quick must be bool, got 'no'"),
        (lambda: relubench.run_study("born-dead", out=5), "out must be str or Path, got 5"),
        (lambda: relubench.run_study(5), "name must be str, got 5"),
        (lambda: relubench.sweep({}), "an empty sweep; give base, grid or runs"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_sweep_and_study_api_refuses_wrong_types_before_running(call, why):
    with pytest.raises(ConfigError, match=re.escape(why)):
        call()


def test_an_empty_sweep_file_and_a_run_folder_as_out_are_one_line(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    one_line_error(runner.invoke(app, ["sweep", str(tmp_path / "empty.yaml"), "--dry-run"]),
                   "an empty sweep; give base, grid or runs")  # fmt: skip
    run = tmp_path / "results" / "some-run"
    run.mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    r = runner.invoke(app, ["train", "--out", str(run), "--epochs", "1"])
    one_line_error(r, f"--out {run} is a run folder; give the folder that holds run folders")
    assert sorted(p.name for p in run.iterdir()) == ["summary.json"]  # nothing nested in it
