"""Shared test settings: tiny models, a few batches, CPU, so the suite stays fast."""

from __future__ import annotations

import pytest

# A run that trains in well under a second: 4 steps of 64 on synthetic data, width 8.
TINY = {
    "dataset": "synthetic",
    "epochs": 1,
    "train_size": 256,
    "test_size": 128,
    "probe_size": 128,
    "batch_size": 64,
    "width": 8,
    "lr": 0.05,
    "device": "cpu",
    "threads": 1,
}


@pytest.fixture
def tiny(tmp_path) -> dict:
    """TINY with its own output folder."""
    return {**TINY, "out": str(tmp_path / "results")}
