"""The run folder's files and columns: what each CSV holds, in order, and the statuses."""

from __future__ import annotations

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
# after those, in runs whose probe reads training images (probe_split train): eval-mode loss
# and accuracy on the probe set
PROBE_COLUMNS = ["probe_loss", "probe_acc"]


def metrics_columns(
    has_val: bool, columns: list[str] = METRICS_COLUMNS, has_probe: bool = False
) -> list[str]:
    """metrics.csv's columns in a run with or without a validation split and a probe set of
    training images (`columns`: this version's, or an earlier one's)."""
    at = columns.index("train_acc") + 1
    extra = [*(VAL_COLUMNS if has_val else []), *(PROBE_COLUMNS if has_probe else [])]
    return [*columns[:at], *extra, *columns[at:]]


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
