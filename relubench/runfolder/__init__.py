"""The run folder (a contract: docs/architecture.md): written as it goes, each file atomically.

results/<run-id>/
  config.yaml    the resolved config; `relubench train --config` it to rerun
  metrics.csv    one row per epoch (0 = init); val_loss, val_acc with a validation split;
                 probe_loss, probe_acc when the probe reads training images
  layers.csv     one row per epoch x activation layer
  alphas.csv     PReLU only, long form: epoch, layer, channel, alpha
  summary.json   status (running|complete|diverged|interrupted|failed), results, environment
  checkpoint.pt  the latest epoch's full training state, while the run is unfinished
  model.pt       final weights (only with save_model)

The one place that knows the files (torch-free): `columns` (what each file holds), `write`
(`train` writes through RunWriter and `summarize`), `read` (the analysis, sweeps, studies,
exports, the test fixtures and the benchmarks read through `read_summary` and `read_table`,
the one reader of the CSV tables). Everything is importable from `relubench.runfolder`.
"""

from __future__ import annotations

from relubench.runfolder.columns import (
    ALPHAS_COLUMNS,
    LAYERS_COLUMNS,
    METRICS_COLUMNS,
    OLD_COLUMNS,
    PROBE_COLUMNS,
    STATUSES,
    VAL_COLUMNS,
    metrics_columns,
)
from relubench.runfolder.read import (
    INT_COLUMNS,
    MAX_SUMMARY_BYTES,
    MAX_TABLE_BYTES,
    TEXT_COLUMNS,
    Cell,
    Malformed,
    Table,
    check_run_folder,
    load_summary,
    number,
    printable,
    read_bounded,
    read_summary,
    read_table,
    run_status,
)
from relubench.runfolder.write import (
    LayerReading,
    RunWriter,
    csv_text,
    final_layers,
    layer_rows,
    stamp,
    summarize,
    tidy,
)

__all__ = [
    "ALPHAS_COLUMNS",
    "Cell",
    "INT_COLUMNS",
    "LAYERS_COLUMNS",
    "LayerReading",
    "MAX_SUMMARY_BYTES",
    "MAX_TABLE_BYTES",
    "METRICS_COLUMNS",
    "Malformed",
    "OLD_COLUMNS",
    "PROBE_COLUMNS",
    "RunWriter",
    "STATUSES",
    "TEXT_COLUMNS",
    "Table",
    "VAL_COLUMNS",
    "check_run_folder",
    "csv_text",
    "final_layers",
    "layer_rows",
    "load_summary",
    "metrics_columns",
    "number",
    "printable",
    "read_bounded",
    "read_summary",
    "read_table",
    "run_status",
    "stamp",
    "summarize",
    "tidy",
]
