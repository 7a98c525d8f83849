"""Reading a run folder: the one reader of its CSV tables and of summary.json, bounded (regular
files only, size-checked, never more than a limit read), with one error, Malformed."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relubench.runfolder.columns import (
    ALPHAS_COLUMNS,
    LAYERS_COLUMNS,
    METRICS_COLUMNS,
    OLD_COLUMNS,
    STATUSES,
    metrics_columns,
)


class Malformed(ValueError):
    """A run folder whose files cannot be read as a run; the message is the reason."""


TEXT_COLUMNS = frozenset({"layer"})  # a table's other columns hold numbers
INT_COLUMNS = frozenset({"epoch", "units", "channel"})
MAX_TABLE_BYTES = 64 * 2**20  # far above any run's table; keeps a stray huge file bounded
Cell = int | float | str | None


@dataclass
class Table:
    """A run folder's CSV table: its header and its rows as {column: value}."""

    columns: list[str]
    rows: list[dict[str, Cell]]


def _cell(column: str, text: str) -> Cell:
    if column in TEXT_COLUMNS:  # a layer's name: its control characters never leave as such
        return printable(text)
    if not text:  # not measured (train loss at epoch 0, slopes of a fixed shape)
        return None
    return int(text) if column in INT_COLUMNS else float(text)


