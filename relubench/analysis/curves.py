"""The per-epoch curves of the runs in a comparison, read from metrics.csv and layers.csv.

Through the run folder's one table reader (`runfolder.read_table`), not pandas.read_csv: a
thousand runs are two thousand small files, and read_csv's fixed cost per call would dominate.
A run whose CSVs cannot be read is skipped with the reason. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from relubench.analysis.stats import Comparison
from relubench.runfolder import TEXT_COLUMNS, Malformed, number, read_table


@dataclass
class Curves:
    """Per-epoch rows of every run in the means, labelled with its group."""

    groups: list[str]  # in the table's order (best first)
    sizes: dict[str, int]  # runs per group that have curves
    metrics: pd.DataFrame  # group, run_id, epoch, test_acc, dead_frac
    layers: pd.DataFrame  # group, run_id, epoch, layer, depth, dead_frac, alpha_{mean,min,max}
    configs: dict[str, dict[str, Any]]  # group -> the config of its first run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


# rows of metrics.csv (one per epoch) or layers.csv (epoch x layer) a figure reads, at most:
# far past any run's, and a bound on the memory a stray huge table takes (about 1 KB a row)
MAX_ROWS = 100_000
METRICS = ["epoch", "test_acc", "dead_frac"]
LAYERS = ["epoch", "layer", "dead_frac", "alpha_mean", "alpha_min", "alpha_max"]


def _read(path: Path, columns: list[str]) -> list[list]:
    """The named columns of a run table as rows (numbers as floats, NaN where not measured)."""
    table = read_table(path, max_rows=MAX_ROWS)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise Malformed(f"{path.name} lacks columns {', '.join(missing)}")
    if not table.rows:
        raise Malformed(f"{path.name} has no rows")
    return [[r[c] if c in TEXT_COLUMNS else number(r[c]) for c in columns] for r in table.rows]


def load_curves(comp: Comparison) -> Curves:
    """Read the CSVs of the runs in the means; an unreadable run is skipped with the reason."""
    metrics: list[list] = []
    layers: list[list] = []
    skipped: list[tuple[str, str]] = []
    configs: dict[str, dict[str, Any]] = {}
    for run in comp.included:
        folder, tag = Path(run["path"]), [run["group"], run["run_id"]]
        try:
            rows = _read(folder / "metrics.csv", METRICS)
        except Malformed as e:
            skipped.append((str(folder), f"not plotted: {e}"))
            continue
        metrics += [tag + r for r in rows]
        configs.setdefault(run["group"], run)
        try:
            rows = _read(folder / "layers.csv", LAYERS)
        except Malformed as e:
            skipped.append((str(folder), f"no per-layer figures: {e}"))
            continue
        # Forward order is the order of first appearance (the contract writes layers that way).
        depth = {name: i for i, name in enumerate(dict.fromkeys(r[1] for r in rows))}
        layers += [[*tag, *r, depth[r[1]]] for r in rows]
    metrics_frame = pd.DataFrame(metrics, columns=["group", "run_id", *METRICS])
    layers_frame = pd.DataFrame(layers, columns=["group", "run_id", *LAYERS, "depth"])
    groups = [g["group"] for g in comp.groups if g["group"] in configs]
    sizes = metrics_frame.groupby("group")["run_id"].nunique().to_dict()
    return Curves(groups, sizes, metrics_frame, layers_frame, configs, skipped)
