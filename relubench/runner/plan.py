"""Planning a sweep: a YAML grid of configs -> a Plan of validated RunConfigs (torch-free).

A sweep file:

    base: {dataset: mnist-mini, epochs: 5}      # or: base: mnist-mini (a recipe), or a path
    grid: {act: [relu, prelu], seed: [0, 1, 2]} # cartesian product
    runs: [{act: elu, lr: 0.05}]                # optional: extra runs, each base + overrides

A plan knows which of its runs are already complete; executing it is `relubench.runner.execute`.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from pathlib import Path
from typing import Any

from relubench.config import (
    FIELD_TYPES,
    RunConfig,
    check_value,
    config_hash,
    load_config,
    load_yaml,
    merge,
    short,
)
from relubench.errors import ConfigError
from relubench.registry.recipes import locate
from relubench.runfolder import read_summary, run_status

SWEEP_KEYS = ("base", "grid", "runs")


EAGER = 20_000  # plans up to this many runs are resolved (and checked) whole, up front


@dataclass
class Plan:
    """The expanded sweep: its runs in order (resolved lazily: a grid of a million runs is a
    few lists until it is iterated), and which are already complete."""

    source: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    extra: list[dict[str, Any]]
    overrides: dict[str, Any]
    size: int  # runs before removing duplicates
    # the statuses a run is done at, not run again: a study keeps "diverged" too (its outcome,
    # the same again on the same machine and thread count); a sweep tries a diverged run anew
    done: tuple[str, ...] = ("complete",)

    def __iter__(self) -> Iterator[RunConfig]:
        """Every run config, duplicates removed, each validated as it comes (once resolved,
        the resolved list)."""
        if "configs" in self.__dict__:
            yield from self.configs
            return
        seen: dict[tuple[str, str], RunConfig] = {}
        points = (dict(zip(self.grid, v, strict=True)) for v in product(*self.grid.values()))
        if not self.grid:  # no grid: the listed runs, or the base alone when none are listed
            points = iter([] if self.extra else [{}])
        for point in itertools.chain(points, self.extra):
            cfg = self.resolve(point)
            # one folder per experiment and output folder: a grid over `out` is fine, a grid
            # over `threads` alone would train one experiment twice into one folder
            same = seen.setdefault((cfg.config_hash, cfg.out), cfg)
            if same is cfg:
                yield cfg
            elif same != cfg:  # one experiment, two configs: they differ in runtime keys only
                earlier = same.to_dict()
                diff = sorted(k for k, v in cfg.to_dict().items() if v != earlier[k])
                raise ConfigError(
                    f"{self.source}: runs {short(point, 200)} and an earlier one differ only in "
                    f"{', '.join(diff)}, which say how or where a run trains, not what it is: "
                    f"they would share one run id and one folder. Set {diff[0]} in base, or "
                    f"sweep it with separate --out dirs"
                )

    def resolve(self, point: dict[str, Any]) -> RunConfig:
        """One run's config; `data_id` says which data it reads when that is not the
        registry's (relubench.data.store.identify), so such a run never pools with the real."""
        from relubench.data.store import identify

        try:
            return identify(merge(self.base, point, self.overrides))
        except ConfigError as e:
            raise ConfigError(f"{self.source}: {e} (run {short(point, 200)})") from None

    @cached_property
    def configs(self) -> list[RunConfig]:
        return list(self)

    @property
    def count(self) -> int:
        """How many runs: exact once resolved (always for plans up to EAGER runs)."""
        return len(self.configs) if "configs" in self.__dict__ else self.size

    @cached_property
    def outs(self) -> list[str]:
        """The output folders the runs go to."""
        if "out" in self.overrides:  # --out replaces every other
            return [str(self.overrides["out"])]
        given = [*self.grid.get("out", []), *(e["out"] for e in self.extra if "out" in e)]
        default = [] if "out" in self.grid else [self.base.get("out") or RunConfig.out]
        return sorted({os.path.normpath(str(o)) if o else str(o) for o in [*default, *given]})

    @cached_property
    def complete(self) -> set[str]:
        """Run ids of the plan's complete runs. A resolved plan asks each of its runs; a plan
        too large to resolve lists each output folder once and matches the complete runs
        there against the grid (a count for --dry-run)."""
        if "configs" in self.__dict__:
            return {c.run_id for c in self.configs if run_status(c.run_dir) in self.done}
        done = set()
        for out in self.outs:
            try:
                names = os.listdir(out)
            except OSError:
                continue
            for name in names:
                summary = read_summary(Path(out) / name) if name[0] != "." else None
                if summary and summary.get("status") in self.done and self._holds(summary):
                    done.add(name)
        return done

    def _holds(self, summary: dict[str, Any]) -> bool:
        """Whether a complete run's config is one of this plan's grid runs."""
        config = summary.get("config")
        if not isinstance(config, dict):
            return False
        try:
            point = {k: config[k] for k in self.grid}
            if not all(point[k] in self.grid[k] for k in self.grid):
                return False
            cfg = self.resolve(point)
            return cfg.config_hash == summary.get("config_hash", config_hash(config))
        except (ConfigError, KeyError, TypeError):  # not a run of this plan, or a broken one
            return False

    @property
    def todo(self) -> Iterator[RunConfig]:
        return (c for c in self if c.run_id not in self.complete)

    def head(self, n: int) -> list[RunConfig]:
        return list(itertools.islice(self, n))


