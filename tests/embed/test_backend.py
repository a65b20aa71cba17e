"""Embedding backend, executors and embed_images, with the real Dlib model on a handful of images."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import frbench.embed as embed_module
from frbench.embed import EmbeddingInterrupted, embed_images, executors, weights
from frbench.embed.backend import EmbedResult, Embedder, Pipeline
from frbench.embed.cache import EmbeddingCache
from frbench.errors import ConfigError, DatasetError, WeightsMissingError

DLIB = Pipeline(model="Dlib", detector="dlib", align=True)


@pytest.fixture(scope="module")
def dlib_ready() -> None:
    """The Dlib model and detector can run: dlib installed, packaged weights linked into DEEPFACE_HOME."""
    if importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("needs dlib and face_recognition_models")
    weights.provision_packaged_weights()


def lfw_image(lfw: Path, name: str, number: int | str) -> str:
    return str(lfw / "images_deepfunneled" / name / f"{name}_{int(number):04d}.jpg")


def first_pairs(lfw: Path, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The first n mated and n non-mated pairs of LFW View 2 fold 1 (pairs.txt: 300 mated, then 300 non-mated)."""
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    mated = [(lfw_image(lfw, a, i), lfw_image(lfw, a, j)) for a, i, j in (line.split("\t") for line in lines[:n])]
    non_mated = [
        (lfw_image(lfw, a, i), lfw_image(lfw, b, j)) for a, i, b, j in (line.split("\t") for line in lines[300 : 300 + n])
    ]
    return mated, non_mated


def noise_image(path: Path) -> str:
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
    return str(path)


def test_fingerprint_changes_with_every_setting_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    variants = [
        DLIB,
        replace(DLIB, model="ArcFace"),
        replace(DLIB, detector="opencv"),
        replace(DLIB, align=False),
        replace(DLIB, normalization="Facenet"),
        replace(DLIB, expand_percentage=10),
        replace(DLIB, enforce_detection=False),
        replace(DLIB, l2_normalize=True),
    ]
    prints = [p.fingerprint() for p in variants]
    assert len(set(prints)) == len(variants)
    assert Pipeline("Dlib", "dlib", True).fingerprint() == prints[0]
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "9.9.9" if name == "deepface" else real_version(name)
    )
    assert DLIB.fingerprint() != prints[0]


@pytest.mark.parametrize(
    "settings",
    [
        {"model": "Arcface"},
        {"detector": "retina"},
        {"normalization": "bogus"},
        {"expand_percentage": -5},
        {"expand_percentage": 2.5},
    ],
)
def test_pipeline_rejects_invalid_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Pipeline(**{"model": "Dlib", "detector": "dlib", "align": True, **settings})  # type: ignore[arg-type]


@pytest.mark.lfw
@pytest.mark.parametrize("detector", ["skip", "opencv", "dlib"])
def test_mated_pairs_are_closer_than_non_mated(
    detector: str, lfw: Path, dlib_ready: None, tmp_path: Path
) -> None:
    mated, non_mated = first_pairs(lfw, 2)
    embedder = Embedder(Pipeline("Dlib", detector, align=True))

    def vector(path: str) -> np.ndarray:
        if detector == "skip":
            # skip embeds the whole frame; LFW's 250x250 frames are mostly background, so crop the centre
            cropped = tmp_path / Path(path).name
            cv2.imwrite(str(cropped), cv2.imread(path)[50:200, 50:200])
            path = str(cropped)
        result = embedder.embed(path)
        assert result.status == "ok", result.detail
        assert result.vector.shape == (128,) and result.vector.dtype == np.float32
        assert np.isfinite(result.vector).all()
        return result.vector

    mated_d = [np.linalg.norm(vector(a) - vector(b)) for a, b in mated]
    non_mated_d = [np.linalg.norm(vector(a) - vector(b)) for a, b in non_mated]
    assert max(mated_d) < min(non_mated_d)


@pytest.mark.lfw
def test_embedder_gives_what_deepface_represent_gives(lfw: Path, dlib_ready: None) -> None:
    from deepface import DeepFace

    path = lfw_image(lfw, "Abel_Pacheco", 1)
    expected = DeepFace.represent(img_path=path, model_name="Dlib", detector_backend="dlib", align=True, max_faces=1)
    got = Embedder(DLIB).embed(path)
    np.testing.assert_allclose(got.vector, np.asarray(expected[0]["embedding"], dtype=np.float32), rtol=0, atol=1e-6)


