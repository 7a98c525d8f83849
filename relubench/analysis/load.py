"""Loading run folders: every run folder under some paths -> one flat row per run.

Reads one file per run, summary.json (it holds everything the table needs), so a table over a
thousand runs costs a thousand small JSON reads; the CSVs are for plots. A folder that cannot
be read as a run is skipped with the reason, never fatal. Torch-free.
"""

from __future__ import annotations

import glob
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from relubench.config import RunConfig, as_run, short
from relubench.errors import CompareError
from relubench.runfolder import STATUSES, Malformed, load_summary, printable, read_bounded

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
FRACTIONS = ("final_test_acc", "best_test_acc", "final_val_acc", "best_val_acc",
             "init_dead_frac", "final_dead_frac")  # fmt: skip
COUNTS = ("epochs_done", "best_epoch", "seconds_per_epoch", "wall_seconds", "parameters")
MAX_CONFIG_BYTES = 1 << 20  # config.yaml of a run written before summaries held the config
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
    A path given twice, or inside another one given, counts once and is no problem.
    """
    found: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    for text in dict.fromkeys(os.path.normpath(str(raw)) for raw in paths):
        if _has_glob(text) and not os.path.exists(text):  # a quoted glob: expand it ourselves
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                problems.append((text, "matches nothing"))
        else:
            matches = [text]
        for m in matches:
            if os.path.isdir(m):
                if _identity(m) in seen:  # searched already, as (part of) another path
                    continue
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
    unique: dict[str, Path] = {}
    for f in found:  # not realpath: a syscall per folder, for rare symlinks
        unique.setdefault(os.path.abspath(f), Path(f))
    return list(unique.values()), problems


def _identity(folder: str) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder `path` is or lies inside (symlinks resolved), or None: a folder that
    holds summary.json or config.yaml, `path` itself or any folder above it."""
    here = Path(os.path.realpath(path))
    for folder in (here, *here.parents):
        if folder.is_dir() and any((folder / f).exists() for f in RUN_FILES):
            return folder
    return None


def refuse_run_folder(out: str | Path, flag: str = "--out") -> None:
    """CompareError when writing `out` would write into a run folder (its own files, or any
    file or folder inside it): a run folder is the run's record, never an output's place."""
    folder = run_folder_of(out)
    if folder is not None:
        raise CompareError(
            f"{flag} {printable(str(out))} is inside the run folder {printable(str(folder))}; "
            "write outputs elsewhere"
        )


def _number(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed(f"summary.json: {key} is {short(value)}, not a number")
    try:
        value = float(value)  # an int of 400 digits is no float
    except OverflowError:
        raise Malformed(f"summary.json: {key} is {short(value)}, not a finite number") from None
    if not math.isfinite(value):
        raise Malformed(f"summary.json: {key} is {value}, not a finite number")
    if key in FRACTIONS and not 0.0 <= value <= 1.0:
        raise Malformed(f"summary.json: {key} is {value}, outside [0, 1]")
    if key in COUNTS and value < 0:
        raise Malformed(f"summary.json: {key} is {value}, below 0")
    return value


def _slopes(summary: dict[str, Any]) -> list[float]:
    """The final mean slope of each layer that has one, in forward order; a layers entry of
    the wrong type is Malformed (a NaN slope, of a diverged run, stays NaN: shown as –)."""
    layers = summary.get("layers")
    if layers is None:
        return []
    if not isinstance(layers, list):
        raise Malformed(f"summary.json: layers is {short(layers)}, not a list")
    slopes = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise Malformed(f"summary.json: layers[{i}] is {short(layer)}, not an object")
        a = layer.get("alpha_mean")
        if a is None:
            continue
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise Malformed(f"summary.json: layers[{i}].alpha_mean is {short(a)}, not a number")
        slopes.append(float(a))
    return slopes


def _text(value: Any) -> Any:
    """A string from a run folder, its control characters escaped; anything else as it is."""
    return printable(value) if isinstance(value, str) else value


def _read_config(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    config = summary.get("config")
    if isinstance(config, dict):
        return config
    try:  # runs written before the summary carried the config
        config = yaml.safe_load(read_bounded(folder / "config.yaml", MAX_CONFIG_BYTES))
    except FileNotFoundError:
        raise Malformed("no config in summary.json and config.yaml missing") from None
    except Malformed as e:
        raise Malformed(f"no config in summary.json and {e}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        why = printable(str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise Malformed(f"no config in summary.json and config.yaml unreadable ({why})") from None
    if not isinstance(config, dict):
        raise Malformed("no config in summary.json and config.yaml is not a mapping")
    return config


def unread_params(act: Any) -> list[str]:
    """The activation parameters (leaky_slope, prelu_init, ...) activation `act` does not read:
    None in its row, so `leaky` at slope 0.25 is a group of its own beside `relu`, `prelu`, and
    not "relu, 0.01"."""
    from relubench.registry.activations import ACTS

    spec = ACTS.get(str(act))
    everyone = dict.fromkeys(p for a in ACTS.values() for p in a.params)
    return [] if spec is None else [p for p in everyone if p not in spec.params]


def load_run(folder: str | Path) -> dict[str, Any]:
    """One run folder as one flat row: config keys, results, slopes, environment. Strings
    from the folder (run id, error, config values, environment) have their control
    characters escaped (`runfolder.printable`), so no output can carry them raw.

    Raises Malformed with the reason when the folder cannot be read as a run: its files
    unreadable, not regular files or too large, a field of the wrong type or out of range.
    """
    folder = Path(folder)
    try:
        summary = load_summary(folder)
    except Malformed as e:
        if str(e) == "summary.json missing":
            raise Malformed(
                "summary.json missing (config.yaml alone: the run never started?)"
            ) from None
        raise
    status = summary.get("status")
    if status not in STATUSES:
        raise Malformed(f"summary.json: unknown status {short(status)}")
    # a key the run's config lacks was added to relubench after the run: it ran with the default
    config = _read_config(folder, summary)
    odd = next((k for k, v in config.items() if not isinstance(v, SCALARS)), None)
    if odd is not None:
        raise Malformed(f"config: {short(odd)} is {short(config[odd])}, not a single value")
    key = next((k for k in config if not isinstance(k, str)), None)
    if key is not None:
        raise Malformed(f"config: key {short(key)} is not a name")
    config = {printable(k): _text(v) for k, v in as_run(config).items()}  # added keys: neutral
    row: dict[str, Any] = {**{k: v for k, v in DEFAULTS.items() if k not in config}, **config}
    row.update(dict.fromkeys(unread_params(row.get("act"))))
    row.update({k: _number(summary, k) for k in NUMBERS})
    if status == "complete" and row["final_test_acc"] is None:
        raise Malformed("summary.json: status complete but no final_test_acc")
    slopes = _slopes(summary)
    run_id = summary.get("run_id")
    error = summary.get("error")
    row.update(
        run_id=printable(run_id if isinstance(run_id, str) and run_id else folder.name),
        path=str(folder),
        status=status,
        error=None if error is None else printable(str(error)[:500]),
        epochs_planned=_number(summary, "epochs"),
        # the best epoch was chosen on validation, or (no validation split) on test
        selected_on="val" if summary.get("best_selected_on") == "val" else "test",
        alpha_first=slopes[0] if slopes else None,  # layers are in forward order
        alpha_last=slopes[-1] if slopes else None,
        **{col: _text(summary.get(key)) for key, col in ENVIRONMENT.items()},
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
