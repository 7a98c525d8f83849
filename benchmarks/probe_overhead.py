"""What probing costs: the same training run with the probe on and off, interleaved.

The probe records, during the evaluation's forward pass over the first `probe_size` test
images, the per-unit maximum of every activation's input. "Off" swaps the recorder for one that
attaches nothing; everything else (training, evaluation, files) is identical. Reports the
median over rounds of the time per epoch (train + evaluation) and the ratio on/off; the table
goes into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m benchmarks.probe_overhead            # default run: prelu cnn on mnist-mini, 2 epochs
    python -m benchmarks.probe_overhead --quick    # tiny, to check the script runs
"""

from __future__ import annotations

import tempfile

import relubench.runner.loop as loop
from benchmarks.harness import arguments, interleave, medians, record, table
from relubench.config import merge
from relubench.nn.probe import Probe
from relubench.runner.train import run


class NoRecorder:
    """Stands in for relubench.nn.probe.Recorder: attaches no hooks, measures nothing."""

    def __init__(self, model, dormant_tau: float = 0.1) -> None:
        pass

    def __enter__(self) -> NoRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def result(self) -> Probe:
        return Probe([])


def epoch_seconds(overrides: dict, probe_on: bool) -> float:
    """Mean seconds per trained epoch (train + evaluation) of one run."""
    real = loop.Recorder  # what relubench.runner.loop.evaluate probes with
    loop.Recorder = real if probe_on else NoRecorder
    try:
        with tempfile.TemporaryDirectory() as out:
            summary = run(merge({**overrides, "out": out}))
    finally:
        loop.Recorder = real
    return summary["seconds_per_epoch"]


QUICK = {
    "dataset": "synthetic",
    "train_size": 256,
    "test_size": 128,
    "probe_size": 128,
    "batch_size": 64,
    "width": 8,
    "epochs": 1,
}


def measure(overrides: dict, rounds: int) -> tuple[float, float, list[str]]:
    """Median seconds per epoch with the probe off and on, over interleaved rounds, and the
    rounds as markdown lines."""
    samples = interleave(
        {
            "probe off": lambda: epoch_seconds(overrides, probe_on=False),
            "probe on": lambda: epoch_seconds(overrides, probe_on=True),
        },
        rounds,
        show=lambda s: f"epoch {s:.3f} s",
    )
    off, on = samples["probe off"], samples["probe on"]
    m_off, m_on = medians(samples).values()
    summary = (
        f"median epoch: {m_off:.3f} s off, {m_on:.3f} s on; probe cost "
        f"{100 * (m_on - m_off) / m_off:+.1f}% of the epoch ({rounds} rounds, {overrides})"
    )
    print(summary)
    rows = [
        (f"{r + 1}", f"{a:.3f}", f"{b:.3f}") for r, (a, b) in enumerate(zip(off, on, strict=True))
    ]
    rows.append(("median", f"{m_off:.3f}", f"{m_on:.3f}"))
    lines = [
        *table(("round", "epoch s, probe off", "epoch s, probe on"), rows),
        "",
        summary[0].upper() + summary[1:] + ".",
    ]
    return m_off, m_on, lines


def main() -> None:
    parser = arguments(__doc__, rounds=3, threads=0, rounds_help="on/off pairs")
    parser.add_argument("--act", default="prelu", help="activation (default: prelu)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default: 2)")
    args = parser.parse()
    overrides = {"act": args.act, "epochs": args.epochs, "device": "cpu", "threads": args.threads}
    if args.quick:
        overrides.update(QUICK)
    _, _, lines = measure(overrides, args.rounds)
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
