"""The run folder (a contract: docs/architecture.md): written as it goes, each file atomically.

results/<run-id>/
  config.yaml    the resolved config; `relubench train --config` it to rerun
  metrics.csv    one row per epoch (0 = init); val_loss, val_acc with a validation split
  layers.csv     one row per epoch x activation layer
  alphas.csv     PReLU only, long form: epoch, layer, channel, alpha
  summary.json   status (running|complete|diverged|interrupted|failed), results, resumes,
                 environment
  checkpoint.pt  the latest epoch's full training state, while the run is unfinished
  model.pt       final weights (only with save_model)

The one place that knows the files: `train` writes through RunWriter and `summarize`; the
analysis, sweeps, studies, exports, the test fixtures and the benchmarks read through
`read_summary` and `read_table`, the one reader of the CSV tables. Torch-free.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from relubench.files import atomic_write

METRICS_COLUMNS = [
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "dead_frac",
    "dormant_frac",
    "lr",
    "epoch_seconds",
    "samples_per_s",
]
VAL_COLUMNS = ["val_loss", "val_acc"]  # after train_acc, in runs with a validation split


def metrics_columns(has_val: bool, columns: list[str] = METRICS_COLUMNS) -> list[str]:
    if not has_val:
        return columns
    at = columns.index("train_acc") + 1
    return [*columns[:at], *VAL_COLUMNS, *columns[at:]]


LAYERS_COLUMNS = [
    "epoch",
    "layer",
    "units",
    "dead_frac",
    "dormant_frac",
    "pre_mean",
    "pre_std",
    "out_mean",
    "out_std",
    "alpha_mean",
    "alpha_min",
    "alpha_max",
]
# run folders written before the dormant fraction and the moments existed: read as they are
OLD_COLUMNS = {
    "metrics.csv": [c for c in METRICS_COLUMNS if c != "dormant_frac"],
    "layers.csv": ["epoch", "layer", "units", "dead_frac", "alpha_mean", "alpha_min", "alpha_max"],
}
ALPHAS_COLUMNS = ["epoch", "layer", "channel", "alpha"]
STATUSES = ("running", "complete", "diverged", "interrupted", "failed")


def _fmt(value: Any) -> str:
    """Stable, tidy CSV cells: empty for missing, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def tidy(value: Any) -> Any:
    """Floats to the same 6 significant digits as the CSVs, so summary and rows agree exactly."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v) for v in value]
    return value


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row.get(c)) for c in columns])
    return buf.getvalue()


class RunWriter:
    """Holds a run's rows in memory and rewrites each file atomically after every epoch."""

    def __init__(self, folder: Path, has_alphas: bool, has_val: bool = False) -> None:
        self.folder = Path(folder)
        self.has_alphas = has_alphas
        self.metrics_columns = metrics_columns(has_val)
        self.metrics: list[dict[str, Any]] = []
        self.layers: list[dict[str, Any]] = []
        self.alphas: list[dict[str, Any]] = []

    def start(self, config_yaml: str, summary: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in ("metrics.csv", "layers.csv", "alphas.csv", "model.pt", "checkpoint.pt"):
            (self.folder / stale).unlink(missing_ok=True)  # a redo never mixes with old rows
        for orphan in self.folder.glob(".*.tmp"):  # left by a process killed mid-write
            orphan.unlink(missing_ok=True)
        atomic_write(self.folder / "config.yaml", config_yaml)
        self.summary(summary)
        self._flush()

    def resume(self, config_yaml: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Continue a run from a checkpoint's rows: the files are rewritten to hold exactly
        them (an epoch written after the checkpoint is dropped, to be trained again)."""
        for orphan in self.folder.glob(".*.tmp"):
            orphan.unlink(missing_ok=True)
        self.metrics, self.layers, self.alphas = rows["metrics"], rows["layers"], rows["alphas"]
        atomic_write(self.folder / "config.yaml", config_yaml)
        self._flush()

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        return {"metrics": self.metrics, "layers": self.layers, "alphas": self.alphas}

    def epoch(
        self, metrics: dict[str, Any], layers: list[dict[str, Any]], alphas: list[dict[str, Any]]
    ) -> None:
        self.metrics.append(metrics)
        self.layers.extend(layers)
        self.alphas.extend(alphas)
        self._flush()

    def _flush(self) -> None:
        atomic_write(self.folder / "metrics.csv", csv_text(self.metrics_columns, self.metrics))
        atomic_write(self.folder / "layers.csv", csv_text(LAYERS_COLUMNS, self.layers))
        if self.has_alphas:
            atomic_write(self.folder / "alphas.csv", csv_text(ALPHAS_COLUMNS, self.alphas))

    def summary(self, summary: dict[str, Any]) -> None:
        atomic_write(self.folder / "summary.json", json.dumps(summary, indent=2) + "\n")


class LayerReading(Protocol):
    """One activation layer's probe result (relubench.nn.probe.LayerProbe has these)."""

    layer: str
    units: int
    alphas: list[float] | None
    pre_mean: float
    pre_std: float
    out_mean: float
    out_std: float

    @property
    def dead_frac(self) -> float: ...

    @property
    def dormant_frac(self) -> float: ...


def layer_rows(epoch: int, layers: Iterable[LayerReading]) -> tuple[list[dict], list[dict]]:
    """The layers.csv rows and the alphas.csv rows of one epoch's probe."""
    rows, alphas = [], []
    for lp in layers:
        a = lp.alphas
        rows.append(
            {
                "epoch": epoch,
                "layer": lp.layer,
                "units": lp.units,
                "dead_frac": lp.dead_frac,
                "dormant_frac": lp.dormant_frac,
                "pre_mean": lp.pre_mean,
                "pre_std": lp.pre_std,
                "out_mean": lp.out_mean,
                "out_std": lp.out_std,
                "alpha_mean": sum(a) / len(a) if a else None,
                "alpha_min": min(a) if a else None,
                "alpha_max": max(a) if a else None,
            }
        )
        alphas += [
            {"epoch": epoch, "layer": lp.layer, "channel": c, "alpha": v}
            for c, v in enumerate(a or [])
        ]
    return rows, alphas


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def summarize(
    run_id: str,
    config_hash: str,
    config: dict[str, Any],
    status: str,
    metrics: list[dict[str, Any]],
    layers: list[dict[str, Any]],
    env: dict[str, Any],
    started: float,
    params: int,
    error: str | None = None,
    wall_seconds: float | None = None,
    resumes: list[dict[str, Any]] | None = None,
    split: dict[str, int] | None = None,
    timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """summary.json: status, results, final per-layer stats, the config, the environment.

    Holds everything `compare` tabulates, so a table over many runs reads one file per run.
    `metrics` and `layers` are the rows of metrics.csv and layers.csv so far; `started` is
    when the run first started, `wall_seconds` the time it has trained (default: since
    `started`; a resumed run leaves out the time it lay stopped), `resumes` one entry per
    resume: when, from which epoch; `split` the images in each split (train, val, test);
    `timing` where this process's time went (`relubench.runner.train.Timing`).

    The best epoch is chosen on validation accuracy when the run has a validation split
    (`best_selected_on: val`; `best_test_acc` is the test accuracy at that epoch), else on
    test accuracy (`test`: an optimistic figure, labelled so).
    """
    trained = [r for r in metrics if r["epoch"] > 0]
    val = any(r.get("val_acc") is not None for r in trained)
    on = "val_acc" if val else "test_acc"
    best = max(trained or metrics, key=lambda r: r[on], default=None)
    last = metrics[-1] if metrics else None
    epoch_s = [r["epoch_seconds"] for r in trained]
    return tidy(
        {
            "run_id": run_id,
            "status": status,
            "epochs": config["epochs"],
            "epochs_done": len(trained),
            "final_test_acc": last["test_acc"] if trained else None,
            "final_test_loss": last["test_loss"] if trained else None,
            "final_train_loss": last["train_loss"] if trained else None,
            "best_test_acc": best["test_acc"] if trained else None,
            "best_epoch": best["epoch"] if trained else None,
            "best_selected_on": "val" if val else "test",
            "final_val_acc": last["val_acc"] if trained and val else None,
            "final_val_loss": last["val_loss"] if trained and val else None,
            "best_val_acc": best["val_acc"] if trained and val else None,
            "init_dead_frac": metrics[0]["dead_frac"] if metrics else None,
            "final_dead_frac": last["dead_frac"] if last else None,
            "init_dormant_frac": metrics[0].get("dormant_frac") if metrics else None,
            "final_dormant_frac": last.get("dormant_frac") if last else None,
            "seconds_per_epoch": sum(epoch_s) / len(epoch_s) if epoch_s else None,
            "wall_seconds": time.time() - started if wall_seconds is None else wall_seconds,
            "parameters": params,
            "started_at": stamp(started),
            "updated_at": stamp(time.time()),
            "error": error,
            "resumes": resumes or [],
            "split": split,
            "timing": timing,
            **env,
            "layers": final_layers(layers),
            "config_hash": config_hash,  # the full hash: whose folder this is (RunConfig)
            "config": config,
        }
    )


def final_layers(layer_rows: list[dict]) -> list[dict]:
    """Per activation layer: units, dead fraction at init and at the last epoch, final slopes."""
    if not layer_rows:
        return []
    last = layer_rows[-1]["epoch"]
    init = {r["layer"]: r["dead_frac"] for r in layer_rows if r["epoch"] == 0}
    keys = ("units", "dead_frac", "dormant_frac", "pre_mean", "pre_std", "out_mean", "out_std",
            "alpha_mean", "alpha_min", "alpha_max")  # fmt: skip
    return [
        {"layer": r["layer"], "init_dead_frac": init.get(r["layer"]), **{k: r.get(k) for k in keys}}
        for r in layer_rows
        if r["epoch"] == last
    ]


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
    if column in TEXT_COLUMNS:
        return text
    if not text:  # not measured (train loss at epoch 0, slopes of a fixed shape)
        return None
    return int(text) if column in INT_COLUMNS else float(text)


def read_table(path: Path, required: bool = True) -> Table:
    """metrics.csv, layers.csv or alphas.csv of a run folder, read the one way every reader
    shares: numbers as int (epoch, units, channel) or float, an empty cell as None, `layer` as
    text. A row of the wrong length (a file cut short by a crash) is left out.

    Malformed, with the file's name and the reason, for a file that is missing (unless not
    `required`: an empty Table), not a regular file, over MAX_TABLE_BYTES, not UTF-8 text
    (a byte-order mark is allowed), without an epoch column, or with a cell that is not a
    number where one belongs."""
    path = Path(path)
    name = path.name
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if required:
            raise Malformed(f"{name} missing") from None
        return Table([], [])
    except OSError as e:
        raise Malformed(f"{name} unreadable ({e.strerror or e})") from None
    if not stat.S_ISREG(info.st_mode):
        raise Malformed(f"{name} is not a regular file")
    if info.st_size > MAX_TABLE_BYTES:
        raise Malformed(f"{name} is {info.st_size:,} bytes, more than any run writes")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = list(csv.reader(f))
    except UnicodeDecodeError:
        raise Malformed(f"{name} is not UTF-8 text") from None
    except (OSError, csv.Error) as e:
        raise Malformed(f"{name} unreadable ({getattr(e, 'strerror', None) or e})") from None
    header = lines[0] if lines else []
    if "epoch" not in header:
        raise Malformed(f"{name} has no epoch column")
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if len(line) != len(header):
            continue
        try:
            rows.append({c: _cell(c, t) for c, t in zip(header, line, strict=True)})
        except ValueError:
            bad = next(c for c, t in zip(header, line, strict=True) if not _parses(c, t))
            raise Malformed(f"{name} line {i}: {bad} is not a number") from None
    return Table(header, rows)


def _parses(column: str, text: str) -> bool:
    try:
        _cell(column, text)
    except ValueError:
        return False
    return True


def number(value: Cell) -> float:
    """A table cell as a float for arithmetic: None (not measured) is NaN."""
    return math.nan if value is None or isinstance(value, str) else float(value)


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a run folder, or None if there is none or it cannot be read."""
    try:
        data = json.loads((Path(folder) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    known = {  # the columns of this version, with or without a split, and of earlier versions
        "metrics.csv": [
            metrics_columns(v, c)
            for v in (False, True)
            for c in (METRICS_COLUMNS, OLD_COLUMNS["metrics.csv"])
        ],
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
