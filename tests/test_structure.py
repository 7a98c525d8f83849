"""scripts/check_structure.py, the CI check of sizes and import circles, has teeth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location(
    "check_structure", ROOT / "scripts/check_structure.py"
)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def _tree(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(tmp_path.rglob("*.py"))


def test_it_finds_a_circle_through_a_function_level_or_type_checking_import(tmp_path):
    files = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import x\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg import c\n",
            "pkg/c.py": "def f():\n    from pkg.a import y\n",
            "pkg/d.py": "import pkg.a\n",
        },
    )
    assert check.circles(files, tmp_path) == ["import circle: pkg.a <-> pkg.b <-> pkg.c"]
    assert check.circles([f for f in files if f.name != "c.py"], tmp_path) == []


def test_it_finds_long_modules_and_functions(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    files = _tree(tmp_path, {"m.py": f"def long():\n{body}\n" + "\n" * 400})
    assert check.long_modules(files, tmp_path) == ["m.py: 471 lines, over 450"]
    assert check.long_functions(files, tmp_path) == ["m.py:1 long: 71 lines"]


def test_the_package_passes_today():
    files = sorted((ROOT / "relubench").rglob("*.py"))
    assert check.long_modules(files) == []
    assert check.long_functions(files) == []
    assert check.circles(files) == []
