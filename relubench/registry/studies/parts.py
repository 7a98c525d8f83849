"""The parts every study object is built from: the words' types, the checks of a single word
or selection, and Measure (what is measured per run). Torch-free."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from relubench.errors import ConfigError
from relubench.registry.studies.measures import MEASURES, measure_names
from relubench.registry.studies.words import LAYERS

Epoch = int | Literal["last"]
Layers = Literal["each", "all", "deep", "shallow", "first", "rest", "rank"]  # words.LAYERS

SCALARS = (str, int, float, bool)
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


def choose(what: str, word: Any, words: Sequence[str], extra: str = "") -> ConfigError:
    return ConfigError(f"{what} {word!r} is not one of: {', '.join(words)}{extra}")


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_epoch(epoch: Any, what: str) -> None:
    if not (epoch == "last" or (is_number(epoch) and isinstance(epoch, int) and epoch >= 0)):
        raise ConfigError(f"{what} epoch {epoch!r}: a number (0 = init) or 'last'")


def check_layers(layers: Any, what: str) -> None:
    if layers is not None and layers not in LAYERS:
        raise choose(f"{what} layers", layers, list(LAYERS), " (or None: the whole net)")


def frozen_selection(select: Any, what: str, word: str = "select") -> Mapping[str, Any]:
    """A selection (config key -> value), checked and made read-only."""
    if not isinstance(select, Mapping) or not select:
        raise ConfigError(
            f"{what}: {word} {select!r} must be config values, e.g. {{'act': 'relu'}}"
        )
    for k, v in select.items():
        if not isinstance(k, str) or not isinstance(v, SCALARS):
            raise ConfigError(f"{what}: {word} {k!r}: {v!r} is not a single config value")
    return MappingProxyType(dict(select))


@dataclass(frozen=True, kw_only=True)
class Measure:
    """The number measured per run (or per run and layer: layers 'each')."""

    metric: str
    epoch: Epoch
    layers: Layers | None = None

    def __post_init__(self) -> None:
        if self.metric not in MEASURES:
            raise choose("measure: metric", self.metric, measure_names())
        check_epoch(self.epoch, f"measure {self.metric}:")
        check_layers(self.layers, f"measure {self.metric}:")
        info = MEASURES[self.metric]
        if self.layers is None and not info.whole_net:
            raise ConfigError(
                f"measure {self.metric!r} is per layer (layers.csv): give layers, one of "
                f"{', '.join(LAYERS)}"
            )
        if self.layers is not None and not info.per_layer:
            raise ConfigError(
                f"measure {self.metric!r} is of the whole net (metrics.csv): layers "
                f"{self.layers!r} does not apply; leave layers unset"
            )


def same(a: Any, b: Any) -> bool:
    """A config value as a run folder's config would match it (True is not 1)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)
