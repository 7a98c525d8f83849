"""One writer per run folder: an exclusive claim, taken before anything is written.

A claim is an exclusive `flock` on `<run folder>/.lock`, held by the process that trains the
run (`relubench train`, a sweep's worker). The kernel drops it when that process ends, however
it ends (kill -9 included), so a dead writer's claim is free at once, a live one's is always
respected, and no pid is ever guessed at. The lock file says who holds it (pid, host, config
hash) for the message another process prints.

Claiming also settles which folder a config takes: the first of its run ids (`RunConfig.
run_ids`) whose folder is free or holds the same config, decided under the claim, so two
configs whose 8-digit hashes collide never share a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from relubench.config import RunConfig, folder_hash
from relubench.errors import RelubenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock: there a claim excludes nothing
    fcntl = None  # type: ignore[assignment]


class RunBusy(RelubenchError):
    """Another live process is writing this config's run folder."""


class RunLock:
    """An exclusive claim on the run folder of `cfg`; `folder` is where the run goes."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.folder: Path | None = None
        self._fd: int | None = None

    def acquire(self) -> Path:
        """Claim the config's folder and return it; RunBusy if a live process holds it."""
        full = self.cfg.config_hash
        for rid in self.cfg.run_ids():
            folder = Path(self.cfg.out) / rid
            if folder_hash(folder) not in (None, full):
                continue  # another config's folder (an id collision): the next, longer id
            fd = _open_locked(folder)
            if fd is None:
                owner = _owner(folder / ".lock")
                if owner.get("config_hash") not in (None, full):
                    continue  # a colliding config is just starting there
                who = f"pid {owner['pid']}" if "pid" in owner else "another process"
                raise RunBusy(
                    f"{folder} is being written by {who} on {owner.get('host', 'this machine')}"
                    f"; wait for it to finish, or train into another --out"
                )
            if folder_hash(folder) not in (None, full):  # taken between the check and the lock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "config_hash": full}
            os.write(fd, json.dumps(owner).encode())
            self.folder, self._fd = folder, fd
            return folder
        raise AssertionError("the full hash is this config's own")  # pragma: no cover

    def release(self) -> None:
        """Drop the claim; a folder the run never wrote to (it stopped before its first file)
        is removed again, so a refused or failed start leaves nothing behind."""
        if self._fd is None:
            return
        try:
            if self.folder is not None and [p.name for p in self.folder.iterdir()] == [".lock"]:
                (self.folder / ".lock").unlink()
                self.folder.rmdir()
        except OSError:  # removed or changed by hand meanwhile: leave it as it is
            pass
        os.close(self._fd)  # drops the flock (the file stays: removing it would race)
        self._fd = None

    def __enter__(self) -> Path:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


PREVIOUS = ".previous"  # inside a run folder: the complete run a --force run is replacing


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name not in (".lock", PREVIOUS)]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def set_aside(folder: Path) -> None:
    """Before a run replaces the one in `folder` (--force), under the claim: move its files into
    `folder/.previous`, kept until the new run ends (`drop_previous`) or stops short
    (`put_back`). If a run set aside is there already (a replacing run was killed), it stays
    the one to keep, and what the killed run wrote goes."""
    aside = folder / PREVIOUS
    if aside.is_dir():
        for entry in _entries(folder):
            _remove(entry)
        return
    aside.mkdir()
    for entry in _entries(folder):
        entry.rename(aside / entry.name)


def put_back(folder: Path) -> bool:
    """The run set aside back in place of the one in `folder` (deleted); False if none was."""
    aside = folder / PREVIOUS
    if not aside.is_dir() or aside.is_symlink():
        return False
    for entry in _entries(folder):
        _remove(entry)
    for entry in aside.iterdir():
        entry.rename(folder / entry.name)
    aside.rmdir()
    return True


def drop_previous(folder: Path) -> None:
    """The run set aside is replaced for good: the new run in `folder` has ended."""
    aside = folder / PREVIOUS
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)


def held(folder: Path) -> bool:
    """Whether a live process holds the claim on `folder` right now."""
    try:
        fd = os.open(folder / ".lock", os.O_RDWR)
    except OSError:
        return False
    try:
        free = _lock(fd)
    finally:
        os.close(fd)  # closing drops the lock we may just have taken
    return not free


def _open_locked(folder: Path) -> int | None:
    """The folder's lock file, open and exclusively locked by us; None if a live process
    holds it. (If a release removed the file between our open and our lock, we locked a
    file no one else will see: open it again.)"""
    for _ in range(5):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise RelubenchError(
                f"cannot write the run folder {folder}: {e.strerror or e}; give another --out"
            ) from None
        if not _lock(fd, wait=0.2):
            os.close(fd)
            return None
        if _same_file(fd, folder / ".lock"):
            return fd
        os.close(fd)
    return None


def _lock(fd: int, wait: float = 0.0) -> bool:
    """An exclusive flock on `fd`, trying for up to `wait` seconds (`held` probes take the
    lock for an instant; a claim should not mistake one for a holder)."""
    if fcntl is None:  # pragma: no cover
        return True
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def _same_file(fd: int, path: Path) -> bool:
    """Whether the locked `fd` is still the file at `path` (a release may have removed the
    lock file of an empty folder between our open and our lock)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _owner(path: Path, wait: float = 1.0) -> dict:
    """What the lock file says of its holder; a holder writes it right after locking."""
    deadline = time.monotonic() + wait
    while True:
        try:
            owner = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            owner = None
        if isinstance(owner, dict) or time.monotonic() > deadline:
            return owner if isinstance(owner, dict) else {}
        time.sleep(0.05)
