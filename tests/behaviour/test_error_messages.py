"""Error messages a new user meets: every problem listed, short lines named, editor line numbers,
and the config file named at the start of every config error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from frbench.cli import main
from frbench.config import load_config
from frbench.datasets import load_deepface_pairs
from frbench.errors import ConfigError, DatasetError
from frbench.io.csv_rows import read_csv_rows
from tests.datasets.test_deepface_pairs import make_deepface
from tests.builders import csv_config, make_csv_dataset


def test_every_config_problem_is_listed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "dataset: {name: lfw, formt: lfw}\nmodel: {name: Dlb, detecter: dlib}\nstats: {confidence_level: 2}\n"
    )
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    assert all(line.startswith(f"frbench: error: {path}: ") for line in lines)
    text = "\n".join(lines)
    for words in ("unknown key 'dataset.formt'; did you mean 'format'?", "'model.name': unknown recognition model",
                  "unknown key 'model.detecter'; did you mean 'detector'?", "'stats.confidence_level'"):
        assert words in text
    assert "more problem" not in text


def test_a_flood_of_problems_is_capped_and_counted(tmp_path: Path) -> None:
    from frbench.config import SHOWN_PROBLEMS

    path = tmp_path / "c.yaml"
    path.write_text("dataset: {name: lfw}\n" + "".join(f"key{i}: 1\n" for i in range(SHOWN_PROBLEMS + 5)))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert len(lines) == SHOWN_PROBLEMS + 1 and lines[-1] == f"{path}: and 5 more problem(s)"


def test_an_unknown_group_names_the_config_file_first(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache", groups=["gendr"])))
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"frbench: error: {path}: groups: 'gendr' is not an attribute of dataset 'synthetic' (it has: gender)"
    )


@pytest.mark.parametrize("extra, override, words", [
    ({}, "novalue", "--set 'novalue': expected dotted.key=value"),
    ({}, "groups.x=1", "--set 'groups.x=1': 'groups' is not a section"),
    # found once the dataset is read, while running
    ({"pairs": {"protocol": "generated", "match_on": ["race"]}}, "pairs.n_nonmated=3",
     "pairs.match_on: ['race'] not attributes of dataset 'synthetic'"),
])
def test_override_and_run_time_config_errors_name_the_file(tmp_path: Path, extra: dict, override: str, words: str) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache", **extra)))
    result = CliRunner().invoke(main, ["run", str(path), "--set", override, "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"frbench: error: {path}: ") and words in result.stderr


def test_a_pairs_line_with_too_few_fields_says_so(tmp_path: Path) -> None:
    root = make_deepface(tmp_path / "d", master="file_x,file_y,Decision\nimg1.jpg,img2.jpg,Yes\nimg3.jpg,img4.jpg\n")
    with pytest.raises(DatasetError) as err:
        load_deepface_pairs(root)
    assert str(err.value) == f"{root / 'master.csv'}:3: 2 fields, the header has 3 (file_x, file_y, Decision)"


def test_an_empty_last_field_is_still_allowed(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,\n3,4,5\n")
    assert read_csv_rows(path).loc[2].tolist() == ["1", "2", ""]


@pytest.mark.parametrize("text, line", [
    ('a,b,c\n"x,y,z\n', 2),
    ('a,b,c\n1,2,3\n\n\n1,"2\n3",4\n"x,y,z\n', 7),  # blank lines and a quoted line break before it
])
def test_an_unclosed_quote_names_the_line_an_editor_shows(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        read_csv_rows(path)
    assert str(err.value) == f"{path}:{line}: a quoted field opened on this line is never closed"