@pytest.mark.lfw
@pytest.mark.parametrize("big_first", [True, False])
def test_the_largest_face_is_embedded(big_first: bool, lfw: Path, dlib_ready: None, tmp_path: Path) -> None:
    from deepface import DeepFace

    big = cv2.imread(lfw_image(lfw, "Abel_Pacheco", 1))
    small = cv2.resize(cv2.imread(lfw_image(lfw, "Dean_Barker", 1)), (150, 150))
    canvas = np.zeros((260, 420, 3), np.uint8)
    if big_first:
        canvas[5:255, 5:255], canvas[55:205, 265:415] = big, small
    else:
        canvas[55:205, 5:155], canvas[5:255, 165:415] = small, big
    cv2.imwrite(str(tmp_path / "two.png"), canvas)
    cv2.imwrite(str(tmp_path / "small.png"), small)
    assert len(DeepFace.extract_faces(canvas, detector_backend="dlib")) == 2  # both faces are found

    embedder = Embedder(DLIB)
    both = embedder.embed(str(tmp_path / "two.png")).vector
    alone_big = embedder.embed(lfw_image(lfw, "Abel_Pacheco", 1)).vector
    alone_small = embedder.embed(str(tmp_path / "small.png")).vector
    assert np.linalg.norm(both - alone_big) < 0.4 < np.linalg.norm(both - alone_small)


def test_per_image_failures_are_classified(dlib_ready: None, tmp_path: Path) -> None:
    embedder = Embedder(DLIB)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    assert embedder.embed(noise_image(tmp_path / "noise.png")).status == "no_face"
    assert embedder.embed(str(text)).status == "unreadable"
    assert embedder.embed(str(empty)).status == "unreadable"
    missing = embedder.embed(str(tmp_path / "absent.jpg"))
    assert (missing.status, missing.vector) == ("missing", None)
    assert "absent.jpg" in missing.detail


def test_unexpected_errors_keep_their_message(dlib_ready: None, tmp_path: Path) -> None:
    embedder = Embedder(DLIB)

    def broken(**kwargs: object) -> None:
        raise RuntimeError("graph exploded")

    embedder._represent = broken  # type: ignore[method-assign]
    result = embedder.embed(noise_image(tmp_path / "noise.png"))
    assert result.status == "error" and "graph exploded" in result.detail


