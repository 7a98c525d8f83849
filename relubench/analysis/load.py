"""Loading run folders: every run folder under some paths -> one flat row per run.

Reads one file per run, summary.json (it holds everything the table needs), so a table over a
thousand runs costs a thousand small JSON reads; the CSVs are for plots. A folder that cannot
be read as a run is skipped with the reason, never fatal. Torch-free.
"""

from __future__ import annotations

import glob
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from relubench.config import RunConfig, as_run, short
from relubench.runfolder import STATUSES, Malformed

if TYPE_CHECKING:
    import pandas as pd

SCALARS = (str, int, float, bool, type(None))  # what a config value can be
RUN_FILES = ("summary.json", "config.yaml")  # a folder holding either is a run folder
DEFAULTS = RunConfig().to_dict()  # what a written config leaves out (at its default)
CONFIG_ORDER = list(DEFAULTS)  # config columns in the dataclass's field order

# Result fields read from summary.json: all numbers or missing.
NUMBERS = (
    "epochs_done",
    "final_test_acc",
    "final_test_loss",
    "final_val_acc",
    "final_val_loss",
    "best_val_acc",
    "best_test_acc",
    "best_epoch",
    "init_dead_frac",
    "final_dead_frac",
    "seconds_per_epoch",
    "wall_seconds",
    "parameters",
)
# Environment fields; device and threads are renamed because the config has its own (requested
# `auto`/0 there, actual `cpu`/2 here).
ENVIRONMENT = {
    "relubench": "relubench",
    "torch": "torch",
    "python": "python",
    "platform": "platform",
    "device": "env_device",
    "device_name": "device_name",
    "threads": "env_threads",
}


Row = dict[str, Any]


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _walk(
    folder: str, found: list[str], problems: list[tuple[str, str]], seen: set[tuple[int, int]]
) -> None:
    """Depth-first, sorted; a run folder is not searched further (its files are not runs).
    A folder reached twice through symlinks (a loop) is searched once; one that cannot be
    read is named in `problems`."""
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        entries = list(os.scandir(folder))
    except OSError as e:
        problems.append((folder, f"cannot be read ({e.strerror or e})"))
        return
    names = {e.name for e in entries}
    if any(f in names for f in RUN_FILES):
        found.append(folder)
        return
    for e in sorted(entries, key=lambda e: e.name):
        try:
            is_dir = e.is_dir()
        except OSError:  # a dangling or looping symlink
            continue
        if is_dir and not e.name.startswith("."):  # .ipynb_checkpoints, .git, temp folders
            _walk(e.path, found, problems, seen)


