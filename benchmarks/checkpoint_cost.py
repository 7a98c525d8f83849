"""What a checkpoint costs: the per-epoch checkpoint write against the epoch it follows.

Two settings (the issue's bar: <= 2% of an epoch on both):

  cnn        prelu cnn on mnist-mini, the default run: real epochs of 10,000 images
  resnet20   prelu resnet20 on synthetic CIFAR-10-shaped data (3 x 32 x 32, crop + flip):
             steps are timed on a slice of it and the epoch is those steps' median time times
             the 390 steps of a CIFAR-10 epoch (50,000 images, batch 128)

Each epoch runs as `relubench train` runs it (`RunLog.epoch`: train, evaluate, probe, files),
then the checkpoint is taken and written as the run does it (`capture` + `RunLog.save`: the
state copied, then written with the CSV rows, temp file + fsync + rename). Reports the median
over epochs of both and their ratio; the table goes into benchmarks/RESULTS.md
(benchmarks/harness.py).

    python -m benchmarks.checkpoint_cost           # 3 epochs each
    python -m benchmarks.checkpoint_cost --quick   # tiny, to check the script runs
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.harness import arguments, record, set_threads, table
from relubench.config import merge, to_yaml
from relubench.data.load import Data
from relubench.registry.datasets import DATASETS
from relubench.runner.checkpoint import CHECKPOINT, capture
from relubench.runner.loop import train_one_epoch
from relubench.runner.reporters import QuietReporter
from relubench.runner.train import RunLog, build_loop, load_data

CIFAR_STEPS = 50_000 // 128  # steps of a CIFAR-10 epoch at batch 128


def synthetic_cifar(n: int, test: int) -> Data:
    """CIFAR-10-shaped random uint8 images (kept uint8: the run augments), fixed seed."""
    spec = DATASETS["cifar10"]
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (n + test, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n + test,), generator=g)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    x_test = ((u8[n:].float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
    return Data(spec, None, y[:n], x_test, y[n:], u8[:n])


def measure(overrides: dict, data: Data | None, epochs: int) -> dict:
    """Median seconds of an epoch and of its checkpoint (capture + save), and the file size."""
    cfg = merge({"device": "cpu", **overrides})
    torch.manual_seed(cfg.seed)
    device = torch.device("cpu")
    data = data or load_data(cfg, device)
    loop = build_loop(cfg, data, device, QuietReporter())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / cfg.run_id
        rec = RunLog(cfg, loop, data, device, folder)
        rec.writer.start(to_yaml(cfg), rec.summary("running"))
        rec.epoch(0, None)
        epoch_s, save_s, write_s = [], [], []
        for e in range(1, epochs + 1):
            t0 = time.perf_counter()
            rec.epoch(e, train_one_epoch(loop, data.x_train, data.y_train, e))
            t1 = time.perf_counter()
            state = capture(loop)
            t2 = time.perf_counter()
            rec.save(e, state)
            t3 = time.perf_counter()
            epoch_s.append(t1 - t0)
            save_s.append(t3 - t1)
            write_s.append(t3 - t2)
            print(f"  epoch {e}: {t1 - t0:.2f} s, checkpoint {1e3 * (t3 - t1):.1f} ms")
        size = (folder / CHECKPOINT).stat().st_size
    steps = len(data.y_train) // cfg.batch_size
    return {
        "epoch": statistics.median(epoch_s),
        "steps": steps,
        "checkpoint": statistics.median(save_s),
        "write": statistics.median(write_s),
        "bytes": size,
        "params": sum(p.numel() for p in loop.model.parameters()),
    }


def results(epochs: int, quick: bool) -> list[tuple[str, ...]]:
    """One table row per setting: what was timed, the figures, the verdict against the bar."""
    print("== checkpoint: cnn on mnist-mini")
    small = {"dataset": "synthetic", "train_size": 256, "test_size": 128, "probe_size": 128}
    cnn = measure({"act": "prelu", **(small if quick else {})}, None, epochs)
    print("== checkpoint: resnet20 on synthetic 32x32")
    n = 128 * (2 if quick else 20)
    res = measure(
        {"act": "prelu", "model": "resnet20", "dataset": "cifar10", "augment": True,
         "width": 4 if quick else 0, "probe_size": 128},
        synthetic_cifar(n, 256), epochs,
    )  # fmt: skip
    rows = []
    for name, m, epoch in (
        (f"prelu cnn, {'synthetic' if quick else 'mnist-mini'}, {cnn['steps']} steps", cnn,
         cnn["epoch"]),
        (f"prelu resnet20, synthetic 32x32, {res['steps']} steps timed x {CIFAR_STEPS}", res,
         res["epoch"] / res["steps"] * CIFAR_STEPS),  # as long as a CIFAR-10 epoch
    ):  # fmt: skip
        ratio = m["checkpoint"] / epoch
        rows.append(
            (
                name,
                f"{m['params']:,}",
                f"{m['bytes'] / 1e6:.2f} MB",
                f"{epoch:.2f} s",
                f"{1e3 * m['checkpoint']:.1f} ms ({1e3 * m['write']:.1f} ms writing)",
                f"{ratio:.2%}",
                "meets" if ratio <= BAR else "MISSES",
            )
        )
        print(f"{name}: checkpoint {ratio:.2%} of an epoch")
    return rows


HEADER = ("setting", "parameters", "checkpoint file", "epoch", "checkpoint", "share", "bar")
BAR = 0.02


def main() -> None:
    parser = arguments(__doc__, threads=0)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per setting (default: 3)")
    args = parser.parse(quick={"epochs": 1})
    set_threads(args.threads)
    epochs = args.epochs
    rows = results(epochs, args.quick)
    lines = [
        f"Median of {epochs} epochs per setting, {torch.get_num_threads()} threads; the "
        "checkpoint is `capture` (copy of the state) + `RunLog.save` (torch.save of state and "
        "CSV rows, fsync, rename). Bar: <= 2% of an epoch.",
        "",
        *table(HEADER, rows, "lrrrrrl"),
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
