"""Batches: slices of a shuffled index over tensors held in memory.

A batch is an `index_select` of whole images: no per-sample Python, no DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def batch_orders(
    n: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: Any = None,
) -> Iterator[torch.Tensor | slice]:
    """The batches of one pass over n items: index tensors of a shuffled order if a generator
    is given (drawn on the CPU, so the same seed gives the same order on every device), else
    plain slices."""

    order = None
    if generator is not None:
        order = torch.randperm(n, generator=generator).to(device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield slice(i, i + batch_size) if order is None else order[i : i + batch_size]


def take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[idx] along dim 0: index_select, much faster than advanced indexing on the CPU for a
    batch of images (`python -m benchmarks.data_pipeline`), keeping channels-last layouts."""

    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return x.permute(0, 2, 3, 1).index_select(0, idx).permute(0, 3, 1, 2)
    return x.index_select(0, idx)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Slices of a shuffled index (shuffled only when a generator is given)."""
    for idx in batch_orders(len(x), batch_size, generator, drop_last, x.device):
        if isinstance(idx, slice):
            yield x[idx], y[idx]
        else:
            yield take(x, idx), y.index_select(0, idx)
