"""The structure rules CI holds the package to, checked rather than remembered.

    python scripts/check_structure.py          # exit 1 and one line per breach

- No module of relubench/ over 450 lines (one concept per file).
- No function over 60 lines, except those named in LONG_FUNCTIONS with the reason.
- No import circle between relubench's modules: every import counts, those inside functions
  and under TYPE_CHECKING too (import-linter's contracts in pyproject.toml keep the layers;
  this keeps the modules inside a layer acyclic).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "relubench"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_FUNCTIONS: dict[str, str] = {  # "module:function" -> why it stays one function
    "relubench.config.schema:validate": "one check per key in the dataclass's order: split, "
    "the rules of one key would scatter",
    "relubench.runfolder.write:summarize": "summary.json's fields as one literal: the "
    "contract reads top to bottom",
    "relubench.runner.train:_run": "a run's story in order (resume, epochs, each end state); "
    "its steps are already functions",
    "relubench.runner.diagnose:replay": "replays the last epoch step by step as the training "
    "loop does, to name the step and layer that blew up; it mirrors that loop line for line",
    "relubench.testing:make_run": "a fake run folder for tests, every file in the contract's "
    "order, from one set of arguments",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def long_modules(files: list[Path], root: Path = ROOT) -> list[str]:
    return [
        f"{f.relative_to(root)}: {n} lines, over {MAX_MODULE_LINES}"
        for f in files
        if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]


def long_functions(files: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                key = f"{module_name(f, root)}:{node.name}"
                if n > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                    found.append(f"{f.relative_to(root)}:{node.lineno} {node.name}: {n} lines")
    return found


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The package's modules `path` imports, anywhere in it (a package import counts as its
    __init__; `from pkg import name` as the module pkg.name when that is a module)."""
    me = module_name(path, root)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = me.split(".")[: len(me.split(".")) - node.level + (path.stem == "__init__")]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules and n != me}
    return found


def circles(files: list[Path], root: Path = ROOT) -> list[str]:
    """Strongly connected groups of more than one module (Tarjan), each a circle."""
    modules = {module_name(f, root): f for f in files}
    graph = {m: imports_of(f, set(modules), root) for m, f in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for m in sorted(graph):
        if m not in index:
            visit(m)
    return [f"import circle: {' <-> '.join(g)}" for g in groups]


def main() -> int:
    files = sorted(PACKAGE.rglob("*.py"))
    problems = long_modules(files) + long_functions(files) + circles(files)
    for p in problems:
        print(p)
    n = len(files)
    print(f"{n} modules: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
