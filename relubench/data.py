"""Datasets: name -> in-memory tensors, and the batch iterator.

Every dataset here is small enough to live in memory as one tensor per split: images are loaded
once as uint8 (N, C, H, W), converted to normalised float once, and a batch is a slice of a
shuffled index. No per-sample PIL work, no DataLoader worker processes.

Where they come from:
- `mnist-mini` is embedded in the package (checked against its sha256 sums at every load);
- `synthetic` is generated;
- `mnist`, `fashion-mnist`, `cifar10`, `cifar100` live under the data dir in torchvision's own
  layout (so folders torchvision already downloaded are reused) and are fetched only on request,
  through torchvision, which verifies their md5 checksums. Reading them is our own code
  (`relubench.readers`): fast, and every file's structure is checked, so a truncated or corrupt
  file is reported, never half-loaded.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ASSETS = Path(__file__).parent / "assets"
DATA_ENV = "RELUBENCH_DATA"  # overrides the default data dir


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
    kind: str = "embedded"  # embedded | generated | download
    licence: str = ""
    folder: str = ""  # download: torchvision's folder under the data dir
    files: tuple[str, ...] = ()  # download: the files read, relative to `folder`
    download_mb: float = 0.0  # download: size of torchvision's archives
    torchvision: str = ""  # download: the torchvision.datasets class that fetches it
    reader: str = ""  # download: "idx" (MNIST's format) or "cifar" (python pickles)
    augment: bool = False  # random crop (4-pixel padding) + horizontal flip suit it


_IDX = tuple(
    f"{split}-{kind}"
    for split in ("train", "t10k")
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
)

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
            licence="CC BY-SA 3.0",
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
            kind="generated",
            licence="-",
        ),
        DatasetSpec(
            "mnist",
            1,
            28,
            10,
            (0.1307,),
            (0.3081,),
            60_000,
            10_000,
            "MNIST handwritten digits (LeCun, Cortes & Burges 1998)",
            kind="download",
            licence="CC BY-SA 3.0",
            folder="MNIST/raw",
            files=_IDX,
            download_mb=11.6,
            torchvision="MNIST",
            reader="idx",
        ),
        DatasetSpec(
            "fashion-mnist",
            1,
            28,
            10,
            (0.2860,),  # computed over the 60k training images
            (0.3530,),
            60_000,
            10_000,
            "Fashion-MNIST clothing images (Xiao, Rasul & Vollgraf 2017, Zalando Research)",
            kind="download",
            licence="MIT",
            folder="FashionMNIST/raw",
            files=_IDX,
            download_mb=30.9,
            torchvision="FashionMNIST",
            reader="idx",
        ),
        DatasetSpec(
            "cifar10",
            3,
            32,
            10,
            (0.4914, 0.4822, 0.4465),  # per-pixel std over the 50k training images, not
            (0.2470, 0.2435, 0.2616),  # the often-copied (0.2023, 0.1994, 0.2010)
            50_000,
            10_000,
            "CIFAR-10 tiny colour images (Krizhevsky 2009; no licence stated: cite it)",
            kind="download",
            licence="none stated",
            folder="cifar-10-batches-py",
            files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
            download_mb=170.5,
            torchvision="CIFAR10",
            reader="cifar",
            augment=True,
        ),
        DatasetSpec(
            "cifar100",
            3,
            32,
            100,
            (0.5071, 0.4865, 0.4409),
            (0.2673, 0.2564, 0.2762),
            50_000,
            10_000,
            "CIFAR-100 tiny colour images, 100 fine classes (Krizhevsky 2009; no licence: cite)",
            kind="download",
            licence="none stated",
            folder="cifar-100-python",
            files=("train", "test", "meta"),
            download_mb=169.0,
            torchvision="CIFAR100",
            reader="cifar",
            augment=True,
        ),
    ]
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    spec = DATASETS.get(name.lower())
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return spec


@dataclass
class Data:
    """One dataset in memory: float images normalised with the dataset's mean/std.

    When the run augments, the training images stay uint8 (`train_u8`) and `x_train` is None:
    augmentation crops and flips those (a quarter of the bytes of float to move) and normalises
    each batch, so a float copy of the training set (614 MB for CIFAR) is never made.
    """

    spec: DatasetSpec
    x_train: torch.Tensor | None  # (N, C, H, W) float32; None when augmenting
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_u8: torch.Tensor | None = None  # (N, C, H, W) uint8, only when augmenting

    def to(self, device: Any) -> Data:
        u8 = None if self.train_u8 is None else self.train_u8.to(device)
        x = None if self.x_train is None else self.x_train.to(device)
        return Data(
            self.spec, x, *(t.to(device) for t in (self.y_train, self.x_test, self.y_test)), u8
        )


# --- where downloadable datasets live --------------------------------------------------------


def default_data_dir() -> Path:
    """$RELUBENCH_DATA, else the user cache dir: $XDG_CACHE_HOME or ~/.cache (%LOCALAPPDATA% on
    Windows, ~/Library/Caches on macOS), then relubench/data."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache:
        base = Path(cache)
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path.home() / ".cache"
    return base.expanduser() / "relubench" / "data"


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data dir: the one given (config key `data_dir`, flag `--data-dir`), else the default."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def _dir_flag(data_dir: str | Path | None) -> str:
    """The `--data-dir` part of a command we suggest: only if the user gave one."""
    return f" --data-dir {shlex.quote(str(data_dir))}" if data_dir else ""


