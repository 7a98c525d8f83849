"""What a study is made of: typed, frozen, keyword-only, each checked when it is built.

A Study is a sweep (`base` + `grid`, as in a sweep file; `quick_base` / `quick_grid` replace
some of it for a run of a minute or two; `controls`, runs beside the grid: each replaces some
grid or base keys, e.g. `leaky` at slope 0.25, and is crossed with the other grid keys), its
number of seeds with the reason it is enough (`n_why`, fixed before the study runs), and its
claims. A Claim selects runs by their config (`select`), measures one number per run, or per
run and layer (`measure`), and decides by its `criterion`; `relubench.analysis.study` computes
the verdicts from the run folders alone:

  Measure    metric: a name from `measures.MEASURES` (a layers.csv or metrics.csv column, or
             one derived from them); epoch: a number or "last"; layers: one of LAYERS (a
             layers.csv measure) or None (the whole net: a metrics.csv measure)
  Criterion  kind: one of CRITERIA. between (bound: (lo, hi)) / above / below (bound: x):
             the seeds' mean against the bound; less_than / greater_than (select: the other
             runs, layers: theirs when not the claim's): the difference from the other runs
             against the claim's `margin`, the smallest difference that matters (`why`: its
             reason, chosen before the data)
  Check      what the setting must show for the claim to be testable at all (a floor or a
             ceiling: e.g. ReLU loses at least 5% of its units, the slopes move at least 0.01);
             a claim whose check fails is `untestable here`
  Figure     kind: one of FIGURE_KINDS, with that kind's fields (see FIGURE_KINDS)

Every word is checked when its object is built, so a misspelt one fails at import with a
ConfigError naming it (and, through `studies.load`, the study's module and line); the checks
that need the claim or the whole study (a selection's config keys and values against the grid)
name the study and the claim. Torch-free.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from relubench.errors import ConfigError
from relubench.registry.studies.figures import Figure
from relubench.registry.studies.measures import MEASURES
from relubench.registry.studies.parts import (
    SCALARS,
    SLUG,
    Layers,
    Measure,
    check_layers,
    choose,
    frozen_selection,
    is_number,
    same,
)
from relubench.registry.studies.words import COMPARISONS, CRITERIA, DISJOINT_LAYERS

__all__ = ["Check", "Claim", "Criterion", "Figure", "Measure", "Study"]


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """How a claim is decided: a bound on the measure, or a comparison with other runs."""

    kind: str
    bound: float | tuple[float, float] | None = None  # between: (lo, hi); above, below: x
    select: Mapping[str, Any] | None = None  # less_than, greater_than: the other runs
    layers: Layers | None = None  # less_than, greater_than: their layers, when not the claim's

    def __post_init__(self) -> None:
        if self.kind not in CRITERIA:
            raise choose("criterion", self.kind, list(CRITERIA))
        if self.kind in COMPARISONS:
            if self.bound is not None:
                raise ConfigError(f"criterion {self.kind}: compares with runs, takes no bound")
            object.__setattr__(self, "select", frozen_selection(self.select, self.kind))
            check_layers(self.layers, f"criterion {self.kind}:")
            if self.layers == "each":
                raise ConfigError(f"criterion {self.kind}: layers 'each' gives no single number")
            return
        if self.select is not None or self.layers is not None:
            raise ConfigError(f"criterion {self.kind}: a bound, takes no select or layers")
        if self.kind == "between":
            b = self.bound
            ok = isinstance(b, (tuple, list)) and len(b) == 2 and all(map(is_number, b))
            if not ok or b[0] > b[1]:  # type: ignore[index]
                raise ConfigError(f"criterion between: bound {b!r} must be (lo, hi), lo <= hi")
            object.__setattr__(self, "bound", tuple(b))  # type: ignore[arg-type]
        elif not is_number(self.bound):
            raise ConfigError(f"criterion {self.kind}: bound {self.bound!r} is not a number")

    @property
    def compares(self) -> bool:
        """less_than / greater_than: judged against other runs, not a bound."""
        return self.kind in COMPARISONS


@dataclass(frozen=True, kw_only=True)
class Check:
    """What the setting must show before a claim can be tested: the mean of `measure` over the
    runs of `select` at least `least` and/or at most `most`; `what` says it in words."""

    what: str  # e.g. "ReLU loses at least 5% of its units here"
    select: Mapping[str, Any]
    measure: Measure
    least: float | None = None
    most: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.what, str) or not self.what:
            raise ConfigError("check: what is its text")
        object.__setattr__(self, "select", frozen_selection(self.select, f"check {self.what!r}"))
        if not isinstance(self.measure, Measure) or self.measure.layers == "each":
            raise ConfigError(f"check {self.what!r}: measure is a Measure with one number a run")
        bounds = [b for b in (self.least, self.most) if b is not None]
        if not bounds or not all(map(is_number, bounds)):
            raise ConfigError(f"check {self.what!r}: give least and/or most, numbers")


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim of a paper, the runs that test it, what is measured, and how it is decided."""

    id: str
    claim: str  # what the paper says, in one sentence
    paper: str  # their number or pattern
    select: Mapping[str, Any]  # config values of the runs that test it
    measure: Measure
    criterion: Criterion
    margin: float | None = None  # less_than, greater_than: the smallest difference that matters
    why: str = ""  # why that margin (or a bound's value), in a line
    checks: tuple[Check, ...] = ()  # what the setting must show for the claim to be testable
    # the measure minus that of the run with these config values, the same seed and otherwise
    # the same setting (its tuned keys aside): e.g. {"act": "relu"}, the gap to ReLU
    relative_to: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not SLUG.match(self.id):
            raise ConfigError(f"claim id {self.id!r}: lower-case words joined by '-'")
        what = f"claim {self.id!r}"
        if not (isinstance(self.claim, str) and self.claim and isinstance(self.paper, str)):
            raise ConfigError(f"{what}: claim and paper are its text")
        if not isinstance(self.measure, Measure) or not isinstance(self.criterion, Criterion):
            raise ConfigError(f"{what}: measure is a Measure, criterion a Criterion")
        object.__setattr__(self, "select", frozen_selection(self.select, what))
        crit = self.criterion
        if crit.compares and self.measure.layers == "each":
            raise ConfigError(f"{what}: layers 'each' cannot be {crit.kind} other runs")
        if crit.layers is not None:
            try:
                replace(self.measure, layers=crit.layers)
            except ConfigError as e:
                raise ConfigError(f"{what}: criterion {crit.kind}: {e}") from None
        self._check_margin(what)
        self._check_overlap(what)
        self._check_relative(what)
        object.__setattr__(self, "checks", tuple(self.checks))
        if not all(isinstance(c, Check) for c in self.checks):
            raise ConfigError(f"{what}: checks must be Checks")

    def _check_margin(self, what: str) -> None:
        if MEASURES[self.measure.metric].status:  # an outcome per run, 0 or 1: no t-test
            raise ConfigError(
                f"{what}: {self.measure.metric} is a run's outcome (0 or 1): a t-based "
                "criterion does not apply; draw it in a figure"
            )
        if not self.criterion.compares:
            if self.margin is not None:
                raise ConfigError(f"{what}: a bound criterion takes no margin (the bound is one)")
            return
        if not is_number(self.margin) or self.margin < 0:  # type: ignore[operator]
            raise ConfigError(
                f"{what}: {self.criterion.kind} needs margin, the smallest difference that "
                "matters (a number >= 0), and why, its reason"
            )
        if not isinstance(self.why, str) or not self.why:
            raise ConfigError(f"{what}: margin {self.margin:g} needs why, its reason in a line")

    def _check_relative(self, what: str) -> None:
        if self.relative_to is None:
            return
        to = frozen_selection(self.relative_to, what, "relative_to")
        object.__setattr__(self, "relative_to", to)
        if self.measure.layers not in (None, "all", "first", "rest", "deep", "shallow"):
            raise ConfigError(
                f"{what}: relative_to needs one number a run, not layers {self.measure.layers!r}"
            )
        for side in (self.select, self.criterion.select or self.select):
            if all(k in side and same(side[k], v) for k, v in to.items()):
                raise ConfigError(
                    f"{what}: the runs measured are the relative_to runs themselves "
                    f"({', '.join(f'{k} {v}' for k, v in to.items())}): their difference is 0"
                )

    def _check_overlap(self, what: str) -> None:
        """Never a group against a superset of itself: the other runs are disjoint from the
        claim's (some key differs) or the same runs, over layer sets neither containing the
        other."""
        other = self.criterion.select
        if other is None:
            return
        differ = any(k in other and not same(v, other[k]) for k, v in self.select.items())
        if differ:
            return
        if dict(other) != dict(self.select):
            raise ConfigError(
                f"{what}: the runs compared with overlap the claim's runs (no key tells them "
                "apart): select the same runs over other layers, or runs with another value"
            )
        pair = frozenset({self.measure.layers, self.criterion.layers})
        if pair not in DISJOINT_LAYERS:
            raise ConfigError(
                f"{what}: the same runs compared over layers {self.measure.layers!r} and "
                f"{self.criterion.layers!r}: one contains the other; compare first or shallow "
                "with deep"
            )

    @property
    def selections(self) -> list[Mapping[str, Any]]:
        """Every selection the claim makes: its runs, the runs it compares them with, and the
        runs its checks read."""
        other = [self.criterion.select] if self.criterion.select else []
        to = [self.relative_to] if self.relative_to else []
        return [self.select, *other, *to, *(c.select for c in self.checks)]

    @property
    def same_runs(self) -> bool:
        """Compared with its own runs over other layers (paired by run)."""
        other = self.criterion.select
        return other is not None and dict(other) == dict(self.select)

    def against(self) -> Measure:
        """The measure of the runs compared with: the claim's, with the criterion's layers."""
        if self.criterion.layers is None:
            return self.measure
        return replace(self.measure, layers=self.criterion.layers)


