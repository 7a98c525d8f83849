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
from relubench.registry.studies.measures import MEASURES, measure_names
from relubench.registry.studies.parts import (
    SCALARS,
    SLUG,
    Epoch,
    Layers,
    Measure,
    check_epoch,
    check_layers,
    choose,
    frozen_selection,
    is_number,
    same,
)
from relubench.registry.studies.words import COMPARISONS, CRITERIA, DISJOINT_LAYERS, FIGURE_KINDS


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
        return [self.select, *other, *(c.select for c in self.checks)]

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
    epoch: Epoch = "last"  # layers, versus
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIGURE_KINDS:
            raise choose("figure kind", self.kind, list(FIGURE_KINDS))
        what = f"figure {self.name or self.kind!r}"
        if isinstance(self.by, str) or not self.by or not all(isinstance(k, str) for k in self.by):
            raise ConfigError(f"{what}: by {self.by!r} must be config keys, e.g. ('act',)")
        object.__setattr__(self, "by", tuple(self.by))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.where:
            object.__setattr__(self, "where", frozen_selection(self.where, what, "where"))
        else:
            object.__setattr__(self, "where", MappingProxyType({}))
        if self.name is not None and not SLUG.match(str(self.name)):
            raise ConfigError(f"{what}: name {self.name!r}: lower-case words joined by '-'")
        check_epoch(self.epoch, f"{what}:")
        getattr(self, f"_check_{self.kind}")(what)  # _check_layers, _check_versus, ...

    def _only(self, what: str, allowed: set[str]) -> None:
        unset = {"metrics": (), "metric": None, "x": None, "log": False, "layers": None}
        given = [k for k, empty in unset.items() if getattr(self, k) != empty]
        given += ["where"] if self.where else []
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
        self._only(what, {"metric", "x", "log", "layers"})
        if self.metric is None or not isinstance(self.x, str):
            raise ConfigError(f"{what}: versus needs metric and x (a config key)")
        if self.layers == "each":
            raise ConfigError(f"{what}: versus needs a number per run, not layers 'each'")
        try:
            Measure(metric=self.metric, epoch=self.epoch, layers=self.layers)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None

    def _check_epochs(self, what: str) -> None:
        self._only(what, {"metric"})
        columns = [n for n in measure_names(per_layer=False) if not MEASURES[n].derived]
        if self.metric not in columns:
            raise choose(f"{what}: metric", self.metric, columns, " (a metrics.csv column)")

    @property
    def selections(self) -> list[Mapping[str, Any]]:
        return [self.where] if self.where else []

    def keys(self) -> list[str]:
        """The config keys the figure reads."""
        return [*self.by, *([self.x] if self.x else []), *self.where]


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