def download_command(name: str, data_dir: str | Path | None = None, force: bool = False) -> str:
    return f"relubench data download {name}{_dir_flag(data_dir)}{' --force' if force else ''}"


def missing_files(spec: DatasetSpec, root: Path) -> list[str]:
    """The dataset's files not present under `root` (an IDX file may also be there gzipped)."""
    folder = root / spec.folder
    return [
        f
        for f in spec.files
        if not (folder / f).is_file()
        and not (spec.reader == "idx" and (folder / f"{f}.gz").is_file())
    ]


def status(spec: DatasetSpec, root: Path) -> tuple[str, int]:
    """(present | missing | incomplete | embedded | generated, bytes on disk) - files only, fast."""
    if spec.kind != "download":
        folder = ASSETS / spec.name
        size = sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0
        return spec.kind, size
    missing = missing_files(spec, root)
    folder = root / spec.folder
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    if not missing:
        return "present", size
    return ("missing" if len(missing) == len(spec.files) else "incomplete"), size


def download(name: str, data_dir: str | Path | None = None, force: bool = False) -> Path:
    """Fetch a dataset through torchvision into the data dir; returns the dataset's folder.

    torchvision verifies the archives' md5 sums and unpacks them in its own layout. `force`
    first deletes the unpacked files (never the archives: torchvision keeps those whose md5
    checks and downloads again only the ones that fail), to repair a truncated or corrupt copy.
    """
    spec = get_spec(name)
    if spec.kind != "download":
        raise DataError(f"dataset {spec.name} is {spec.kind}: nothing to download")
    root = data_root(data_dir)
    folder = root / spec.folder
    if root.exists() and not root.is_dir():
        raise DataError(f"data dir {root} is a file; give a folder with --data-dir")
    try:
        if force:
            if spec.reader == "idx":  # MNIST/raw also holds the .gz archives: keep them
                for f in spec.files:
                    (folder / f).unlink(missing_ok=True)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        elif not missing_files(spec, root):
            return folder
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent that is a file, no permission, a read-only disk
        raise DataError(
            f"cannot write the data dir {root}: {e.strerror or e}; give another with --data-dir"
        ) from None
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, spec.torchvision)(str(root), train=True, download=True)
    except Exception as e:  # network, disk or checksum: one line, whatever torchvision raised
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = lines[-1] if lines else type(e).__name__
        raise DataError(
            f"could not download {spec.name} into {root}: {reason}; check the network, or copy "
            f"torchvision's files for it into {folder}"
        ) from None
    still = missing_files(spec, root)
    if still:
        raise DataError(f"download of {spec.name} left {folder} without {', '.join(still)}")
    return folder


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


