"""Compare: run folders -> a row per run -> a row per group (mean ± std over seeds) -> formats.

Reads one file per run, summary.json (it holds everything the table needs), so a table over a
thousand runs costs a thousand small JSON reads. The CSVs are for plots. Never imports torch.
The table is computed on plain dicts: pandas (the DataFrame of runs, `Comparison.frame()`) and
scipy (t distribution) are imported only when used, so `relubench compare` starts fast.

Statistics per group (the runs that differ only in seed and runtime keys): n, mean ± sample std
(ddof 1) of final and best test accuracy, a t-based 95% confidence interval of the mean final
accuracy, and Welch's t-test of final accuracy against the baseline group (unequal variances:
seeds of different activations need not spread alike). With n = 1 there is no spread, so std,
CI and p are missing ("–"), never a made-up number.
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from relubench.config import RUNTIME_KEYS, RunConfig
from relubench.runs import STATUSES, csv_text

if TYPE_CHECKING:
    import pandas as pd

RUN_FILES = ("summary.json", "config.yaml")  # a folder holding either is a run folder
FORMATS = ("table", "markdown", "csv", "latex", "json")
SUFFIX_FORMATS = {".md": "markdown", ".csv": "csv", ".tex": "latex", ".json": "json"}
DEFAULT_BASELINE = "relu"
DEFAULTS = RunConfig().to_dict()
CONFIG_ORDER = list(DEFAULTS)  # config columns in the dataclass's field order

# Result fields read from summary.json: all numbers or missing.
NUMBERS = (
    "epochs_done",
    "final_test_acc",
    "final_test_loss",
    "best_test_acc",
    "best_epoch",
    "init_dead_frac",
    "final_dead_frac",
    "seconds_per_epoch",
    "wall_seconds",
    "parameters",
)
# Environment fields; device and threads are renamed because the config has its own (requested
# `auto`/0 there, actual `cpu`/2 here).
ENVIRONMENT = {
    "relubench": "relubench",
    "torch": "torch",
    "python": "python",
    "platform": "platform",
    "device": "env_device",
    "device_name": "device_name",
    "threads": "env_threads",
}

# The machine-readable table (csv, json): stable names, units in the name, fixed rounding.
GROUP_COLUMNS = [
    ("n", None),
    ("final_acc_pct", 2),
    ("final_acc_std_pct", 2),
    ("final_acc_ci95_lo_pct", 2),
    ("final_acc_ci95_hi_pct", 2),
    ("best_acc_pct", 2),
    ("best_acc_std_pct", 2),
    ("dead_init_pct", 1),
    ("dead_final_pct", 1),
    ("alpha_first", 3),
    ("alpha_last", 3),
    ("s_per_epoch", 3),
    ("p_welch", None),  # 4 significant digits
    ("vs", None),
]
LEGEND = (
    "mean ± std over seeds; 95% CI: t-interval of the mean final accuracy (clipped to [0, 100]); "
    "dead: units never positive on the probe set, at init and at the end; α: final mean PReLU "
    "slope of the first and last activation layer; p: Welch's t-test of final accuracy against "
    "the baseline group"
)


class CompareError(ValueError):
    """Nothing can be compared, or a flag is wrong: one line saying what and how to fix it."""

    def __init__(self, message: str, skipped: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.skipped = skipped or []  # so the caller can still say which folders were bad


class Malformed(ValueError):
    """A run folder whose files cannot be read as a run; the message is the reason."""


Row = dict[str, Any]


@dataclass
class Comparison:
    """Everything a table, figure or report needs, computed once."""

    keys: list[str]  # the config keys the runs are grouped by
    config_keys: list[str]  # every config key of the runs, in config order
    runs: list[Row]  # every readable run: config keys, results, `group`, `in_means`
    groups: list[Row]  # one per group, best first: see group_stats
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    baseline: str | None = None  # the baseline group's key value, e.g. "relu"
    notes: list[str] = field(default_factory=list)  # for people, printed after the table

    @property
    def included(self) -> list[Row]:
        """The runs that go into the means."""
        return [r for r in self.runs if r["in_means"]]

    @property
    def apart(self) -> list[Row]:
        """Runs shown apart: not complete (unless --include-incomplete) or without an accuracy."""
        return sorted(
            (r for r in self.runs if not r["in_means"]), key=lambda r: (r["status"], r["run_id"])
        )

    def frame(self) -> pd.DataFrame:
        """The runs as one DataFrame: a row per run, config keys and results as columns."""
        import pandas as pd

        return pd.DataFrame.from_records(self.runs)


# ---------------------------------------------------------------------------------------------
# Finding and loading run folders


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _walk(folder: str, found: list[str]) -> None:
    """Depth-first, sorted; a run folder is not searched further (its files are not runs)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    names = {e.name for e in entries}
    if any(f in names for f in RUN_FILES):
        found.append(folder)
        return
    for e in sorted(entries, key=lambda e: e.name):
        if e.is_dir() and not e.name.startswith("."):  # .ipynb_checkpoints, .git, temp folders
            _walk(e.path, found)


