"""The words a study may use, each defined once, with what it means: the layers a measure is
taken over, the criteria and the figure kinds (the measures themselves: `measures.MEASURES`).
`spec` checks every study against them; `relubench.analysis.study` and `study_figures` act on
them. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# measure.layers: over which activation layers a per-layer measure is taken (None: the whole
# net, from metrics.csv); the text is what verdict.md says
LAYERS: Mapping[str, str] = MappingProxyType(
    {
        "each": "every layer",  # every layer tested on its own
        "all": "mean over layers",  # per run
        "deep": "mean over deeper half",  # per run, the second half of the layers
        "shallow": "mean over shallower half",  # per run, the first half (deep's complement)
        "first": "first layer",
        "rest": "mean over every layer but the first",  # per run: first's complement
        # per run, Spearman's rank correlation of the layers' values with their depth (1 = the
        # first layer): -1 when every deeper layer is smaller; needs at least 3 layers
        "rank": "rank correlation with depth",
    }
)
# over the same runs, a claim may compare two layer sets only when neither contains the other
# (never a group against a superset of itself): these pairs, either way round
DISJOINT_LAYERS = frozenset(
    frozenset(pair) for pair in (("first", "deep"), ("first", "rest"), ("shallow", "deep"))
)
WHOLE_NET = "whole net"
BOUNDS = ("between", "above", "below")
COMPARISONS = ("less_than", "greater_than")
CRITERIA: Mapping[str, str] = MappingProxyType(
    {
        "between": "the mean inside [lo, hi]",
        "above": "the mean above the bound",
        "below": "the mean below the bound",
        # the difference from other runs (paired by run or seed where it can be, else Welch's)
        "less_than": "the difference from other runs below -margin",
        "greater_than": "the difference from other runs above +margin",
    }
)
FIGURE_KINDS: Mapping[str, str] = MappingProxyType(
    {
        # metrics (per-layer measures, a panel each) per activation layer at `epoch`, for the
        # runs matching `where`, a line per group (`by`)
        "layers": "a measure per activation layer",
        # metric (layers: over which layers; None: whole net) at `epoch` against the config
        # key `x` (`log`: a log axis), a line per group, for the runs matching `where`
        "versus": "a measure against a config key",
        # metric, a metrics.csv column, per epoch, a line per group
        "epochs": "a metrics.csv column per epoch",
        # metric (whole net, at `epoch`) minus the `baseline` run's of the same seed and
        # setting, against the config key `x`, a line per group (runs matching `where`): mean
        # and 95% interval of the paired differences, `band` (the margin) shaded around 0
        "relative": "a measure minus the baseline's, paired by seed, against a config key",
    }
)
