"""`compare --tune KEY`: each group's value of KEY chosen on validation accuracy, never on test.

The runs are grouped by everything except the seed and the tuned keys (or by `--by`); within a
group, each value of the tuned keys is a candidate. The chosen one has the best mean final
validation accuracy over its seeds (ties: the smaller value); a value with any diverged seed is
ineligible (its mean would hide the divergence) and listed. The group's row then reports the
test accuracy at the chosen value, the value itself, and how flat the choice was: the
runner-up's validation accuracy. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relubench.analysis.load import Row
from relubench.config import RUNTIME_KEYS
from relubench.errors import CompareError


@dataclass
class Choice:
    """One group's tuning: the chosen value, its mean validation accuracy, the runner-up."""

    value: tuple
    val_acc: float
    runner_up: tuple | None = None
    runner_up_val_acc: float | None = None
    ineligible: list[tuple] = field(default_factory=list)  # values with a diverged seed


def value_order(value: tuple) -> tuple:
    """Sort key of a tuned value: numbers by size, anything else by its text, numbers first."""
    return tuple(
        (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v)) for v in value
    )


def check_tunable(runs: list[Row], tune: list[str], config_keys: list[str]) -> None:
    """CompareError for a key that is not a config key, or runs without a validation split."""
    unknown = [k for k in tune if k not in config_keys or k == "seed"]
    if unknown:
        raise CompareError(
            f"--tune {unknown[0]}: not a config key of these runs (nor seed); choose from: "
            f"{', '.join(k for k in config_keys if k != 'seed')}"
        )
    no_val = [r for r in runs if r["final_val_acc"] is None]
    if no_val:
        raise CompareError(
            f"--tune {','.join(tune)} chooses on validation accuracy, and {len(no_val)} of "
            f"these {len(runs)} runs have no validation split (e.g. {no_val[0]['run_id']}); "
            "train them with --set val_size=1000 (configs/fair-lr.yaml does), or compare "
            "without --tune"
        )


def choose(
    runs: list[Row], keys: list[str], tune: list[str], config_keys: list[str]
) -> dict[tuple, Choice]:
    """Group (values of `keys`) -> its Choice, from the runs in the means; marks every run of a
    value not chosen with `tuned_out` and takes it out of the means."""
    identity = [k for k in config_keys if k != "seed" and k not in RUNTIME_KEYS]

    def experiment(r: Row) -> tuple:
        return tuple(str(r.get(k)) for k in identity)

    diverged = {experiment(r) for r in runs if r["status"] == "diverged"}
    candidates: dict[tuple, dict[tuple, list[Row]]] = {}
    bad: dict[tuple, set[tuple]] = {}
    for r in runs:
        group, value = tuple(r.get(k) for k in keys), tuple(r.get(k) for k in tune)
        if experiment(r) in diverged:
            bad.setdefault(group, set()).add(value)
        elif r["in_means"]:
            candidates.setdefault(group, {}).setdefault(value, []).append(r)
    choices: dict[tuple, Choice] = {}
    for group, values in candidates.items():
        means = {
            v: sum(r["final_val_acc"] for r in rs) / len(rs)
            for v, rs in values.items()
            if v not in bad.get(group, set())
        }
        ranked = sorted(means, key=lambda v: (-means[v], value_order(v)))
        if not ranked:
            continue
        best = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        choices[group] = Choice(
            best,
            means[best],
            second,
            None if second is None else means[second],
            sorted(bad.get(group, set()), key=value_order),
        )
    for r in runs:
        group, value = tuple(r.get(k) for k in keys), tuple(r.get(k) for k in tune)
        choice = choices.get(group)
        r["tuned_out"] = choice is None or value != choice.value
        if r["tuned_out"]:
            r["in_means"] = False
    return choices


def describe(choice: Choice | None, text: Any) -> dict[str, Any]:
    """The group row's tuning fields: the chosen value, runner-up and ineligible values as
    text (`text` formats one value), validation accuracies as fractions."""
    if choice is None:
        return {}

    def show(value: tuple) -> str:
        return ", ".join(text(v) for v in value)

    return {
        "tuned": show(choice.value),
        "tuned_val_acc": choice.val_acc,
        "runner_up": None if choice.runner_up is None else show(choice.runner_up),
        "runner_up_val_acc": choice.runner_up_val_acc,
        "ineligible": [show(v) for v in choice.ineligible],
    }