@pytest.mark.lfw
def test_serial_and_processes_give_identical_results(
    lfw: Path, dlib_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [
        lfw_image(lfw, "Abel_Pacheco", 1),
        lfw_image(lfw, "Abel_Pacheco", 4),
        lfw_image(lfw, "Dean_Barker", 1),
        noise_image(tmp_path / "noise.png"),
        str(tmp_path / "absent.jpg"),
    ]
    images = pd.DataFrame({"image_id": [f"i{k}" for k in range(len(paths))], "path": paths})
    serial, _ = embed_images(images, DLIB, tmp_path / "serial", executor="serial", progress=False)
    # a pool even for these few images; chunks of one, so that both workers get work
    monkeypatch.setattr(embed_module, "MIN_PARALLEL", 1)
    parallel, stats = embed_images(images, DLIB, tmp_path / "parallel", executor="processes", workers=2, progress=False)
    assert (stats.n_computed, stats.executor, stats.workers) == (4, "processes", 2)
    assert list(parallel.status) == list(serial.status) == ["ok", "ok", "ok", "no_face", "missing"]
    assert parallel.matrix.tobytes() == serial.matrix.tobytes()


@pytest.mark.lfw
def test_embed_images_embeds_each_file_once_then_reuses_the_cache(
    lfw: Path, dlib_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy_of_abel.jpg"
    shutil.copyfile(lfw_image(lfw, "Abel_Pacheco", 1), copy)
    unreadable = tmp_path / "notes.jpg"
    unreadable.write_text("not an image")
    images = pd.DataFrame(
        {
            "image_id": ["abel1", "abel4", "dean1", "abel1-copy", "noise", "gone", "text"],
            "path": [
                lfw_image(lfw, "Abel_Pacheco", 1),
                lfw_image(lfw, "Abel_Pacheco", 4),
                lfw_image(lfw, "Dean_Barker", 1),
                str(copy),
                noise_image(tmp_path / "noise.png"),
                str(tmp_path / "absent.jpg"),
                str(unreadable),
            ],
        }
    )
    embedded: list[str] = []
    real_embed = Embedder.embed

    def counting_embed(self: Embedder, path: str) -> EmbedResult:
        embedded.append(Path(path).name)
        return real_embed(self, path)

    monkeypatch.setattr(Embedder, "embed", counting_embed)
    cache_dir = tmp_path / "cache"
    first, stats = embed_images(images, DLIB, cache_dir, executor="serial", progress=False, offline=True)

    # the copy has the same bytes as abel1: embedded once; the missing file never reaches the model
    assert sorted(embedded) == sorted(["Abel_Pacheco_0001.jpg", "Abel_Pacheco_0004.jpg", "Dean_Barker_0001.jpg",
                                       "noise.png", "notes.jpg"])
    assert first.image_ids == list(images["image_id"])
    assert list(first.status.index) == first.image_ids
    assert first.status.to_dict() == {
        "abel1": "ok", "abel4": "ok", "dean1": "ok", "abel1-copy": "ok",
        "noise": "no_face", "gone": "missing", "text": "unreadable",
    }
    assert first.matrix.shape == (7, 128) and first.matrix.dtype == np.float32
    assert np.isnan(first.matrix[4:]).all() and np.isfinite(first.matrix[:4]).all()
    assert first.matrix[0].tobytes() == first.matrix[3].tobytes()
    assert (stats.n_images, stats.n_cached, stats.n_computed, stats.n_failed) == (7, 0, 6, 3)

    def no_model(self: Embedder, pipeline: Pipeline) -> None:
        raise AssertionError("the model was built although everything is cached")

    monkeypatch.setattr(Embedder, "__init__", no_model)
    second, stats = embed_images(images, DLIB, cache_dir, executor="processes", progress=False, offline=True)
    assert (stats.n_images, stats.n_cached, stats.n_computed, stats.n_failed) == (7, 6, 0, 3)
    assert second.matrix.tobytes() == first.matrix.tobytes()
    assert second.status.equals(first.status) and second.detail.equals(first.detail)


def test_an_interrupted_run_keeps_finished_work(
    dlib_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = []
    for i in range(5):
        files.append(tmp_path / f"img{i}.jpg")
        files[-1].write_bytes(bytes([i]) * 10)
    images = pd.DataFrame({"image_id": [f.name for f in files], "path": [str(f) for f in files]})
    seen: list[list[str]] = []

    def interrupted(paths: list[str], pipeline: Pipeline) -> Iterator[tuple[int, EmbedResult]]:
        seen.append([Path(p).name for p in paths])
        for i in range(2):
            yield i, EmbedResult(np.full(8, i, np.float32), "ok")
        raise KeyboardInterrupt

    monkeypatch.setattr(executors, "run_serial", interrupted)
    cache_file = tmp_path / "cache" / embed_module.CACHE_FILE
    resume = f"2 of 5 images .* saved in {cache_file}; run the same command again to resume"
    with pytest.raises(EmbeddingInterrupted, match=resume):
        embed_images(images, DLIB, tmp_path / "cache", executor="serial", progress=False)

    def rest(paths: list[str], pipeline: Pipeline) -> Iterator[tuple[int, EmbedResult]]:
        seen.append([Path(p).name for p in paths])
        for i in range(len(paths)):
            yield i, EmbedResult(np.full(8, 7, np.float32), "ok")

    monkeypatch.setattr(executors, "run_serial", rest)
    _, stats = embed_images(images, DLIB, tmp_path / "cache", executor="serial", progress=False)
    assert seen == [[f.name for f in files], [f.name for f in files[2:]]]
    assert (stats.n_cached, stats.n_computed) == (2, 3)


def test_offline_without_weights_stops_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "empty-home"))
    images = pd.DataFrame({"image_id": ["a"], "path": [noise_image(tmp_path / "a.png")]})
    with pytest.raises(WeightsMissingError, match="arcface_weights.onnx"):
        embed_images(images, Pipeline("ArcFace", "skip", True), tmp_path / "cache", offline=True, progress=False)
    assert not (tmp_path / "cache").exists()


def test_bad_inputs_are_rejected(tmp_path: Path) -> None:
    images = pd.DataFrame({"image_id": ["a", "a"], "path": ["x.jpg", "y.jpg"]})
    with pytest.raises(DatasetError, match="duplicate image_id 'a'"):
        embed_images(images, DLIB, tmp_path, progress=False)
    with pytest.raises(DatasetError, match="path"):
        embed_images(images[["image_id"]], DLIB, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="executor 'threads'"):
        embed_images(images.iloc[:1], DLIB, tmp_path, executor="threads", progress=False)
    with pytest.raises(ConfigError, match="workers"):
        embed_images(images.iloc[:1], DLIB, tmp_path, workers=0, progress=False)


def test_all_failed_gives_an_empty_width_matrix(dlib_ready: None, tmp_path: Path) -> None:
    images = pd.DataFrame({"image_id": ["gone"], "path": [str(tmp_path / "absent.jpg")]})
    result, stats = embed_images(images, DLIB, tmp_path / "cache", executor="serial", progress=False)
    assert result.matrix.shape == (1, 0)
    assert result.status["gone"] == "missing" and stats.n_failed == 1 and stats.n_computed == 0
    with EmbeddingCache(tmp_path / "cache" / embed_module.CACHE_FILE) as cache:
        assert cache.get_many(DLIB.fingerprint(), ["anything"]) == {}
