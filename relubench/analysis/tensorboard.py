"""TensorBoard event files from run folders, after the fact: `relubench export tensorboard`.

Training writes CSVs only, so it stays as fast as it is, and every run folder, old ones too,
can be looked at in TensorBoard. One TensorBoard run per run folder, named by its run id
(the folder's name), each a single event file:

  loss/{train,val,test}  acc/{train,val,test}   metrics.csv, one point per epoch (0 = init)
  units/{dead_frac,dormant_frac}  opt/lr        the whole net's dead and dormant units
  time/{epoch_seconds,samples_per_s}            speed, kept apart from the results
  dead_frac/<layer>  dormant_frac/<layer> ...   layers.csv: each per-layer number, by layer
  alpha/<layer>                                 alphas.csv: histogram of the layer's slopes
  final/{test_acc,best_val_acc,dead_frac,dormant_frac}   the hparams dashboard's metrics
  hparams                                       the config's experiment keys and the status

Steps are epochs. Wall times are the run's start plus its epoch seconds, so the "relative"
axis reads training time and an export of the same folder is the same every time. Each
export of a run replaces its event file whole (written atomically), so exporting again never
doubles points, and a run still going is exported with the epochs it has. Torch-free:
tensorboardX (the `tensorboard` extra) is imported only when exporting.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from relubench.analysis.load import find_runs, load_run, refuse_run_folder
from relubench.config import CHOICES, FIELD_TYPES, RUNTIME_KEYS
from relubench.errors import CompareError, ExportError
from relubench.files import atomic_write
from relubench.runfolder import STATUSES, Cell, Malformed, read_summary, read_table

INSTALL = "tensorboard export needs tensorboardX: pip install 'relubench[tensorboard]'"

METRIC_TAGS = {  # metrics.csv column -> tag; a column not named here goes to metrics/<column>
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "probe_loss": "loss/probe",
    "test_loss": "loss/test",
    "train_acc": "acc/train",
    "val_acc": "acc/val",
    "probe_acc": "acc/probe",
    "test_acc": "acc/test",
    "dead_frac": "units/dead_frac",
    "dormant_frac": "units/dormant_frac",
    "lr": "opt/lr",
    "epoch_seconds": "time/epoch_seconds",
    "samples_per_s": "time/samples_per_s",
}
# layers.csv columns that are no curve: the unit count is fixed, slope min and max are in the
# histogram. Every other column is a scalar <column>/<layer>.
LAYER_SKIP = ("epoch", "layer", "units", "alpha_min", "alpha_max")
# The hparams dashboard's metrics, the same list in every run so that the experiment each run
# declares is the same (TensorBoard uses the first one it finds).
FINAL = ("final/test_acc", "final/best_val_acc", "final/dead_frac", "final/dormant_frac")
# The experiment keys: what the run computed. Runtime keys (out, device, threads, ...) say
# where or how fast, so they are left out, as they are of the run id.
HPARAMS = [k for k in FIELD_TYPES if k not in RUNTIME_KEYS]
HPARAMS_ALL = [*HPARAMS, "status"]  # and whether the run finished, to filter on
SESSION_STATUS = {
    "complete": "STATUS_SUCCESS",
    "running": "STATUS_RUNNING",
    "diverged": "STATUS_FAILURE",
    "failed": "STATUS_FAILURE",
    "interrupted": "STATUS_UNKNOWN",
}


@dataclass
class Exported:
    """What an export wrote: one TensorBoard run per run id, and the folders left out."""

    out: Path
    runs: list[str] = field(default_factory=list)  # run ids, in the order found
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    scalars: int = 0  # scalar points over all runs
    histograms: int = 0


@contextmanager
def _torch_hidden() -> Iterator[None]:
    """tensorboardX's writer module imports torch when it can (seconds, most of the export's
    time) only to recognise torch tensors, and the export hands it none: hide torch while
    tensorboardX loads, unless torch is loaded already."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


def _tensorboardx() -> SimpleNamespace:
    """tensorboardX's protos and helpers, or the one-line error saying how to install it."""
    try:
        with _torch_hidden():
            import numpy as np
            from tensorboardX.proto import api_pb2, plugin_hparams_pb2
            from tensorboardX.proto.event_pb2 import Event
            from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
            from tensorboardX.record_writer import masked_crc32c
            from tensorboardX.summary import make_histogram
    except ImportError:
        raise ExportError(INSTALL) from None
    return SimpleNamespace(
        np=np,
        api=api_pb2,
        hp=plugin_hparams_pb2,
        Event=Event,
        Summary=Summary,
        SummaryMetadata=SummaryMetadata,
        crc=masked_crc32c,
        make_histogram=make_histogram,
        bins=np.asarray(_tf_bins()),  # an array once: np.histogram converts a list per call
    )


def _tf_bins() -> list[float]:
    """TensorFlow's default histogram buckets (tensorboardX's add_histogram uses them): edges
    at ±1e-12 x 1.1^k up to 1e20, fine near zero where PReLU slopes go."""
    edges, v = [], 1e-12
    while v < 1e20:
        edges.append(v)
        v *= 1.1
    return [-e for e in reversed(edges)] + [0.0] + edges


