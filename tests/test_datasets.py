"""MNIST, Fashion-MNIST, CIFAR-10/100 from tiny files in the real on-disk formats.

No network here: each test writes a few images in torchvision's layout (IDX files, CIFAR's
python pickles) into a temp data dir, then loads them through exactly the user's code path -
`relubench train --data-dir ...` in-process - or through `load`, which that path calls.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from relubench.cli import app
from relubench.config import merge
from relubench.data.idx import write_idx
from relubench.data.load import normalize
from relubench.data.store import DATA_ENV, data_root
from relubench.errors import DataError
from relubench.registry.datasets import DATASETS
from relubench.runner.train import load_data

runner = CliRunner()
rng = np.random.default_rng(0)

N_TRAIN, N_TEST = 40, 20  # per split; CIFAR-10 spreads the training images over 5 batches


def write_mnist(root: Path, folder: str = "MNIST/raw", gz: bool = False) -> dict:
    """train/t10k images and labels as IDX (uint8, big-endian header), as torchvision has them."""
    raw = root / folder
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # what Python 2 cPickle-era files use


def write_cifar(root: Path, classes: int = 10) -> dict:
    """CIFAR's python version: dicts with `data` (N x 3072 uint8) and labels, plus the meta."""

    def batch(n: int, key: str) -> dict:
        return {
            "batch_label": "testing batch",
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            key: [int(i % classes) for i in range(n)],
            "filenames": [f"img_{i}.png" for i in range(n)],
        }  # fmt: skip

    if classes == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        train = [batch(N_TRAIN // 5, "labels") for _ in range(5)]
        for i, b in enumerate(train, 1):
            _pickle(folder / f"data_batch_{i}", b)
        test = batch(N_TEST, "labels")
        _pickle(folder / "test_batch", test)
        _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        train = [batch(N_TRAIN, "fine_labels")]
        test = batch(N_TEST, "fine_labels")
        _pickle(folder / "train", train[0])
        _pickle(folder / "test", test)
        _pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    return {"train": train, "test": test}


def train(*args: str):
    return runner.invoke(app, ["train", *args])


def tiny_run(data_dir: Path, out: Path, *args: str) -> list[str]:
    return [
        "--data-dir", str(data_dir), "--out", str(out), "--epochs", "1", "--batch-size", "8",
        "--width", "4", "--threads", "1", "--device", "cpu", "--set", "probe_size=8", *args,
    ]  # fmt: skip


# --- the user's path: write the files, train one epoch through the CLI -----------------------


@pytest.mark.parametrize(
    ("dataset", "writer", "extra"),
    [
        ("mnist", lambda r: write_mnist(r), ()),
        ("fashion-mnist", lambda r: write_mnist(r, "FashionMNIST/raw", gz=True), ()),
        ("cifar10", lambda r: write_cifar(r, 10), ("--model", "resnet20", "--augment")),
        ("cifar100", lambda r: write_cifar(r, 100), ("--model", "vgg", "--augment")),
    ],
)
def test_each_dataset_trains_one_epoch_from_its_torchvision_folder(
    tmp_path, dataset, writer, extra
):
    writer(tmp_path / "data")
    out = tmp_path / "results"
    r = train("--dataset", dataset, *tiny_run(tmp_path / "data", out), *extra)
    assert r.exit_code == 0, r.output
    (folder,) = out.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["config"]["dataset"] == dataset
    assert summary["config"]["augment"] == ("--augment" in extra)


def test_mnist_images_and_labels_arrive_exactly(tmp_path):
    written = write_mnist(tmp_path)
    d = load_data(merge({"dataset": "mnist", "data_dir": str(tmp_path)}))
    images, labels = written["train"]
    expected = normalize(torch.from_numpy(images).unsqueeze(1), DATASETS["mnist"])
    assert d.x_train.shape == (N_TRAIN, 1, 28, 28) and torch.equal(d.x_train, expected)
    assert d.y_train.dtype == torch.int64 and d.y_train.tolist() == labels.tolist()
    assert d.x_test.shape == (N_TEST, 1, 28, 28) and d.train_u8 is None


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_images_keep_their_channel_planes_and_labels(tmp_path, classes):
    written = write_cifar(tmp_path, classes)
    name = "cifar10" if classes == 10 else "cifar100"
    d = load_data(merge({"dataset": name, "data_dir": str(tmp_path), "augment": True}))
    rows = np.concatenate([b["data"] for b in written["train"]])
    # each row: 1024 red, then 1024 green, then 1024 blue values, rows top to bottom
    assert torch.equal(d.train_u8, torch.from_numpy(rows).view(-1, 3, 32, 32))
    assert d.x_train is None  # augmenting: no float copy of the training set is made
    assert d.train_u8[1, 2, 0, 5].item() == rows[1, 2 * 1024 + 5]
    key = "labels" if classes == 10 else "fine_labels"
    assert d.y_train.tolist() == sum((b[key] for b in written["train"]), [])
    assert d.y_test.tolist() == written["test"][key] and d.x_test.shape == (N_TEST, 3, 32, 32)


def test_a_probe_set_of_training_images_is_their_head_never_augmented(tmp_path):
    write_cifar(tmp_path)
    cfg = {"dataset": "cifar10", "data_dir": str(tmp_path), "probe_split": "train"}
    d = load_data(merge({**cfg, "augment": True, "probe_size": 7, "train_size": 20}))
    assert torch.equal(d.x_probe, normalize(d.train_u8[:7], DATASETS["cifar10"]))
    assert torch.equal(d.y_probe, d.y_train[:7])
    assert load_data(merge({"dataset": "cifar10", "data_dir": str(tmp_path)})).x_probe is None


def test_data_dir_defaults_to_env_then_xdg_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root("") == tmp_path / "cache" / "relubench" / "data"
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_root("") == tmp_path / "env"
    assert data_root(str(tmp_path / "flag")) == tmp_path / "flag"  # --data-dir wins
    write_mnist(tmp_path / "env")
    assert len(load_data(merge({"dataset": "mnist"})).y_train) == N_TRAIN


# --- user mistakes and broken files: one line, exit 2 ----------------------------------------


def one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return " ".join(lines[0].split())  # undo any wrapping


def test_missing_dataset_says_where_it_looked_and_the_command(tmp_path):
    r = train("--dataset", "cifar10", *tiny_run(tmp_path / "empty", tmp_path / "out"))
    msg = one_line_error(r)
    assert str(tmp_path / "empty" / "cifar-10-batches-py") in msg
    assert f"relubench data download cifar10 --data-dir {tmp_path / 'empty'}" in msg
    assert "--download" in msg


def test_an_incomplete_folder_names_the_missing_file(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    msg = one_line_error(train("--dataset", "cifar10", *tiny_run(tmp_path, tmp_path / "out")))
    assert "incomplete (no data_batch_3)" in msg


def test_truncated_idx_is_reported_never_half_loaded(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    msg = one_line_error(train("--dataset", "mnist", *tiny_run(tmp_path, tmp_path / "out")))
    assert "train-images-idx3-ubyte: truncated" in msg
    assert f"relubench data download mnist --data-dir {tmp_path} --force" in msg


def test_wrong_magic_number(tmp_path):
    write_mnist(tmp_path)
    f = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    f.write_bytes(b"\x12\x34" + f.read_bytes()[2:])
    msg = one_line_error(train("--dataset", "mnist", *tiny_run(tmp_path, tmp_path / "out")))
    assert "bad magic number 0x12340801, not an IDX file" in msg


def test_images_that_are_not_28x28(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(tmp_path)
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((N_TRAIN, 32, 32), np.uint8))
    with pytest.raises(DataError, match="expected uint8 images of 28x28"):
        load_data(merge({"dataset": "mnist", "data_dir": str(tmp_path)}))


def test_pickle_with_the_wrong_keys(tmp_path):
    write_cifar(tmp_path)
    _pickle(tmp_path / "cifar-10-batches-py" / "test_batch", {"data": np.zeros((2, 3072), "u1")})
    msg = one_line_error(train("--dataset", "cifar10", *tiny_run(tmp_path, tmp_path / "out")))
    assert "test_batch: no key 'labels' (found: data), not a CIFAR file of this kind" in msg
    assert "--force" in msg


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "truncated or corrupt pickle"),
        (lambda b: b"garbage" + b, "truncated or corrupt pickle"),
    ],
)
def test_truncated_or_garbled_pickle(tmp_path, damage, message):
    write_cifar(tmp_path, 100)
    f = tmp_path / "cifar-100-python" / "train"
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(DataError, match=message):
        load_data(merge({"dataset": "cifar100", "data_dir": str(tmp_path)}))


def test_cifar_shapes_and_labels_are_checked(tmp_path):
    write_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    cfg = merge({"dataset": "cifar10", "data_dir": str(tmp_path)})
    _pickle(folder / "test_batch", {"data": np.zeros((4, 1024), "u1"), "labels": [0] * 4})
    with pytest.raises(DataError, match="rows have 1024 values, expected 3072"):
        load_data(cfg)
    _pickle(folder / "test_batch", {"data": np.zeros((4, 3072), "u1"), "labels": [0, 1, 2]})
    with pytest.raises(DataError, match="'labels' is not a list of 4 integers"):
        load_data(cfg)
    _pickle(folder / "test_batch", {"data": np.zeros((2, 3072), "u1"), "labels": [0, 10]})
    with pytest.raises(DataError, match=r"labels range over 0..10, expected 0..9"):
        load_data(cfg)
    _pickle(folder / "batches.meta", {"label_names": ["a", "b"]})
    with pytest.raises(DataError, match="should list 10 class names"):
        load_data(cfg)


class Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    write_cifar(tmp_path)
    pwned = tmp_path / "pwned"
    _pickle(tmp_path / "cifar-10-batches-py" / "data_batch_1", {"data": Evil(pwned)})
    with pytest.raises(
        DataError, match="refuses to load __builtin__.getattr: .* wants to run code"
    ):
        load_data(merge({"dataset": "cifar10", "data_dir": str(tmp_path)}))
    assert not pwned.exists()


def test_augment_only_where_it_is_defined(tmp_path):
    write_mnist(tmp_path)
    msg = one_line_error(
        train("--dataset", "mnist", "--augment", *tiny_run(tmp_path, tmp_path / "out"))
    )
    assert "augment (crop + flip) is defined for cifar10, cifar100 only, not mnist" in msg


# --- relubench data list / download ----------------------------------------------------------


def test_data_list_shows_every_dataset_and_what_is_here(tmp_path):
    write_mnist(tmp_path)
    r = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for name in DATASETS:
        assert name in r.output
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if "│" in line}
    assert "yes" in rows["mnist"] and " no " in rows["cifar10"] and "170 MB" in rows["cifar10"]
    assert "MIT" in rows["fashion-mnist"] and "embedded" in rows["mnist-mini"]
    assert f"relubench data download NAME --data-dir {tmp_path}" in r.output


