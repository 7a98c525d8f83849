"""What a training run and a sweep tell the outside world, as Protocols (torch-free).

The CLI's Rich displays (`relubench.runner.progress`) implement them; tests and library use
pass nothing and get the silent `Quiet*` versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from relubench.config import RunConfig
    from relubench.nn.probe import Probe
    from relubench.runner.plan import Outcome, Plan


class Reporter(Protocol):
    def start(self, cfg: RunConfig, steps_per_epoch: int) -> None: ...

    def resumed(self, rows: list[dict[str, Any]]) -> None:
        """The run continues from a checkpoint; `rows` are metrics.csv's rows so far."""

    def step(self, epoch: int, step: int, loss: float, acc: float) -> None: ...

    def epoch(self, row: dict[str, Any], probe: Probe) -> None: ...

    def saved(self, epoch: int) -> None:
        """The run folder is whole at `epoch`: its files and its checkpoint are written."""

    def end(self, summary: dict[str, Any]) -> None: ...


class SweepReporter(Protocol):
    def start(self, plan: Plan, todo: int) -> None: ...

    def started(self, cfg: RunConfig) -> None: ...

    def finished(self, cfg: RunConfig, status: str, summary: dict[str, Any]) -> None: ...

    def skipped(self, cfg: RunConfig, why: str) -> None: ...

    def retried(self, cfg: RunConfig, why: str) -> None:
        """The run's worker or node was lost; it goes on elsewhere (Ray: from its checkpoint)."""

    def poll(self, running: dict[str, int]) -> None: ...

    def end(self, outcome: Outcome) -> None:
        """Every run of the plan has finished or been skipped."""


class QuietReporter(Reporter):
    """A Reporter that says nothing (the Protocol's methods do nothing)."""


class QuietSweepReporter(SweepReporter):
    """A SweepReporter that says nothing (a sweep from Python with progress=False)."""
