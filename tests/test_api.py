"""The Python API: what `import frbench` offers, the README's example as written, errors without CLI words, figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import frbench
from tests.conftest import REPO


def readme_python_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python API section has one example"
    return blocks[0]


def test_frbench_exports_its_api_each_with_a_docstring():
    assert set(frbench.__all__) >= {"run", "compare", "load_config", "Result", "Comparison", "ConfigError"}
    for name in frbench.__all__:
        if name != "__version__":
            assert getattr(frbench, name).__doc__, name


def test_import_frbench_loads_no_heavy_module():
    code = "import sys, frbench; print(sorted(m for m in ('pandas', 'deepface', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    (tmp_path / "tests").symlink_to(REPO / "tests")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_python_example(), "README.md (Python API)", "exec"), namespace)
    result = namespace["result"]
    assert (tmp_path / "runs" / "bob-api" / "manifest.json").is_file()
    assert (tmp_path / "det_gender.svg").is_file()
    printed = capsys.readouterr().out
    assert "fmr=1e-02" in printed and "zero_fmr" in printed
    assert result.per_group.equals(result._run.per_group)


def test_results_hold_the_runs_tables_and_its_plots_as_figures(tmp_path):
    result = frbench.run(REPO / "configs" / "example-bob-scores.yaml", out_dir=tmp_path / "run",
                         overrides={"dataset.root": str(REPO / "tests" / "data" / "score_files"), "stats.bootstrap": 0})
    figures = result.figures()
    assert {f"{kind}_{attr}" for kind in ("det", "rates", "scores", "cross_group_fmr") for attr in ("gender", "race")} \
        == set(figures)
    assert all(isinstance(f, Figure) for f in figures.values())
    for stem in figures:
        assert (tmp_path / "run" / "plots" / f"{stem}.png").is_file()
    overall = result.overall()
    assert list(overall["group"].unique()) == ["all"]
    assert result.eer.loc[0, "eer_ci_status"] == "not_computed"


def test_api_errors_name_the_override_not_a_command_line_option():
    with pytest.raises(frbench.ConfigError) as err:
        frbench.load_config(REPO / "configs" / "example-bob-scores.yaml", overrides=["model.detecter=opencv"])
    assert "--" not in str(err.value)
    assert "(override 'model.detecter=opencv'): unknown key 'model.detecter'" in str(err.value)
    with pytest.raises(frbench.ConfigError, match=r"^<config>: missing required key 'dataset'$"):
        frbench.load_config({"name": "x"})


def test_compare_returns_one_table_per_threshold(tmp_path):
    for name in ("one", "two"):
        frbench.run(REPO / "configs" / "example-bob-scores.yaml", out_dir=tmp_path / name,
                    overrides={"dataset.root": str(REPO / "tests" / "data" / "score_files"), "stats.bootstrap": 0})
    comparison = frbench.compare(tmp_path / "one", tmp_path / "two")
    assert list(comparison.tables) == ["fmr=1e-02"]
    table = comparison.tables["fmr=1e-02"]
    assert len(table) == 2 and np.allclose(table["fnmr"].astype(float), table["fnmr"].astype(float).iloc[0])
    assert "fmr=1e-02" in comparison.markdown()
