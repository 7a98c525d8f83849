"""The measures a run folder offers a study: the one table of them, each with its figure label.

A measure is a column of layers.csv (measured per activation layer: a claim or figure then says
over which `layers`), a column of metrics.csv (one number per run and epoch: the whole net), or
derived from such columns (`source`, in the order `how` names them). `dead_frac` and
`dormant_frac` are in both files: per layer with `layers`, whole net without.

The run folder's own column lists are in `relubench.runfolder` (above this layer, so not
imported here); tests/test_study_specs.py checks that every measure names their columns.
`relubench.analysis.study` computes the derived ones, keyed by these names. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, kw_only=True)
class MeasureInfo:
    """One measure: its name, where it is read, its label on a figure's axis."""

    name: str
    label: str
    per_layer: bool = False  # a layers.csv column (or derived from them)
    whole_net: bool = False  # a metrics.csv column (or derived from them)
    source: tuple[str, ...] = ()  # derived: the columns it is computed from
    how: str = ""  # derived: how, in words

    @property
    def derived(self) -> bool:
        return bool(self.source)


def _layer(name: str, label: str, **derived: object) -> MeasureInfo:
    return MeasureInfo(name=name, label=label, per_layer=True, **derived)  # type: ignore[arg-type]


def _net(name: str, label: str, **derived: object) -> MeasureInfo:
    return MeasureInfo(name=name, label=label, whole_net=True, **derived)  # type: ignore[arg-type]


def _both(name: str, label: str) -> MeasureInfo:
    return MeasureInfo(name=name, label=label, per_layer=True, whole_net=True)


MEASURES: Mapping[str, MeasureInfo] = MappingProxyType(
    {
        m.name: m
        for m in (
            # metrics.csv: one row per epoch
            _net("train_loss", "training loss"),
            _net("train_acc", "train accuracy"),
            _net("val_loss", "validation loss"),
            _net("val_acc", "validation accuracy"),
            _net("test_loss", "test loss"),
            _net("test_acc", "test accuracy"),
            _net("lr", "learning rate"),
            _net("epoch_seconds", "seconds per epoch"),
            _net("samples_per_s", "samples per second"),
            # in both files: the whole net in metrics.csv, per layer in layers.csv
            _both("dead_frac", "dead units (fraction)"),
            _both("dormant_frac", "dormant units (fraction)"),
            # layers.csv: one row per epoch and activation layer
            _layer("units", "units"),
            _layer("pre_mean", "mean pre-activation"),
            _layer("pre_std", "pre-activation std"),
            _layer("out_mean", "mean activation"),
            _layer("out_std", "activation std"),
            _layer("alpha_mean", "learned slope (mean)"),
            _layer("alpha_min", "learned slope (min)"),
            _layer("alpha_max", "learned slope (max)"),
            # derived
            _layer("out_var", "activation variance", source=("out_std",), how="squared"),
            _layer("pre_var", "pre-activation variance", source=("pre_std",), how="squared"),
            _layer("abs_out_mean", "|mean activation|", source=("out_mean",), how="absolute"),
            _net("gap", "train - test accuracy", source=("train_acc", "test_acc"),
                 how="first minus second"),  # fmt: skip
        )
    }
)


def measure_names(per_layer: bool | None = None) -> list[str]:
    """The measures' names: all, or those per layer (True) or of the whole net (False)."""
    if per_layer is None:
        return list(MEASURES)
    return [n for n, m in MEASURES.items() if (m.per_layer if per_layer else m.whole_net)]
