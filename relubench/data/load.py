"""Datasets in memory: name -> normalised tensors, read once.

Every dataset here is small enough to live in memory as one tensor per split: images are loaded
once as uint8 (N, C, H, W) and converted to normalised float once.

Where they come from:
- `mnist-mini` is embedded in the package (checked against its sha256 sums at every load);
- `synthetic` is generated;
- `mnist`, `fashion-mnist`, `cifar10`, `cifar100` live under the data dir (`relubench.data.store`).
  Reading them is our own code (`relubench.data.readers`): fast, and every file's structure is
  checked, so a truncated or corrupt file is reported, never half-loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from relubench.data.store import (
    ASSETS,
    Found,
    download,
    download_command,
    locate,
    require,
)
from relubench.errors import DataError
from relubench.registry.datasets import DATASETS, IDX_FILES, DatasetSpec, get_spec


@dataclass
class Data:
    """One dataset in memory: float images normalised with the dataset's mean/std.

    When the run augments, the training images stay uint8 (`train_u8`) and `x_train` is None:
    augmentation crops and flips those (a quarter of the bytes of float to move) and normalises
    each batch, so a float copy of the training set is never made.
    """

    spec: DatasetSpec
    x_train: torch.Tensor | None  # (N, C, H, W) float32; None when augmenting
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_u8: torch.Tensor | None = None  # (N, C, H, W) uint8, only when augmenting
    x_val: torch.Tensor | None = None  # held out of the training set (val_size), float32
    y_val: torch.Tensor | None = None
    # the probe set when it is training images (probe_split train): the head of the training
    # set, float32, never augmented; None when the probe reads the test set's head
    x_probe: torch.Tensor | None = None
    y_probe: torch.Tensor | None = None

    def to(self, device: Any) -> Data:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Data(
            self.spec,
            move(self.x_train),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            move(self.train_u8),
            move(self.x_val),
            move(self.y_val),
            move(self.x_probe),
            move(self.y_probe),
        )


@dataclass(frozen=True)
class Source:
    """What a loader needs besides the dataset's entry."""

    data_dir: str | Path | None = None
    download: bool = False
    train_size: int = 0  # synthetic: how many to generate (others are cut after loading)
    test_size: int = 0


Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


# --- loaders: each returns uint8 (N, C, H, W) images and int64 labels, train then test -------


def _check_sha256(folder: Path) -> None:
    """Compare every file listed in SHA256SUMS with its checksum."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise DataError(f"{folder} has no SHA256SUMS; reinstall relubench")
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file():
            raise DataError(f"embedded dataset file {path} is missing; reinstall relubench")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise DataError(
                f"embedded dataset file {path} fails its sha256 check; reinstall relubench"
            )


def _load_embedded(spec: DatasetSpec, src: Source) -> Arrays:
    from relubench.data.idx import read_idx

    folder = ASSETS / spec.name
    _check_sha256(folder)
    arrays = [read_idx(folder / f"{name}.gz") for name in IDX_FILES]
    xtr, ytr, xte, yte = (torch.from_numpy(a.copy()) for a in arrays)
    return xtr.unsqueeze(1), ytr.long(), xte.unsqueeze(1), yte.long()


def _load_synthetic(spec: DatasetSpec, src: Source) -> Arrays:
    """Ten smooth random prototypes plus per-image noise and shifts: learnable, not trivial."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(1234)  # the dataset is fixed; cfg.seed varies the run only
    protos = F.interpolate(
        torch.rand(spec.classes, spec.channels, 7, 7, generator=g),
        size=spec.size,
        mode="bilinear",
        align_corners=False,
    )

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % spec.classes
        y = y[torch.randperm(n, generator=g)]
        x = protos[y] + 0.35 * torch.randn(n, spec.channels, spec.size, spec.size, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    return (*make(src.train_size or spec.train), *make(src.test_size or spec.test))


def _load_downloaded(spec: DatasetSpec, src: Source) -> Arrays:
    """A dataset from the data dir or a system package (fetched first if `download` is set and
    neither has it)."""
    from relubench.data import readers

    found = require(spec, src.data_dir, src.download)
    counts = (spec.train, spec.test)  # no file is read past what the registry's copy holds
    try:
        if spec.reader == "idx":  # a system copy is checked against the official files
            sums = spec.sha256 if found.system else ()
            arrays = readers.read_idx_dataset(
                found.folder, spec.channels, spec.size, spec.classes, sums, counts
            )
        else:
            arrays = readers.read_cifar(
                found.folder, spec.channels, spec.size, spec.classes, counts
            )
    except readers.ReadError as e:
        repair = (
            f"reinstall the system package {spec.system_package or 'that installed it'}, or "
            f"fetch a copy with: {download_command(spec.name, src.data_dir)}"
            if found.system
            else f"fetch it again with: {download_command(spec.name, src.data_dir, force=True)}"
        )
        raise DataError(f"{e}; {repair}") from None
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in arrays)
    return xtr, ytr.long(), xte, yte.long()


