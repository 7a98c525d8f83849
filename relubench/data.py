"""Datasets: name -> in-memory tensors, and the batch iterator.

Every dataset here is small enough to live in memory as one tensor per split: images are loaded
once as uint8 (N, C, H, W), converted to normalised float once, and a batch is a slice of a
shuffled index. No per-sample PIL work, no DataLoader worker processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ASSETS = Path(__file__).parent / "assets"


class DataError(ValueError):
    """A dataset that is missing, corrupt or unknown: one line saying what and how to fix it."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    channels: int
    size: int  # height = width, pixels
    classes: int
    mean: tuple[float, ...]  # per channel, of the training split in [0, 1]
    std: tuple[float, ...]
    train: int  # images in the training split
    test: int
    source: str  # for people: where it comes from


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec(
            "mnist-mini",
            1,
            28,
            10,
            (0.1307,),
            (0.3081,),
            10_000,
            2_000,
            "embedded: real MNIST, 1000/class of train + 200/class of test (CC BY-SA 3.0)",
        ),
        DatasetSpec(
            "synthetic",
            1,
            28,
            10,
            (0.5,),
            (0.25,),
            2_048,
            512,
            "generated: noisy class prototypes, for smoke runs (any size via train_size)",
        ),
    ]
}


def dataset_names() -> list[str]:
    return list(DATASETS)


@dataclass
class Data:
    """One dataset in memory: float images normalised with the dataset's mean/std."""

    spec: DatasetSpec
    x_train: torch.Tensor  # (N, C, H, W) float32
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: Any) -> Data:
        return Data(
            self.spec,
            *(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)),
        )


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


def _load_mnist_mini(cfg: Any) -> tuple[torch.Tensor, ...]:
    import torch

    from relubench.idx import read_idx

    folder = ASSETS / "mnist-mini"
    _check_sha256(folder)
    arrays = [
        read_idx(folder / f"{split}-{kind}.gz")
        for split in ("train", "t10k")
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    xtr, ytr, xte, yte = (torch.from_numpy(a.copy()) for a in arrays)
    return xtr.unsqueeze(1), ytr.long(), xte.unsqueeze(1), yte.long()


def _load_synthetic(cfg: Any) -> tuple[torch.Tensor, ...]:
    """Ten smooth random prototypes plus per-image noise and shifts: learnable, not trivial."""
    import torch
    import torch.nn.functional as F

    spec = DATASETS["synthetic"]
    g = torch.Generator().manual_seed(1234)  # the dataset is fixed; cfg.seed varies the run only
    protos = F.interpolate(
        torch.rand(spec.classes, spec.channels, 7, 7, generator=g),
        size=spec.size,
        mode="bilinear",
        align_corners=False,
    )
    n_train = cfg.train_size or spec.train
    n_test = cfg.test_size or spec.test

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % spec.classes
        y = y[torch.randperm(n, generator=g)]
        x = protos[y] + 0.35 * torch.randn(n, spec.channels, spec.size, spec.size, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    return (*make(n_train), *make(n_test))


LOADERS = {"mnist-mini": _load_mnist_mini, "synthetic": _load_synthetic}


def load(cfg: Any) -> Data:
    """Load `cfg.dataset` into memory (CPU), cut to train_size/test_size, normalised to float."""
    spec = DATASETS.get(cfg.dataset)
    if spec is None:
        raise DataError(f"unknown dataset {cfg.dataset!r}; choose one of: {', '.join(DATASETS)}")
    xtr, ytr, xte, yte = LOADERS[spec.name](cfg)
    if cfg.train_size:
        xtr, ytr = xtr[: cfg.train_size], ytr[: cfg.train_size]
    if cfg.test_size:
        xte, yte = xte[: cfg.test_size], yte[: cfg.test_size]
    return Data(spec, normalize(xtr, spec), ytr, normalize(xte, spec), yte)


def normalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32, (x / 255 - mean) / std per channel, done once per split."""
    import torch

    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (x.float().div_(255) - mean).div_(std).contiguous()


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Slices of a shuffled index (shuffled only when a generator is given)."""
    import torch

    n = len(x)
    if generator is not None:
        order = torch.randperm(n, generator=generator).to(x.device)
    else:
        order = None
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        if order is None:
            yield x[i : i + batch_size], y[i : i + batch_size]
        else:
            idx = order[i : i + batch_size]
            yield x[idx], y[idx]