def require(
    spec: DatasetSpec,
    data_dir: str | Path | None,
    download_ok: bool,
    hint: str = "or add --download to train",
) -> None:
    """Make sure a torchvision-layout dataset's files are in the data dir: fetched first if
    `download_ok`, else a DataError naming the folder and the command that fetches them."""
    root = data_root(data_dir)
    missing = missing_files(spec, root)
    if missing and download_ok:
        download(spec.name, data_dir)
    elif missing:
        what = "not found" if len(missing) == len(spec.files) else f"incomplete (no {missing[0]})"
        raise DataError(
            f"dataset {spec.name} {what} in {root / spec.folder}; fetch it "
            f"({spec.download_mb:.0f} MB) with: {download_command(spec.name, data_dir)} ({hint})"
        )


def _load_downloaded(cfg: Any) -> tuple[torch.Tensor, ...]:
    """A torchvision-layout dataset from the data dir (fetched first if `download` is set)."""
    import torch

    from relubench import readers

    spec = DATASETS[cfg.dataset]
    root = data_root(cfg.data_dir)
    require(spec, cfg.data_dir, getattr(cfg, "download", False))
    read = readers.read_idx_dataset if spec.reader == "idx" else readers.read_cifar
    try:
        arrays = read(root / spec.folder, spec.channels, spec.size, spec.classes)
    except readers.ReadError as e:
        raise DataError(
            f"{e}; fetch it again with: {download_command(spec.name, cfg.data_dir, force=True)}"
        ) from None
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in arrays)
    return xtr, ytr.long(), xte, yte.long()


LOADERS = {
    "mnist-mini": _load_mnist_mini,
    "synthetic": _load_synthetic,
    "mnist": _load_downloaded,
    "fashion-mnist": _load_downloaded,
    "cifar10": _load_downloaded,
    "cifar100": _load_downloaded,
}


def load(cfg: Any) -> Data:
    """Load `cfg.dataset` into memory (CPU), cut to train_size/test_size, normalised to float.

    With `cfg.augment`, the training images stay uint8 (`Data.train_u8`; `x_train` is None).
    """
    spec = get_spec(cfg.dataset)
    xtr, ytr, xte, yte = LOADERS[spec.name](cfg)
    if cfg.train_size:
        xtr, ytr = xtr[: cfg.train_size], ytr[: cfg.train_size]
    if cfg.test_size:
        xte, yte = xte[: cfg.test_size], yte[: cfg.test_size]
    if getattr(cfg, "augment", False):
        return Data(spec, None, ytr, normalize(xte, spec), yte, xtr.contiguous())
    return Data(spec, normalize(xtr, spec), ytr, normalize(xte, spec), yte)


def normalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32, (x / 255 - mean) / std per channel, done once per split."""
    import torch

    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (x.float().div_(255) - mean).div_(std).contiguous()


def batch_orders(
    n: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: Any = None,
) -> Iterator[torch.Tensor | slice]:
    """The batches of one pass over n items: index tensors of a shuffled order if a generator
    is given (drawn on the CPU, so the same seed gives the same order on every device), else
    plain slices."""
    import torch

    order = None
    if generator is not None:
        order = torch.randperm(n, generator=generator).to(device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield slice(i, i + batch_size) if order is None else order[i : i + batch_size]


def take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[idx] along dim 0: index_select, measured ~6x faster than advanced indexing on the CPU
    for a batch of CIFAR images, keeping a channels-last layout channels-last."""
    import torch

    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return x.permute(0, 2, 3, 1).index_select(0, idx).permute(0, 3, 1, 2)
    return x.index_select(0, idx)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Slices of a shuffled index (shuffled only when a generator is given)."""
    for idx in batch_orders(len(x), batch_size, generator, drop_last, x.device):
        if isinstance(idx, slice):
            yield x[idx], y[idx]
        else:
            yield take(x, idx), y.index_select(0, idx)
