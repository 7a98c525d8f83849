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
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from relubench.config import RunConfig
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

    torchvision verifies the archives' md5 sums and unpacks them in its own layout. The fetch
    goes into a temporary folder inside the data dir; only once the files are there and read
    whole are they moved over the copy in place, so a failed fetch (offline, a full disk) leaves
    the existing copy as it was. `force` fetches even when a copy is here, to repair a truncated
    or corrupt one (archives already here are reused where their md5 checks).
    """
    spec = get_spec(name)
    if spec.kind != "download":
        raise DataError(f"dataset {spec.name} is {spec.kind}: nothing to download")
    root = data_root(data_dir)
    folder = root / spec.folder
    if root.exists() and not root.is_dir():
        raise DataError(f"data dir {root} is a file; give a folder with --data-dir")
    if not force:
        if not missing_files(spec, root):
            return folder
        if found := locate(spec, data_dir):  # a system package's copy will do
            return found.folder
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".relubench-download-", dir=root))
    except OSError as e:  # a parent that is a file, no permission, a read-only disk
        raise DataError(
            f"cannot write the data dir {root}: {e.strerror or e}; give another with --data-dir"
        ) from None
    try:
        _fetch_into(spec, root, tmp)
        _move_over(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _fetch_into(spec: DatasetSpec, root: Path, tmp: Path) -> None:
    """torchvision's download into `tmp` (archives of `root` copied in first, so those whose md5
    checks are not fetched again), then every file read whole: DataError if any is missing or
    unreadable."""
    import torchvision.datasets

    fetcher = getattr(torchvision.datasets, spec.torchvision)
    archives = [f"{spec.folder}/{f}.gz" for f in spec.files] if spec.reader == "idx" else []
    archives += [getattr(fetcher, "filename", "")] if spec.reader == "cifar" else []
    try:
        for rel in filter(None, archives):
            if (root / rel).is_file():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / rel, tmp / rel)
        fetcher(str(tmp), train=True, download=True)
    except Exception as e:  # network, disk or checksum: one line, whatever torchvision raised
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = lines[-1] if lines else type(e).__name__
        raise DataError(
            f"could not download {spec.name} into {root}: {reason}; check the network, or copy "
            f"torchvision's files for it into {root / spec.folder} (a copy already there is "
            "kept as it was)"
        ) from None
    still = missing_files(spec, tmp)
    if still:
        raise DataError(f"download of {spec.name} came without {', '.join(still)}; nothing changed")
    from relubench.data import readers

    try:
        folder, counts = tmp / spec.folder, (spec.train, spec.test)
        if spec.reader == "idx":
            readers.read_idx_dataset(folder, spec.channels, spec.size, spec.classes, (), counts)
        else:
            readers.read_cifar(folder, spec.channels, spec.size, spec.classes, counts)
    except readers.ReadError as e:
        raise DataError(
            f"the download of {spec.name} does not read ({e}); nothing changed"
        ) from None


def _move_over(tmp: Path, root: Path) -> None:
    """Every file under `tmp` to the same place under `root`, each replaced atomically."""
    try:
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            target = root / path.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    except OSError as e:
        raise DataError(f"cannot write the data dir {root}: {e.strerror or e}") from None


def verify(spec: DatasetSpec, found: Found) -> str:
    """Why a copy is damaged ("" if it is not, or cannot be told): a system copy must be the
    registry's files, checksums matching (`relubench data list` shows it as damaged)."""
    from relubench.data.checksums import official

    if found.system and spec.sha256 and official(spec, found.folder) is not True:
        return "fails its checksum"
    return ""


def identity(spec: DatasetSpec, data_dir: str | Path | None = None) -> str:
    """The data a run of `spec` would read, for its run id: "" when it is the registry's (the
    files' checksums match, or the dataset is embedded or generated), else the copy's
    fingerprint (images per split, a digest of its files)."""
    if spec.kind != "download":
        return ""
    found = locate(spec, data_dir)
    if found is None:
        return ""  # nothing to read: the run stops in one line before it needs an id
    from relubench.data.checksums import fingerprint

    return fingerprint(spec, found.folder)


def identify(cfg: RunConfig) -> RunConfig:
    """`cfg` with `data_id` saying which data it reads (`identity`): unchanged for the
    registry's data, so those runs keep their ids; a copy of other files gets its own."""
    data_id = identity(get_spec(cfg.dataset), cfg.data_dir)
    return cfg if data_id == cfg.data_id else replace(cfg, data_id=data_id)


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
