"""The package's imports point one way, data <- model <- train/eval/augment <- cli, and form no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "bridgegan_batch"
BASE = {"bridgegan_batch", "errors"}  # the package's __init__ (its version) and its error types
# What each part may import besides itself and BASE. Every import counts, function-level ones too.
ALLOWED = {
    "config": {"data.attributes"},  # the attribute vocabulary, which imports nothing of ours
    "ray_session": set(),
    "data": {"config"},
    "model": {"data", "config"},
    "train": {"model", "data", "config", "ray_session"},
    "eval": {"model", "data", "config"},
    "augment": {"model", "data", "config", "ray_session"},
    "cli": {"*"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every package module -> the package modules it imports, anywhere in its body."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridgegan_batch"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("bridgegan_batch")}
        graph[_module(path)] = found
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return "bridgegan_batch" if len(parts) == 1 else parts[1]


def test_imports_point_one_way():
    wrong = []
    for module, imported in _imports().items():
        part = _part(module)
        for target in imported:
            other, name = _part(target), target.removeprefix("bridgegan_batch.")
            allowed = ALLOWED.get(part, set())
            if other in (part, *BASE) or "*" in allowed or other in allowed or name in allowed:
                continue
            wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_cycle():
    graph = _imports()
    # A package's import runs its __init__: `from a.b import x` depends on a.b, not on the siblings of b.
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_importing_every_data_module_loads_nothing_above_it():
    code = ("import importlib, pkgutil, sys, bridgegan_batch.data as d\n"
            "for m in pkgutil.walk_packages(d.__path__, 'bridgegan_batch.data.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('bridgegan_batch.') and m.split('.')[1] in "
            "('model', 'train', 'eval', 'augment', 'cli')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert result.stdout.strip() == "[]"
