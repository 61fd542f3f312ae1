"""The layout shows the architecture: stages import only downwards, without loops, in modules and
functions of a readable size (docs/architecture.md draws the same graph)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "multimodal"

# Lowest first; a module may import its own layer and those below it, never one above.
LAYERS = [
    {"multimodal.errors", "multimodal.io", "multimodal.config", "multimodal.metrics", "multimodal.generations"},
    {"multimodal.catalog"},
    {"multimodal.models"},
    {"multimodal.store"},
    {"multimodal.search"},
    {"multimodal.evaluation"},
    {"multimodal.build"},
    {"multimodal.cli", "multimodal.api", "multimodal.app", "multimodal.__main__", "multimodal"},
]
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, depth = len(LAYERS) - 1, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and name.count(".") > depth:
                best, depth = index, name.count(".")
    return best


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names of the project modules a file imports, with their line."""
    module = _module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("multimodal"):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                                  or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("multimodal")]
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_imports_a_stage_above_its_own():
    upward = []
    for path in _sources():
        module = _module_name(path)
        for target, line in _imports(path):
            if _layer(target) > _layer(module):
                upward.append(f"{module}:{line} imports {target}")
    assert upward == []


def test_the_import_graph_has_no_loops():
    graph = {_module_name(path): {t for t, _ in _imports(path)} for path in _sources()}
    graph = {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}
    # A package's __init__ importing its own modules is how packages export; not a loop.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    seen: dict[str, int] = {}
    loops = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                loops.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in seen:
                visit(nxt, stack + [nxt])
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name, [name])
    assert loops == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_modules_and_functions_stay_readable(path: Path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name} has {text.count(chr(10))} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
