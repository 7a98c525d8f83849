"""The dataset registry: everything about one dataset in one entry. Torch-free.

Where copies live and how they are read is `relubench.data`'s business; this module holds the
facts: shape, classes, normalisation, size, licence, and the files of the on-disk format.
"""

from __future__ import annotations

from dataclasses import dataclass

from relubench.errors import DataError
from relubench.registry import lookup

# The four files of the IDX (MNIST) format, train then test, images then labels.
IDX_FILES = tuple(
    f"{split}-{kind}"
    for split in ("train", "t10k")
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
)
# CIFAR pickles, per number of classes: (train files, test file, meta file, label key,
# class-names key).
CIFAR_LAYOUTS: dict[int, tuple[tuple[str, ...], str, str, str, str]] = {
    10: (
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "labels",
        "label_names",
    ),
    100: (("train",), "test", "meta", "fine_labels", "fine_label_names"),
}


def _cifar_files(classes: int) -> tuple[str, ...]:
    train, test, meta, _, _ = CIFAR_LAYOUTS[classes]
    return (*train, test, meta)


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
    system: str = ""  # download: its folder under a system dataset root, files side by side
    system_package: str = ""  # the Debian/Ubuntu package that installs that folder
    sha256: tuple[str, ...] = ()  # of `files` as read (uncompressed), checked at every load
    md5: tuple[str, ...] = ()  # of `files` (CIFAR: torchvision's per-file sums of the release)


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
            "synthetic-rgb",
            3,
            32,
            10,
            (0.5, 0.5, 0.5),
            (0.25, 0.25, 0.25),
            2_048,
            512,
            "generated: synthetic's prototypes in colour at CIFAR's 3x32x32, for the conv nets",
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
            files=IDX_FILES,
            download_mb=11.6,
            torchvision="MNIST",
            reader="idx",
            system="mnist",
            sha256=(  # the official files, as published with MNIST
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
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
            files=IDX_FILES,
            download_mb=30.9,
            torchvision="FashionMNIST",
            reader="idx",
            system="fashion-mnist",
            system_package="dataset-fashion-mnist",
            sha256=(  # the decompressed files of Debian's dataset-fashion-mnist, which packages
                # Zalando's release (recompressed: the .gz md5s differ, the contents load the same)
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
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
            files=_cifar_files(10),
            download_mb=170.5,
            torchvision="CIFAR10",
            reader="cifar",
            augment=True,
            md5=(  # torchvision.datasets.CIFAR10's train_list, test_list and meta
                "c99cafc152244af753f735de768cd75f",
                "d4bba439e000b95fd0a9bffe97cbabec",
                "54ebc095f3ab1f0389bbae665268c751",
                "634d18415352ddfa80567beed471001a",
                "482c414d41f54cd18b22e5b47cb7c3cb",
                "40351d587109b95175f43aff81a1287e",
                "5ff9c542aee3614f3951f8cda6e48888",
            ),
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
            files=_cifar_files(100),
            download_mb=169.0,
            torchvision="CIFAR100",
            reader="cifar",
            augment=True,
            md5=(  # torchvision.datasets.CIFAR100's train_list, test_list and meta
                "16019d7e3df5f24257cddd939b257f8d",
                "f0ef6b0ae62326f3e7ffdfab6717acfc",
                "7973b15100ade9c7d40fb424638fde48",
            ),
        ),
    ]
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    return lookup(DATASETS, "dataset", name, DataError)
