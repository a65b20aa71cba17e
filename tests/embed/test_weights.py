"""Weight registry, provisioning from face_recognition_models, statuses and offline checks."""

from __future__ import annotations

import importlib.util
import inspect
import os
from pathlib import Path

import pytest
from deepface.commons import weight_utils
from deepface.modules import modeling

from frbench.cli.models import weight_statuses
from frbench.embed import model_registry, weights
from frbench.embed.model_registry import WeightFile
from frbench.errors import ConfigError, FrbenchError, WeightsMissingError

PACKAGED = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")
FRM_VERSION = "0.3.0"


def packaged_source() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        pytest.skip("face_recognition_models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def test_registry_names_are_deepfaces() -> None:
    entries = model_registry.registry()
    recognition = {name for kind, name in entries if kind == model_registry.RECOGNITION}
    detectors = {name for kind, name in entries if kind == model_registry.DETECTOR}
    assert recognition == set(modeling.AVAILABLE_MODELS["facial_recognition"])
    assert detectors == set(modeling.AVAILABLE_MODELS["face_detector"]) | {"skip"}
    assert {"VGG-Face", "Facenet", "Facenet512", "OpenFace", "DeepFace", "DeepID", "ArcFace", "SFace",
            "GhostFaceNet", "Buffalo_L", "Dlib"} <= recognition


def _probe(entry: model_registry.ModelRequirements, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> set[WeightFile]:
    """Build the model with downloads intercepted; returns the files deepface (or retina-face) asked for."""
    asked: set[WeightFile] = set()

    def deepface_download(file_name: str, source_url: str | list[str], compress_type: str | None = None) -> str:
        urls = (source_url,) if isinstance(source_url, str) else tuple(source_url)
        asked.add(WeightFile(file_name, urls, compress_type))
        return str(tmp_path / "absent" / file_name)

    def retinaface_download(file_name: str, source_urls: list[str]) -> str:
        asked.add(WeightFile(file_name, tuple(source_urls)))
        return str(tmp_path / "absent" / file_name)

    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", deepface_download)
    if importlib.util.find_spec("retinaface") is not None:
        from retinaface.commons import weight_utils as retinaface_weight_utils

        monkeypatch.setattr(retinaface_weight_utils, "download_weights_if_necessary", retinaface_download)
    task = "facial_recognition" if entry.kind == model_registry.RECOGNITION else "face_detector"
    try:
        model = modeling.get_model_class(task=task, model_name=entry.name)()
        # CenterFaceClient builds its network on every detection rather than in __init__
        if entry.name == "centerface":
            model.build_model()
    except Exception:
        pass  # loading the intercepted (absent) file fails; what was asked for is recorded
    return asked


def test_registry_matches_the_files_deepface_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each installed model, built with downloads intercepted, asks for exactly the registry's files."""
    checked = []
    for entry in model_registry.registry().values():
        if entry.name == "skip" or model_registry.missing_packages(entry):
            continue
        assert _probe(entry, monkeypatch, tmp_path) == set(entry.files), entry.name
        checked.append(entry.name)
    # the models this project runs offline, and the onnx ones, must have been checked here
    assert {"Dlib", "ArcFace", "VGG-Face", "SFace", "Facenet512", "dlib", "opencv", "ssd", "yunet"} <= set(checked)


def test_models_said_to_need_a_package_fail_without_it() -> None:
    for entry in model_registry.registry().values():
        absent = model_registry.missing_packages(entry)
        if not absent:
            continue
        task = "facial_recognition" if entry.kind == model_registry.RECOGNITION else "face_detector"
        with pytest.raises((ImportError, ValueError)) as info:
            modeling.get_model_class(task=task, model_name=entry.name)()
        message = str(info.value).lower()
        assert any(p.lower() in message for p in absent), (entry.name, message)


def test_yolo_files_follow_the_class_deepface_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepface.models.face_detection import Yolo

    built = []
    monkeypatch.setattr(Yolo.YoloDetectorClient, "build_model", lambda self, model: built.append(model))
    for (kind, name), entry in model_registry.registry().items():
        if name.startswith("yolo"):
            modeling.get_model_class(task="face_detector", model_name=name)()
            assert entry.files == (WeightFile(built[-1].file_name, (built[-1].url,)),)


def test_buffalo_l_file_and_url_are_those_in_its_loader() -> None:
    from deepface.models.facial_recognition.onnx.Buffalo_L import Buffalo_L

    source = inspect.getsource(Buffalo_L.load_model)
    (file,) = model_registry.requirements(model_registry.RECOGNITION, "Buffalo_L").files
    sub_dir, name = file.name.split("/")
    assert f'"{sub_dir}"' in source and f'"{name}"' in source and f'"{file.urls[0]}"' in source


def test_dlib_weights_are_the_packaged_bz2_downloads() -> None:
    dlib_model = model_registry.requirements(model_registry.RECOGNITION, "Dlib").files
    assert dlib_model == (
        WeightFile(
            "dlib_face_recognition_resnet_model_v1.dat",
            ("https://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",),
            "bz2",
        ),
    )
    assert model_registry.requirements(model_registry.DETECTOR, "dlib").files[0].name == "shape_predictor_5_face_landmarks.dat"


def test_provisioning_links_the_packaged_files_once(home: Path) -> None:
    source = packaged_source()
    created = weights.provision_packaged_weights()
    assert sorted(created) == [home / name for name in PACKAGED]
    for name in PACKAGED:
        assert (home / name).is_symlink()
        assert (home / name).samefile(source / name)
    assert weights.provision_packaged_weights() == []
    assert sorted(p.name for p in home.iterdir()) == list(PACKAGED)


def test_provisioning_copies_where_symlinks_fail(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = packaged_source()

    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError("symlinks not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    target = tmp_path / "elsewhere"
    weights.provision_packaged_weights(target)
    for name in PACKAGED:
        assert not (target / name).is_symlink()
        assert (target / name).read_bytes() == (source / name).read_bytes()
    assert sorted(p.name for p in target.iterdir()) == list(PACKAGED)  # no temporary files left


def test_provisioning_replaces_a_dangling_link(home: Path, tmp_path: Path) -> None:
    source = packaged_source()
    home.mkdir(parents=True)
    (home / PACKAGED[0]).symlink_to(tmp_path / "gone.dat")
    assert home / PACKAGED[0] in weights.provision_packaged_weights()
    assert (home / PACKAGED[0]).samefile(source / PACKAGED[0])


def test_statuses_before_and_after_provisioning(home: Path) -> None:
    packaged_source()
    table = weight_statuses().set_index("name")
    assert list(table.columns) == ["kind", "status", "files", "sha256", "source", "urls", "target"]
    assert table.loc["Dlib", "status"] == "provided by face_recognition_models"
    assert table.loc["dlib", "status"] == "provided by face_recognition_models"
    assert table.loc["ArcFace", "status"] == "needs download"
    assert table.loc["ArcFace", "files"] == "arcface_weights.onnx"
    assert "https://github.com/serengil/deepface_models/releases/download/v1.0/arcface_weights.onnx" in table.loc[
        "ArcFace", "urls"
    ]
    assert table.loc["ArcFace", "target"] == str(home / "arcface_weights.onnx")
    assert table.loc["skip", "status"] == "no weights needed"
    assert table.loc["opencv", "status"] == "no weights needed"  # cascades ship inside cv2.data
    if importlib.util.find_spec("ultralytics") is None:
        assert table.loc["yolov8n", "status"] == "needs package ultralytics"

    weights.provision_packaged_weights()
    table = weight_statuses().set_index("name")
    assert table.loc["Dlib", "status"] == "ready"
    assert table.loc["dlib", "status"] == "ready"
    assert table.loc["Dlib", "source"] == f"package face_recognition_models {FRM_VERSION} (installed; linked)"
    assert table.loc["Dlib", "sha256"] == "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
    # ArcFace's file has no pinned sha256: present is not the same as ready
    (home / "arcface_weights.onnx").write_bytes(b"stand-in")
    assert weight_statuses().set_index("name").loc["ArcFace", "status"] == "present, not verified"


def test_offline_arcface_fails_fast_naming_file_url_and_target(home: Path, no_network: None) -> None:
    with pytest.raises(WeightsMissingError) as info:
        weights.ensure_weights("ArcFace", "opencv", offline=True)
    message = str(info.value)
    assert "arcface_weights.onnx" in message
    assert "https://github.com/serengil/deepface_models/releases/download/v1.0/arcface_weights.onnx" in message
    assert str(home / "arcface_weights.onnx") in message
    assert "offline" in message and "\n" not in message
    assert not (home / "arcface_weights.onnx").exists()


def test_online_missing_weights_are_left_to_deepface(home: Path, no_network: None) -> None:
    weights.ensure_weights("ArcFace", "opencv", offline=False)
    assert not (home / "arcface_weights.onnx").exists()


def test_offline_dlib_is_provisioned_and_passes(home: Path, no_network: None) -> None:
    packaged_source()
    weights.ensure_weights("Dlib", "dlib", offline=True)
    assert all((home / name).is_file() for name in PACKAGED)


def test_offline_dlib_without_the_package_names_the_archive(
    home: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "packaged_weight_files", lambda: {})
    with pytest.raises(WeightsMissingError) as info:
        weights.ensure_weights("Dlib", "skip", offline=True)
    message = str(info.value)
    assert "dlib_face_recognition_resnet_model_v1.dat" in message
    assert "https://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2" in message
    assert "bz2" in message and str(home / "dlib_face_recognition_resnet_model_v1.dat") in message


def test_unknown_names_list_the_valid_ones(home: Path) -> None:
    with pytest.raises(ConfigError, match="ArcFace.*Dlib|Dlib.*ArcFace"):
        weights.ensure_weights("Arcface", "opencv", offline=True)
    with pytest.raises(ConfigError, match="retinaface"):
        weights.ensure_weights("Dlib", "retina", offline=True)


def test_missing_package_is_named(home: Path) -> None:
    if importlib.util.find_spec("ultralytics") is not None:
        pytest.skip("ultralytics is installed")
    with pytest.raises(FrbenchError, match="ultralytics"):
        weights.ensure_weights("Dlib", "yolov8n", offline=False)
