"""Shared test settings: tiny models, a few batches, CPU, so the suite stays fast."""

from __future__ import annotations

import pytest

from relubench.runner.smoke import SMOKE

# A run that trains in well under a second: `relubench smoke`'s settings, on one thread.
TINY = {**SMOKE, "threads": 1}


@pytest.fixture
def tiny(tmp_path) -> dict:
    """TINY with its own output folder."""
    return {**TINY, "out": str(tmp_path / "results")}


@pytest.fixture(autouse=True)
def no_system_datasets(monkeypatch):
    """No test sees the machine's system dataset folders (a package may have installed one)
    unless it points $RELUBENCH_SYSTEM_DATA somewhere itself."""
    from relubench.data.store import SYSTEM_ENV

    monkeypatch.setenv(SYSTEM_ENV, "")
