"""Read and write IDX files, the format of the MNIST database.

An IDX file is a big-endian header followed by the raw array data:

    bytes 0-1   zero
    byte  2     dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64; multi-byte types are big-endian)
    byte  3     number of dimensions
    then        one big-endian uint32 per dimension
    then        the data, C order

Files may be gzip-compressed; `read_idx` detects that from the gzip magic bytes rather than
the file name. Given the most bytes the file may hold (the registry knows: images x rows x
cols + header), it never reads or decompresses past that: a 2 MB .gz that unpacks to 2 GB is
refused as soon as the stream passes the bound. Only regular files are read (never a device or
a FIFO). This module needs numpy only, so the data tools work without torch.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from relubench.files import atomic_write

__all__ = ["IdxError", "open_regular", "read_idx", "read_idx_bytes", "write_idx"]

# IDX dtype code -> numpy dtype as stored on disk (big-endian).
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# (kind, itemsize) -> code, so write_idx accepts any byte order of a supported type.
_CODES: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """An IDX file is missing, unreadable, malformed or truncated."""


def open_regular(path: Path, error: type[ValueError] = IdxError) -> BinaryIO:
    """`path` opened for reading if it is a regular file (a FIFO is opened without blocking, then
    refused); else `error` naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: not a regular file (a folder, device or FIFO): not a dataset file")
    return os.fdopen(fd, "rb")


def read_idx_bytes(path: Path, limit: int | None = None) -> bytes:
    """Return the file's IDX bytes, gunzipped if the file starts with the gzip magic; never more
    than `limit` bytes read or unpacked (IdxError past it)."""
    too_big = f"{path}: holds more than the {limit or 0:,} bytes this file has in the dataset"
    with open_regular(path) as f:
        try:
            if limit is not None and os.fstat(f.fileno()).st_size > limit and not _gzipped(f):
                raise IdxError(f"{too_big} (re-download the dataset)")
            if not _gzipped(f):
                return f.read()
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                data = gz.read() if limit is None else gz.read(limit + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            # gzip raises EOFError for a cut-off stream and BadGzipFile/zlib.error for garbage;
            # callers should only ever have to catch IdxError.
            raise _corrupt(path, exc) from exc
        except OSError as exc:
            raise IdxError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if limit is not None and len(data) > limit:
        raise IdxError(f"{too_big} when unpacked: refused before unpacking the rest")
    return data


def _gzipped(f: BinaryIO) -> bool:
    f.seek(0)
    magic = f.read(2)
    f.seek(0)
    return magic == _GZIP_MAGIC


def _corrupt(path: Path, exc: BaseException) -> IdxError:
    return IdxError(f"{path}: corrupt or truncated gzip data ({exc}) (re-download the dataset)")


def read_idx(path: str | Path, sha256: str = "", max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a writable, native-byte-order numpy array.

    Raises IdxError, with one line naming the file and the problem, if the file cannot be
    read, is not IDX, its data length does not match its header exactly, (given `sha256`)
    its uncompressed bytes have another sha256, or (given `max_bytes`) it holds, or unpacks
    to, more bytes than that (checked while unpacking, so a gzip bomb costs `max_bytes`).
    """
    path = Path(path)
    data = read_idx_bytes(path, max_bytes)
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise IdxError(f"{path}: not the official file (its sha256 differs from the published)")
    if len(data) < 4:
        raise IdxError(f"{path}: {len(data)} bytes, too short for an IDX header, not an IDX file")
    (magic,) = struct.unpack(">I", data[:4])
    code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or code not in _DTYPES:
        raise IdxError(f"{path}: bad magic number 0x{magic:08X}, not an IDX file")
    if ndim == 0:
        raise IdxError(f"{path}: header declares 0 dimensions, not a usable IDX file")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} bytes, "
            f"found {len(data)} (re-download the dataset)"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[code]
    # Python ints, so a corrupt header with huge dims cannot overflow.
    expected = dtype.itemsize
    for dim in shape:
        expected *= dim
    found = len(data) - header_len
    if found < expected:
        raise IdxError(
            f"{path}: truncated: expected {expected} bytes of data, found {found} "
            f"(re-download the dataset)"
        )
    if found > expected:
        raise IdxError(
            f"{path}: {found - expected} unexpected trailing bytes: shape {shape} needs "
            f"{expected} bytes of data, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    # astype copies, giving a writable array in the machine's byte order.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` as an IDX file, atomically and byte-reproducibly.

    Compresses with gzip if `compress` is True, or if it is None and the name ends in ".gz".
    The gzip header has mtime 0 and no file name, so equal arrays give equal bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise IdxError(f"{path}: cannot write dtype {array.dtype} as IDX")
    if not 1 <= array.ndim <= 255:
        raise IdxError(f"{path}: cannot write a {array.ndim}-dimensional array as IDX")
    if any(dim >= 2**32 for dim in array.shape):
        raise IdxError(f"{path}: dimension too large for IDX: shape {array.shape}")
    if compress is None:
        compress = path.name.endswith(".gz")

    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    body = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()

    def write(f: BinaryIO) -> None:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
                gz.write(header)
                gz.write(body)
        else:
            f.write(header)
            f.write(body)

    atomic_write(path, write)
