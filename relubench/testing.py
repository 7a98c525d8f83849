"""Hand-made run folders with known numbers, in the exact format `relubench train` writes.

For tests and benchmarks of anything that reads run folders (relubench's own analysis, or a
user's scripts): `make_run(root, "prelu", seed=1, final_acc=0.97)`. Torch-free: the files are
built from the contract (config.yaml via config.to_yaml, the CSVs via runfolder.csv_text,
summary.json by runfolder.summarize, as `train` builds it), so a folder costs a few writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from relubench.config import RunConfig, to_yaml
from relubench.registry.activations import ACTS
from relubench.runfolder import (
    ALPHAS_COLUMNS,
    LAYERS_COLUMNS,
    csv_text,
    metrics_columns,
    summarize,
)

LEARNED = tuple(n for n, a in ACTS.items() if a.slope)  # activations with slopes: alphas.csv
# what `train` records of the machine (runner.train.environment), fixed here
ENV = {
    "device": "cpu",
    "amp_dtype": None,
    "device_name": "x86_64",
    "threads": 2,
    "relubench": "0.1.0",
    "torch": "2.14.1",
    "python": "3.11.7",
    "platform": "Linux-test",
}  # activations with slopes, hence alphas.csv
LAYERS = ("block1.act", "block2.act", "block3.act", "dense.act")


def cnn_units(width: int) -> tuple[int, ...]:
    """Units of the cnn's activation layers at `width`: w, 2w, 4w channels, then 4w dense."""
    return (width, 2 * width, 4 * width, 4 * width)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def make_run(
    root: str | Path,
    act: str = "relu",
    seed: int = 0,
    *,
    final_acc: float = 0.9,
    best_acc: float | None = None,
    val_acc: float | None = None,
    epochs: int = 3,
    status: str = "complete",
    epochs_done: int | None = None,
    init_dead: float = 0.05,
    final_dead: float = 0.2,
    seconds: float = 1.5,
    alpha_first: float = 0.5,
    alpha_last: float = 0.1,
    error: str | None = None,
    units: tuple[int, ...] | None = None,
    layers: tuple[str, ...] = LAYERS,
    layer_stats: dict[str, list[float]] | None = None,
    alpha_targets: list[float] | None = None,
    probe_gap: float = 0.01,
    **config: Any,
) -> Path:
    """Write one run folder under root and return it.

    Test accuracy climbs linearly from 10% at init to `final_acc` at the last epoch done; with
    `best_acc`, the epoch before the last reaches it. With `val_acc`, the run has a validation
    split (val_size 100 unless given) whose accuracy climbs likewise to `val_acc`. The net's
    dead fraction moves linearly from `init_dead` to `final_dead`, layer k holding (k + 1) /
    mean-weight times as many dead units as the first, so deeper layers die more. PReLU slopes
    move from prelu_init to a target that falls linearly from `alpha_first` (first layer) to
    `alpha_last` (last layer), or to `alpha_targets`, one per layer. `layer_stats`: layers.csv
    columns (out_mean, out_std, ...) as one value per layer, the same at every epoch. With
    `probe_split: train`, the eval-mode accuracy on the probe's training images is the test
    accuracy + `probe_gap`.
    """
    cfg = RunConfig(
        **{
            "dataset": "synthetic",
            "act": act,
            "seed": seed,
            "epochs": epochs,
            "width": 8,
            "out": str(root),
            **({"val_size": 100} if val_acc is not None else {}),
            **config,
        }
    )
    folder = cfg.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    units = units or cnn_units(cfg.width)
    done = epochs if epochs_done is None else epochs_done
    learned = act in LEARNED
    weights = [(k + 1) for k in range(len(units))]
    mean_weight = sum(w * u for w, u in zip(weights, units, strict=True)) / sum(units)

    metrics, layer_rows, alpha_rows = [], [], []
    for e in range(done + 1):
        t = e / done if done else 0.0
        acc = _lerp(0.1, final_acc, t)
        if best_acc is not None and done >= 2 and e == done - 1:
            acc = best_acc
        dead = _lerp(init_dead, final_dead, t)
        val = {}
        if cfg.probe_split == "train":
            val = {"probe_loss": 2.3 * (1 - t) + 0.15, "probe_acc": acc + probe_gap}
        if val_acc is not None:
            val |= {"val_loss": 2.3 * (1 - t) + 0.25, "val_acc": _lerp(0.1, val_acc, t)}
        metrics.append(
            {
                "epoch": e,
                "train_loss": None if e == 0 else 2.3 * (1 - t) + 0.1,
                "train_acc": None if e == 0 else acc + 0.02,
                **val,
                "test_loss": 2.3 * (1 - t) + 0.2,
                "test_acc": acc,
                "dead_frac": dead,
                "lr": 0.1 * (1 - t),
                "epoch_seconds": None if e == 0 else seconds,
                "samples_per_s": None if e == 0 else 512 / seconds,
            }
        )
        for k, (name, n) in enumerate(zip(layers, units, strict=True)):
            alphas = []
            if learned:
                target = _lerp(alpha_first, alpha_last, k / max(1, len(units) - 1))
                if alpha_targets is not None:
                    target = alpha_targets[k]
                mean = _lerp(cfg.prelu_init, target, t)
                channels = n if act == "prelu" else 1
                # A symmetric spread around the mean that widens as training goes on.
                alphas = [
                    mean + 0.05 * t * ((c / max(1, channels - 1)) * 2 - 1) for c in range(channels)
                ]
                alpha_rows += [
                    {"epoch": e, "layer": name, "channel": c, "alpha": a}
                    for c, a in enumerate(alphas)
                ]
            layer_rows.append(
                {
                    "epoch": e,
                    "layer": name,
                    "units": n,
                    "dead_frac": min(1.0, dead * weights[k] / mean_weight),
                    "alpha_mean": sum(alphas) / len(alphas) if alphas else None,
                    "alpha_min": min(alphas) if alphas else None,
                    "alpha_max": max(alphas) if alphas else None,
                    **{col: values[k] for col, values in (layer_stats or {}).items()},
                }
            )

    # the summary exactly as `train` builds it, from these rows (relubench.runfolder)
    summary = summarize(
        cfg.run_id,
        cfg.config_hash,
        cfg.written(),
        status,
        metrics,
        layer_rows,
        ENV,
        started=time.time() - seconds * done - 0.5,
        params=15610,
        error=error,
    )
    (folder / "config.yaml").write_text(to_yaml(cfg))
    (folder / "metrics.csv").write_text(
        csv_text(
            metrics_columns(val_acc is not None, has_probe=cfg.probe_split == "train"), metrics
        )
    )
    (folder / "layers.csv").write_text(csv_text(LAYERS_COLUMNS, layer_rows))
    if learned:
        (folder / "alphas.csv").write_text(csv_text(ALPHAS_COLUMNS, alpha_rows))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return folder
