"""Datasets installed by an operating-system package: found, checked, read in place.

Debian's dataset-fashion-mnist puts the official gzip IDX files side by side in
/usr/share/datasets/fashion-mnist/. Most tests point $RELUBENCH_SYSTEM_DATA at a temp dir
holding tiny files in that layout; the last ones read the real package, which CI installs (so
there they must not skip).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_datasets import N_TEST, N_TRAIN, one_line_error, runner, tiny_run, train, write_mnist

from relubench.cli import app
from relubench.data import load as load_mod
from relubench.data.load import load
from relubench.data.store import (
    CACHE,
    FOLDER,
    SYSTEM,
    SYSTEM_ENV,
    SYSTEM_ROOTS,
    locate,
    system_roots,
)
from relubench.registry.datasets import DATASETS, IDX_FILES, get_spec

REAL = Path("/usr/share/datasets/fashion-mnist")


def system_copy(root: Path, name: str = "fashion-mnist") -> tuple[dict, tuple[str, ...]]:
    """A flat folder of gzip IDX files under `root`, as the package has them; returns the
    arrays and the sha256 of each file uncompressed (IDX_FILES order)."""
    arrays = write_mnist(root, name, gz=True)
    import gzip

    sums = tuple(
        hashlib.sha256(gzip.decompress((root / name / f"{f}.gz").read_bytes())).hexdigest()
        for f in IDX_FILES
    )
    return arrays, sums


@pytest.fixture
def with_sums(monkeypatch):
    """Make the registry's fashion-mnist checksums those of the tiny copy."""

    def use(sums: tuple[str, ...]) -> None:
        spec = replace(get_spec("fashion-mnist"), sha256=sums)
        monkeypatch.setitem(DATASETS, "fashion-mnist", spec)

    return use


def test_the_default_roots_and_the_override(monkeypatch, tmp_path):
    monkeypatch.delenv(SYSTEM_ENV)
    assert system_roots() == [Path(r) for r in SYSTEM_ROOTS]
    assert Path("/usr/share/datasets") in system_roots()
    monkeypatch.setenv(SYSTEM_ENV, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert system_roots() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setenv(SYSTEM_ENV, "")
    assert system_roots() == []


def test_a_system_copy_is_found_read_in_place_and_equals_its_files(
    tmp_path, monkeypatch, with_sums
):
    arrays, sums = system_copy(tmp_path / "system")
    with_sums(sums)
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    spec = get_spec("fashion-mnist")
    found = locate(spec, tmp_path / "empty")
    assert found is not None and found.where == SYSTEM
    assert found.folder == tmp_path / "system" / "fashion-mnist"
    before = sorted(p.name for p in found.folder.iterdir())
    data = load("fashion-mnist", tmp_path / "empty")
    images, labels = arrays["train"]
    assert torch.equal(data.y_train, torch.from_numpy(labels).long())
    assert torch.allclose(data.x_train, load_mod.normalize(torch.from_numpy(images)[:, None], spec))
    assert len(data.y_test) == N_TEST and len(data.y_train) == N_TRAIN
    assert not (tmp_path / "empty").exists()  # nothing copied into the data dir
    assert sorted(p.name for p in found.folder.iterdir()) == before  # nothing written there


def test_the_data_dir_copy_comes_first(tmp_path, monkeypatch):
    system_copy(tmp_path / "system")
    write_mnist(tmp_path / "data", "FashionMNIST/raw")
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    found = locate(get_spec("fashion-mnist"), tmp_path / "data")
    assert found.where == FOLDER and found.folder == tmp_path / "data" / "FashionMNIST" / "raw"
    monkeypatch.setenv("RELUBENCH_DATA", str(tmp_path / "data"))
    assert locate(get_spec("fashion-mnist")).where == FOLDER  # named by the environment
    monkeypatch.delenv("RELUBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_mnist(tmp_path / "cache" / "relubench" / "data", "FashionMNIST/raw")
    assert locate(get_spec("fashion-mnist")).where == CACHE


def test_an_incomplete_system_copy_is_no_copy(tmp_path, monkeypatch):
    system_copy(tmp_path / "system")
    (tmp_path / "system" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    assert locate(get_spec("fashion-mnist"), tmp_path / "empty") is None
    msg = one_line_error(
        train("--dataset", "fashion-mnist", *tiny_run(tmp_path / "empty", tmp_path / "out"))
    )
    assert "not found in" in msg and "install the system package dataset-fashion-mnist" in msg


def test_a_system_copy_that_is_not_the_official_files_is_refused_in_one_line(tmp_path, monkeypatch):
    system_copy(tmp_path / "system")  # random pixels: not Zalando's files
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    out = tmp_path / "out"
    msg = one_line_error(train("--dataset", "fashion-mnist", *tiny_run(tmp_path / "empty", out)))
    folder = tmp_path / "system" / "fashion-mnist"
    assert f"{folder / 'train-images-idx3-ubyte.gz'}: not the official file" in msg
    assert "reinstall the system package dataset-fashion-mnist" in msg
    assert "relubench data download fashion-mnist" in msg


def test_data_list_says_where_each_dataset_was_found(tmp_path, monkeypatch):
    system_copy(tmp_path / "system")
    write_mnist(tmp_path / "data")
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    r = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path / "data")],
                      env={"COLUMNS": "250"})  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if "│" in line}
    assert f"system package: {tmp_path / 'system' / 'fashion-mnist'}" in rows["fashion-mnist"]
    assert f"torchvision folder: {tmp_path / 'data' / 'MNIST' / 'raw'}" in rows["mnist"]
    assert "embedded" in rows["mnist-mini"] and "generated" in rows["synthetic"]
    assert " no " in rows["cifar10"]
    # a system copy that is not the official files (this one is made up) is shown as damaged
    assert "damaged: fails its checksum" in rows["fashion-mnist"]


