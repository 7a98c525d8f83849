"""The one domain exception: a user's mistake, said in one line with how to fix it.

`relubench.cli` turns every RelubenchError into one red line on stderr and exit code 2; no
other module prints or exits. Each subclass names the kind of input that was wrong.
"""

from __future__ import annotations

import reprlib
from typing import Any


class RelubenchError(ValueError):
    """A user's mistake (a flag, a file, a dataset): the message says what and how to fix it."""


class ConfigError(RelubenchError):
    """A config key or value that cannot be used."""


class DataError(RelubenchError):
    """A dataset that is missing, corrupt or unknown."""


class CompareError(RelubenchError):
    """Nothing can be compared, or a compare flag is wrong."""

    def __init__(self, message: str, skipped: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.skipped = skipped or []  # so the caller can still say which folders were bad


class ExportError(RelubenchError):
    """An export that cannot be made: its optional dependency is missing, or --out is unusable."""


def short(value: Any, limit: int = 60) -> str:
    """A value for an error message: its repr, cut to `limit` characters (a YAML alias bomb
    is a small file but an enormous repr)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring = 2, 4, 4, limit
    text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