LOADERS: dict[str, Callable[[DatasetSpec, Source], Arrays]] = {
    "embedded": _load_embedded,
    "generated": _load_synthetic,
    "download": _load_downloaded,
}
assert {s.kind for s in DATASETS.values()} <= set(LOADERS)


def val_split(y: torch.Tensor, size: int, dataset: str, seed: int) -> tuple[torch.Tensor, ...]:
    """A stratified validation split of `size` images out of labels `y`: (validation indices,
    the rest), both ascending. Each class gives its share (largest remainders round), drawn by
    a generator seeded from the dataset's name and `seed` only, so every activation and
    learning rate of a seed holds out the same images."""
    digest = hashlib.sha256(f"relubench-val:{dataset}:{seed}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    classes, counts = torch.unique(y, return_counts=True)
    quota = counts.double() * size / len(y)
    take = quota.floor().long()
    short_by = size - int(take.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(quota[i] - take[i]).item(), i))
    for i in order[:short_by]:
        take[i] += 1
    picked = []
    for c, k in zip(classes.tolist(), take.tolist(), strict=True):
        members = (y == c).nonzero().squeeze(1)
        picked.append(members[torch.randperm(len(members), generator=g)[:k]])
    val = torch.cat(picked).sort().values
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[val] = False
    return val, keep.nonzero().squeeze(1)


def load(
    name: str,
    data_dir: str | Path | None = None,
    *,
    train_size: int = 0,
    test_size: int = 0,
    val_size: int = 0,
    seed: int = 0,
    download: bool = False,
    augment: bool = False,
    probe_train: int = 0,
) -> Data:
    """Load dataset `name` into memory (CPU), normalised: `val_size` training images held out
    first (`val_split`, seeded by the dataset and `seed`), then cut to train_size/test_size
    (0 = all).

    With `augment`, the training images stay uint8 (`Data.train_u8`; `x_train` is None); the
    validation images are never augmented. With `probe_train`, the first `probe_train` images
    of that training set (all of it if it holds fewer) are also `x_probe`, never augmented.
    """
    spec = get_spec(name)
    generated = train_size + val_size if spec.kind == "generated" and train_size else train_size
    src = Source(data_dir, download, generated, test_size)
    xtr, ytr, xte, yte = LOADERS[spec.kind](spec, src)
    x_val = y_val = None
    if val_size:
        if val_size >= len(ytr):
            raise DataError(
                f"val_size {val_size:,} leaves no training images of {name}'s {len(ytr):,}; "
                "lower val_size"
            )
        held, rest = val_split(ytr, val_size, spec.name, seed)
        x_val, y_val = normalize(xtr[held], spec), ytr[held]
        xtr, ytr = xtr[rest], ytr[rest]
    if train_size:
        xtr, ytr = xtr[:train_size], ytr[:train_size]
    if test_size:
        xte, yte = xte[:test_size], yte[:test_size]
    probe = (None, None)
    if probe_train:  # a copy: a view would keep the whole set alive when it is replaced
        probe = (normalize(xtr[:probe_train], spec), ytr[:probe_train])
    if augment:
        return Data(
            spec, None, ytr, normalize(xte, spec), yte, xtr.contiguous(), x_val, y_val, *probe
        )
    return Data(
        spec, normalize(xtr, spec), ytr, normalize(xte, spec), yte, None, x_val, y_val, *probe
    )


def fetch(name: str, data_dir: str | Path | None, force: bool = False) -> tuple[Data, Found, bool]:
    """`relubench data download`: fetch a dataset if no copy is found (or `force`), then load
    it to check it; returns (the data, the copy, whether anything was fetched)."""
    spec = get_spec(name)
    fetched = force or locate(spec, data_dir) is None
    download(spec.name, data_dir, force=force)
    # augment (where defined) keeps the training images uint8: checking that they load needs
    # no float copy of them
    return load(spec.name, data_dir, augment=spec.augment), locate(spec, data_dir), fetched


def normalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32, (x / 255 - mean) / std per channel, done once per split."""
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (x.float().div_(255) - mean).div_(std).contiguous()
