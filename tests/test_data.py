"""Datasets in memory: the embedded MNIST subset, synthetic data, the batch iterator."""

from __future__ import annotations

import shutil

import pytest
import torch

from relubench.config import merge
from relubench.data.batches import batches, take
from relubench.data.store import ASSETS
from relubench.errors import DataError
from relubench.registry.datasets import DATASETS
from relubench.runner.train import load_data


def test_mnist_mini_is_real_balanced_and_normalised():
    d = load_data(merge({}))
    assert d.x_train.shape == (10_000, 1, 28, 28) and d.x_test.shape == (2_000, 1, 28, 28)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert torch.bincount(d.y_train).tolist() == [1000] * 10
    assert torch.bincount(d.y_test).tolist() == [200] * 10
    # normalised with MNIST's mean/std: the subset's statistics come out near 0 / 1
    assert abs(d.x_train.mean().item()) < 0.02 and abs(d.x_train.std().item() - 1) < 0.02
    # the subset keeps MNIST's official order: classes interleaved, not sorted
    assert len(set(d.y_test[:20].tolist())) > 5


def test_sizes_cut_the_head_of_each_split():
    full = load_data(merge({}))
    cut = load_data(merge({"train_size": 100, "test_size": 50}))
    assert len(cut.x_train) == 100 and torch.equal(cut.x_test, full.x_test[:50])


def test_a_corrupt_embedded_file_fails_its_checksum(tmp_path, monkeypatch):
    shutil.copytree(ASSETS / "mnist-mini", tmp_path / "mnist-mini")
    f = tmp_path / "mnist-mini" / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-10])
    monkeypatch.setattr("relubench.data.load.ASSETS", tmp_path)
    with pytest.raises(DataError, match="fails its sha256 check; reinstall relubench"):
        load_data(merge({}))


def test_synthetic_is_fixed_and_sized():
    a = load_data(merge({"dataset": "synthetic", "train_size": 300, "test_size": 40, "seed": 1}))
    b = load_data(merge({"dataset": "synthetic", "train_size": 300, "test_size": 40, "seed": 2}))
    assert a.x_train.shape == (300, 1, 28, 28) and len(a.y_test) == 40
    assert torch.equal(a.x_train, b.x_train)  # the data is fixed; the seed varies the run


def test_batches_cover_every_image_once_in_a_seeded_order():
    x, y = torch.arange(10).float().view(10, 1), torch.arange(10)
    got = [yb.tolist() for _, yb in batches(x, y, 4)]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = list(batches(x, y, 4, torch.Generator().manual_seed(0), drop_last=True))
    assert [len(yb) for _, yb in dropped] == [4, 4]
    full = torch.cat([yb for _, yb in batches(x, y, 3, torch.Generator().manual_seed(0))])
    assert sorted(full.tolist()) == list(range(10)) and full.tolist() != list(range(10))
    again = torch.cat([yb for _, yb in batches(x, y, 3, torch.Generator().manual_seed(0))])
    assert torch.equal(full, again)
    for xb, yb in batches(x, y, 3, torch.Generator().manual_seed(5)):
        assert torch.equal(xb.view(-1).long(), yb)  # images stay with their labels


def test_take_is_x_of_idx_and_keeps_channels_last():
    x = torch.randn(10, 3, 4, 4)
    idx = torch.tensor([7, 2, 2, 9])
    assert torch.equal(take(x, idx), x[idx])
    cl = x.contiguous(memory_format=torch.channels_last)
    got = take(cl, idx)
    assert torch.equal(got, x[idx]) and got.is_contiguous(memory_format=torch.channels_last)
    xb, yb = next(batches(cl, torch.arange(10), 4, torch.Generator().manual_seed(0)))
    assert xb.is_contiguous(memory_format=torch.channels_last) and torch.equal(xb, x[yb])


def test_every_dataset_is_described():
    for spec in DATASETS.values():
        assert len(spec.mean) == len(spec.std) == spec.channels and spec.licence
        if spec.kind == "download":
            assert (
                spec.folder and spec.files and spec.torchvision and spec.reader in ("idx", "cifar")
            )
            assert spec.download_mb > 0
