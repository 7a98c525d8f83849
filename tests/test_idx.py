"""Tests for relubench.idx and the shipped mnist-mini asset (numpy only, fast)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import relubench.data.idx
from relubench.data.idx import IdxError, read_idx, write_idx

ASSET = Path(relubench.data.idx.__file__).parents[1] / "assets" / "mnist-mini"
ASSET_FILES = {
    "train-images-idx3-ubyte.gz": (10000, 28, 28),
    "train-labels-idx1-ubyte.gz": (10000,),
    "t10k-images-idx3-ubyte.gz": (2000, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (2000,),
}


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_3d(tmp_path: Path, images: np.ndarray, name: str) -> None:
    write_idx(tmp_path / name, images)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8
    assert back.shape == (5, 28, 28)
    np.testing.assert_array_equal(back, images)
    back[0, 0, 0] = 1  # callers may normalise in place


@pytest.mark.parametrize("name", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_round_trip_1d(tmp_path: Path, name: str) -> None:
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / name, labels)
    np.testing.assert_array_equal(read_idx(tmp_path / name), labels)


def test_plain_file_layout(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert (tmp_path / "x").read_bytes() == bytes.fromhex("00000802 00000002 00000003 010203040506")


def test_gzip_detected_by_magic_not_suffix(tmp_path: Path, images: np.ndarray) -> None:
    write_idx(tmp_path / "no-suffix", images, compress=True)
    assert (tmp_path / "no-suffix").read_bytes()[:2] == b"\x1f\x8b"
    write_idx(tmp_path / "plain.gz", images, compress=False)
    assert (tmp_path / "plain.gz").read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(tmp_path / "no-suffix"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), images)


@pytest.mark.parametrize("dtype", [">i2", "<i4", np.float32, np.float64, np.int8])
def test_round_trip_other_dtypes(tmp_path: Path, dtype: object) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    write_idx(tmp_path / "a.gz", array)
    back = read_idx(tmp_path / "a.gz")
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_gzip_write_is_byte_reproducible(tmp_path: Path, images: np.ndarray) -> None:
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "b.gz", images)
    first = (tmp_path / "a.gz").read_bytes()
    assert first == (tmp_path / "b.gz").read_bytes()
    assert first[4:8] == b"\x00\x00\x00\x00"  # gzip mtime field is zero
    assert not first[3] & 0x08  # FNAME flag unset: no file name in the header


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, images: np.ndarray) -> None:
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "a.gz", images[:2])  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]
    assert read_idx(tmp_path / "a.gz").shape == (2, 28, 28)


def test_truncated_file(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[:1016])
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte: truncated: expected 3920 bytes"):
        read_idx(path)


def test_truncated_gzip(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(IdxError, match=r"t10k-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_truncated_data_inside_valid_gzip(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + bytes.fromhex("00000005 0000001c 0000001c"))
    )
    with pytest.raises(IdxError, match=r"cut\.gz: truncated: expected 3920 bytes of data, found 0"):
        read_idx(path)


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes.fromhex("00000123 00000002 0102"))
    with pytest.raises(IdxError, match=r"labels-idx1-ubyte: bad magic number 0x00000123"):
        read_idx(path)


def test_not_idx_at_all(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(IdxError, match=r"page\.html: bad magic number 0x3C68746D, not an IDX"):
        read_idx(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(bytes.fromhex("00000801 00000002 010203"))
    with pytest.raises(IdxError, match=r"long: 1 unexpected trailing bytes"):
        read_idx(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IdxError, match=r"absent-idx1-ubyte: cannot read"):
        read_idx(tmp_path / "absent-idx1-ubyte")


def test_unsupported_dtype_on_write(tmp_path: Path) -> None:
    with pytest.raises(IdxError, match="cannot write dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


def test_shipped_asset_checksums() -> None:
    lines = (ASSET / "SHA256SUMS").read_text().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    assert sorted(sums) == sorted(ASSET_FILES)
    assert [line.split("  ", 1)[1] for line in lines] == sorted(ASSET_FILES)
    for name, expected in sums.items():
        assert hashlib.sha256((ASSET / name).read_bytes()).hexdigest() == expected, name


def test_shipped_asset_contents() -> None:
    arrays = {name: read_idx(ASSET / name) for name in ASSET_FILES}
    for name, shape in ASSET_FILES.items():
        assert arrays[name].shape == shape, name
        assert arrays[name].dtype == np.uint8, name
    for split, per_class in (("train", 1000), ("t10k", 200)):
        labels = arrays[f"{split}-labels-idx1-ubyte.gz"]
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert len(np.unique(labels[:20])) > 3  # official order keeps classes interleaved
        pixels = arrays[f"{split}-images-idx3-ubyte.gz"]
        assert pixels.min() == 0 and pixels.max() == 255
    assert (ASSET / "NOTICE").is_file()
