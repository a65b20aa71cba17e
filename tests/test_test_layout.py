"""The tests' own layout mirrors the package (tests/README.md): the tests of src/frbench/<pkg>/<module>.py
are found at tests/<pkg>/test_<module>.py, cross-cutting behaviour under tests/behaviour/."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

# The one folder whose tests follow a behaviour across packages rather than one module.
CROSS_CUTTING = "behaviour"
# Tests of the repository's shape rather than of one module, kept beside the helpers.
ROOT_EXTRAS = {"test_layout.py", "test_test_layout.py"}


def _modules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}


def _tests_a_module(name: str, modules: set[str]) -> bool:
    """test_<module>.py, or test_<module>_<aspect>.py where one module has several test files."""
    stem = name.removeprefix("test_").removesuffix(".py")
    return any(stem == m or stem.startswith(m + "_") for m in modules)


def misplaced(tests: Path, package: Path) -> list[str]:
    """Each test file of ``tests`` outside the mirrored layout of ``package``, with the reason."""
    subpackages = {p.parent.name for p in package.glob("*/__init__.py")}
    found = sorted({*tests.rglob("test_*.py"), *tests.rglob("*_test.py")})
    problems = []
    for path in found:
        rel = path.relative_to(tests)
        if len(rel.parts) == 1:
            if rel.name not in ROOT_EXTRAS and not _tests_a_module(rel.name, _modules(package)):
                problems.append(f"{rel}: at tests/ only the top-level modules' tests (test_config.py, ...)")
            continue
        folder = rel.parts[0]
        if len(rel.parts) > 2:
            problems.append(f"{rel}: one level only, tests/<package>/test_<module>.py")
        elif folder != CROSS_CUTTING and folder not in subpackages:
            problems.append(f"{rel}: {folder}/ is not a package of frbench (nor tests/{CROSS_CUTTING}/)")
        elif folder != CROSS_CUTTING and not _tests_a_module(rel.name, _modules(package / folder)):
            problems.append(f"{rel}: no module frbench.{folder}.{rel.name.removeprefix('test_').removesuffix('.py')}")
        if not (tests / folder / "__init__.py").is_file():
            # without it two test_x.py in different folders clash under pytest's rootdir imports
            problems.append(f"{rel}: tests/{folder}/ lacks __init__.py")
    return problems


def test_every_test_file_sits_where_the_module_it_tests_would_put_it() -> None:
    assert misplaced(REPO / "tests", REPO / "src" / "frbench") == []


def test_a_test_file_outside_the_mirror_is_named_with_its_reason(tmp_path: Path) -> None:
    package = tmp_path / "src" / "frbench"
    (package / "metrics").mkdir(parents=True)
    for name in ["__init__.py", "config.py", "metrics/__init__.py", "metrics/rates.py"]:
        (package / name).write_text("")
    tests = tmp_path / "tests"
    for name in ["__init__.py", "test_config.py", "test_layout.py", "metrics/__init__.py", "metrics/test_rates.py",
                 "metrics/test_rates_ties.py", "behaviour/__init__.py", "behaviour/test_batch_safety.py",
                 # misplaced, one per rule
                 "test_fairness.py", "metric/__init__.py", "metric/test_rates.py", "metrics/test_eer.py",
                 "metrics/deep/test_rates.py", "behaviour/test_nothing_lost.py"]:
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text("")
    (tests / "behaviour" / "__init__.py").unlink()

    problems = misplaced(tests, package)

    assert [p.split(":")[0] for p in problems] == [
        "behaviour/test_batch_safety.py",
        "behaviour/test_nothing_lost.py",
        "metric/test_rates.py",
        "metrics/deep/test_rates.py",
        "metrics/test_eer.py",
        "test_fairness.py",
    ]
    assert "lacks __init__.py" in problems[0] and "metric/ is not a package" in problems[2]
    assert "one level only" in problems[3] and "no module frbench.metrics.eer" in problems[4]