def test_data_list_shows_an_official_system_copy_as_here(tmp_path, monkeypatch, with_sums):
    _, sums = system_copy(tmp_path / "system")
    with_sums(sums)
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    r = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path / "d")],
                      env={"COLUMNS": "250"})  # fmt: skip
    row = next(ln for ln in r.output.splitlines() if "│ fashion-mnist" in ln)
    assert " yes " in row and "damaged" not in row


def test_download_takes_a_system_copy_as_already_here(tmp_path, monkeypatch, with_sums):
    _, sums = system_copy(tmp_path / "system")
    with_sums(sums)
    monkeypatch.setenv(SYSTEM_ENV, str(tmp_path / "system"))
    args = ["data", "download", "fashion-mnist", "--data-dir", str(tmp_path / "d")]
    r = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert (
        "already here (system package)" in r.output
        and str(tmp_path / "system" / "fashion-mnist") in r.output
    )
    assert not (tmp_path / "d").exists()


# --- the real package (CI installs it: there these must run, not skip) ------------------------


def real_copy(monkeypatch) -> None:
    if not REAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install dataset-fashion-mnist ({REAL} is missing)")
        pytest.skip(
            "dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)"
        )
    monkeypatch.delenv(SYSTEM_ENV)  # the real default roots


def test_the_real_package_is_verified_and_holds_the_official_counts(tmp_path, monkeypatch):
    real_copy(monkeypatch)
    found = locate(get_spec("fashion-mnist"), tmp_path / "empty")
    assert found.where == SYSTEM and found.folder == REAL
    data = load("fashion-mnist", tmp_path / "empty")  # checks every file's sha256
    assert len(data.y_train) == 60_000 and len(data.y_test) == 10_000
    assert torch.bincount(data.y_train).tolist() == [6000] * 10
    assert torch.bincount(data.y_test).tolist() == [1000] * 10
    assert data.y_train[0].item() == 9  # an ankle boot, as in Zalando's README
    # the registry's normalisation is the training split's own mean and std
    assert data.x_train.mean().item() == pytest.approx(0, abs=2e-3)
    assert data.x_train.std().item() == pytest.approx(1, abs=2e-3)


@pytest.mark.slow  # one epoch on 4,000 images of the real package, through the CLI
def test_train_runs_from_the_real_package_with_no_data_dir(tmp_path, monkeypatch):
    real_copy(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # an empty default data dir
    out = tmp_path / "out"
    args = ["--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out), "--threads", "1"]
    r = train(*args, "--set", "train_size=4000", "--set", "test_size=1000")
    assert r.exit_code == 0, r.output
    (folder,) = out.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["final_test_acc"] > 0.5
    assert not (tmp_path / "cache").exists()  # read in place