def find_runs(paths: list[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Run folders under `paths` (folders, run folders, their files, or glob patterns).

    Returns the folders in a stable order (each once) and the paths that led nowhere, with why.
    """
    found: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    for raw in paths:
        text = str(raw)
        if _has_glob(text) and not os.path.exists(text):  # a quoted glob: expand it ourselves
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                problems.append((text, "matches nothing"))
        else:
            matches = [text]
        for m in matches:
            if os.path.isdir(m):
                before = len(found)
                _walk(m, found, problems, seen)
                if len(found) == before and m == text:
                    problems.append((text, "holds no run folders"))
            elif os.path.basename(m) in RUN_FILES:  # `results/*/summary.json` works too
                found.append(os.path.dirname(m) or ".")
            elif os.path.exists(m):
                if m == text:
                    problems.append((text, "is a file, not a run folder"))
            else:
                problems.append((text, "no such file or folder"))
    seen: set[str] = set()
    unique = []
    for f in found:
        real = os.path.abspath(f)  # not realpath: a syscall per folder, for rare symlinks
        if real not in seen:
            seen.add(real)
            unique.append(Path(f))
    return unique, problems


def _number(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed(f"summary.json: {key} is {short(value)}, not a number")
    if not math.isfinite(value):
        raise Malformed(f"summary.json: {key} is {value}, not a finite number")
    return float(value)


def _read_config(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    config = summary.get("config")
    if isinstance(config, dict):
        return config
    try:  # runs written before the summary carried the config
        config = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as e:
        raise Malformed(f"no config in summary.json and config.yaml unreadable ({e})") from None
    if not isinstance(config, dict):
        raise Malformed("no config in summary.json and config.yaml is not a mapping")
    return config


def load_run(folder: str | Path) -> dict[str, Any]:
    """One run folder as one flat row: config keys, results, slopes, environment.

    Raises Malformed with the reason when the folder cannot be read as a run.
    """
    folder = Path(folder)
    try:
        text = (folder / "summary.json").read_text()
    except FileNotFoundError:
        raise Malformed(
            "summary.json missing (config.yaml alone: the run never started?)"
        ) from None
    except OSError as e:
        raise Malformed(f"summary.json unreadable ({e.strerror})") from None
    try:
        summary = json.loads(text)
    except ValueError as e:
        raise Malformed(f"summary.json is not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise Malformed("summary.json is not a JSON object")
    status = summary.get("status")
    if status not in STATUSES:
        raise Malformed(f"summary.json: unknown status {short(status)}")
    # a key the run's config lacks was added to relubench after the run: it ran with the default
    config = _read_config(folder, summary)
    odd = next((k for k, v in config.items() if not isinstance(v, SCALARS)), None)
    if odd is not None:
        raise Malformed(f"config: {odd} is {short(config[odd])}, not a single value")
    config = as_run(config)  # keys added after the run: their neutral value
    row: dict[str, Any] = {**{k: v for k, v in DEFAULTS.items() if k not in config}, **config}
    row.update({k: _number(summary, k) for k in NUMBERS})
    for key in ("final_test_acc", "best_test_acc", "final_val_acc", "best_val_acc"):
        v = row[key]
        if v is not None and not 0.0 <= v <= 1.0:
            raise Malformed(f"summary.json: {key} is {v}, outside [0, 1]")
    if status == "complete" and row["final_test_acc"] is None:
        raise Malformed("summary.json: status complete but no final_test_acc")
    slopes = [
        layer.get("alpha_mean")
        for layer in summary.get("layers") or []
        if isinstance(layer, dict) and isinstance(layer.get("alpha_mean"), (int, float))
    ]
    row.update(
        run_id=summary["run_id"] if isinstance(summary.get("run_id"), str) else folder.name,
        path=str(folder),
        status=status,
        error=None if summary.get("error") is None else str(summary["error"])[:500],
        epochs_planned=_number(summary, "epochs"),
        # the best epoch was chosen on validation, or (no validation split) on test
        selected_on="val" if summary.get("best_selected_on") == "val" else "test",
        alpha_first=float(slopes[0]) if slopes else None,  # layers are in forward order
        alpha_last=float(slopes[-1]) if slopes else None,
        **{col: summary.get(key) for key, col in ENVIRONMENT.items()},
    )
    return row


def load_rows(paths: list[str | Path]) -> tuple[list[Row], list[str], list[tuple[str, str]]]:
    """Every run under `paths` as a flat dict; returns (runs, config keys, skipped with why)."""
    folders, skipped = find_runs(paths)
    rows: list[Row] = []
    seen_ids: dict[str, str] = {}
    for folder in folders:
        try:
            row = load_run(folder)
        except Malformed as e:
            skipped.append((str(folder), str(e)))
            continue
        first = seen_ids.setdefault(row["run_id"], row["path"])
        if first != row["path"]:  # a copied folder: counting it twice would fake a seed
            skipped.append((str(folder), f"same run id as {first}; counted once"))
            continue
        rows.append(row)
    config_keys: list[str] = []
    for row in rows:
        for key in row:
            if key in _NOT_CONFIG or key in config_keys:
                continue
            config_keys.append(key)
    order = {k: i for i, k in enumerate(CONFIG_ORDER)}
    config_keys.sort(key=lambda k: (order.get(k, len(order)), k))
    return rows, config_keys, skipped


def load_runs(paths: list[str | Path]) -> tuple[pd.DataFrame, list[str], list[tuple[str, str]]]:
    """Every run under `paths` as one DataFrame (a row per run, config keys as columns), for
    notebooks and scripts: `df, keys, skipped = load_runs(["results/"])`."""
    import pandas as pd

    rows, config_keys, skipped = load_rows(paths)
    return pd.DataFrame.from_records(rows), config_keys, skipped


_NOT_CONFIG = {
    *NUMBERS,
    *ENVIRONMENT.values(),
    "run_id",
    "path",
    "status",
    "error",
    "epochs_planned",
    "selected_on",
    "alpha_first",
    "alpha_last",
}
