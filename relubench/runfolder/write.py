"""Writing a run folder: the CSV rows of each epoch, summary.json, every file atomically, and
an epoch's files taken back together when one of them cannot be written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from relubench.files import atomic_write
from relubench.runfolder.columns import (
    ALPHAS_COLUMNS,
    LAYERS_COLUMNS,
    metrics_columns,
)


def _fmt(value: Any) -> str:
    """Stable, tidy CSV cells: empty for missing, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def tidy(value: Any) -> Any:
    """Floats to the same 6 significant digits as the CSVs, so summary and rows agree exactly;
    NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
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
    """Holds a run's rows in memory and rewrites each file atomically after every epoch. An
    epoch's tables and summary are one unit: `undo` takes the epoch back out (on a full disk)."""

    def __init__(
        self, folder: Path, has_alphas: bool, has_val: bool = False, has_probe: bool = False
    ) -> None:
        self.folder = Path(folder)
        self.has_alphas = has_alphas
        self.metrics_columns = metrics_columns(has_val, has_probe=has_probe)
        self.metrics: list[dict[str, Any]] = []
        self.layers: list[dict[str, Any]] = []
        self.alphas: list[dict[str, Any]] = []
        self._sizes: dict[str, int] = {}  # bytes of each table as written
        self._mark: tuple[int, int, int, dict[str, int]] = (0, 0, 0, {})  # before the epoch

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
        self._mark = (len(self.metrics), len(self.layers), len(self.alphas), dict(self._sizes))
        self.metrics.append(metrics)
        self.layers.extend(layers)
        self.alphas.extend(alphas)
        try:
            self._flush()
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        """The last `epoch` out of the rows and the tables (cut off in place: a file shrinks
        without a free block, so this works on a full disk)."""
        m, la, a, sizes = self._mark
        del self.metrics[m:], self.layers[la:], self.alphas[a:]
        for name, size in sizes.items():
            if self._sizes.get(name) != size:
                with contextlib.suppress(OSError):
                    os.truncate(self.folder / name, size)
        self._sizes = sizes

    def _flush(self) -> None:
        tables = [
            ("metrics.csv", self.metrics_columns, self.metrics),
            ("layers.csv", LAYERS_COLUMNS, self.layers),
            ("alphas.csv", ALPHAS_COLUMNS, self.alphas),
        ]
        for name, columns, rows in tables[: 3 if self.has_alphas else 2]:
            text = csv_text(columns, rows).encode()
            atomic_write(self.folder / name, text)
            self._sizes[name] = len(text)

    def summary(self, summary: dict[str, Any]) -> None:
        """summary.json, strict JSON: NaN and infinities (JSON has none) as null."""
        text = json.dumps(tidy(summary), indent=2, allow_nan=False)
        atomic_write(self.folder / "summary.json", text + "\n")


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

    Holds everything `compare` tabulates (a table over many runs reads one file per run).
    `metrics`, `layers`: the tables' rows so far; `started`: the run's first start;
    `wall_seconds`: the time it has trained (default: since `started`); `resumes`: when, from
    which epoch; `split`: images per split; `timing`: where this process's time went.

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
