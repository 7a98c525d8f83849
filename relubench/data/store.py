"""Where dataset copies live: the data dir, system packages, downloading through torchvision.

A downloadable dataset is looked for first under the data dir, in torchvision's own layout (so
folders torchvision already downloaded are reused), then in the system's dataset folders, where
an operating-system package puts the official files side by side (Debian's
dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/). System copies are read in place,
never copied, and checked against the official files' sha256 at every load. Nothing is fetched
unless asked, and then through torchvision, which verifies its archives' md5 checksums.
Torch-free until a download runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from relubench.errors import DataError
from relubench.registry.datasets import DatasetSpec, get_spec

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # embedded datasets
DATA_ENV = "RELUBENCH_DATA"  # overrides the default data dir
SYSTEM_ENV = "RELUBENCH_SYSTEM_DATA"  # overrides the system dataset roots (os.pathsep-separated)
SYSTEM_ROOTS = ("/usr/share/datasets", "/usr/local/share/datasets")

# Where a copy was found, as `relubench data list` says it.
SYSTEM, FOLDER, CACHE = "system package", "torchvision folder", "cache"


@dataclass(frozen=True)
class Found:
    """A complete copy of a dataset: the folder its files are in, and what kind of place it is
    (SYSTEM, FOLDER: a data dir given by --data-dir or $RELUBENCH_DATA, CACHE: the default)."""

    folder: Path
    where: str

    @property
    def system(self) -> bool:
        return self.where == SYSTEM


def _kind(data_dir: str | Path | None) -> str:
    """FOLDER for a data dir the user named, CACHE for the default one."""
    return FOLDER if data_dir or os.environ.get(DATA_ENV) else CACHE


def system_roots() -> list[Path]:
    """The folders system packages put datasets in: $RELUBENCH_SYSTEM_DATA (os.pathsep-separated;
    empty: none), else SYSTEM_ROOTS."""
    env = os.environ.get(SYSTEM_ENV)
    roots = SYSTEM_ROOTS if env is None else env.split(os.pathsep)
    return [Path(r) for r in roots if r]


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
    """The dataset's files not present under `root` (an IDX file may also be there gzipped);
    DataError if the data dir cannot be read at all."""
    return _missing_in(spec, root / spec.folder, root)


def _missing_in(spec: DatasetSpec, folder: Path, root: Path) -> list[str]:
    try:
        return [
            f
            for f in spec.files
            if not (folder / f).is_file()
            and not (spec.reader == "idx" and (folder / f"{f}.gz").is_file())
        ]
    except OSError as e:  # no permission on a folder on the way, a file where a folder is ...
        raise DataError(
            f"cannot read the data dir {root}: {e.strerror or e}; give another with --data-dir"
        ) from None


def locate(spec: DatasetSpec, data_dir: str | Path | None = None) -> Found | None:
    """The complete copy a run reads: the data dir's, else a system package's; None if neither.
    A folder that cannot be read counts as no copy."""
    root = data_root(data_dir)
    candidates = [(root / spec.folder, _kind(data_dir), root)]
    if spec.system:
        candidates += [(r / spec.system, SYSTEM, r) for r in system_roots()]
    for folder, where, base in candidates:
        try:
            if not _missing_in(spec, folder, base):
                return Found(folder, where)
        except DataError:
            continue
    return None


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder` (0 if there is none)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def status(spec: DatasetSpec, root: Path) -> tuple[str, int]:
    """(present | missing | incomplete | unreadable | embedded | generated, bytes on disk):
    files only, fast."""
    if spec.kind != "download":
        folder = ASSETS / spec.name
        size = sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0
        return spec.kind, size
    try:
        missing = missing_files(spec, root)
        size = folder_size(root / spec.folder)
    except (DataError, OSError):
        return "unreadable", 0
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
        elif found := locate(spec, data_dir):  # a system package's copy will do
            return found.folder
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


def require(
    spec: DatasetSpec,
    data_dir: str | Path | None,
    download_ok: bool,
    hint: str = "or add --download to train",
) -> Found:
    """The copy of a downloadable dataset a run reads (`locate`): fetched into the data dir
    first if there is none and `download_ok`, else a DataError naming the folders looked in
    and the command that fetches it."""
    found = locate(spec, data_dir)
    if found:
        return found
    if download_ok:
        return Found(download(spec.name, data_dir), _kind(data_dir))
    root = data_root(data_dir)
    missing = missing_files(spec, root)
    what = "not found" if len(missing) == len(spec.files) else f"incomplete (no {missing[0]})"
    package = f", or install the system package {spec.system_package}" * bool(spec.system_package)
    raise DataError(
        f"dataset {spec.name} {what} in {root / spec.folder}; fetch it ({spec.download_mb:.0f} "
        f"MB) with: {download_command(spec.name, data_dir)} ({hint}{package})"
    )
