"""A study's tuned keys (`Study.tune`, e.g. lr): per setting, the value chosen on validation
accuracy as `compare --tune` chooses it (`analysis.tune.choose`: the best mean final validation
accuracy over the seeds; a value with a diverged seed is ineligible). When every value of a
setting has a diverged seed, the one with the fewest diverged runs is chosen (then the best
mean validation accuracy of its complete runs), so a setting that diverges everywhere is still
measured, at its least bad value, and says so. Torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relubench.analysis.stats import text
from relubench.analysis.study_runs import StudyRun, read_runs, setting_text
from relubench.analysis.tune import choose, value_order
from relubench.registry.studies import Study


def _fallback(runs: list[StudyRun], tune: Sequence[str]) -> tuple:
    """The value with the fewest diverged runs, then the best mean validation accuracy."""
    values: dict[tuple, list[StudyRun]] = {}
    for r in runs:
        values.setdefault(tuple(r.config.get(k) for k in tune), []).append(r)

    def rank(v: tuple) -> tuple:
        accs = [r.config["final_val_acc"] for r in values[v] if r.status == "complete"]
        accs = [a for a in accs if a is not None]
        diverged = sum(r.status == "diverged" for r in values[v])
        return (diverged, -(sum(accs) / len(accs)) if accs else 0.0, value_order(v))

    return min(values, key=rank)


def tuned(
    runs: list[StudyRun], tune: Sequence[str], keys: Sequence[str]
) -> tuple[list[StudyRun], list[dict[str, Any]]]:
    """The runs at each setting's chosen value of `tune` (a setting: the values of `keys`, the
    study's setting keys, but the tuned ones), and the choices, one record per setting."""
    if not tune:
        return runs, []
    group_keys = [k for k in keys if k not in tune and k != "seed"]
    rows = [{**r.config, "in_means": r.status == "complete"} for r in runs]
    choices = choose(rows, group_keys, list(tune), [*group_keys, *tune, "seed"])
    by_group: dict[tuple, list[StudyRun]] = {}
    for r in runs:
        by_group.setdefault(tuple(r.config.get(k) for k in group_keys), []).append(r)
    kept, records = [], []
    for group, members in by_group.items():
        choice = choices.get(group)
        value = choice.value if choice is not None else _fallback(members, tune)
        kept += [r for r in members if tuple(r.config.get(k) for k in tune) == value]
        records.append(
            {
                "setting": setting_text(members[0], group_keys),
                "chosen": ", ".join(text(v) for v in value),
                "val_acc": None if choice is None else choice.val_acc,
                "runner_up": None
                if choice is None or choice.runner_up is None
                else ", ".join(text(v) for v in choice.runner_up),
                "ineligible": []
                if choice is None
                else [", ".join(map(text, v)) for v in choice.ineligible],
                "every_value_diverged": choice is None,
            }
        )
    return kept, records


def read_tuned(
    study: Study, folders: Sequence[Path]
) -> tuple[list[StudyRun], list[tuple[str, str]], list[dict[str, Any]]]:
    """A study's runs as its claims and figures read them: the complete and diverged runs
    among `folders` at each setting's chosen value; the runs left out, with why; the choices."""
    runs, apart = read_runs(folders, study.setting_keys)
    runs, choices = tuned(runs, study.tune, study.setting_keys)
    return runs, apart, choices
