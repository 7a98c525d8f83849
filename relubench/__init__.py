"""relubench: an experiment runner for the ReLU family of activation functions.

The Python API (`relubench.api`), loaded on first use so that `import relubench` stays light
(no torch, no pandas):

    import relubench
    run = relubench.train(act="prelu", epochs=2, out="results")   # -> relubench.Run
    runs = relubench.load_runs("results")                          # DataFrame, a row per run
    table = relubench.compare("results")                           # DataFrame, a row per group
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relubench._version import __version__

__all__ = [
    "__version__",
    "Run",
    "compare",
    "comparison",
    "load_runs",
    "regime_map",
    "run_study",
    "study_plan",
    "sweep",
    "sweep_plan",
    "train",
]

if TYPE_CHECKING:
    from relubench.api import (
        Run,
        compare,
        comparison,
        load_runs,
        regime_map,
        run_study,
        study_plan,
        sweep,
        sweep_plan,
        train,
    )


def __getattr__(name: str) -> Any:
    if name in __all__[1:]:
        from relubench import api

        return getattr(api, name)
    raise AttributeError(f"module 'relubench' has no attribute {name!r}")
