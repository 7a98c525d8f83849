"""Writing files so that a reader never sees half of one: temp file in the same folder, then
an atomic rename. The one writer for run folders, tables, figures and dataset files; and the
signals (Ctrl-C, SIGTERM) that stop a run, held while its files are written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write(path: str | Path, data: str | bytes | Callable[[BinaryIO], None]) -> None:
    """Write `data` (text, bytes, or a function that writes to the open binary file) to `path`.

    The temp file is created with mode 0666 less the process umask, so the result has the
    permissions any new file would have; it is synced before the rename, and removed on error.
    An OSError (a full disk: ENOSPC, a file-size limit: EFBIG) names `path`, not the temp file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def signals_wait(then_raise: bool) -> Iterator[None]:
    """A Ctrl-C or SIGTERM during the block waits for it to end, so the files written in it are
    whole; then it stops the run (`then_raise`) or is dropped (the run is stopping anyway, and
    its last summary must not stay `running`). torch's C++ checkpoint writer, for one, turns a
    KeyboardInterrupt raised inside it into a RuntimeError: a `failed` run, its checkpoint lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if held and then_raise:
        raise KeyboardInterrupt


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (what schedulers and `docker stop` send) stops a run as Ctrl-C does: status
    `interrupted`, completed epochs kept. Signals reach the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