class FakeTorchvisionMNIST:
    """Stands in for torchvision.datasets.MNIST: 'downloads' by writing the files."""

    calls = 0

    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        type(self).calls += 1
        write_mnist(Path(root), gz=True)
        write_mnist(Path(root))


class OfflineMNIST:
    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://example/, got:\n"
            "<urlopen error [Errno -3] Temporary failure in name resolution>"
        )


def test_data_download_fetches_checks_and_repairs(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(FakeTorchvisionMNIST, "calls", 0)  # counts this test's downloads only
    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeTorchvisionMNIST)
    args = ["data", "download", "mnist", "--data-dir", str(tmp_path)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert f"mnist downloaded: {N_TRAIN} train + {N_TEST} test images" in r.output
    r = runner.invoke(app, args)  # present: nothing to fetch
    assert r.exit_code == 0 and "already here" in r.output and FakeTorchvisionMNIST.calls == 1
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03broken")
    r = runner.invoke(app, [*args, "--force"])  # deletes the unpacked files, keeps the archives
    assert r.exit_code == 0 and FakeTorchvisionMNIST.calls == 2
    assert (raw / "train-images-idx3-ubyte.gz").is_file()


def test_download_offline_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", OfflineMNIST)
    msg = one_line_error(
        runner.invoke(app, ["data", "download", "mnist", "--data-dir", str(tmp_path)])
    )
    assert "could not download mnist" in msg and "Temporary failure in name resolution" in msg
    msg = one_line_error(runner.invoke(app, ["data", "download", "mnist-mini"]))
    assert "mnist-mini is embedded: nothing to download" in msg
    msg = one_line_error(runner.invoke(app, ["data", "download", "imagenet"]))
    assert "unknown dataset 'imagenet'; choose one of: mnist-mini" in msg


def test_data_dir_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    bad = tmp_path / "afile" / "sub"  # its parent is a file: mkdir fails
    msg = one_line_error(runner.invoke(app, ["data", "download", "mnist", "--data-dir", str(bad)]))
    assert f"cannot write the data dir {bad}" in msg and "--data-dir" in msg


def test_train_download_flag_fetches_first(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeTorchvisionMNIST)
    r = train("--dataset", "mnist", "--download", *tiny_run(tmp_path / "d", tmp_path / "out"))
    assert r.exit_code == 0, r.output
    (folder,) = (tmp_path / "out").iterdir()
    # download is a runtime key: the same run id with or without it
    assert folder.name == merge({"dataset": "mnist", "width": 4, "epochs": 1, "batch_size": 8,
                                 "probe_size": 8}).run_id  # fmt: skip


def test_synthetic_rgb_has_cifars_shape_and_is_learnable_by_its_classes():
    # the conv nets' stand-in where no CIFAR copy exists: 3x32x32, ten balanced classes whose
    # class means differ (the prototypes), fixed whatever the run's seed
    from relubench.config import merge
    from relubench.runner.train import load_data

    a = load_data(merge({"dataset": "synthetic-rgb", "model": "resnet20", "seed": 0}))
    b = load_data(merge({"dataset": "synthetic-rgb", "model": "resnet20", "seed": 5}))
    assert tuple(a.x_train.shape[1:]) == (3, 32, 32) and len(a.x_train) == 2048
    assert len(a.x_test) == 512 and torch.equal(a.x_test, b.x_test)
    assert torch.bincount(a.y_train).tolist() == [2048 // 10 + (i < 8) for i in range(10)]
    means = torch.stack([a.x_train[a.y_train == c].float().mean(0) for c in range(10)])
    assert torch.cdist(means.flatten(1), means.flatten(1)).fill_diagonal_(1e9).min() > 1.0
