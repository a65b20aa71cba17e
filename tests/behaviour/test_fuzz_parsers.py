"""Property-based tests of every parser that reads a user's or a dataset's file.

Whatever the input, a parser returns its result or raises a FrbenchError whose message is one
line; any other exception (a traceback for the user) fails the test. Example counts are modest so
that the suite stays fast; hypothesis keeps the failing examples it finds in .hypothesis/.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from frbench.config import Config, apply_override, load_config
from frbench.datasets import load_csv_manifest, load_deepface_pairs
from frbench.datasets.bfw import load_bfw
from frbench.datasets.lfw import _read_pairs as read_lfw_pairs
from frbench.datasets.rfw import _read_pairs as read_rfw_pairs
from frbench.errors import FrbenchError
from frbench.workflows.grid import load_grid
from frbench.scoring.imported import import_scores
from frbench.workflows.manifest import load_recorded_run

T = TypeVar("T")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def result_or_frbench_error(parse: Callable[..., T], *args: Any) -> T | FrbenchError:
    """Run a parser: its result, or the FrbenchError it raised, checked to be one non-empty line per
    problem (a config with several problems lists each on a line of its own, all naming the file)."""
    try:
        return parse(*args)
    except FrbenchError as err:
        message = str(err)
        lines = message.split("\n")
        assert all(line.strip() for line in lines) and "\r" not in message, repr(message)
        # one source, named on each line (with the line number where the problem has one)
        source = re.sub(r":[0-9]+$", "", lines[0].partition(": ")[0].partition(" (")[0])
        assert all(line.startswith(source) for line in lines), repr(message)
        return err


# ---------------------------------------------------------------------------------------------
# configs: arbitrary text, arbitrary YAML mappings, a valid config with one part replaced

VALID = {
    "name": "fuzz",
    "dataset": {"name": "lfw", "format": "lfw", "folds": [1]},
    "pairs": {"protocol": "file"},
    "model": {"name": "Dlib", "detector": "dlib", "align": True, "distance_metric": "euclidean"},
    "thresholds": {"target_fmr": [0.01], "fixed": [-0.5]},
    "groups": ["gender"],
    "intersections": [["gender", "race"]],
    "stats": {"confidence_level": 0.95, "bootstrap": 0},
    "execution": {"executor": "serial", "workers": 1},
}
CONFIG_WORDS = sorted({k for section in VALID.values() if isinstance(section, dict) for k in section} | set(VALID))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["Dlib", "ArcFace", "skip", "csv", "exhaustive", "1e-3", "[1]", "{}", "~"]),
)
keys = st.one_of(st.sampled_from(CONFIG_WORDS), st.text(max_size=10))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
yaml_text = st.text(alphabet=string.printable + "äß€²\x00\ufeff", max_size=200)


@FUZZ
@given(text=yaml_text)
@example(text="[" * 3000 + "]" * 3000)
@example(text="a: &a [*a]\nmodel: {detector: *a}\n")
@example(text="!!python/object/apply:os.system ['echo pwned']\n")
@example(text="dataset: {name: lfw}\ndataset: {name: rfw}\n")
@example(text="? [a, b]\n: 1\n")
def test_config_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for load in (load_config, load_grid):
        result_or_frbench_error(load, path)


@FUZZ
@given(mapping=st.dictionaries(keys, values, max_size=6))
def test_config_mapping(tmp_path: Path, mapping: dict) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True))
    result_or_frbench_error(load_config, path)
    result_or_frbench_error(load_grid, path)


@FUZZ
@given(section=st.sampled_from(sorted(VALID)), key=keys, value=values, as_override=st.booleans())
def test_valid_config_with_one_value_replaced(tmp_path: Path, section: str, key: str, value: Any, as_override: bool) -> None:
    raw = json.loads(json.dumps(VALID))
    path = tmp_path / "c.yaml"
    if as_override:
        path.write_text(yaml.safe_dump(raw))
        item = f"{section}.{key}={yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()}"
        result = result_or_frbench_error(load_config, path, [item])
    else:
        if isinstance(raw[section], dict):
            raw[section][key] = value
        else:
            raw[section] = value
        path.write_text(yaml.safe_dump(raw, allow_unicode=True))
        result = result_or_frbench_error(load_config, path)
    assert isinstance(result, (Config, FrbenchError))


@FUZZ
@given(item=st.text(max_size=40))
def test_override_item(item: str) -> None:
    raw = json.loads(json.dumps(VALID))
    result_or_frbench_error(apply_override, raw, item)


# ---------------------------------------------------------------------------------------------
# pair lists: LFW/RFW pairs.txt, CSV pairs, imported scores, deepface master.csv, BFW's table

NAMES = ["Ann_Smith", "Bob_Jones", "Chen_Li", "../..", "Ann_Smith/..", ""]
ON_DISK = {f"{n}/{n}_{i:04d}.jpg" for n in NAMES[:3] for i in (1, 2, 3)}
tokens = st.one_of(st.sampled_from(NAMES), st.integers(-1, 12).map(str), st.sampled_from(["²", "٣", "0x1", "1.0"]),
                   st.text(alphabet=string.ascii_letters + string.digits + "_/.", max_size=6))
pair_lines = st.lists(st.lists(tokens, max_size=5).map("\t".join), max_size=12)


@FUZZ
@given(header=st.sampled_from(["", "1\t2", "2\t1", "1 1", "10\t300", "² 1", "-1\t1"]), lines=pair_lines,
       folds=st.sampled_from([None, [1], [2], [1, 2]]))
def test_lfw_pairs_lines(tmp_path: Path, header: str, lines: list[str], folds: list[int] | None) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join([header, *lines]) + "\n")
    result = result_or_frbench_error(read_lfw_pairs, path, ON_DISK, folds)
    if isinstance(result, pd.DataFrame):
        assert set(result["image_a"]) | set(result["image_b"]) <= ON_DISK


@FUZZ
@given(lines=pair_lines)
def test_rfw_pairs_lines(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "African_pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    on_disk = {f"African/{i}" for i in ON_DISK}
    result = result_or_frbench_error(read_rfw_pairs, path, "African", on_disk)
    if isinstance(result, pd.DataFrame):
        assert set(result["image_a"]) | set(result["image_b"]) <= on_disk


@st.composite
def csv_text(draw: st.DrawFn, columns: list[str], cells: st.SearchStrategy[str]) -> str:
    header = draw(st.lists(st.sampled_from(columns) | st.text(max_size=5), min_size=0, max_size=len(columns) + 1))
    if draw(st.booleans()):
        header = list(columns)
    rows = draw(st.lists(st.lists(cells, max_size=len(header) + 1), max_size=8))
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", newline]))


FILES = ["a/1.png", "a/2.png", "b/1.png"]
csv_cells = st.one_of(st.sampled_from([*FILES, "a\\1.png", "../x.png", "/etc/passwd", "true", "no", "1", "0", "",
                                       "nan", "inf", "-0.5", "1e308", '"a,b"', '"', "²", "٣", "\x00", '"x\ny"']),
                      st.integers(-5, 10**25).map(str), st.text(max_size=6))


def small_dataset(root: Path) -> Path:
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), np.zeros((4, 4, 3), np.uint8))
    (root / "images.csv").write_text("path,subject_id,gender\na/1.png,a,female\na/2.png,a,female\nb/1.png,b,male\n")
    return root


@FUZZ
@given(text=csv_text(["image_a", "image_b", "mated", "fold"], csv_cells))
def test_csv_pairs_file(tmp_path: Path, text: str) -> None:
    root = small_dataset(tmp_path)
    (root / "pairs.csv").write_text(text)
    result = result_or_frbench_error(load_csv_manifest, root / "images.csv", root / "pairs.csv")
    if not isinstance(result, FrbenchError):
        assert set(result.pairs["image_a"]) | set(result.pairs["image_b"]) <= set(FILES)


@FUZZ
@given(text=csv_text(["path", "subject_id", "image_id", "gender", "gender_source"], csv_cells))
def test_csv_images_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "images.csv").write_text(text)
    result = result_or_frbench_error(load_csv_manifest, tmp_path / "images.csv")
    if not isinstance(result, FrbenchError):
        assert all(p.startswith(str(tmp_path.resolve()) + "/") for p in result.images["path"])


@FUZZ
@given(text=csv_text(["image_a", "image_b", "score", "mated"], csv_cells),
       with_pairs=st.booleans(), direction=st.sampled_from(["similarity", "distance"]))
def test_imported_scores_file(tmp_path: Path, text: str, with_pairs: bool, direction: str) -> None:
    dataset = load_csv_manifest(small_dataset(tmp_path) / "images.csv")
    pairs = pd.DataFrame({"image_a": ["a/1.png", "a/1.png"], "image_b": ["a/2.png", "b/1.png"], "mated": [True, False]})
    (tmp_path / "scores.csv").write_bytes(text.encode("utf-8", "surrogatepass"))
    result = result_or_frbench_error(
        import_scores, tmp_path / "scores.csv", dataset.images, pairs if with_pairs else None, direction
    )
    if not isinstance(result, FrbenchError):
        scored = result.pairs[result.pairs["ok"]]
        assert np.isfinite(scored["score"]).all()


@FEW
@given(text=csv_text(["file_x", "file_y", "Decision"], csv_cells | st.sampled_from(["Yes", "No", "yes"])))
def test_deepface_master_csv(tmp_path: Path, text: str) -> None:
    root = small_dataset(tmp_path)
    (root / "master.csv").write_text(text)
    result = result_or_frbench_error(load_deepface_pairs, root)
    if not isinstance(result, FrbenchError):
        assert all(p.startswith(str(root.resolve()) + "/") for p in result.images["path"])


BFW_COLUMNS = ["fold", "p1", "p2", "label", "id1", "id2", "g1", "g2", "e1", "e2"]


@FEW
@given(text=csv_text(BFW_COLUMNS, csv_cells | st.sampled_from(["F", "M", "A", "B", "I", "W", "a", "b"])))
def test_bfw_table(tmp_path: Path, text: str) -> None:
    root = small_dataset(tmp_path / "bfw-cropped-aligned").parent
    (root / "table.csv").write_text(text)
    result_or_frbench_error(load_bfw, root, "table.csv")


# ---------------------------------------------------------------------------------------------
# a recorded run's manifest.json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(CONFIG_WORDS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=15,
)


@FUZZ
@given(manifest=st.one_of(json_values, st.fixed_dictionaries({"config": json_values}),
                          st.fixed_dictionaries({"config": st.just(VALID) | st.dictionaries(keys, values, max_size=5)})),
       overrides=st.lists(st.text(max_size=20), max_size=2))
@example(manifest={"config": {"name": "x", "dataset": {"name": "lfw"}}}, overrides=[])
def test_manifest_json(tmp_path: Path, manifest: Any, overrides: list[str]) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = result_or_frbench_error(load_recorded_run, path, overrides)
    if not isinstance(result, FrbenchError):
        recorded, config = result
        assert recorded == manifest and isinstance(config, Config)


@FUZZ
@given(text=st.text(max_size=120))
@example(text="[" * 100000)
@example(text='{"config": ' * 5000 + "{}" + "}" * 5000)
def test_manifest_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result_or_frbench_error(load_recorded_run, path)
