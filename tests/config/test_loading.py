"""Config validation: every mistake a user can make in a YAML file names the field and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from frbench.config import apply_override, load_config, validate_config
from frbench.errors import ConfigError

MINIMAL = "dataset: {name: lfw, folds: [1]}\n"


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL, "my-run.yaml"))
    assert cfg.name == "my-run"  # the file name, when the config has none
    assert cfg.model.name == "Dlib" and cfg.model.distance_metric == "cosine"
    assert cfg.thresholds.target_fmr == [1e-2, 1e-3]
    assert cfg.offline is False and cfg.dataset.folds == [1]


def test_typo_in_key_suggests_closest(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "model: {detecter: dlib}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "model.detecter" in str(err.value) and "did you mean 'detector'" in str(err.value)


def test_top_level_typo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'grups'.*did you mean 'groups'"):
        load_config(write(tmp_path, MINIMAL + "grups: [gender]\n"))


@pytest.mark.parametrize(
    "extra, field",
    [
        ("model: {align: maybe}\n", "model.align"),
        ("model: {distance_metric: manhattan}\n", "model.distance_metric"),
        ("thresholds: {target_fmr: [0]}\n", "thresholds.target_fmr"),
        ("thresholds: {target_fmr: [1.5]}\n", "thresholds.target_fmr"),
        ("intersections: [[gender]]\n", "intersections"),
        ("stats: {confidence_level: 95}\n", "stats.confidence_level"),
        ("execution: {workers: 0}\n", "execution.workers"),
    ],
)
def test_wrong_values_name_the_field(tmp_path: Path, extra: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(write(tmp_path, MINIMAL + extra))


def test_missing_dataset_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing required key 'dataset'"):
        load_config(write(tmp_path, "model: {name: Dlib}\n"))


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3: invalid YAML: .*mapping at line 2"):
        load_config(write(tmp_path, "name: x\ndataset: {name: lfw\n"))


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/frbench.yaml")


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, MINIMAL),
        ["thresholds.target_fmr=[1e-4, 1.0e-5]", "offline=true", "model.detector=opencv", "cache.dir=/tmp/x"],
    )
    assert cfg.thresholds.target_fmr == [1e-4, 1e-5]
    assert cfg.offline is True and cfg.model.detector == "opencv"
    assert str(cfg.cache.dir) == "/tmp/x"


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_override({}, "model.detector")


def test_override_into_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not a section"):
        apply_override({"name": "x"}, "name.sub=1")


def test_fingerprint_changes_with_content() -> None:
    a = validate_config({"name": "a", "dataset": {"name": "lfw"}})
    b = validate_config({"name": "a", "dataset": {"name": "lfw"}, "model": {"detector": "opencv"}})
    assert a.fingerprint() == validate_config({"name": "a", "dataset": {"name": "lfw"}}).fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_csv_dataset_needs_images_file() -> None:
    with pytest.raises(ConfigError, match="images"):
        validate_config({"name": "a", "dataset": {"name": "mine", "format": "csv"}})


def test_exhaustive_protocol_with_an_unsupported_metric_is_refused_at_load(tmp_path) -> None:
    # Refused before any embedding, naming both fields, not after embedding the dataset.
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ndataset: {name: lfw}\npairs: {protocol: exhaustive}\nmodel: {distance_metric: euclidean}\n")
    with pytest.raises(ConfigError, match=r"x\.yaml: pairs\.protocol exhaustive supports model\.distance_metric cosine or euclidean_l2, got 'euclidean'"):
        load_config(path)
