"""Hostile files and a hostile network: nothing executes, nothing outside the dataset is read,
nothing goes on the network, and no image data ends up in a report or log."""

from __future__ import annotations

import ast
import importlib.util
import re
import socket
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from frbench.cli.app import main
from frbench.config import _ConfigLoader, load_config, validate_config
from frbench.datasets import load_dataset, load_deepface_pairs
from frbench.datasets.bfw import load_bfw
from frbench.datasets.paths import dataset_path
from frbench.errors import ConfigError, DatasetError
from frbench.scoring.imported import import_scores
from tests.builders import csv_config, make_csv_dataset
from tests.conftest import REPO

SRC = REPO / "src" / "frbench"
needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)


# ---------------------------------------------------------------------------------------------
# nothing executes: YAML is plain data, nothing is unpickled


@pytest.mark.parametrize(
    "payload",
    ["!!python/object/apply:os.system ['touch {marker}']",
     "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
     "!!python/name:os.system"],
)
def test_yaml_tags_that_run_code_are_refused(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "pwned"
    text = payload.format(marker=marker)
    config = tmp_path / "c.yaml"
    config.write_text(f"dataset: {{name: lfw}}\ndescription: {text}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml line 2: invalid YAML: could not determine a constructor"):
        load_config(config)
    config.write_text("dataset: {name: lfw}\n")
    # a --set value is YAML too: the tag is not run, the value stays the text as typed
    assert load_config(config, [f"description={text}"]).description == text
    assert not marker.exists()


def test_the_config_loader_is_yaml_safe_loader() -> None:
    assert issubclass(_ConfigLoader, yaml.SafeLoader)
    assert _ConfigLoader.yaml_constructors.keys() == yaml.SafeLoader.yaml_constructors.keys()
    assert not _ConfigLoader.yaml_multi_constructors  # no python/* tag families


def python_sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """(dotted name of the called function, call node) for every call whose callee is a name chain."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, f = [], node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name):
                parts.append(f.id)
                found.append((".".join(reversed(parts)), node))
    return found


def test_no_source_file_can_unpickle_or_evaluate() -> None:
    """Read the code itself: no pickle, marshal or shelve module, no eval/exec, every np.load with
    allow_pickle=False, every yaml.load given a SafeLoader subclass, no yaml.unsafe_load/full_load."""
    assert len(python_sources()) > 40
    problems = []
    for path in python_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(SRC)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                bad = [n for n in names if n.split(".")[0] in {"pickle", "cPickle", "dill", "marshal", "shelve", "joblib"}]
                problems += [f"{rel}:{node.lineno}: imports {n}" for n in bad]
        for name, node in calls(tree):
            where = f"{rel}:{node.lineno}: {name}"
            keywords = {k.arg: k.value for k in node.keywords}
            if name in {"eval", "exec", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "pd.read_pickle",
                        "pandas.read_pickle", "torch.load"}:
                problems.append(where)
            elif name in {"np.load", "numpy.load"}:
                flag = keywords.get("allow_pickle")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    problems.append(f"{where} without allow_pickle=False")
            elif name == "yaml.load":
                loader = keywords.get("Loader")
                if not (isinstance(loader, ast.Name) and loader.id == "_ConfigLoader"):
                    problems.append(f"{where} with a loader other than config._ConfigLoader")
    assert problems == []


# ---------------------------------------------------------------------------------------------
# nothing outside the dataset is read


@pytest.mark.parametrize("written", ["../../etc/passwd", "/etc/passwd", "a/../../outside.jpg", "a/\0.jpg", ""])
def test_dataset_path_refuses_what_leaves_the_root(tmp_path: Path, written: str) -> None:
    with pytest.raises(ValueError):
        dataset_path(tmp_path, written)


def test_dataset_path_keeps_symlinks_and_inner_dot_dots(tmp_path: Path) -> None:
    assert dataset_path(tmp_path, "a/../b/c.jpg") == str(tmp_path / "b" / "c.jpg")
    assert dataset_path(tmp_path / "x" / "..", "c.jpg") == str(tmp_path / "c.jpg")
    assert dataset_path(tmp_path, "../y.jpg", allow_outside=True) == str(tmp_path.parent / "y.jpg")


def tiny(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    return path


def test_deepface_pairs_naming_a_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    tiny(root / "a.jpg")
    tiny(tmp_path / "secret.jpg")  # exists, so only the containment check stops it
    (root / "master.csv").write_text("file_x,file_y,Decision\na.jpg,../secret.jpg,No\n")
    with pytest.raises(DatasetError, match=r"master\.csv:2: path '\.\./secret\.jpg' leads outside the dataset root"):
        load_deepface_pairs(root)
    allowed = load_deepface_pairs(root, allow_outside_root=True)
    assert str(tmp_path / "secret.jpg") in set(allowed.images["path"])


def test_bfw_pair_naming_a_file_outside_the_image_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "bfw"
    tiny(root / "bfw-cropped-aligned" / "asian_females" / "n1" / "1.jpg")
    tiny(tmp_path / "etc" / "passwd.jpg")
    header = "fold,p1,p2,label,id1,id2,g1,g2,e1,e2\n"
    (root / "t.csv").write_text(header + "1,asian_females/n1/1.jpg,../../etc/passwd.jpg,0,n1,n2,F,F,A,A\n")
    with pytest.raises(DatasetError, match=r"t\.csv:2: path '\.\./\.\./etc/passwd\.jpg' leads outside the dataset root"):
        load_bfw(root, table="t.csv")
    config = validate_config({"name": "b", "dataset": {"name": "bfw", "format": "bfw", "root": str(root),
                                                         "pairs": "t.csv", "allow_outside_root": True}})
    assert str(tmp_path / "etc" / "passwd.jpg") in set(load_dataset(config.dataset, tmp_path).images["path"])


def test_imported_scores_naming_a_file_outside_are_counted_never_opened(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    images = load_dataset(validate_config(csv_config(root, tmp_path / "c")).dataset, tmp_path).images
    (tmp_path / "scores.csv").write_text("image_a,image_b,score\n../../etc/passwd,s0/img0.png,0.9\n")
    imported = import_scores(tmp_path / "scores.csv", images, None, "similarity")
    assert imported.unknown_images.count == 1 and len(imported.pairs) == 0
    assert "../../etc/passwd" not in set(images["image_id"])


# ---------------------------------------------------------------------------------------------
# nothing goes on the network, and nothing but identifiers goes into the outputs


class NoNetwork(socket.socket):
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("frbench opened a socket")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"frbench tried the network: {args[:2]}")

    monkeypatch.setattr(socket, "socket", NoNetwork)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(AssertionError):
        socket.create_connection(("example.org", 80))  # the patch is in force


@needs_dlib
@pytest.mark.parametrize("offline", [True, False])
def test_a_full_run_opens_no_socket(tmp_path: Path, no_network: None, offline: bool) -> None:
    """Dlib's weights ship with face_recognition_models, so even with downloads allowed none happens."""
    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=2)
    cfg = csv_config(root, tmp_path / "cache", groups=["gender", "skin_tone"], annotate={"skin_tone": "ita"},
                     offline=offline, stats={"bootstrap": 20})
    cfg["execution"] = {"executor": "serial"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "manifest.json").is_file()
    compared = CliRunner().invoke(main, ["compare", str(tmp_path / "run"), str(tmp_path / "run"), "-o", str(tmp_path / "cmp")])
    assert compared.exit_code == 0, compared.output


BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{100,}={0,2}")


@needs_dlib
def test_reports_and_logs_hold_identifiers_not_image_data(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=2)
    cfg = csv_config(root, tmp_path / "cache", groups=["gender", "skin_tone"], annotate={"skin_tone": "ita"})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    texts = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and p.suffix != ".png"]
    assert {p.name for p in texts} >= {"report.md", "manifest.json", "scores.csv", "failures.csv", "skin_tone_ita.csv"}
    image_bytes = [(root / f).read_bytes() for f in pd.read_csv(root / "images.csv")["file"]]
    for p in texts:
        data = p.read_bytes()
        data.decode("utf-8")  # text, not binary
        assert b"\x00" not in data and b"data:image" not in data, p.name
        assert not BASE64_RUN.search(data), (p.name, BASE64_RUN.search(data))
        assert not any(len(img) > 64 and img[:64] in data for img in image_bytes), p.name
    # plots are the only binary files, and live under plots/
    assert all(p.parent.name == "plots" for p in (tmp_path / "run").rglob("*.png"))
    log = result.output.encode()
    assert b"\x00" not in log and not BASE64_RUN.search(log)
