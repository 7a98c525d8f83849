"""What a plain `pip install .` gives: every package, the embedded data and the recipes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from relubench.cli import app
from relubench.registry.recipes import locate, recipe_dir, recipe_names
from relubench.runner.plan import expand

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_pyproject_lists_every_package_of_the_tree():
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "relubench").rglob("__init__.py")
    }
    assert set(listed) == on_disk | {"relubench.recipes"}


def test_every_file_of_configs_is_a_recipe_by_name():
    names = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert recipe_names() == names and recipe_dir() is not None
    for name in names:  # a name, name.yaml, and the README's configs/NAME.yaml all find it
        for given in (name, f"{name}.yaml", f"configs/{name}.yaml"):
            assert locate(given).resolve() == (ROOT / "configs" / f"{name}.yaml").resolve()


def test_recipes_command_lists_each_with_its_kind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the checkout: the recipes come from the package
    r = runner.invoke(app, ["recipes"], terminal_width=200)
    assert r.exit_code == 0, r.output
    for name in recipe_names():
        assert name in r.output
    assert "all-acts" in r.output and "sweep" in r.output and "run" in r.output


def test_a_recipe_name_works_for_train_and_sweep_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = expand("all-acts")  # its base is a recipe too, found beside it
    assert plan.count == 21 and {c.dataset for c in plan} == {"mnist-mini"}  # 18 + the control
    r = runner.invoke(app, ["sweep", "all-acts", "--dry-run"], terminal_width=200)
    assert r.exit_code == 0 and "21 runs" in r.output, r.output
    r = runner.invoke(app, ["train", "--config", "no-such-recipe"])
    assert r.exit_code == 2
    assert "no recipe is named no-such-recipe (relubench recipes lists them)" in r.output


@pytest.mark.slow  # builds the wheel (no network: the build uses this environment)
def test_the_wheel_holds_the_recipes_and_the_embedded_data(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("relubench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for recipe in (ROOT / "configs").glob("*.yaml"):
        assert f"relubench/recipes/{recipe.name}" in names
    assert "relubench/assets/mnist-mini/SHA256SUMS" in names
    assert "relubench/cli/__init__.py" in names and "relubench/registry/studies/spec.py" in names
