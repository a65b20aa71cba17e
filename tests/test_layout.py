"""The package's shape: no import cycles, no import-time matplotlib backend switch, and a module
table in docs/ARCHITECTURE.md that is the tree (every module listed, nothing listed that is not there)."""

from __future__ import annotations

import ast
import re
import sys
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


def import_lines(name: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every frbench module ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("frbench"):
                found.extend((node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known else base) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name.startswith("frbench"))
    # a module importing its own package's __init__ (or a parent) is not a cycle through it
    return sorted((line, m) for line, m in found if m in known and m != name and not name.startswith(m + "."))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every frbench module ``name`` imports, at module level or inside functions."""
    return {m for _, m in import_lines(name, path, known)}


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


# The layers, top to bottom (docs/ARCHITECTURE.md, "Layers"). A module may import from its own
# package and from any layer below its own; never from a layer above, nor from a sibling package
# of its own layer. ``frbench`` is the root package (its lazy re-exports of the API).
LAYERS: list[tuple[str, ...]] = [
    ("frbench",),
    ("cli", "api"),
    ("workflows",),
    ("studies",),
    ("report",),
    ("measure",),
    ("annotate",),
    ("label",),
    ("datasets",),
    ("search",),
    ("scoring",),
    ("pairs",),
    ("embed",),
    ("metrics",),
    ("config",),
    ("points",),
    ("groups",),
    ("tables",),
    ("io",),
    ("errors",),
]
# (importing module, imported module) -> why the upward import stays for now. At most two.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def unit_of(module: str) -> str:
    """The package (or flat module) of ``frbench`` that ``module`` belongs to: its layer's unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(mods: dict[str, Path]) -> list[str]:
    """Each import from a lower layer to a higher one, or between sibling packages of one layer,
    as ``module:line imports target (layer a above layer b)``."""
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    found = []
    for name, path in mods.items():
        for line, target in import_lines(name, path, set(mods)):
            mine, theirs = unit_of(name), unit_of(target)
            if mine == theirs or (name, target) in ALLOWED_UPWARD:
                continue
            if rank[theirs] <= rank[mine]:
                where = f"{theirs} is a sibling of {mine}" if rank[theirs] == rank[mine] else f"{theirs} is layered above {mine}"
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{shown}:{line}: {name} imports {target} ({where})")
    return found


def test_every_package_has_a_layer() -> None:
    units = {unit_of(name) for name in modules()}
    declared = [unit for layer in LAYERS for unit in layer]
    assert len(declared) == len(set(declared)), "a package is in two layers"
    assert sorted(units - set(declared)) == [], "packages without a layer: add them to LAYERS"
    assert sorted(set(declared) - units) == [], "LAYERS names packages that do not exist"


def test_packages_import_only_downward() -> None:
    assert upward_imports(modules()) == []


def test_the_allowed_upward_imports_are_few_and_still_there() -> None:
    mods = modules()
    assert len(ALLOWED_UPWARD) <= 2
    for importer, target in ALLOWED_UPWARD:
        assert target in imports_of(importer, mods[importer], set(mods)), f"{importer} no longer imports {target}: drop the exception"


def test_an_upward_import_is_found_with_its_module_and_line(tmp_path: Path) -> None:
    # io is the bottom layer but one; an import of the report package from it must be refused
    mods = modules()
    planted = tmp_path / "planted.py"
    planted.write_text('"""x"""\n\nfrom frbench.errors import DatasetError\nfrom frbench.report.plots import det_figure\n')
    found = upward_imports({**mods, "frbench.io.planted": planted})
    assert len(found) == 1 and "frbench.io.planted imports frbench.report.plots" in found[0]
    assert found[0].split(": ", 1)[0].endswith("planted.py:4")


def test_the_bottom_layer_imports_only_the_standard_library_pandas_and_numpy() -> None:
    allowed = {"numpy", "pandas", "frbench", "__future__"} | set(sys.stdlib_module_names)
    others = []
    for name, path in modules().items():
        if unit_of(name) != "io":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            roots = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            if isinstance(node, ast.ImportFrom) and node.module == "matplotlib.figure":
                continue  # a type hint under TYPE_CHECKING (io/figures.py): a figure is passed in
            others += [f"{name}:{node.lineno} {r}" for r in roots if r.split(".")[0] not in allowed]
    assert others == []


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
