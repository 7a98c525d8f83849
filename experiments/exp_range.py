"""Why FastELU floors exp's argument: the cost of exp, and of ELU's forward, by input range.

torch's vectorised CPU `exp` is fast on the arguments a healthy net feeds it, but takes a much
slower path where e^x underflows (x below about -87 in float32). relubench's ELU forward
(`relubench.nn.fast_elu.elu_forward`) clamps the argument at `EXP_FLOOR` (-40) before `exp`:
below -40, e^x - 1 rounds to -1 in float32 and float64 alike, so no output changes
(`tests/test_fast_elu.py`), and a net whose pre-activations drift far negative keeps the fast
path. This script times, on one 128x32x28x28 float32 tensor (a batch of the `cnn`'s first
activation) filled with one value per row:

  exp                torch.exp into a preallocated output
  ELU, no floor      elu_forward with the floor removed (the formula before the floor)
  ELU                elu_forward as relubench runs it

The variants and values take turns (each variant first in every third round); each figure is
the median over rounds. The table goes into benchmarks/RESULTS.md (benchmarks/harness.py).

    python -m experiments.exp_range            # 11 rounds
    python -m experiments.exp_range --quick    # tiny, to check the script runs
"""

from __future__ import annotations

import torch

from benchmarks.harness import (
    arguments,
    interleave,
    medians,
    record,
    rotating,
    set_threads,
    table,
    timer,
)
from relubench.nn import fast_elu

VALUES = (-1.0, -50.0, -90.0, -200.0, -1e6, -1e14)


def elu_without_floor(x: torch.Tensor) -> torch.Tensor:
    """elu_forward with the floor removed: clamp(min=-inf) is the plain clamp(max=0)."""
    floor = fast_elu.EXP_FLOOR
    fast_elu.EXP_FLOOR = float("-inf")
    try:
        return fast_elu.elu_forward(x, 1.0)
    finally:
        fast_elu.EXP_FLOOR = floor


def measure(shape: tuple[int, ...], rounds: int) -> dict[float, dict[str, float]]:
    """Median milliseconds per call, per value and variant."""
    out = torch.empty(shape).contiguous(memory_format=torch.channels_last)
    variants = {
        "exp": lambda x: torch.exp(x, out=out),
        "ELU, no floor": elu_without_floor,
        "ELU": lambda x: fast_elu.elu_forward(x, 1.0),
    }
    inputs = {v: torch.full_like(out, v) for v in VALUES}
    turns = {(v, name): timer(lambda fn=fn, x=x: fn(x)) for v, x in inputs.items()
             for name, fn in variants.items()}  # fmt: skip
    for fn in variants.values():  # warm-up: first calls allocate and dispatch
        fn(inputs[VALUES[0]])
    # each value's variants in turn, each variant first in every third round
    samples = interleave(turns, rounds, order=rotating(list(turns), group=len(variants)))
    ms = medians({key: [1e3 * t for t in times] for key, times in samples.items()})
    return {v: {name: ms[v, name] for name in variants} for v in VALUES}


def main() -> None:
    parser = arguments(__doc__, rounds=11, threads=0)
    args = parser.parse()
    set_threads(args.threads)
    shape = (4, 32, 28, 28) if args.quick else (128, 32, 28, 28)
    rounds = args.rounds
    result = measure(shape, rounds)
    rows = []
    for v, m in result.items():
        rows.append(
            (
                f"{v:g}",
                f"{m['exp']:.2f}",
                f"{m['ELU, no floor']:.2f}",
                f"{m['ELU']:.2f}",
                f"{m['ELU, no floor'] / m['ELU']:.1f}x",
            )
        )
        print(f"x = {v:g}: exp {m['exp']:.2f} ms, ELU {m['ELU']:.2f} ms")
    lines = [
        f"One {'x'.join(map(str, shape))} float32 tensor (channels_last) filled with the value; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {rounds} "
        f"rounds, ms per call; the floor is at {fast_elu.EXP_FLOOR:g}:",
        "",
        *table(("value", "exp", "ELU forward, no floor", "ELU forward", "floor's gain"), rows),
    ]
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