def _frozen_grid(grid: Any, what: str) -> Mapping[str, tuple[Any, ...]]:
    if not isinstance(grid, Mapping):
        raise ConfigError(f"{what} must map config keys to lists of values")
    for k, values in grid.items():
        ok = isinstance(values, (list, tuple)) and values
        if not ok or not all(isinstance(v, SCALARS) for v in values):
            raise ConfigError(f"{what} {k!r}: {values!r} is not a list of config values")
    return MappingProxyType({k: tuple(v) for k, v in grid.items()})


def _frozen_base(base: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(base, Mapping):
        raise ConfigError(f"{what} must map config keys to values")
    return frozen_selection(base, what, "value") if base else MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Study:
    """A paper's claims and the sweep of runs that tests them."""

    name: str
    title: str
    source: str  # the paper
    cost: str  # what it runs, and how long on 2 CPU cores
    n_why: str  # why the grid's seeds are enough: a power rationale, fixed before it runs
    base: Mapping[str, Any]  # every run's config
    grid: Mapping[str, Sequence[Any]]  # the config keys swept, with their values
    quick_base: Mapping[str, Any] = field(default_factory=dict)  # --quick: base keys replaced
    quick_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # and grid keys
    claims: tuple[Claim, ...]
    figures: tuple[Figure, ...] = ()
    controls: tuple[Mapping[str, Any], ...] = ()  # runs beside the grid, see the module doc
    # grid keys chosen per setting (the other grid keys' values) on validation accuracy, as
    # `compare --tune`; the claims and figures then read only the chosen value's runs
    tune: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not SLUG.match(self.name):
            raise ConfigError(f"study name {self.name!r}: lower-case words joined by '-'")
        what = f"study {self.name!r}"
        for attr in ("title", "source", "cost", "n_why"):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr):
                raise ConfigError(f"{what}: {attr} is its text")
        self._freeze(what)
        self._check_sweep(what)
        self._check_claims(what)
        self._check_figures(what)
        self._check_tune(what)

    def _freeze(self, what: str) -> None:
        set_ = object.__setattr__
        set_(self, "base", _frozen_base(self.base, f"{what}: base"))
        set_(self, "quick_base", _frozen_base(self.quick_base, f"{what}: quick_base"))
        set_(self, "grid", _frozen_grid(self.grid, f"{what}: grid"))
        set_(self, "quick_grid", _frozen_grid(self.quick_grid, f"{what}: quick_grid"))
        set_(self, "claims", tuple(self.claims))
        controls = self.controls if isinstance(self.controls, (tuple, list)) else [None]
        set_(self, "controls", tuple(_frozen_base(c, f"{what}: control") for c in controls))
        set_(self, "figures", tuple(self.figures))
        set_(self, "tune", (self.tune,) if isinstance(self.tune, str) else tuple(self.tune))

    def _check_sweep(self, what: str) -> None:
        both = set(self.base) & set(self.grid) or set(self.quick_base) & set(self.grid)
        if both:
            raise ConfigError(f"{what}: {', '.join(sorted(both))} in both base and grid")
        for k, values in self.quick_grid.items():
            if k not in self.grid:
                raise ConfigError(f"{what}: quick_grid {k!r} is not a grid key")
            extra = [v for v in values if not any(same(v, g) for g in self.grid[k])]
            if extra:  # --quick runs a subset, which the full study reuses
                raise ConfigError(f"{what}: quick_grid {k} {extra[0]!r} is not in the grid")
        for c in self.controls:
            loose = [k for k in c if k not in self.grid and k not in self.base]
            if loose:  # so a selection can tell the grid's runs from the control's
                raise ConfigError(f"{what}: control key {loose[0]!r} is not in base or grid")

    def _check_tune(self, what: str) -> None:
        for k in self.tune:
            if k not in self.grid or k == "seed":
                raise ConfigError(f"{what}: tune {k!r} is not a grid key (nor seed)")
        if not self.tune:
            return
        for quick in (False, True):
            if not self.spec(quick)["base"].get("val_size"):
                raise ConfigError(
                    f"{what}: tune chooses on validation accuracy: give base val_size"
                )
        for c in self.claims:
            for select in c.selections:
                tuned = [k for k in select if k in self.tune]
                if tuned:
                    raise ConfigError(
                        f"{what}, claim {c.id!r}: selects {tuned[0]}, which the study tunes"
                    )
        for f in self.figures:
            if any(k in self.tune for k in f.keys()):
                raise ConfigError(f"{what}, figure {f.name or f.kind!r}: reads a tuned key")

    def _check_claims(self, what: str) -> None:
        if not self.claims or not all(isinstance(c, Claim) for c in self.claims):
            raise ConfigError(f"{what}: claims must be Claims, at least one")
        ids = [c.id for c in self.claims]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ConfigError(f"{what}: claim id {twice[0]!r} given twice")
        for c in self.claims:
            for select in c.selections:
                problems = self.unproduced(select)
                if problems:
                    raise ConfigError(f"{what}, claim {c.id!r}: {problems[0]}")

    def _check_figures(self, what: str) -> None:
        if not all(isinstance(f, Figure) for f in self.figures):
            raise ConfigError(f"{what}: figures must be Figures")
        for i, f in enumerate(self.figures, 1):
            name = f.name or f"figure{i}-{f.kind}"
            unknown = [k for k in f.keys() if k not in self.base and k not in self.grid]
            problems = [f"{k!r} is not a config key of the study" for k in unknown]
            problems += [p for s in f.selections for p in self.unproduced(s)]
            if f.x is not None and f.x not in self.grid:
                problems.append(f"x {f.x!r} is not a grid key")
            if problems:
                raise ConfigError(f"{what}, figure {name!r}: {problems[0]}")

    @property
    def setting_keys(self) -> list[str]:
        """The config keys that tell its settings apart: the grid's and the controls' (not
        the seed)."""
        keys = [k for k in self.grid if k != "seed"]
        return keys + sorted({k for c in self.controls for k in c if k not in keys})

    @property
    def partner_keys(self) -> list[str]:
        """The grid keys a run shares with the partner it is compared with (relative_to, the
        relative figure): all but the seed and the tuned keys."""
        return [k for k in self.grid if k != "seed" and k not in self.tune]

    def spec(self, quick: bool = False) -> dict[str, Any]:
        """The sweep, as a sweep file would hold it (base, grid), quick or full."""
        base = {**self.base, **(self.quick_base if quick else {})}
        grid = {**self.grid, **(self.quick_grid if quick else {})}
        runs = []
        for control in self.controls:
            rest = {k: v for k, v in grid.items() if k not in control}
            points = itertools.product(*rest.values())
            runs += [{**dict(zip(rest, p, strict=True)), **control} for p in points]
        spec = {"base": base, "grid": {k: list(v) for k, v in grid.items()}}
        return {**spec, "runs": runs} if runs else spec

    @property
    def sweep(self) -> dict[str, Any]:
        """The full sweep: {"base": ..., "grid": ...}."""
        return self.spec(quick=False)

    def unproduced(self, select: Mapping[str, Any], quick: bool = False) -> list[str]:
        """What in a selection no run of the (quick or full) spec has: [] when every key is
        a config key of the study and every value one its grid or base gives."""
        spec = self.spec(quick)
        problems = []
        for k, v in select.items():
            given = spec["grid"].get(k, [spec["base"][k]] if k in spec["base"] else None)
            if given is not None:
                given = [*given, *(c[k] for c in self.controls if k in c)]
            if given is None:
                problems.append(f"select {k!r} is not a config key of the study")
            elif not any(same(v, g) for g in given):
                gives = ", ".join(map(str, given))
                problems.append(f"select {k} {v!r} is not a value it runs ({k}: {gives})")
        return problems
