"""Torch-free facts, the bottom layer: one entry per activation, per model, per dataset.

Config, the network, the runner and the analysis all read these; nothing here imports torch
(the network builds modules from the dotted class paths an entry names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from relubench.errors import ConfigError, RelubenchError

T = TypeVar("T")


def lookup(
    table: Mapping[str, T], kind: str, name: str, error: type[RelubenchError] = ConfigError
) -> T:
    """An entry by name, case-insensitive; a miss is one line that lists the valid names."""
    entry = table.get(str(name).lower())
    if entry is None:
        raise error(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}")
    return entry
