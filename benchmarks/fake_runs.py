"""Hand-made run folders for the benchmarks, in the exact format `relubench train` writes.

Built from the public contract only, no torch and no test suite: config.yaml through
`relubench.config.to_yaml`, the CSVs through `relubench.runfolder.csv_text` and its column
lists, summary.json through `relubench.runfolder.summarize` (what a run writes at its end).
A run folder costs a few file writes, so a benchmark can make a thousand of them.

    python benchmarks/fake_runs.py OUT --runs 12 --epochs 5    # write some, to look at
    python benchmarks/fake_runs.py --quick                     # 6 runs into a temp folder
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from relubench.config import RunConfig, to_yaml
from relubench.runfolder import (
    ALPHAS_COLUMNS,
    LAYERS_COLUMNS,
    METRICS_COLUMNS,
    check_run_folder,
    csv_text,
    summarize,
)

ACTS = ("relu", "leaky", "prelu", "prelu-shared", "elu", "selu")
LEARNED = ("prelu", "prelu-shared")  # activations with slopes, hence alphas.csv
LAYERS = ("block1.act", "block2.act", "block3.act", "dense.act")  # the cnn's activation layers
ENV = {  # summary.json's environment keys, as relubench.runner.train.environment writes them
    "device": "cpu",
    "amp_dtype": None,
    "device_name": "x86_64",
    "threads": 2,
    "relubench": "0.1.0",
    "torch": "2.14.1",
    "python": "3.11.7",
    "platform": "Linux-benchmark",
}


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
    epochs: int = 3,
    init_dead: float = 0.05,
    final_dead: float = 0.2,
    seconds: float = 1.5,
    alpha_first: float = 0.5,
    alpha_last: float = 0.1,
    width: int = 8,
    dataset: str = "mnist-mini",
) -> Path:
    """Write one complete run folder of the cnn under root and return it.

    Test accuracy climbs linearly from 10% at init to `final_acc`; with `best_acc`, the epoch
    before the last reaches it. The dead fraction moves linearly from `init_dead` to
    `final_dead`, deeper layers holding proportionally more dead units. PReLU slopes move from
    prelu_init towards a target falling from `alpha_first` (first layer) to `alpha_last`.
    """
    cfg = RunConfig(dataset=dataset, act=act, seed=seed, epochs=epochs, width=width, out=str(root))
    run_id = cfg.run_id  # looks at the folders under root: compute it once
    folder = Path(root) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    units = cnn_units(width)
    weights = [k + 1 for k in range(len(units))]
    mean_weight = sum(w * u for w, u in zip(weights, units, strict=True)) / sum(units)
    learned = act in LEARNED

    metrics, layer_rows, alpha_rows = [], [], []
    for e in range(epochs + 1):
        t = e / epochs if epochs else 0.0
        acc = _lerp(0.1, final_acc, t)
        if best_acc is not None and epochs >= 2 and e == epochs - 1:
            acc = best_acc
        dead = _lerp(init_dead, final_dead, t)
        trained = e > 0
        metrics.append(
            {
                "epoch": e,
                "train_loss": 2.3 * (1 - t) + 0.1 if trained else None,
                "train_acc": acc + 0.02 if trained else None,
                "test_loss": 2.3 * (1 - t) + 0.2,
                "test_acc": acc,
                "dead_frac": dead,
                "lr": 0.1 * (1 - t),
                "epoch_seconds": seconds if trained else None,
                "samples_per_s": 512 / seconds if trained else None,
            }
        )
        for k, (name, n) in enumerate(zip(LAYERS, units, strict=True)):
            alphas: list[float] = []
            if learned:
                target = _lerp(alpha_first, alpha_last, k / max(1, len(units) - 1))
                mean = _lerp(cfg.prelu_init, target, t)
                channels = n if act == "prelu" else 1
                # a symmetric spread around the mean that widens as training goes on
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
                }
            )

    started = time.time() - seconds * epochs
    summary = summarize(  # as relubench.runner.train writes it at the end of a run
        run_id=run_id,
        config_hash=cfg.config_hash,
        config=cfg.written(),
        status="complete",
        metrics=metrics,
        layers=layer_rows,
        env=ENV,
        started=started,
        params=sum(units) * 9,  # a plausible parameter count; compare only shows it
    )
    (folder / "config.yaml").write_text(to_yaml(cfg))
    (folder / "metrics.csv").write_text(csv_text(METRICS_COLUMNS, metrics))
    (folder / "layers.csv").write_text(csv_text(LAYERS_COLUMNS, layer_rows))
    if learned:
        (folder / "alphas.csv").write_text(csv_text(ALPHAS_COLUMNS, alpha_rows))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return folder


def make_runs(root: str | Path, runs: int, epochs: int, width: int = 32) -> list[Path]:
    """`runs` folders: the six activations in turn, seeds 0.. for each, with a deterministic,
    plausible spread (accuracy 95-99%, dead fraction 2-30%, growing for ReLU only)."""
    folders = []
    for i in range(runs):
        act, seed = ACTS[i % len(ACTS)], i // len(ACTS)
        jitter = ((seed * 7919 + i) % 100) / 100
        folders.append(
            make_run(
                root,
                act,
                seed,
                final_acc=0.95 + 0.04 * jitter,
                best_acc=min(0.999, 0.955 + 0.04 * jitter),
                epochs=epochs,
                init_dead=0.02 + 0.05 * jitter,
                final_dead=0.02 + 0.28 * jitter * (act == "relu"),
                seconds=3.0 + jitter,
                alpha_first=0.4 + 0.2 * jitter,
                alpha_last=0.05 + 0.1 * jitter,
                width=width,
            )
        )
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="parent folder of the runs (default: a temp one)")
    parser.add_argument("--runs", type=int, default=6, help="run folders (default 6)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--quick", action="store_true", help="6 runs of 3 epochs, then removed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relubench-fake-runs-") as tmp:
        root = Path(tmp if args.quick or not args.out else args.out)
        folders = make_runs(root, args.runs, args.epochs)
        bad = {f.name: p for f in folders if (p := check_run_folder(f))}
        print(f"wrote {len(folders)} run folders under {root}; problems: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
