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
    since_init: bool = False  # derived from its source now and at epoch 0 (init), in that order
    status: bool = False  # read from the run's status (summary.json), not a table

    @property
    def derived(self) -> bool:
        return bool(self.source)


def _m(
    name: str, label: str, on: str, source: tuple[str, ...] = (), how: str = "", **more: bool
) -> MeasureInfo:
    """A measure read `on` layers.csv ("layers"), metrics.csv ("metrics") or "both"."""
    per_layer, whole_net = on in ("layers", "both"), on in ("metrics", "both")
    return MeasureInfo(name=name, label=label, per_layer=per_layer, whole_net=whole_net,
                       source=source, how=how, **more)  # fmt: skip


MEASURES: Mapping[str, MeasureInfo] = MappingProxyType(
    {
        m.name: m
        for m in (
            # metrics.csv: one row per epoch
            _m("train_loss", "training loss", "metrics"),
            _m("train_acc", "train accuracy", "metrics"),
            _m("val_loss", "validation loss", "metrics"),
            _m("val_acc", "validation accuracy", "metrics"),
            _m("probe_loss", "probe-set loss (eval mode)", "metrics"),
            _m("probe_acc", "probe-set accuracy (eval mode)", "metrics"),
            _m("test_loss", "test loss", "metrics"),
            _m("test_acc", "test accuracy", "metrics"),
            _m("lr", "learning rate", "metrics"),
            _m("epoch_seconds", "seconds per epoch", "metrics"),
            _m("samples_per_s", "samples per second", "metrics"),
            # in both: the whole net in metrics.csv, per layer in layers.csv
            _m("dead_frac", "dead units (fraction)", "both"),
            _m("dormant_frac", "dormant units (fraction)", "both"),
            # layers.csv: one row per epoch and activation layer
            _m("units", "units", "layers"),
            _m("pre_mean", "mean pre-activation", "layers"),
            _m("pre_std", "pre-activation std", "layers"),
            _m("out_mean", "mean activation", "layers"),
            _m("out_std", "activation std", "layers"),
            _m("alpha_mean", "learned slope (mean)", "layers"),
            _m("alpha_min", "learned slope (min)", "layers"),
            _m("alpha_max", "learned slope (max)", "layers"),
            # derived from the columns above
            _m("out_var", "activation variance", "layers", ("out_std",), "squared"),
            _m("pre_var", "pre-activation variance", "layers", ("pre_std",), "squared"),
            _m("abs_out_mean", "|mean activation|", "layers", ("out_mean",), "absolute value"),
            _m(
                "gap",
                "train - test accuracy",
                "metrics",
                ("train_acc", "test_acc"),
                "first minus second",
            ),  # fmt: skip
            # probe_split train: the eval-mode accuracy on the probe's training images, minus
            # the test accuracy (the same mode on both sides, unlike `gap`)
            _m(
                "eval_gap",
                "train - test accuracy (eval mode)",
                "metrics",
                ("probe_acc", "test_acc"),
                "first minus second",
            ),  # fmt: skip
            _m(
                "alpha_change",
                "slope change since init",
                "layers",
                ("alpha_mean",),
                "absolute change from epoch 0",
                since_init=True,
            ),  # fmt: skip
            # the run's outcome: 1 when it diverged (its loss became NaN or infinite), else 0;
            # the one measure a diverged run has
            _m("diverged", "diverged (share of runs)", "metrics", status=True),
            # the run's outcome: 1 when it failed to train: it diverged, or its final test
            # accuracy is below twice chance (1 / classes): it stayed at chance
            _m("failed", "failed to train (share of runs)", "metrics", status=True),
        )
    }
)


def measure_names(per_layer: bool | None = None) -> list[str]:
    """The measures' names: all, or those per layer (True) or of the whole net (False)."""
    if per_layer is None:
        return list(MEASURES)
    return [n for n, m in MEASURES.items() if (m.per_layer if per_layer else m.whole_net)]
