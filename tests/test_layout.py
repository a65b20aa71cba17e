"""The package's shape: no import cycles, no import-time matplotlib backend switch, and a module
table in docs/ARCHITECTURE.md that is the tree (every module listed, nothing listed that is not there)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "frbench"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every frbench module ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("frbench"):
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("frbench"))
    # a module importing its own package's __init__ (or a parent) is not a cycle through it
    return {m for m in found if m in known and m != name and not name.startswith(m + ".")}


def test_no_import_cycles() -> None:
    mods = modules()
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_module_switches_the_matplotlib_backend_at_import() -> None:
    offenders = []
    for name, path in modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and ast.unparse(node.value.func).endswith("matplotlib.use"):
                offenders.append(name)
    assert offenders == []


def test_architecture_module_table_is_the_tree() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for cell in re.findall(r"^\| `([^`]+)`", section, flags=re.M):
        listed.add(cell)
    def owns_code(path: Path) -> bool:  # a package __init__ with only a docstring or re-exports owns nothing
        body = ast.parse(path.read_text()).body
        return path.name != "__init__.py" or any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in body)

    on_disk = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if path.name != "__main__.py" and owns_code(path)
    }
    assert sorted(on_disk - listed) == [], "modules missing from docs/ARCHITECTURE.md's table"
    assert sorted(listed - on_disk) == [], "docs/ARCHITECTURE.md lists modules that do not exist"


def test_a_newcomer_finds_fnmr_by_its_file_name() -> None:
    source = (PACKAGE / "metrics" / "rates.py").read_text()
    assert "def fnmr(" in source and "FNMR(t) = #{mated scores < t} / m" in source
