"""Shared test settings: tiny models, a few batches, CPU, so the suite stays fast."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def kill_at(spec: dict[str, Any]) -> None:
    """Train or sweep in a child process that signals itself at the point `spec` names
    (tests/killpoint.py says how); returns once the signal has ended it."""
    sig = signal.Signals[spec.get("signal", "SIGKILL")]
    r = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("killpoint.py")), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == -sig, f"exit {r.returncode}, not {sig.name}: {r.stderr[-2000:]}"
