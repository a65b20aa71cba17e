"""Skin-tone estimator: model fitting against scikit-learn and hand cases, colour constancy,
features on real faces, the model file, subject decisions, label files and config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from frbench.annotate import estimator as est
from frbench.annotate.features import (
    FEATURE_NAMES,
    diagonal_correction,
    eye_openness,
    features_from_landmarks,
    features_table,
    grey_edge,
    grey_world,
    shades_of_grey,
)
from frbench.annotate.fit import (
    Standardiser,
    binary_scores,
    fit_logistic,
    fit_ordinal,
    predict_logistic,
    predict_ordinal,
    roc_auc,
    stratified_folds,
)
from frbench.annotate.ita import _SRGB8_TO_LINEAR, face_landmarks
from frbench.label.agreement import unanimous_binary
from frbench.label.files import read_annotator_files, read_label_file
from frbench.config import AnnotateConfig
from frbench.errors import DatasetError
from tests.builders import csv_config, make_csv_dataset, needs_dlib
from tests.conftest import REPO

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

LFW_IMAGE = "images_deepfunneled/Colin_Powell/Colin_Powell_0001.jpg"


# ---- fitting ---------------------------------------------------------------------------------


def _toy(seed: int = 0, n: int = 240):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X @ [1.2, -0.8, 0.4, 0.0] + rng.logistic(size=n) > 0.7).astype(int)
    return X, y


@pytest.mark.parametrize("l2", [0.1, 1.0, 10.0])
def test_logistic_matches_sklearn(l2):
    X, y = _toy()
    b, beta = fit_logistic(X, y, l2)
    ref = LogisticRegression(C=1.0 / l2, tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(beta, ref.coef_[0], atol=1e-4)
    assert b == pytest.approx(ref.intercept_[0], abs=1e-4)
    np.testing.assert_allclose(predict_logistic(X, b, beta), ref.predict_proba(X)[:, 1], atol=1e-5)


def test_logistic_rejects_non_binary_target():
    with pytest.raises(ValueError, match="0/1"):
        fit_logistic(np.zeros((3, 1)), [0, 1, 2])


def test_ordinal_without_signal_recovers_cumulative_logits():
    # classes 0, 1, 2 with counts 2, 3, 5: P(y <= 0) = 0.2, P(y <= 1) = 0.5
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    theta, beta = fit_ordinal(np.zeros((10, 1)), y, 3, l2=1.0)
    np.testing.assert_allclose(theta, [math.log(0.2 / 0.8), 0.0], atol=1e-4)
    assert beta[0] == pytest.approx(0.0, abs=1e-6)


def test_two_class_ordinal_is_logistic_regression():
    X, y = _toy(1)
    theta, beta = fit_ordinal(X, y, 2, l2=2.0)
    # P(y <= 0) = expit(theta - x.beta) is logistic regression of (y == 0) with coef -beta
    b, coef = fit_logistic(X, 1 - y, l2=2.0)
    assert theta[0] == pytest.approx(b, abs=1e-4)
    np.testing.assert_allclose(beta, -coef, atol=1e-4)


def test_ordinal_weights_equal_repeated_rows():
    X, _ = _toy(2, 120)
    y3 = np.digitize(X @ [1.0, -1.0, 0.5, 0.0], [-1.0, 1.0])
    w = np.where(np.arange(120) % 3 == 0, 2.0, 1.0)
    rep = np.repeat(np.arange(120), w.astype(int))
    t1, b1 = fit_ordinal(X, y3, 3, 1.0, sample_weight=w)
    t2, b2 = fit_ordinal(X[rep], y3[rep], 3, 1.0)
    np.testing.assert_allclose(t1, t2, atol=1e-4)
    np.testing.assert_allclose(b1, b2, atol=1e-4)
    probs = predict_ordinal(X, t1, b1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_standardiser_maps_missing_to_training_mean():
    st = Standardiser.fit([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]])
    np.testing.assert_allclose(st.transform([[2.0, 5.0], [np.nan, 7.0]]), [[0.0, 0.0], [0.0, 2.0]])


def test_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(size=300) + y, 1)  # many ties
    w = rng.random(300)
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert roc_auc(y, score, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w), abs=1e-12)
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_binary_scores_hand_case_and_sklearn():
    # 3 positives (2 found), 5 negatives (1 false alarm)
    t = [1, 1, 1, 0, 0, 0, 0, 0]
    p = [1, 1, 0, 1, 0, 0, 0, 0]
    s = binary_scores(t, p)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert s["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))
    assert s["precision"] == pytest.approx(precision_score(t, p))
    assert s["recall"] == pytest.approx(recall_score(t, p))
    assert math.isnan(binary_scores([0, 0], [0, 0])["precision"])


def test_stratified_folds_spread_each_stratum_and_are_seeded():
    strata = np.array(["d"] * 10 + ["l"] * 43)
    folds = stratified_folds(strata, 5, seed=7)
    for s in ("d", "l"):
        counts = np.bincount(folds[strata == s], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    np.testing.assert_array_equal(folds, stratified_folds(strata, 5, seed=7))
    assert not np.array_equal(folds, stratified_folds(strata, 5, seed=8))


# ---- colour constancy --------------------------------------------------------------------------


def test_diagonal_correction_maps_illuminant_to_grey_keeping_its_mean():
    e = np.array([0.6, 0.4, 0.2])
    np.testing.assert_allclose(diagonal_correction(e, e), [0.4, 0.4, 0.4])
    with pytest.raises(ValueError):
        diagonal_correction(e, [0.0, 1.0, 1.0])


def test_grey_world_and_shades_of_grey_hand_values():
    image = np.zeros((2, 2, 3))
    image[..., 0] = [[0.2, 0.4], [0.6, 0.8]]
    image[..., 1] = 0.5
    image[..., 2] = [[0.0, 0.0], [0.0, 0.4]]
    np.testing.assert_allclose(grey_world(image), [0.5, 0.5, 0.1])
    np.testing.assert_allclose(shades_of_grey(image, p=1.0), grey_world(image))
    # p = 2: root mean square per channel
    np.testing.assert_allclose(shades_of_grey(image, p=2.0), [math.sqrt(0.3), 0.5, 0.2])


def test_grey_edge_recovers_the_channel_ratio_of_an_edge():
    # one step edge whose contrast in each channel is proportional to the illuminant (1, 0.5, 0.25)
    image = np.zeros((40, 40, 3))
    image[:, 20:] = [1.0, 0.5, 0.25]
    e = grey_edge(image)
    np.testing.assert_allclose(e / e[0], [1.0, 0.5, 0.25], rtol=1e-5)


def test_eye_openness_hand_value():
    pts = np.zeros((68, 2))
    # eye 36..41: corners 4 apart, lids 1 above and below at x = 1 and 3 -> (2 + 2) / (2 * 4) = 0.5
    pts[36:42] = [[0, 0], [1, -1], [3, -1], [4, 0], [3, 1], [1, 1]]
    assert eye_openness(pts, list(range(36, 42))) == pytest.approx(0.5)


# ---- features on real faces --------------------------------------------------------------------


def _cast(image_bgr: np.ndarray, gains_rgb) -> np.ndarray:
    """Apply a colour cast in linear light (what a wrong white balance does), re-encode to sRGB."""
    linear = _SRGB8_TO_LINEAR[image_bgr[..., ::-1]] * np.asarray(gains_rgb)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.clip(linear, 0, None) ** (1 / 2.4) - 0.055)
    return np.clip(np.round(encoded * 255), 0, 255).astype(np.uint8)[..., ::-1].copy()


def test_real_face_has_every_feature(lfw):
    image = cv2.imread(str(lfw / LFW_IMAGE))
    result = features_from_landmarks(image, face_landmarks(image))
    assert result.status == "ok"
    assert list(result.values) == list(FEATURE_NAMES)
    finite = {k for k, v in result.values.items() if np.isfinite(v)}
    assert finite >= set(FEATURE_NAMES) - {"ref_sclera_L"}
    assert result.values["none_face_L10"] <= result.values["none_face_L50"] <= result.values["none_face_L90"]


def test_grey_world_removes_a_synthetic_colour_cast(lfw):
    image = cv2.imread(str(lfw / LFW_IMAGE))
    landmarks = face_landmarks(image)
    plain = features_from_landmarks(image, landmarks).values
    # a mild cast, so that no channel clips: blue-ish light, red cut by 15 %, blue raised by 15 %
    cast = features_from_landmarks(_cast(image, [0.85, 1.0, 1.15]), landmarks).values
    shift_none = abs(cast["none_face_low_b"] - plain["none_face_low_b"])
    shift_gw = abs(cast["grey_world_face_low_b"] - plain["grey_world_face_low_b"])
    assert shift_none > 5
    assert shift_gw < 0.2 * shift_none


def test_greyscale_photo_is_a_quality_failure(lfw):
    image = cv2.cvtColor(cv2.cvtColor(cv2.imread(str(lfw / LFW_IMAGE)), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert features_from_landmarks(image, face_landmarks(image)).status == "no_colour"


def test_features_table_cache_gives_identical_rows(lfw, tmp_path):
    images = pd.DataFrame({"image_id": ["a", "b"], "path": [str(lfw / LFW_IMAGE), str(tmp_path / "gone.jpg")],
                           "subject_id": ["s", "t"]})
    first = features_table(images, cache_dir=tmp_path, progress=False)
    second = features_table(images, cache_dir=tmp_path, progress=False)
    assert list(first["status"]) == ["ok", "missing"]
    pd.testing.assert_frame_equal(first, second)


# ---- the model file and decisions --------------------------------------------------------------


V1 = Path(est.__file__).parent / "models" / "skin_tone_v1.json"


def test_shipped_model_loads_and_records_its_provenance_and_held_out_confusion():
    model = est.load_model()
    assert 0 <= model.band[0] <= model.band[1] <= 1
    assert model.pooling == est.SUBJECT_MEAN and model.embedding is not None
    assert model.embedding.model != "Dlib"  # not the model the shipped LFW configs evaluate
    assert set(model.features) <= set(FEATURE_NAMES) | set(model.embedding.names())
    for key in ("fitted_by", "fitted_on", "held_out", "band_rule"):
        assert key in model.provenance
    n, k = model.heldout_counts(["darker", "lighter", "uncertain"])
    assert np.all(n > 0) and np.all(k <= n)
    assert k[0] / n[0] > 0.5 > k[1] / n[1]  # its darker calls are mostly perceived darker, its lighter ones not
    v1 = est.load_model(V1)
    assert v1.pooling == est.IMAGE_LOGITS and set(v1.features) <= set(FEATURE_NAMES)
    for key in ("labels", "variant", "cross_validated", "command"):
        assert key in v1.provenance


def test_held_out_confusion_is_read_with_the_model_and_checked(tmp_path):
    shipped = est.load_model(V1)
    doc = est.model_document(
        list(shipped.features), shipped.mean, shipped.scale, shipped.intercept, shipped.coef,
        list(shipped.monk_classes), shipped.monk_thresholds, shipped.monk_coef, shipped.band, {},
        held_out_confusion={"darker": {"n": 22, "n_perceived_darker": 18},
                            "uncertain": {"n": 90, "n_perceived_darker": 20}, "description": "outer 5-fold CV"},
    )
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    model = est.load_model(path)
    assert model.held_out_description == "outer 5-fold CV"
    n, k = model.heldout_counts(["darker", "uncertain", "lighter"])
    assert n[:2].tolist() == [22, 90] and k[:2].tolist() == [18, 20]
    assert np.isnan(n[2]) and np.isnan(k[2])  # not recorded for lighter calls: the fallback applies
    assert np.isnan(shipped.heldout_counts(["darker"])[0]).all()
    doc["held_out_confusion"]["darker"]["n_perceived_darker"] = 23
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="0 <= n_perceived_darker <= n"):
        est.load_model(path)


def _model(band=(0.2, 0.8)) -> est.SkinToneModel:
    """One feature x: P(darker) = expit(x), Monk over 2..4 with thresholds -1, 1 on z = x."""
    return est.SkinToneModel(
        features=("none_face_L50",), mean=np.zeros(1), scale=np.ones(1), intercept=0.0, coef=np.ones(1),
        monk_classes=(2, 3, 4), monk_thresholds=np.array([-1.0, 1.0]), monk_coef=np.ones(1), band=band,
        provenance={}, source="test",
    )


def test_decide_uses_the_band_and_treats_nan_as_uncertain():
    out = est.decide(np.array([0.1, 0.2, 0.5, 0.8, 0.9, np.nan]), (0.2, 0.8))
    assert list(out) == ["lighter", "lighter", "uncertain", "darker", "darker", "uncertain"]


def test_subject_aggregation_hand_case():
    model = _model()
    feats = pd.DataFrame({
        "image_id": ["a1", "a2", "b1", "c1", "c2", "d1"],
        "subject_id": ["a", "a", "b", "c", "c", "d"],
        "status": ["ok", "ok", "ok", "no_face", "missing", "missing"],
        "none_face_L50": [logit(0.9), logit(0.2), 0.0, np.nan, np.nan, np.nan],
    })
    per_image = est.predict_images(feats, model)
    subjects = est.aggregate_subjects(per_image, model).set_index("subject_id")
    w1, w2 = abs(2 * 0.9 - 1) + est.WEIGHT_FLOOR, abs(2 * 0.2 - 1) + est.WEIGHT_FLOOR
    expected = expit((w1 * logit(0.9) + w2 * logit(0.2)) / (w1 + w2))
    assert subjects.loc["a", "p_darker"] == pytest.approx(expected)
    assert subjects.loc["a", "skin_tone"] == ("darker" if expected >= 0.8 else "lighter" if expected <= 0.2 else "uncertain")
    assert subjects.loc["b", "skin_tone"] == "uncertain"  # p = 0.5
    assert subjects.loc["b", "monk_estimate"] == 3  # z = 0: P(2) = expit(-1) < 0.5 <= P(<= 3)
    assert subjects.loc["c", "skin_tone"] == "uncertain"  # read, but no face
    assert subjects.loc["d", "skin_tone"] == "unknown"  # nothing could be read
    assert list(subjects["skin_tone_source"]) == ["estimator", "estimator", "estimator", "unknown"]


def test_median_class_hand_case():
    probs = np.array([[0.3, 0.3, 0.4], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    assert list(est.median_class(probs, [5, 6, 7])) == [6, 5, 7]


def test_model_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{\n  nope")
    with pytest.raises(DatasetError, match=r"m\.json: line 2"):
        est.load_model(bad)
    doc = json.loads((Path(est.__file__).parent / "models" / est.DEFAULT_MODEL).read_text())
    doc["features_version"] = 999
    bad.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="feature version 999"):
        est.load_model(bad)
    doc = json.loads((Path(est.__file__).parent / "models" / est.DEFAULT_MODEL).read_text())
    doc["features"][0] = "no_such_feature"
    bad.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="unknown feature"):
        est.load_model(bad)
    with pytest.raises(DatasetError, match="cannot read"):
        est.load_model(tmp_path / "absent.json")


def test_estimator_on_real_images(lfw, tmp_path):
    images = pd.DataFrame({
        "image_id": ["p1", "p2", "x"],
        "path": [str(lfw / LFW_IMAGE), str(lfw / "images_deepfunneled/Colin_Powell/Colin_Powell_0002.jpg"),
                 str(tmp_path / "absent.jpg")],
        "subject_id": ["powell", "powell", "ghost"],
    })
    per_image, per_subject = est.estimate_skin_tone(images, cache_dir=tmp_path, progress=False)
    assert per_image["p_darker"].iloc[:2].between(0, 1).all()
    row = per_subject.set_index("subject_id").loc["powell"]
    assert row["skin_tone"] in ("lighter", "darker", "uncertain") and row["n_images"] == 2
    assert 1 <= row["monk_estimate"] <= 10
    assert per_subject.set_index("subject_id").loc["ghost", "skin_tone"] == "unknown"
    assert row["skin_tone_category"] == f"monk_{int(row['monk_estimate'])}"
    assert per_subject.set_index("subject_id").loc["ghost", "skin_tone_category"] == "unknown"


# ---- labels and config -------------------------------------------------------------------------

HEADER = "subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool\n"


def _labels(tmp_path: Path, body: str, name: str = "annotator-x.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_the_fitting_target_needs_every_annotator_to_agree(tmp_path):
    stamp = "2026-12-01T17:00:00Z"
    rows = {"a": [("A", "darker", "7"), ("B", "lighter", "2"), ("C", "unsure", ""), ("D", "lighter", "3")],
            "b": [("A", "darker", "8"), ("B", "darker", "6"), ("C", "lighter", "3"), ("D", "lighter", "2")]}
    paths = []
    for who, answers in rows.items():
        path = tmp_path / f"annotator-{who}.csv"
        path.write_text("subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool\n" + "".join(
            f"{s},{s}/1.jpg,{who},{b},{m},{stamp},montage-viewer\n" for s, b, m in answers))
        paths.append(path)
    target = unanimous_binary(read_annotator_files(paths))
    # A: both darker; B: they disagree; C: one unsure; D: both lighter
    assert target.to_dict() == {"A": "darker", "B": "unsure", "C": "unsure", "D": "lighter"}


def test_shipped_label_files_are_valid():
    root = REPO / "labels"
    devset = sorted((root / "lfw-skin-tone").glob("annotator-*.csv"))
    assert [f.name for f in devset] == ["annotator-a.csv", "annotator-b.csv"]
    tables = [read_label_file(f) for f in devset]
    for t in tables:
        assert len(t) >= 300 and t["subject_id"].is_unique
    assert set(tables[0]["subject_id"]) == set(tables[1]["subject_id"])  # both annotators saw the same subjects
    assert len(read_label_file(root / "lfw-skin-tone-page50" / "annotator-page50.csv")) == 50


def test_config_accepts_estimator_and_checks_band():
    assert AnnotateConfig(skin_tone="estimator", uncertain_band=(0.1, 0.7)).uncertain_band == (0.1, 0.7)
    with pytest.raises(ValueError, match="0 <= low <= high <= 1"):
        AnnotateConfig(skin_tone="estimator", uncertain_band=(0.8, 0.2))
    with pytest.raises(ValueError, match="estimator only"):
        AnnotateConfig(skin_tone="ita", uncertain_band=(0.2, 0.8))


def test_estimator_annotation_of_faceless_images_is_uncertain_not_dropped(tmp_path):
    from frbench.annotate.apply import apply_annotations
    from frbench.config import validate_config
    from frbench.datasets import load_dataset

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    cfg = validate_config(csv_config(root, tmp_path / "cache", groups=["skin_tone", "gender"],
                                     annotate={"skin_tone": "estimator"}))
    images = load_dataset(cfg.dataset, tmp_path).images
    annotated, _ = apply_annotations(cfg.annotate, images, tmp_path / "cache", progress=False)
    assert len(annotated) == len(images)
    # synthetic images have no face: read, but no usable photo -> uncertain, a group of its own
    assert set(annotated["skin_tone"]) <= {"uncertain", "unknown"}
    assert "uncertain" in set(annotated["skin_tone"])


def test_report_states_the_estimator_and_its_coverage():
    from frbench.report.markdown import skin_tone_section

    images = pd.DataFrame({
        "image_id": ["a", "b", "c", "d", "e"],
        "subject_id": ["s1", "s1", "s2", "s3", "s4"],
        "skin_tone": ["lighter", "lighter", "darker", "uncertain", "lighter"],
        "skin_tone_category": ["monk_3", "monk_3", "monk_7", "monk_5", "monk_2"],
        "skin_tone_source": ["estimator"] * 5,
    })
    text = "\n".join(skin_tone_section(images, {}))
    assert "calibrated skin-tone estimator" in text
    assert "**Coverage:** 75.0% of 4 subjects are lighter or darker" in text
    # categories in Monk order
    assert text.index("monk_2") < text.index("monk_3") < text.index("monk_5") < text.index("monk_7")


@needs_dlib
def test_run_reports_the_uncertain_group_and_coverage(tmp_path):
    from frbench.config import validate_config
    from frbench.workflows.run import run_benchmark

    root = make_csv_dataset(tmp_path / "data", n_subjects=3, per_subject=2)
    cfg = validate_config(csv_config(root, tmp_path / "cache", groups=["skin_tone", "gender"],
                                     annotate={"skin_tone": "estimator"}))
    run_benchmark(cfg, out_dir=tmp_path / "out", progress=False)
    per_group = pd.read_csv(tmp_path / "out" / "per_group.csv")
    assert "uncertain" in set(per_group.loc[per_group["attribute"] == "skin_tone", "group"])
    report = (tmp_path / "out" / "report.md").read_text()
    assert "**Coverage:** 0.0% of 3 subjects are lighter or darker" in report


def test_annotate_cli_writes_estimator_tables(tmp_path):
    import yaml
    from click.testing import CliRunner

    from frbench.cli import main

    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache", annotate={"skin_tone": "estimator"})))
    out = tmp_path / "tone.csv"
    result = CliRunner().invoke(main, ["annotate", "skin-tone", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    per_image = pd.read_csv(out)
    per_subject = pd.read_csv(tmp_path / "tone.subjects.csv")
    assert len(per_image) == 5 and {"p_darker", "monk_estimate", "status"} <= set(per_image.columns)
    assert set(per_subject["subject_id"]) == {"s0", "s1"}
    assert set(per_subject["skin_tone"]) == {"uncertain"}  # read, but no face: never lighter or darker
    assert set(per_subject["skin_tone_source"]) == {"estimator"}
    assert "2 unknown or uncertain" in result.output


def test_pooling_features_lets_agreeing_photos_decide_more_subjects_rightly():
    # a one-feature model: the subject's mean feature decides; photos are noisy draws around it
    model = est.SkinToneModel(
        features=("x",), mean=np.zeros(1), scale=np.ones(1), intercept=0.0, coef=np.array([3.0]),
        monk_classes=(1, 2), monk_thresholds=np.zeros(1), monk_coef=np.array([1.0]), band=(0.2, 0.8),
        provenance={}, source="test", pooling=est.SUBJECT_MEAN,
    )
    rng = np.random.default_rng(0)
    rows = []
    for s in range(400):
        n = 1 if s < 200 else 4
        for i in range(n):
            rows.append({"image_id": f"{s}/{i}", "subject_id": f"s{s:03d}", "status": "ok", "x": 1.0 + rng.normal(0, 1.5)})
    rows.append({"image_id": "gone/1", "subject_id": "zz_gone", "status": "missing", "x": np.nan})
    table = est.pool_subject_means(pd.DataFrame(rows), model).set_index("subject_id")
    one, four = table["skin_tone"].iloc[:200], table["skin_tone"].iloc[200:400]
    # every subject is darker: four agreeing photos are called so more often, and wrongly lighter less
    assert (four == "darker").mean() > (one == "darker").mean() + 0.05
    assert (four == "lighter").mean() < (one == "lighter").mean()
    assert table.loc["zz_gone", "skin_tone"] == "unknown" and table.loc["zz_gone", "skin_tone_category"] == "unknown"
    assert set(table["n_images"].iloc[:400]) == {1, 4}
