"""Recipes: the YAML files of the checkout's configs/, shipped inside the package.

A recipe is a run config (`relubench train --config NAME`) or a sweep (`relubench sweep
NAME`: a file with `grid`, `runs` or a recipe as `base`). An installed package holds them in
relubench/recipes/ (pyproject.toml maps configs/ there); a checkout reads configs/ itself, so
the two never disagree. Where a path is asked for, a recipe's name works too. Torch-free.
"""

from __future__ import annotations

import re
from pathlib import Path

from relubench.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent.parent


def recipe_dir() -> Path | None:
    """Where the recipes are: inside the installed package, else the checkout's configs/."""
    for folder in (_PACKAGE / "recipes", _PACKAGE.parent / "configs"):
        if folder.is_dir():
            return folder
    return None


def recipe_names() -> list[str]:
    folder = recipe_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder else []


def recipe_path(name: str) -> Path | None:
    """The file of the recipe called `name` (with or without .yaml), or None."""
    folder = recipe_dir()
    stem = name[:-5] if name.endswith(".yaml") else name
    if folder is None or stem not in recipe_names():
        return None
    return folder / f"{stem}.yaml"


def locate(given: str | Path, *near: Path) -> Path:
    """The YAML file a user means by `given`: a path as it is (relative to the current folder,
    or to one of the folders `near`, such as a sweep file's own), else the recipe of that
    name; `configs/NAME.yaml` of the README finds the recipe after a plain install too.
    ConfigError naming both when neither exists."""
    path = Path(given)
    for candidate in (*(folder / path for folder in near), path):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    named = len(path.parts) == 1 or (len(path.parts) == 2 and path.parts[0] == "configs")
    found = recipe_path(path.name) if named else None
    if found is not None:
        return found
    hint = f", and no recipe is named {path.stem} (relubench recipes lists them)" if named else ""
    raise ConfigError(f"config file {given} not found{hint}")


def describe(path: Path) -> tuple[str, str]:
    """A recipe's kind (run or sweep) and the first sentence of its leading comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return "?", "unreadable"
    head = []
    for ln in lines:
        if not ln.startswith("#") or ln.startswith("#  "):  # the end, or a command line
            break
        head.append(ln.lstrip("# ").strip())
    comment = re.split(r"(?<!\bal)\.\s", " ".join(head))[0].rstrip(".")  # not at "et al."
    keys = {ln.split(":", 1)[0] for ln in lines if ln and not ln[0].isspace() and ":" in ln}
    kind = "sweep" if keys & {"grid", "runs", "base"} else "run"
    return kind, comment
