"""The studies: a paper's claims, the runs that test them, and the criterion that decides.

One module per study (its citation beside it), each defining STUDY, a `spec.Study`; the words
a study may use are defined once, in `words` (layers, criteria, figure kinds) and `measures`
(what a run folder offers, with the figures' labels), and `spec` checks every study against
them when its module is imported (docs/architecture.md, "Studies are checked data").
`relubench.analysis.study` computes the verdicts from the run folders alone. Torch-free facts,
like the other registries.
"""

from __future__ import annotations

import importlib
import traceback

from relubench.errors import ConfigError
from relubench.registry.studies.spec import Claim, Criterion, Figure, Measure, Study

MODULES = (
    "selu_init",
    "born_dead",
    "elu_mean",
    "dead_vs_lr",
    "prelu_slopes",
    "seed_claims",
    "depth",
    "high_lr",
    "small_data",
)

__all__ = ["STUDIES", "Claim", "Criterion", "Figure", "Measure", "Study", "get_study", "load"]


def load(module: str) -> Study:
    """A study module's STUDY; a ConfigError in its definition names the module and line."""
    try:
        study = importlib.import_module(module).STUDY
    except ConfigError as e:
        path = module.replace(".", "/") + ".py"
        lines = [
            f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename.endswith(path)
        ]
        where = f"{path}" + (f" line {lines[-1]}" if lines else "")
        raise ConfigError(f"{where}: {e}") from None
    if not isinstance(study, Study):
        raise ConfigError(f"{module}: STUDY is not a Study")
    return study


STUDIES: dict[str, Study] = {
    s.name: s for s in (load(f"{__name__}.{m}") for m in MODULES)
}  # fmt: skip


def get_study(name: str) -> Study:
    """A study by name, case-insensitive."""
    try:
        return STUDIES[str(name).lower()]
    except KeyError:
        raise ConfigError(
            f"unknown study {name!r}; choose one of: {', '.join(STUDIES)} (relubench study list)"
        ) from None
