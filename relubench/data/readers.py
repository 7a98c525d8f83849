"""Readers for torchvision's on-disk datasets: files -> uint8 numpy arrays, structure checked.

Our own code rather than torchvision's dataset classes: those build one PIL image per sample,
while a run wants one (N, C, H, W) uint8 array per split, read in a second or two. Every file
is checked against what it must hold (header vs length, keys, shapes, label range), so a
truncated or corrupt file raises ReadError naming the file and the problem, and nothing is ever
half-loaded. This module needs numpy only.

Layouts (torchvision's, under the data dir; a system package's folder holds the IDX files
side by side, e.g. /usr/share/datasets/fashion-mnist/):
    MNIST/raw/, FashionMNIST/raw/    train-images-idx3-ubyte, train-labels-idx1-ubyte,
                                     t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or .gz)
    cifar-10-batches-py/             data_batch_1..5, test_batch, batches.meta
    cifar-100-python/                train, test, meta
A CIFAR file is a Python pickle of a dict: data (N x 3072 uint8, the 1024 red, 1024 green,
1024 blue values of each image, rows top to bottom) and labels (CIFAR-10) or fine_labels
(CIFAR-100); the meta file lists the class names.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from relubench.data.idx import IdxError, open_regular, read_idx
from relubench.registry.datasets import CIFAR_LAYOUTS, IDX_FILES

__all__ = ["DataUnpickler", "ReadError", "read_cifar", "read_idx_dataset"]


class ReadError(ValueError):
    """A dataset file that is unreadable, truncated or not what it should be."""


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# --- MNIST and Fashion-MNIST: IDX ------------------------------------------------------------


def idx_bytes(name: str, n: int, pixels: int) -> int:
    """The bytes IDX file `name` holds for `n` images of `pixels` values: header + data."""
    return 16 + n * pixels if "images" in name else 8 + n


def _idx(
    folder: Path, name: str, sha256: dict[str, str], limit: int | None
) -> tuple[Path, np.ndarray]:
    """The plain file torchvision unpacks, else its .gz archive (read_idx gunzips it, never
    past `limit` bytes)."""
    path = folder / name
    if not path.is_file() and (folder / f"{name}.gz").is_file():
        path = folder / f"{name}.gz"
    try:
        return path, read_idx(path, sha256.get(name, ""), limit)
    except IdxError as e:
        raise ReadError(str(e)) from None


def read_idx_dataset(
    folder: Path,
    channels: int,
    size: int,
    classes: int,
    sha256: tuple[str, ...] = (),
    counts: tuple[int, int] | None = None,
) -> Arrays:
    """MNIST-layout IDX files -> train images (N, 1, H, W), labels (N,), test images, labels;
    given `sha256` (one per file of IDX_FILES, uncompressed), each file is checked against it;
    given `counts` (the registry's train and test images), no file is read or unpacked past
    the bytes that many images take."""
    sums = dict(zip(IDX_FILES, sha256, strict=False))
    out: list[np.ndarray] = []
    names = iter(IDX_FILES)  # train images, train labels, test images, test labels
    for i, (image_file, label_file) in enumerate(zip(names, names, strict=True)):
        n = counts[i] if counts else None
        pixels = channels * size * size
        ipath, images = _idx(folder, image_file, sums, n and idx_bytes(image_file, n, pixels))
        lpath, labels = _idx(folder, label_file, sums, n and idx_bytes(label_file, n, pixels))
        if images.dtype != np.uint8 or images.shape[1:] != (size, size):
            raise ReadError(
                f"{ipath}: holds {images.dtype} of shape {images.shape}, expected uint8 images "
                f"of {size}x{size}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ReadError(f"{lpath}: holds {labels.dtype} of shape {labels.shape}, not labels")
        if len(labels) != len(images):
            raise ReadError(f"{lpath}: {len(labels)} labels for {len(images)} images in {ipath}")
        _check_labels(lpath, labels, classes)
        out += [images.reshape(len(images), channels, size, size), labels]
    return out[0], out[1], out[2], out[3]


# --- CIFAR-10 and CIFAR-100: python pickles ---------------------------------------------------


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR pickle needs: numpy's array reconstruction, under the module
    names numpy 1 and numpy 2 write."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    import codecs

    allowed[("_codecs", "encode")] = codecs.encode  # how protocol-2 pickles store bytes
    return allowed


class _Refused(pickle.UnpicklingError):
    pass


class DataUnpickler(pickle.Unpickler):
    """Plain data and numpy arrays only: a pickle can run any code, a dataset file needs none."""

    allowed: dict[tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if not self.allowed:
            type(self).allowed = _numpy_globals()
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _Refused(
                f"refuses to load {module}.{name}: a dataset file holds only arrays and lists, "
                f"this one wants to run code"
            ) from None


def _unpickle(path: Path, limit: int | None = None) -> dict[str, Any]:
    """A CIFAR pickle (a regular file of at most `limit` bytes) -> its dict."""
    try:
        with open_regular(path, ReadError) as f:
            if limit is not None and os.fstat(f.fileno()).st_size > limit:
                raise ReadError(
                    f"{path}: {os.fstat(f.fileno()).st_size:,} bytes, more than the {limit:,} "
                    "this file holds in the dataset: not a CIFAR file"
                )
            # latin1: the files were pickled by Python 2; keys come back as str, arrays intact
            obj = DataUnpickler(f, encoding="latin1").load()
    except OSError as e:
        raise ReadError(f"{path}: cannot read: {e.strerror or e}") from None
    except _Refused as e:
        raise ReadError(f"{path}: {e}") from None
    except ReadError:
        raise
    except Exception as e:  # truncated or garbage: pickle raises many kinds, all mean corrupt
        raise ReadError(f"{path}: truncated or corrupt pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise ReadError(f"{path}: holds a {type(obj).__name__}, expected a dict of arrays")
    return obj


def _key(path: Path, obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        found = ", ".join(sorted(map(str, obj))) or "none"
        raise ReadError(f"{path}: no key {key!r} (found: {found}), not a CIFAR file of this kind")
    return obj[key]


def _cifar_file(
    path: Path, label_key: str, size: int, classes: int, limit: int | None = None
) -> tuple[np.ndarray, ...]:
    obj = _unpickle(path, limit)
    data, labels = _key(path, obj, "data"), _key(path, obj, label_key)
    pixels = 3 * size * size
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ReadError(f"{path}: 'data' is not a 2-d uint8 array")
    if data.shape[1] != pixels:
        raise ReadError(f"{path}: 'data' rows have {data.shape[1]} values, expected {pixels}")
    # checked before numpy sees it: a crafted pickle can nest shared lists whose expansion
    # would take minutes and all the memory there is
    if isinstance(labels, list):
        if len(labels) != len(data) or not all(type(v) is int for v in labels):
            raise ReadError(f"{path}: {label_key!r} is not a list of {len(data)} integers")
    elif not (isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu"):
        raise ReadError(f"{path}: {label_key!r} is not a list of integers")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(data),):
        raise ReadError(f"{path}: {labels.size} labels for {len(data)} images")
    _check_labels(path, labels, classes)
    return data.reshape(len(data), 3, size, size), labels


def cifar_bytes(n: int, size: int) -> int:
    """The most bytes a CIFAR pickle of `n` images holds: pixels, a label and the filename each
    (CIFAR-10's batches name every image), and room for the rest."""
    return n * (3 * size * size + 200) + (1 << 20)


def read_cifar(
    folder: Path, channels: int, size: int, classes: int, counts: tuple[int, int] | None = None
) -> Arrays:
    """A CIFAR-10 or CIFAR-100 folder -> train images (N, 3, H, W), labels, test images, labels;
    given `counts` (the registry's train and test images), a file larger than that many images
    take is refused before it is read."""
    train_files, test_file, meta_file, label_key, names_key = CIFAR_LAYOUTS[classes]
    meta_path = folder / meta_file
    train_max, test_max = (cifar_bytes(n, size) for n in counts) if counts else (None, None)
    names = _key(meta_path, _unpickle(meta_path, 1 << 20), names_key)
    if not isinstance(names, list) or len(names) != classes:
        raise ReadError(f"{meta_path}: {names_key!r} should list {classes} class names")
    train = [_cifar_file(folder / f, label_key, size, classes, train_max) for f in train_files]
    x_test, y_test = _cifar_file(folder / test_file, label_key, size, classes, test_max)
    # one copy into a fresh array: writable, C-contiguous, and no pickle buffers kept alive
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, np.ascontiguousarray(x_test), y_test


def _check_labels(path: Path, labels: np.ndarray, classes: int) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise ReadError(
            f"{path}: labels range over {labels.min()}..{labels.max()}, expected 0..{classes - 1}"
        )