def export_tensorboard(paths: Sequence[str | Path], out: str | Path = "tb") -> Exported:
    """Write one TensorBoard run, `out/<run id>/`, per run folder found under `paths`.

    A folder that cannot be read as a run (or whose run id another folder already took) is
    skipped with the reason. Raises ExportError when tensorboardX is missing or `out` cannot
    be written.
    """
    tbx = _tensorboardx()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; give a folder for the TensorBoard runs")
    folders, skipped = find_runs(list(paths))
    for target in [out, *(out / Path(os.path.abspath(f)).name for f in folders)]:
        try:  # exporting into `results` would write each run's events into its own folder
            refuse_run_folder(target)
        except CompareError as e:
            raise ExportError(str(e)) from None
    done = Exported(out, skipped=skipped)
    taken: dict[str, Path] = {}  # run id -> its folder
    for folder in folders:
        run_id = Path(os.path.abspath(folder)).name
        if run_id in taken:  # a copy of a run: two would share one TensorBoard run
            skipped.append((str(folder), f"same run id as {taken[run_id]}; exported once"))
            continue
        taken[run_id] = folder
        try:
            events, scalars, histograms = _run_events(folder, tbx)
        except Malformed as e:  # as compare skips it
            skipped.append((str(folder), str(e)))
            continue
        try:
            _write(out / run_id, events, tbx)
        except OSError as e:
            raise ExportError(
                f"cannot write into {out / run_id}: {e.strerror or e}; give another --out"
            ) from None
        done.runs.append(run_id)
        done.scalars += scalars
        done.histograms += histograms
    return done


