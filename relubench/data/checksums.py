"""Whether a copy of a dataset is the registry's: its files' checksums, and a fingerprint of
the files when they are not (a 600-image "MNIST" is another experiment than MNIST).

The registry holds the sha256 of MNIST's and Fashion-MNIST's files as read (uncompressed) and
torchvision's md5 of CIFAR's. A copy whose every file matches is the registry's data; any other
copy is named by its fingerprint: the images per split (IDX headers) and a digest over its
files' digests. Digests are kept per process, keyed by each file's path, size and mtime, so a
sweep asks once. Files are read bounded (`read_idx`'s limit, regular files only). numpy only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from relubench.data.idx import IdxError, open_regular, read_idx_bytes
from relubench.data.readers import cifar_bytes, idx_bytes
from relubench.registry.datasets import DatasetSpec

_DIGESTS: dict[tuple[str, int, int], tuple[str, int]] = {}  # file -> (digest, images)


def _path(spec: DatasetSpec, folder: Path, name: str) -> Path:
    path = folder / name
    if spec.reader == "idx" and not path.is_file() and (folder / f"{name}.gz").is_file():
        return folder / f"{name}.gz"
    return path


def _digest(spec: DatasetSpec, path: Path, name: str) -> tuple[str, int]:
    """(hex digest, images or -1) of one file: sha256 of an IDX file as read (and the count its
    header gives), md5 of a CIFAR file."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    n = max(spec.train, spec.test)
    if spec.reader == "idx":
        raw = read_idx_bytes(path, idx_bytes(name, n, spec.channels * spec.size**2))
        count = int.from_bytes(raw[4:8], "big") if len(raw) >= 8 else 0
        result = (hashlib.sha256(raw).hexdigest(), count)
    else:
        h = hashlib.md5(usedforsecurity=False)
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size > cifar_bytes(n, spec.size):
                raise IdxError(f"{path}: larger than a {spec.name} file can be")
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        result = (h.hexdigest(), -1)
    _DIGESTS[key] = result
    return result


def digests(spec: DatasetSpec, folder: Path) -> list[tuple[str, int]]:
    """(digest, images) of each of the dataset's files in `folder`; IdxError for a file that
    cannot be read within its bound."""
    return [_digest(spec, _path(spec, folder, name), name) for name in spec.files]


def official(spec: DatasetSpec, folder: Path) -> bool | None:
    """Whether the copy in `folder` is the registry's files (None: the registry holds no sums
    for this dataset, or a file cannot be read)."""
    sums = spec.sha256 if spec.reader == "idx" else spec.md5
    if not sums:
        return None
    try:
        return [d for d, _ in digests(spec, folder)] == list(sums)
    except (IdxError, OSError):
        return None


def fingerprint(spec: DatasetSpec, folder: Path) -> str:
    """ "" when the copy in `folder` is the registry's; else what it is: the images per split
    (where the headers say) and 16 hex digits over its files' digests."""
    if official(spec, folder):
        return ""
    try:
        found = digests(spec, folder)
    except (IdxError, OSError):
        return ""  # unreadable: the load refuses it in one line, no run id is needed
    counts = [n for _, n in found if n >= 0]
    split = f"{counts[0]}+{counts[2]} images, " if len(counts) == 4 else ""
    digest = hashlib.sha256("".join(d for d, _ in found).encode()).hexdigest()[:16]
    return f"{split}files {digest}"
