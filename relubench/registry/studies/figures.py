"""A study's figures: one Figure per picture, its kind one of `words.FIGURE_KINDS`, each
checked when it is built. Torch-free."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from relubench.errors import ConfigError
from relubench.registry.studies.measures import MEASURES, measure_names
from relubench.registry.studies.parts import (
    SLUG,
    Epoch,
    Layers,
    Measure,
    check_epoch,
    choose,
    frozen_selection,
    is_number,
)
from relubench.registry.studies.words import FIGURE_KINDS


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One figure of a study (FIGURE_KINDS); `name` is its file name (default figureN-KIND)."""

    kind: str
    by: tuple[str, ...]  # config keys: a line per group of runs
    metrics: tuple[str, ...] = ()  # layers: the per-layer measures, a panel each
    metric: str | None = None  # versus, epochs
    x: str | None = None  # versus: the config key on the x axis
    log: bool = False  # versus: a log x axis
    layers: Layers | None = None  # versus: over which layers (None: whole net)
    where: Mapping[str, Any] = field(default_factory=dict)  # layers: the runs drawn
    epoch: Epoch = "last"  # layers, versus, relative
    baseline: Mapping[str, Any] = field(default_factory=dict)  # relative: the runs subtracted
    band: float = 0.0  # relative: the margin drawn around 0 (what counts as a tie)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIGURE_KINDS:
            raise choose("figure kind", self.kind, list(FIGURE_KINDS))
        what = f"figure {self.name or self.kind!r}"
        if isinstance(self.by, str) or not self.by or not all(isinstance(k, str) for k in self.by):
            raise ConfigError(f"{what}: by {self.by!r} must be config keys, e.g. ('act',)")
        object.__setattr__(self, "by", tuple(self.by))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        for word in ("where", "baseline"):
            given = getattr(self, word)
            frozen = frozen_selection(given, what, word) if given else MappingProxyType({})
            object.__setattr__(self, word, frozen)
        if self.name is not None and not SLUG.match(str(self.name)):
            raise ConfigError(f"{what}: name {self.name!r}: lower-case words joined by '-'")
        check_epoch(self.epoch, f"{what}:")
        getattr(self, f"_check_{self.kind}")(what)  # _check_layers, _check_versus, ...

    def _only(self, what: str, allowed: set[str]) -> None:
        unset = {"metrics": (), "metric": None, "x": None, "log": False, "layers": None,
                 "band": 0.0}  # fmt: skip
        given = [k for k, empty in unset.items() if getattr(self, k) != empty]
        given += [k for k in ("where", "baseline") if getattr(self, k)]
        wrong = [k for k in given if k not in allowed]
        if wrong:
            raise ConfigError(f"{what}: {self.kind} takes no {', '.join(wrong)}")

    def _check_layers(self, what: str) -> None:
        self._only(what, {"metrics", "where"})
        if not self.metrics:
            raise ConfigError(f"{what}: layers needs metrics, the per-layer measures")
        for m in self.metrics:
            if m not in measure_names(per_layer=True):
                raise choose(f"{what}: metric", m, measure_names(per_layer=True))

    def _check_versus(self, what: str) -> None:
        self._only(what, {"metric", "x", "log", "layers", "where"})
        if self.metric is None or not isinstance(self.x, str):
            raise ConfigError(f"{what}: versus needs metric and x (a config key)")
        if self.layers == "each":
            raise ConfigError(f"{what}: versus needs a number per run, not layers 'each'")
        try:
            Measure(metric=self.metric, epoch=self.epoch, layers=self.layers)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None

    def _check_relative(self, what: str) -> None:
        self._only(what, {"metric", "x", "log", "where", "baseline", "band"})
        if not self.baseline or self.metric is None or not isinstance(self.x, str):
            raise ConfigError(
                f"{what}: relative needs metric, x (a config key) and baseline (the runs "
                "subtracted, e.g. {'act': 'relu'})"
            )
        if not is_number(self.band) or self.band < 0:
            raise ConfigError(f"{what}: band {self.band!r} must be a number >= 0")
        try:
            Measure(metric=self.metric, epoch=self.epoch)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None
        if MEASURES[self.metric].status:
            raise ConfigError(f"{what}: {self.metric} is a run's outcome, not a difference")

    def _check_epochs(self, what: str) -> None:
        self._only(what, {"metric"})
        columns = [n for n in measure_names(per_layer=False) if not MEASURES[n].derived]
        if self.metric not in columns:
            raise choose(f"{what}: metric", self.metric, columns, " (a metrics.csv column)")

    @property
    def selections(self) -> list[Mapping[str, Any]]:
        return [s for s in (self.where, self.baseline) if s]

    def keys(self) -> list[str]:
        """The config keys the figure reads."""
        return [*self.by, *([self.x] if self.x else []), *self.where, *self.baseline]