def find_runs(paths: list[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Run folders under `paths` (folders, run folders, their files, or glob patterns).

    Returns the folders in a stable order (each once) and the paths that led nowhere, with why.
    """
    found: list[str] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        text = str(raw)
        if _has_glob(text) and not os.path.exists(text):  # a quoted glob: expand it ourselves
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                problems.append((text, "matches nothing"))
        else:
            matches = [text]
        for m in matches:
            if os.path.isdir(m):
                before = len(found)
                _walk(m, found)
                if len(found) == before and m == text:
                    problems.append((text, "holds no run folders"))
            elif os.path.basename(m) in RUN_FILES:  # `results/*/summary.json` works too
                found.append(os.path.dirname(m) or ".")
            elif os.path.exists(m):
                if m == text:
                    problems.append((text, "is a file, not a run folder"))
            else:
                problems.append((text, "no such file or folder"))
    seen: set[str] = set()
    unique = []
    for f in found:
        real = os.path.abspath(f)  # not realpath: a syscall per folder, for rare symlinks
        if real not in seen:
            seen.add(real)
            unique.append(Path(f))
    return unique, problems


def _number(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed(f"summary.json: {key} is {value!r}, not a number")
    return float(value)


def _read_config(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    config = summary.get("config")
    if isinstance(config, dict):
        return config
    try:  # runs written before the summary carried the config
        config = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as e:
        raise Malformed(f"no config in summary.json and config.yaml unreadable ({e})") from None
    if not isinstance(config, dict):
        raise Malformed("no config in summary.json and config.yaml is not a mapping")
    return config


def load_run(folder: str | Path) -> dict[str, Any]:
    """One run folder as one flat row: config keys, results, slopes, environment.

    Raises Malformed with the reason when the folder cannot be read as a run.
    """
    folder = Path(folder)
    try:
        text = (folder / "summary.json").read_text()
    except FileNotFoundError:
        raise Malformed(
            "summary.json missing (config.yaml alone: the run never started?)"
        ) from None
    except OSError as e:
        raise Malformed(f"summary.json unreadable ({e.strerror})") from None
    try:
        summary = json.loads(text)
    except ValueError as e:
        raise Malformed(f"summary.json is not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise Malformed("summary.json is not a JSON object")
    status = summary.get("status")
    if status not in STATUSES:
        raise Malformed(f"summary.json: unknown status {status!r}")
    # a key the run's config lacks was added to relubench after the run: it ran with the default
    config = _read_config(folder, summary)
    row: dict[str, Any] = {**{k: v for k, v in DEFAULTS.items() if k not in config}, **config}
    row.update({k: _number(summary, k) for k in NUMBERS})
    for key in ("final_test_acc", "best_test_acc"):
        v = row[key]
        if v is not None and not 0.0 <= v <= 1.0:
            raise Malformed(f"summary.json: {key} is {v}, outside [0, 1]")
    if status == "complete" and row["final_test_acc"] is None:
        raise Malformed("summary.json: status complete but no final_test_acc")
    slopes = [
        layer.get("alpha_mean")
        for layer in summary.get("layers") or []
        if isinstance(layer, dict) and isinstance(layer.get("alpha_mean"), (int, float))
    ]
    row.update(
        run_id=summary.get("run_id") or folder.name,
        path=str(folder),
        status=status,
        error=summary.get("error"),
        epochs_planned=_number(summary, "epochs"),
        alpha_first=float(slopes[0]) if slopes else None,  # layers are in forward order
        alpha_last=float(slopes[-1]) if slopes else None,
        **{col: summary.get(key) for key, col in ENVIRONMENT.items()},
    )
    return row


def load_rows(paths: list[str | Path]) -> tuple[list[Row], list[str], list[tuple[str, str]]]:
    """Every run under `paths` as a flat dict; returns (runs, config keys, skipped with why)."""
    folders, skipped = find_runs(paths)
    rows: list[Row] = []
    seen_ids: dict[str, str] = {}
    for folder in folders:
        try:
            row = load_run(folder)
        except Malformed as e:
            skipped.append((str(folder), str(e)))
            continue
        first = seen_ids.setdefault(row["run_id"], row["path"])
        if first != row["path"]:  # a copied folder: counting it twice would fake a seed
            skipped.append((str(folder), f"same run id as {first}; counted once"))
            continue
        rows.append(row)
    config_keys: list[str] = []
    for row in rows:
        for key in row:
            if key in _NOT_CONFIG or key in config_keys:
                continue
            config_keys.append(key)
    order = {k: i for i, k in enumerate(CONFIG_ORDER)}
    config_keys.sort(key=lambda k: (order.get(k, len(order)), k))
    return rows, config_keys, skipped


def load_runs(paths: list[str | Path]) -> tuple[pd.DataFrame, list[str], list[tuple[str, str]]]:
    """Every run under `paths` as one DataFrame (a row per run, config keys as columns)."""
    import pandas as pd

    rows, config_keys, skipped = load_rows(paths)
    return pd.DataFrame.from_records(rows), config_keys, skipped


_NOT_CONFIG = {
    *NUMBERS,
    *ENVIRONMENT.values(),
    "run_id",
    "path",
    "status",
    "error",
    "epochs_planned",
    "alpha_first",
    "alpha_last",
}


# ---------------------------------------------------------------------------------------------
# Grouping and statistics


def group_keys(runs: list[Row], config_keys: list[str], by: list[str] | None) -> list[str]:
    """`by` checked against the config keys, or every identity key whose value differs."""
    if by:
        unknown = [k for k in by if k not in config_keys]
        if unknown:
            raise CompareError(
                f"--by {','.join(unknown)}: not a config key of these runs; choose from: "
                f"{', '.join(config_keys)}"
            )
        return list(dict.fromkeys(by))
    identity = [k for k in config_keys if k != "seed" and k not in RUNTIME_KEYS]
    differing = [k for k in identity if len({_text(r.get(k)) for r in runs}) > 1]
    # Nothing differs (one activation over seeds): still label the one group by its activation.
    return differing or [k for k in ("act",) if k in config_keys]


def label(values: tuple | list) -> str:
    """A group's name for people: its key values joined, e.g. `prelu` or `prelu, mlp`."""
    return ", ".join(_text(v) for v in values) or "all runs"


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)  # 1.0 stays 1.0, like the config
    return str(value)


def t_quantile(df: float, q: float = 0.975) -> float:
    """Student t quantile. scipy.special, not scipy.stats: the latter costs ~0.5 s to import."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (same as scipy.stats.ttest_ind(equal_var=False)).

    None when either side has fewer than 2 values, or neither side has any spread.
    """
    from scipy.special import stdtr

    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1) / na  # squared standard errors
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1) / nb
    se2 = va + vb
    if se2 == 0:
        return None
    t = (ma - mb) / math.sqrt(se2)
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))  # Welch-Satterthwaite
    return float(min(1.0, 2 * stdtr(df, -abs(t))))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _std(values: list[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return math.sqrt(sum((x - m) ** 2 for x in values) / (n - 1))


def _values(runs: list[Row], column: str) -> list[float]:
    return [float(r[column]) for r in runs if not _missing(r.get(column))]


def _parse_baseline(baseline: str | None, keys: list[str], groups: list[tuple]) -> tuple:
    """(key index, value text) of the baseline, or (None, text) if it matches no group."""
    text = baseline or DEFAULT_BASELINE
    key, sep, value = text.partition("=")
    if sep:
        if key not in keys:
            return None, text
        candidates = [keys.index(key)]
    else:
        value, candidates = text, list(range(len(keys)))
    for i in candidates:
        if any(_text(g[i]).lower() == value.lower() for g in groups):
            return i, value
    return None, text


def group_stats(
    runs: list[Row], keys: list[str], baseline: str | None = None
) -> tuple[list[Row], str | None]:
    """One row per group of the runs in the means, sorted by mean final accuracy (best first).

    Fractions stay fractions here; the formats turn them into percent.
    Returns (table, baseline value) where the value is None if no group matches the baseline.
    """
    grouped: dict[tuple, list[Row]] = {}
    for r in runs:
        if r["in_means"]:
            grouped.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    if not grouped:
        return [], None
    idx, base_value = _parse_baseline(baseline, keys, list(grouped))
    finals = {k: _values(g, "final_test_acc") for k, g in grouped.items()}
    rows = []
    for k, g in grouped.items():
        final = finals[k]
        n, mean, std = len(final), _mean(final), _std(final)
        ci = None if std is None else t_quantile(n - 1) * std / math.sqrt(n)
        p, vs = None, None
        if idx is not None:
            # The baseline of a group: same values on the other keys, the baseline value on its.
            base = next(
                (
                    b
                    for b in grouped
                    if _text(b[idx]).lower() == base_value.lower()
                    and all(b[j] == k[j] for j in range(len(keys)) if j != idx)
                ),
                None,
            )
            if base == k:
                vs = "baseline"
            elif base is not None:
                vs, p = label(base), welch_p(final, finals[base])
        best = _values(g, "best_test_acc")
        rows.append(
            {
                "group": label(k),
                **dict(zip(keys, k, strict=True)),
                "n": n,
                "final_acc": mean,
                "final_acc_std": std,
                # Accuracy lives in [0, 1]; the symmetric t-interval can overshoot: clipped.
                "final_acc_ci95_lo": None if ci is None else max(0.0, mean - ci),
                "final_acc_ci95_hi": None if ci is None else min(1.0, mean + ci),
                "best_acc": _mean(best),
                "best_acc_std": _std(best),
                "dead_init": _mean(_values(g, "init_dead_frac")),
                "dead_final": _mean(_values(g, "final_dead_frac")),
                "alpha_first": _mean(_values(g, "alpha_first")),
                "alpha_last": _mean(_values(g, "alpha_last")),
                "s_per_epoch": _mean(_values(g, "seconds_per_epoch")),
                "p_welch": p,
                "vs": vs,
                "run_ids": sorted(r["run_id"] for r in g),
            }
        )
    # Best first; ties by best accuracy, then by name, so the order never depends on file order.
    rows.sort(key=lambda r: (-(r["best_acc"] or 0), r["group"]))
    rows.sort(key=lambda r: -r["final_acc"])  # stable: keeps the tie order above
    return rows, (base_value if idx is not None else None)


def compare(
    paths: list[str | Path],
    by: list[str] | None = None,
    baseline: str | None = None,
    include_incomplete: bool = False,
) -> Comparison:
    """Load every run under `paths`, group, and compute the statistics.

    Raises CompareError only when nothing at all can be compared (no readable run) or `--by`
    names an unknown key; malformed folders are collected in `skipped`, not fatal.
    """
    runs, config_keys, skipped = load_rows(paths)
    if by is not None:
        by = [k.strip() for k in by if k.strip()]
    if not runs:
        where = ", ".join(str(p) for p in paths)
        why = f" ({len(skipped)} skipped: see the warning)" if skipped else ""
        raise CompareError(
            f"no runs to compare under {where}{why}; a run folder holds summary.json "
            f"(`relubench train --out DIR` writes them)",
            skipped,
        )
    # A run enters the means when complete, or with --include-incomplete when it has a number.
    for r in runs:
        r["in_means"] = r["final_test_acc"] is not None and (
            r["status"] == "complete" or include_incomplete
        )
    try:
        keys = group_keys([r for r in runs if r["in_means"]], config_keys, by)
    except CompareError as e:
        raise CompareError(str(e), skipped) from None
    for r in runs:
        r["group"] = label([r.get(k) for k in keys])
    groups, base_value = group_stats(runs, keys, baseline)
    notes = []
    if baseline and base_value is None and groups:
        notes.append(f"baseline {baseline!r} matches no group; p-values left out")
    if not groups:
        notes.append(
            "no complete runs yet; pass --include-incomplete to compare the runs shown apart"
        )
    return Comparison(keys, config_keys, runs, groups, skipped, base_value, notes)


# ---------------------------------------------------------------------------------------------
# Formats


def _pct(x: Any, digits: int = 2) -> str:
    return "–" if _missing(x) else f"{100 * x:.{digits}f}"


def _fixed(x: Any, digits: int) -> str:
    return "–" if _missing(x) else f"{x:.{digits}f}"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def p_text(p: Any) -> str:
    """Conventional and stable: three decimals, or <0.001."""
    if _missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def display_header(comp: Comparison) -> list[str]:
    vs = f"p vs {comp.baseline}" if comp.baseline else "p"
    return [
        *comp.keys,
        "n",
        "final acc %",
        "95% CI",
        "best acc %",
        "dead init %",
        "dead end %",
        "α first",
        "α last",
        "s/epoch",
        vs,
    ]


def display_rows(comp: Comparison) -> list[list[str]]:
    """The table for people: the same cells in the terminal, markdown, LaTeX and HTML."""
    rows = []
    for r in comp.groups:
        ci = (
            "–"
            if _missing(r["final_acc_ci95_lo"])
            else f"[{_pct(r['final_acc_ci95_lo'])}, {_pct(r['final_acc_ci95_hi'])}]"
        )
        p = "baseline" if r["vs"] == "baseline" else p_text(r["p_welch"])
        rows.append(
            [
                *(_text(r[k]) for k in comp.keys),
                str(r["n"]),
                f"{_pct(r['final_acc'])} ± {_pct(r['final_acc_std'])}",
                ci,
                f"{_pct(r['best_acc'])} ± {_pct(r['best_acc_std'])}",
                _pct(r["dead_init"], 1),
                _pct(r["dead_final"], 1),
                _fixed(r["alpha_first"], 3),
                _fixed(r["alpha_last"], 3),
                _fixed(r["s_per_epoch"], 3),
                p,
            ]
        )
    return rows


APART_HEADER = ["run", "status", "epochs", "final acc %", "reason"]


def apart_rows(comp: Comparison) -> list[list[str]]:
    """Runs not in the means, for people: why each one is apart."""
    rows = []
    for r in comp.apart:
        done = "–" if _missing(r["epochs_done"]) else str(int(r["epochs_done"]))
        planned = "–" if _missing(r["epochs_planned"]) else str(int(r["epochs_planned"]))
        reason = r["error"] or ("no trained epoch yet" if _missing(r["final_test_acc"]) else "")
        rows.append(
            [r["run_id"], r["status"], f"{done}/{planned}", _pct(r["final_test_acc"]), reason]
        )
    return rows


def machine_records(comp: Comparison) -> list[dict[str, Any]]:
    """Group rows for csv and json: percent for accuracies and dead fractions, fixed rounding."""
    out = []
    for r in comp.groups:
        rec: dict[str, Any] = {k: r[k] for k in comp.keys}
        for col, digits in GROUP_COLUMNS:
            source = col.removesuffix("_pct")
            value = r[source]
            if _missing(value):
                value = None
            elif col == "p_welch":
                value = float(f"{value:.4g}")
            elif col.endswith("_pct"):
                value = round(100 * value, digits)
            elif digits is not None:
                value = round(value, digits)
            rec[col] = value
        out.append(rec)
    return out


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(comp: Comparison) -> str:
    header = display_header(comp)
    right = {"n", "final acc %", "best acc %", "dead init %", "dead end %", "α first", "α last"}
    lines = [
        _md_row(header),
        "|" + "|".join("---:" if h in right or h == "s/epoch" else "---" for h in header) + "|",
        *(_md_row(r) for r in display_rows(comp)),
        "",
        f"_{LEGEND}._",
    ]
    rows = apart_rows(comp)
    if rows:
        lines += ["", "Runs not in the means (status not complete):", ""]
        lines += [_md_row(APART_HEADER), "|" + "---|" * len(APART_HEADER)]
        lines += [_md_row(r) for r in rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(c, c) for c in text)
    return (
        text.replace("±", r"$\pm$")
        .replace("–", "--")
        .replace("α", r"$\alpha$")
        .replace("<", r"$<$")
    )


def to_latex(comp: Comparison) -> str:
    """A booktabs tabular, ready for \\input{} (needs \\usepackage{booktabs})."""
    header = display_header(comp)
    align = "l" * len(comp.keys) + "r" * (len(header) - len(comp.keys))
    lines = [
        f"% relubench compare: {LEGEND}",
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(_latex(h) for h in header) + " \\\\",
        "\\midrule",
        *(" & ".join(_latex(c) for c in r) + " \\\\" for r in display_rows(comp)),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def to_csv(comp: Comparison) -> str:
    columns = [*comp.keys, *(c for c, _ in GROUP_COLUMNS)]
    return csv_text(columns, machine_records(comp))


def to_json(comp: Comparison) -> str:
    groups = machine_records(comp)
    for rec, g in zip(groups, comp.groups, strict=True):
        rec["runs"] = g["run_ids"]
    apart = [
        {
            "run_id": r["run_id"],
            "status": r["status"],
            "epochs_done": None if _missing(r["epochs_done"]) else int(r["epochs_done"]),
            "epochs": None if _missing(r["epochs_planned"]) else int(r["epochs_planned"]),
            "final_acc_pct": None
            if _missing(r["final_test_acc"])
            else round(100 * r["final_test_acc"], 2),
            "error": r["error"],
            "path": r["path"],
        }
        for r in comp.apart
    ]
    doc = {
        "by": comp.keys,
        "baseline": comp.baseline,
        "groups": groups,
        "apart": apart,
        "skipped": [{"path": p, "reason": why} for p, why in comp.skipped],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# Columns a narrow terminal leaves out first (keys, n, final acc and p always stay).
NARROW_DROP = ["95% CI", "best acc %", "s/epoch", "dead init %", "α last", "α first"]


def _fit(header: list[str], rows: list[list[str]], width: int) -> list[int]:
    """Indices of the columns that fit `width` unwrapped, dropping NARROW_DROP in order."""

    def need(cols: list[int]) -> int:  # the heavy-head box: 3 characters per column, plus 1
        widths = [
            max([len(r[i]) for r in rows] + [len(w) for w in header[i].split()]) for i in cols
        ]
        return sum(widths) + 3 * len(cols) + 1

    cols = list(range(len(header)))
    for name in NARROW_DROP:
        if need(cols) <= width:
            break
        cols = [i for i in cols if header[i] != name]
    return cols


def rich_tables(comp: Comparison, width: int = 200) -> list[Any]:
    """The terminal tables (rich.table.Table): groups, then the runs shown apart.

    Numbers are never wrapped or cut: a terminal narrower than the table gets fewer columns,
    and the caption says which were left out.
    """
    from rich.table import Table

    tables = []
    if comp.groups:
        header, rows = display_header(comp), display_rows(comp)
        cols = _fit(header, rows, width)
        dropped = [header[i] for i in range(len(header)) if i not in cols]
        caption = LEGEND
        if dropped:
            caption += (
                f". Left out for this terminal's width: {', '.join(dropped)} "
                "(widen it, or use --format markdown)"
            )
        by = ", ".join(comp.keys) or "nothing"
        t = Table(
            title=f"final test accuracy over seeds, grouped by {by}",
            caption=caption,
            caption_justify="left",
        )
        for i in cols:
            # A header wider than its numbers is stacked word by word, so the table stays as
            # narrow as its numbers; nothing is ever wrapped or cut.
            wide = len(header[i]) > max(len(r[i]) for r in rows)
            t.add_column(
                header[i].replace(" ", "\n") if wide else header[i],
                justify="left" if i < len(comp.keys) else "right",
                no_wrap=True,
            )
        for i, row in enumerate(rows):
            bold = i == 0 and len(rows) > 1  # the best group
            t.add_row(*(row[c] for c in cols), style="bold" if bold else None)
        tables.append(t)
    rows = apart_rows(comp)
    if rows:
        t = Table(title="runs not in the means (status not complete)", title_style="yellow")
        for h in APART_HEADER:
            t.add_column(h)
        for row in rows:
            t.add_row(*row)
        tables.append(t)
    return tables


def to_text(comp: Comparison, width: int = 200) -> str:
    """The terminal tables as plain text, for `--format table --out FILE`."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False)
    for t in rich_tables(comp, width):
        console.print(t)
    for note in comp.notes:
        console.print(note)
    return buf.getvalue()


RENDERERS = {
    "table": to_text,
    "markdown": to_markdown,
    "csv": to_csv,
    "latex": to_latex,
    "json": to_json,
}


def pick_format(fmt: str | None, out: str | Path | None) -> str:
    """The format asked for, else the one --out's suffix implies, else the terminal table."""
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise CompareError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    if out:
        return SUFFIX_FORMATS.get(Path(out).suffix.lower(), "table")
    return "table"


def render(comp: Comparison, fmt: str) -> str:
    return RENDERERS[fmt](comp)
