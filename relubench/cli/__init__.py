"""The command line: parse, call the Python API, print. The only package that imports Typer.

`app` (the Typer app and its one error handler) is in `cli.app`; the commands, by group, in
`run` (train, smoke, acts, recipes), `sweep` (sweep, study), `analyse` (compare, plot, report,
export) and `data`. torch is imported only inside the commands that train, so
`relubench --help` starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

# each module registers its commands; their order here is the order `relubench --help` lists
# isort: off
from relubench.cli import run, sweep, analyse, data  # noqa: F401

# isort: on
from relubench.cli.app import State, app

__all__ = ["app", "main"]


def main() -> Any:
    try:
        return app()
    except SystemExit as e:
        if State.trained:  # every file is written and closed, no other process or thread is left
            _exit_now(e.code)
        raise


def _exit_now(code: Any) -> NoReturn:
    """End the process without the interpreter's teardown: once torch is loaded, unloading its
    modules takes a second or more (`python -m benchmarks.breakdown`, "exit"), for nothing."""
    if code is not None and not isinstance(code, int):  # sys.exit("message") prints it
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