def _write(run_dir: Path, events: list[Any], tbx: SimpleNamespace) -> Path:
    """The run's one event file, replacing whatever event files an earlier export left."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"events.out.tfevents.{int(time.time()):010d}.relubench"
    records = []
    for event in events:  # TFRecord framing: length, its crc, data, its crc (little-endian)
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        records += [header, struct.pack("<I", tbx.crc(header)), data]
        records.append(struct.pack("<I", tbx.crc(data)))
    atomic_write(path, b"".join(records))
    for old in run_dir.iterdir():
        if "tfevents" in old.name and old.name != path.name and old.is_file():
            old.unlink(missing_ok=True)
    return path


# rows a run's table may hold to be exported (an Event's values cost about 0.5 KB each, a
# parsed row about 1 KB): far past any run's (metrics: one row per epoch, layers: epoch x
# layer, alphas: epoch x channel), and a bound on the memory a stray huge table takes
MAX_ROWS = {"metrics.csv": 100_000, "layers.csv": 200_000, "alphas.csv": 1_000_000}


def _table(path: Path, required: bool = False) -> list[dict[str, Cell]]:
    """A run table's rows; none if the file is missing and not `required` (alphas.csv of a
    fixed shape)."""
    return read_table(path, required=required, max_rows=MAX_ROWS.get(path.name)).rows


def _number(cell: Cell) -> float | None:
    """A numeric cell; empty (not measured, e.g. train loss at epoch 0) or text is None."""
    return None if cell is None or isinstance(cell, str) else float(cell)


def _started(folder: Path) -> float:
    """When the run started (summary.json), else when its config was written."""
    summary = read_summary(folder) or {}
    try:
        return datetime.fromisoformat(str(summary["started_at"])).timestamp()
    except (KeyError, ValueError, OverflowError, OSError):
        return (folder / "config.yaml").stat().st_mtime if (folder / "config.yaml").exists() else 0


def _run_events(folder: Path, tbx: SimpleNamespace) -> tuple[list[Any], int, int]:
    """The Event protos of one run folder, with its counts of scalar points and histograms."""
    row = load_run(folder)  # its config, filled as compare fills it, and its status
    metrics = {r["epoch"]: r for r in _table(folder / "metrics.csv", required=True)}
    scalars: dict[int, dict[str, float]] = {}  # epoch -> tag -> value (a later row wins)
    for e, r in metrics.items():
        for col, cell in r.items():
            v = _number(cell)
            if col != "epoch" and v is not None:
                scalars.setdefault(e, {})[METRIC_TAGS.get(col, f"metrics/{col}")] = v
    for r in _table(folder / "layers.csv"):
        e = r["epoch"]
        for col, cell in r.items():
            v = _number(cell)
            if col not in LAYER_SKIP and v is not None:
                scalars.setdefault(e, {})[f"{col}/{r.get('layer', '')}"] = v
    slopes: dict[int, dict[str, dict[str, float]]] = {}  # epoch -> layer -> channel -> slope
    for r in _table(folder / "alphas.csv"):
        e, v = r["epoch"], _number(r.get("alpha"))
        if v is not None and math.isfinite(v):  # a diverged slope: no bin
            slopes.setdefault(e, {}).setdefault(r.get("layer", ""), {})[r.get("channel", "")] = v

    epochs = sorted({*scalars, *slopes})
    last = max(epochs, default=0)
    scalars.setdefault(last, {}).update(_finals([metrics[e] for e in sorted(metrics)]))
    start = t = _started(folder)
    wall = {}
    for e in sorted({*epochs, last}):
        t += _number(metrics.get(e, {}).get("epoch_seconds")) or 0.0
        wall[e] = t

    Summary, Event = tbx.Summary, tbx.Event
    events = [Event(wall_time=start, file_version="brain.Event:2")]
    events.append(Event(wall_time=start, step=0, summary=_hparams_start(row, start, tbx)))
    histograms = 0
    for e in sorted(wall):
        values = [Summary.Value(tag=k, simple_value=v) for k, v in scalars.get(e, {}).items()]
        for layer, by_channel in slopes.get(e, {}).items():
            a = tbx.np.asarray(list(by_channel.values()), dtype=float)
            hist = tbx.make_histogram(a, tbx.bins)
            values.append(Summary.Value(tag=f"alpha/{layer}", histo=hist))
            histograms += 1
        events.append(Event(wall_time=wall[e], step=e, summary=Summary(value=values)))
    end = _hparams_end(row["status"], wall[last], tbx)
    events.append(Event(wall_time=wall[last], step=last, summary=end))
    return events, sum(len(s) for s in scalars.values()), histograms


def _finals(rows: list[dict[str, Cell]]) -> dict[str, float]:
    """The hparams metrics, as summary.json defines them: test accuracy at the last trained
    epoch, the best validation accuracy over trained epochs, dead and dormant fractions at the
    last epoch (epoch 0 included: a run measured at init has them)."""
    trained = [r for r in rows if r["epoch"] > 0]
    measured = [_number(r.get("val_acc")) for r in trained]
    val = [v for v in measured if v is not None and not math.isnan(v)]
    found = {
        "final/test_acc": _number(trained[-1].get("test_acc")) if trained else None,
        "final/best_val_acc": max(val) if val else None,
        "final/dead_frac": _number(rows[-1].get("dead_frac")) if rows else None,
        "final/dormant_frac": _number(rows[-1].get("dormant_frac")) if rows else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def _plugin(tag: str, data: Any, tbx: SimpleNamespace) -> Any:
    """A summary value holding hparams plugin data (no number: the content is the data)."""
    meta = tbx.SummaryMetadata(
        plugin_data=tbx.SummaryMetadata.PluginData(
            plugin_name="hparams", content=data.SerializeToString()
        )
    )
    return tbx.Summary.Value(tag=tag, metadata=meta)


def _hparams_start(row: dict[str, Any], start: float, tbx: SimpleNamespace) -> Any:
    """The experiment and this run's session start (its values). Every run declares the same
    experiment (keys, their domains, the metrics), as TensorBoard takes the first it finds
    for all. A key that does not apply (slope_lr of relu) is left empty."""
    api, hp, DataType = tbx.api, tbx.hp, tbx.api.DataType
    infos = []
    for key in HPARAMS_ALL:
        kind = "str" if key == "status" else FIELD_TYPES[key]
        info = api.HParamInfo(name=key)
        if kind == "str":
            info.type = DataType.Value("DATA_TYPE_STRING")
            choices = STATUSES if key == "status" else CHOICES[key]() if key in CHOICES else ()
            if choices:
                info.domain_discrete.extend(list(choices))
        elif kind == "bool":
            info.type = DataType.Value("DATA_TYPE_BOOL")
            info.domain_discrete.extend([False, True])
        else:
            info.type = DataType.Value("DATA_TYPE_FLOAT64")
        infos.append(info)
    metrics = [api.MetricInfo(name=api.MetricName(tag=t)) for t in FINAL]
    experiment = hp.HParamsPluginData(
        version=0, experiment=api.Experiment(hparam_infos=infos, metric_infos=metrics)
    )
    session = hp.SessionStartInfo(start_time_secs=start)
    for key in HPARAMS_ALL:
        v = row.get(key)
        if isinstance(v, bool):
            session.hparams[key].bool_value = v
        elif isinstance(v, (int, float)):
            session.hparams[key].number_value = float(v)
        elif isinstance(v, str):
            session.hparams[key].string_value = v
    start_data = hp.HParamsPluginData(version=0, session_start_info=session)
    return tbx.Summary(
        value=[
            _plugin("_hparams_/experiment", experiment, tbx),
            _plugin("_hparams_/session_start_info", start_data, tbx),
        ]
    )


def _hparams_end(status: str, end: float, tbx: SimpleNamespace) -> Any:
    """The session end: success for a complete run, failure for a diverged or failed one."""
    info = tbx.hp.SessionEndInfo(
        status=tbx.api.Status.Value(SESSION_STATUS.get(status, "STATUS_UNKNOWN")),
        end_time_secs=end,
    )
    data = tbx.hp.HParamsPluginData(version=0, session_end_info=info)
    return tbx.Summary(value=[_plugin("_hparams_/session_end_info", data, tbx)])