def read_bounded(path: Path, limit: int) -> bytes:
    """A run folder's file, read whole, if it is a regular file of at most `limit` bytes.

    Malformed, with the file's name and the reason, when it is not a regular file (a FIFO,
    /dev/zero, a folder, or a symlink to one: refused before it is read, so nothing hangs or
    grows without bound), is larger than `limit`, or cannot be read; FileNotFoundError passes
    through, for the caller to say what a missing file means."""
    path = Path(path)
    name = path.name
    try:  # O_NONBLOCK: opening a FIFO never waits for a writer; fstat then sees what it is
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise Malformed(f"{name} is not a regular file") from None
    except OSError as e:
        raise Malformed(f"{name} unreadable ({e.strerror or e})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a folder opens read-only on Linux: refused here
        os.close(fd)
        raise Malformed(f"{name} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            raise Malformed(f"{name} is {info.st_size:,} bytes, more than any run writes")
        try:
            data = f.read(limit + 1)  # a file growing as it is read stays bounded too
        except OSError as e:
            raise Malformed(f"{name} unreadable ({e.strerror or e})") from None
    if len(data) > limit:
        raise Malformed(f"{name} is over {limit:,} bytes, more than any run writes")
    return data


def read_table(path: Path, required: bool = True, max_rows: int | None = None) -> Table:
    """metrics.csv, layers.csv or alphas.csv of a run folder, read the one way every reader
    shares: numbers as int (epoch, units, channel) or float, an empty cell as None, `layer` as
    text. A row of the wrong length (a file cut short by a crash) is left out.

    Malformed, with the file's name and the reason, for a file that is missing (unless not
    `required`: an empty Table), not a regular file, over MAX_TABLE_BYTES, not UTF-8 text
    (a byte-order mark is allowed), with a field over csv's limit, without an epoch column,
    with a cell that is not a number where one belongs, or (with `max_rows`) with more rows
    than that: a reader that keeps every row as Python objects (about 1 KB a row) says how
    many it can hold, and the file is refused before it takes that memory."""
    path = Path(path)
    name = path.name
    try:
        data = read_bounded(path, MAX_TABLE_BYTES)
    except FileNotFoundError:
        if required:
            raise Malformed(f"{name} missing") from None
        return Table([], [])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Malformed(f"{name} is not UTF-8 text") from None
    del data
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        if "epoch" not in header:
            raise Malformed(f"{name} has no epoch column")
        rows = []
        for line in reader:  # row by row: no second copy of the whole file as lists
            if len(line) != len(header):
                continue
            if max_rows is not None and len(rows) >= max_rows:
                raise Malformed(f"{name} has more than {max_rows:,} rows, more than this reads")
            try:
                rows.append({c: _cell(c, t) for c, t in zip(header, line, strict=True)})
            except ValueError:
                bad = next(c for c, t in zip(header, line, strict=True) if not _parses(c, t))
                where = f"line {reader.line_num}"
                raise Malformed(f"{name} {where}: {printable(bad)} is not a number") from None
    except csv.Error as e:
        raise Malformed(f"{name} unreadable ({printable(str(e))})") from None
    return Table(header, rows)


_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """`text` with every C0 and C1 control character (ESC, BEL, CR, newline, ...) shown as an
    escape (\\x1b), so that text from a file never drives a terminal; printable unicode
    stays as it is."""
    return text.translate(_CONTROLS)


def _parses(column: str, text: str) -> bool:
    try:
        _cell(column, text)
    except ValueError:
        return False
    return True


def number(value: Cell) -> float:
    """A table cell as a float for arithmetic: None (not measured) is NaN."""
    return math.nan if value is None or isinstance(value, str) else float(value)


MAX_SUMMARY_BYTES = 16 * 2**20  # a summary is a few KB; keeps a stray huge file bounded


def load_summary(folder: Path) -> dict[str, Any]:
    """A run folder's summary.json as a dict; Malformed with the reason when it is missing,
    not a regular file, too large, not JSON or not a JSON object."""
    try:
        data = read_bounded(Path(folder) / "summary.json", MAX_SUMMARY_BYTES)
    except FileNotFoundError:
        raise Malformed("summary.json missing") from None
    try:
        summary = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise Malformed(f"summary.json is not valid JSON ({printable(str(e))[:200]})") from None
    if not isinstance(summary, dict):
        raise Malformed("summary.json is not a JSON object")
    return summary


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a run folder, or None if there is none or it cannot be read (see
    load_summary for why)."""
    try:
        return load_summary(folder)
    except Malformed:
        return None


def run_status(folder: Path) -> str | None:
    """`complete`, `running`, ... or None when the folder holds no readable run."""
    summary = read_summary(folder)
    status = summary.get("status") if summary else None
    return status if status in STATUSES else None


def check_run_folder(folder: Path) -> list[str]:
    """Problems with a run folder's files (missing, unreadable, wrong columns); [] if whole."""
    folder = Path(folder)
    problems = []
    summary = read_summary(folder)
    if summary is None:
        problems.append("summary.json missing or unreadable")
    if not (folder / "config.yaml").is_file():
        problems.append("config.yaml missing")
    # this version's columns, with or without a split and the probe's two columns (both or
    # neither), and the earlier versions' (which had no probe columns)
    old = OLD_COLUMNS["metrics.csv"]
    metrics = [metrics_columns(v, METRICS_COLUMNS, p) for v in (False, True) for p in (False, True)]
    known = {
        "metrics.csv": metrics + [metrics_columns(v, old) for v in (False, True)],
        "layers.csv": [LAYERS_COLUMNS, OLD_COLUMNS["layers.csv"]],
    }
    expected = {
        "metrics.csv": METRICS_COLUMNS,
        "layers.csv": LAYERS_COLUMNS,
        "alphas.csv": ALPHAS_COLUMNS,
    }
    tables: dict[str, Table] = {}
    for name, columns in expected.items():
        try:
            tables[name] = table = read_table(folder / name)
        except Malformed as e:
            if name != "alphas.csv" or "missing" not in str(e):  # only slopes need alphas.csv
                problems.append(str(e))
            continue
        if table.columns in known.get(name, []):
            columns = table.columns
        if table.columns != columns:
            problems.append(f"{name} has columns {table.columns}, expected {columns}")
        elif not table.rows:
            problems.append(f"{name} has no rows")
    layers = tables.get("layers.csv")
    has_slopes = layers is not None and any(r.get("alpha_mean") is not None for r in layers.rows)
    if has_slopes and "alphas.csv" not in tables:
        problems.append("layers.csv has slopes but alphas.csv is missing")
    return problems