@dataclass
class Outcome:
    """What running a plan did."""

    ran: dict[str, str] = field(default_factory=dict)  # run id -> final status
    skipped: dict[str, str] = field(default_factory=dict)  # run id -> why


def _check_keys(mapping: dict[str, Any], where: str) -> None:
    for key in mapping:
        if key not in FIELD_TYPES:
            raise ConfigError(f"unknown config key {key!r} in {where}")


def expand(path: str | Path, overrides: dict[str, Any] | None = None) -> Plan:
    """Sweep file (or a sweep recipe's name) -> resolved run configs (base < grid/run values
    < overrides), deduplicated.

    Every key and value is validated before anything runs; errors name the file and the key.
    """
    path = locate(path)
    spec = load_yaml(path)
    base = spec.get("base") if isinstance(spec, dict) else None
    if isinstance(base, str):  # a file relative to the sweep file or the cwd, or a recipe;
        # read as `train --config` reads it (a run folder's config.yaml is that run)
        spec = {**spec, "base": load_config(locate(base, path.parent))}
    return plan_of(spec, str(path), overrides)


def plan_of(
    spec: dict[str, Any],
    source: str,
    overrides: dict[str, Any] | None = None,
    done: tuple[str, ...] = ("complete",),
) -> Plan:
    """A sweep's mapping (base, grid, runs) -> its Plan, every key and value validated;
    errors name `source` and the key. `done`: the statuses at which a run is not run again."""
    unknown = [k for k in spec if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown sweep key {unknown[0]!r}; use base, grid, runs")
    if not any(spec.get(k) for k in SWEEP_KEYS):  # else it would train one default run
        raise ConfigError(f"{source}: an empty sweep; give base, grid or runs")
    base = spec.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: base must be a mapping of config keys or a recipe path")
    _check_keys(base, f"{source} (base)")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{source}: grid must be a mapping of config keys to lists")
    _check_keys(grid, f"{source} (grid)")
    grid = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise ConfigError(f"{source}: grid key {empty[0]} has an empty list: give it a value")
    extra = spec.get("runs") or []
    if not isinstance(extra, list) or not all(isinstance(r, dict) for r in extra):
        raise ConfigError(f"{source}: runs must be a list of mappings of config keys")
    for i, r in enumerate(extra):
        _check_keys(r, f"{source} (runs[{i}])")

    overrides = overrides or {}
    # each value checked once (with the base), not each run: a grid of a million runs is
    # checked in the time its lists take; combinations are checked as the runs are resolved
    plan = Plan(source, base, grid, extra, overrides, math.prod(map(len, grid.values())), done)
    plan.size = plan.size + len(extra) if grid else len(extra) or 1
    for key, values in grid.items():
        for v in values:  # the value's type and range; combinations when resolved
            try:
                check_value(key, v)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e} (grid {key})") from None
    if plan.size <= EAGER:
        plan.configs  # noqa: B018 - resolves and checks every run before anything starts
    return plan


def require_data(plan: Plan) -> None:
    """Before a local sweep starts: every downloadable dataset its runs need is here, fetched
    once (if a run asks to download) rather than by several workers at once, or one DataError
    for the whole sweep instead of the same failure in every run."""
    from relubench.data import store
    from relubench.registry.datasets import get_spec

    needs: dict[tuple[str, str], bool] = {}
    for c in plan.todo:
        if get_spec(c.dataset).kind == "download":
            key = (c.dataset, c.data_dir)
            needs[key] = needs.get(key, False) or c.download
    for (name, data_dir), download_ok in needs.items():
        hint = "or set download: true in the sweep's base"
        store.require(get_spec(name), data_dir, download_ok, hint)
