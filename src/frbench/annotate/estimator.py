"""The calibrated skin-tone estimator: P(darker) and a Monk Skin Tone estimate per image and per
subject, abstaining (``uncertain``) where it does not know.

Model
-----
A model file (JSON, no pickle; ``models/skin_tone_v2.json``, the default, or ``skin_tone_v1.json``) names features of
:mod:`frbench.annotate.features`, their standardisation (z = (x - mean) / scale, a missing value
becoming 0, the training mean), and two linear models on z:

* ``p_darker``: logistic regression, P(darker) = expit(intercept + z . coef);
* ``monk``: proportional-odds regression over the Monk tones ``classes``,
  P(tone <= classes[k]) = expit(thresholds[k] - z . coef); the estimate is the median of that
  distribution (the tone minimising expected absolute error).

Both were fitted by ``bench/skin_tone_eval.py --write-model`` on the development set
``labels/lfw-skin-tone`` (perceived labels by its annotators) and the file records how
(``provenance``).

Held-out confusion
------------------
Optional ``held_out_confusion``: per call (``darker``, ``lighter``, ``uncertain``) of the fitted
model on held-out subjects, ``n`` (held-out subjects given that call whose annotators perceived
them lighter or darker) and ``n_perceived_darker`` (of them, perceived darker), with
``description`` saying how they were held out. :meth:`SkinToneModel.heldout_counts` gives them to
the subjects table, and the sensitivity analysis (:mod:`frbench.metrics.label_noise`) redraws
estimated labels from them; a model without them gets that module's documented fallback.

Decisions
---------
Per subject, the image logits z_i = logit(p_i) of the images with status ``ok`` are averaged with
weights w_i = |2 p_i - 1| (the image's confidence; an image at p = 0.5 adds nothing) plus
``WEIGHT_FLOOR``, so a subject whose images all sit at 0.5 still gets their plain mean. The
subject is ``darker`` when its P(darker) >= ``band[1]``, ``lighter`` when <= ``band[0]``, and
``uncertain`` in between (the abstention band) or when no image passed the quality checks but at
least one was read; ``unknown`` when none of its images could be read at all (missing,
unreadable, too large). The subject's Monk estimate is the median of the weighted mean of its
images' Monk distributions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from frbench.annotate.features import FEATURE_NAMES, FEATURES_VERSION, features_table
from frbench.annotate.fit import predict_ordinal
from frbench.annotate.skin_tone import DARKER, LIGHTER
from frbench.errors import ConfigError, DatasetError
from frbench.embed.screening import MAX_PIXELS
from frbench.tables import OK, UNKNOWN, validate_image_table

UNCERTAIN = "uncertain"
# How a subject's photos are pooled: v1 averages the images' logits (weighted by confidence);
# v2 averages the images' features and applies the model once, so agreeing photos reinforce.
IMAGE_LOGITS, SUBJECT_MEAN = "image_logits", "subject_mean"
POOLINGS = (IMAGE_LOGITS, SUBJECT_MEAN)
SOURCE = "estimator"
MODEL_FORMAT = "frbench-skin-tone-estimator"
DEFAULT_MODEL = "skin_tone_v2.json"
WEIGHT_FLOOR = 0.05
# Statuses for which no image content was seen at all; the rest are quality failures of a read image.
UNREAD = ("missing", "unreadable", "too_large")


@dataclass(frozen=True)
class EmbeddingSpec:
    """Face embeddings used as features: ``deepface`` model, detector and alignment, their
    dimension, and the prefix of their feature names (``<prefix><index:03d>``). Each image's
    vector is scaled to unit length before subjects are pooled."""

    model: str
    detector: str
    align: bool
    dims: int
    prefix: str

    def names(self) -> list[str]:
        return [f"{self.prefix}{i:03d}" for i in range(self.dims)]


@dataclass(frozen=True)
class SkinToneModel:
    """A validated model file; see the module docstring for the meaning of each part."""

    features: tuple[str, ...]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    intercept: float
    coef: NDArray[np.float64]
    monk_classes: tuple[int, ...]
    monk_thresholds: NDArray[np.float64]
    monk_coef: NDArray[np.float64]
    band: tuple[float, float]
    provenance: dict[str, Any]
    source: str
    held_out_confusion: dict[str, tuple[int, int]] | None = None
    held_out_description: str = ""
    pooling: str = IMAGE_LOGITS
    embedding: EmbeddingSpec | None = None

    def standardise(self, X: ArrayLike) -> NDArray[np.float64]:
        Z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        return np.where(np.isfinite(Z), Z, 0.0)

    def p_darker(self, X: ArrayLike) -> NDArray[np.float64]:
        """P(darker) for rows of raw feature values (columns in ``features`` order)."""
        return expit(self.intercept + self.standardise(X) @ self.coef)

    def monk_distribution(self, X: ArrayLike) -> NDArray[np.float64]:
        """P(Monk tone = c) for each c in ``monk_classes``, one row per feature row."""
        return predict_ordinal(self.standardise(X), self.monk_thresholds, self.monk_coef)

    def heldout_counts(self, calls: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per call: held-out subjects with that call (``n``) and how many were perceived darker;
        NaN where the model records no held-out confusion for the call."""
        table = self.held_out_confusion or {}
        calls = np.asarray(calls, dtype=object)
        n = np.array([table[c][0] if c in table else np.nan for c in calls], dtype=np.float64)
        k = np.array([table[c][1] if c in table else np.nan for c in calls], dtype=np.float64)
        return n, k

    def with_band(self, band: tuple[float, float] | list[float] | None) -> SkinToneModel:
        """The same model with another abstention band (validated), or itself for None."""
        if band is None:
            return self
        return replace(self, band=_band(band, "annotate.uncertain_band"))


def load_model(path: Path | str | None = None) -> SkinToneModel:
    """Read and validate a model file; None reads the shipped ``models/skin_tone_v2.json``.

    A malformed file raises :class:`frbench.errors.DatasetError` naming it and the problem.
    """
    if path is None:
        ref = resources.files("frbench.annotate") / "models" / DEFAULT_MODEL
        text, name = ref.read_text(encoding="utf-8"), f"frbench/annotate/models/{DEFAULT_MODEL}"
    else:
        try:
            text, name = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read skin-tone model ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{name}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    try:
        return _parse_model(doc, name)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{name}: not a valid skin-tone model: {exc}") from None


def median_class(probabilities: ArrayLike, classes: ArrayLike) -> NDArray[np.int64]:
    """The median of each row's distribution over ordered ``classes``: the first class whose
    cumulative probability reaches 1/2."""
    P = np.asarray(probabilities, dtype=np.float64)
    classes = np.asarray(classes)
    cum = np.cumsum(P, axis=1) / P.sum(axis=1, keepdims=True)
    return classes[np.argmax(cum >= 0.5 - 1e-12, axis=1)]


def decide(p: ArrayLike, band: tuple[float, float]) -> NDArray[np.object_]:
    """``darker`` for p >= band[1], ``lighter`` for p <= band[0], else ``uncertain``; NaN -> uncertain."""
    p = np.asarray(p, dtype=np.float64)
    lo, hi = band
    out = np.full(p.shape, UNCERTAIN, dtype=object)
    out[p >= hi] = DARKER
    out[p <= lo] = LIGHTER
    return out


def predict_images(features: pd.DataFrame, model: SkinToneModel) -> pd.DataFrame:
    """Per image: ``image_id, subject_id, status, p_darker, weight`` and the Monk distribution
    ``monk_p<c>`` and its median ``monk_estimate``; NaN where status is not ``ok``."""
    missing = [c for c in ("image_id", "subject_id", "status", *model.features) if c not in features.columns]
    if missing:
        raise ValueError(f"feature table lacks column(s) {missing[:5]}")
    ok = (features["status"] == OK).to_numpy()
    X = features.loc[ok, list(model.features)].to_numpy(dtype=np.float64)
    out = features[["image_id", "subject_id", "status"]].copy()
    p = np.full(len(out), np.nan)
    p[ok] = model.p_darker(X)
    out["p_darker"] = p
    out["weight"] = image_weight(p)
    dist = np.full((len(out), len(model.monk_classes)), np.nan)
    if ok.any():
        dist[ok] = model.monk_distribution(X)
    for j, c in enumerate(model.monk_classes):
        out[f"monk_p{c}"] = dist[:, j]
    est = np.full(len(out), np.nan)
    if ok.any():
        est[ok] = median_class(dist[ok], model.monk_classes)
    out["monk_estimate"] = est
    return out


def image_weight(p: ArrayLike) -> NDArray[np.float64]:
    """An image's weight in its subject's decision: its confidence |2p - 1| plus ``WEIGHT_FLOOR``."""
    return np.abs(2 * np.asarray(p, dtype=np.float64) - 1) + WEIGHT_FLOOR


def pool_subject(p: ArrayLike, monk_distribution: ArrayLike | None = None) -> tuple[float, NDArray[np.float64] | None]:
    """One subject's P(darker) from its images' P: expit of the mean logit weighted by
    :func:`image_weight`; and the same weighted mean of their Monk distributions (rows), if given."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0 or not np.all(np.isfinite(p)):
        raise ValueError("p must be a non-empty vector of probabilities")
    w = image_weight(p)
    z = logit(np.clip(p, 1e-9, 1 - 1e-9))
    pooled = float(expit(np.sum(w * z) / w.sum()))
    if monk_distribution is None:
        return pooled, None
    dist = np.asarray(monk_distribution, dtype=np.float64)
    return pooled, (dist * w[:, None]).sum(axis=0) / w.sum()


def aggregate_subjects(per_image: pd.DataFrame, model: SkinToneModel) -> pd.DataFrame:
    """Per subject: ``subject_id, skin_tone, p_darker, monk_estimate, n_images, skin_tone_source``
    and ``skin_tone_category`` (the Monk estimate as ``monk_<m>``, or the tone where there is
    none), rules in the module docstring, sorted by subject_id."""
    monk_cols = [f"monk_p{c}" for c in model.monk_classes]
    rows = []
    for subject, group in per_image.groupby("subject_id", sort=True):
        ok = group[group["status"] == OK]
        if len(ok) == 0:
            rows.append(_without_usable_image(subject, group))
            continue
        p, dist = pool_subject(ok["p_darker"].to_numpy(), ok[monk_cols].to_numpy())
        monk = float(median_class(dist[None, :], model.monk_classes)[0])
        rows.append((subject, str(decide(np.array([p]), model.band)[0]), p, monk, len(ok)))
    return _subject_table(rows)


def _without_usable_image(subject: str, group: pd.DataFrame) -> tuple:
    """A subject none of whose images passed: ``unknown`` when none could even be read, else ``uncertain``."""
    unread = group["status"].isin(UNREAD).all()
    return (subject, UNKNOWN if unread else UNCERTAIN, math.nan, math.nan, 0)


def _subject_table(rows: list[tuple]) -> pd.DataFrame:
    """The per-subject table of (subject_id, skin_tone, p_darker, monk_estimate, n_images) rows,
    with ``skin_tone_source`` and ``skin_tone_category``, whichever way photos were pooled."""
    out = pd.DataFrame(rows, columns=["subject_id", "skin_tone", "p_darker", "monk_estimate", "n_images"])
    out["skin_tone_source"] = np.where(out["skin_tone"] == UNKNOWN, UNKNOWN, SOURCE)
    out["skin_tone_category"] = [f"monk_{int(m)}" if np.isfinite(m) else t
                                 for m, t in zip(out["monk_estimate"], out["skin_tone"])]
    return out


def estimate_skin_tone(
    images: pd.DataFrame,
    model: SkinToneModel | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image predictions and per-subject decisions for an ImageTable (see the module docstring)."""
    images = validate_image_table(images)
    model = model if model is not None else load_model()
    features = image_features_for(images, model, cache_dir, progress, max_pixels)
    per_image = predict_images(features, model)
    per_image.insert(3, "detail", features["detail"].to_numpy())
    if model.pooling == SUBJECT_MEAN:
        return per_image, pool_subject_means(features, model)
    return per_image, aggregate_subjects(per_image, model)


def image_features_for(
    images: pd.DataFrame, model: SkinToneModel, cache_dir: Path | None, progress: bool = True, max_pixels: int = MAX_PIXELS
) -> pd.DataFrame:
    """``image_id, subject_id, status, detail`` and the model's feature columns, per image.

    Colour features come from :func:`frbench.annotate.features.features_table`, embeddings from
    :func:`frbench.embed.embed_images` with the model's embedding pipeline (unit length per image).
    An image is ``ok`` only when every kind of feature the model needs was computed; otherwise
    it carries the first failure's status and detail.
    """
    colour = [f for f in model.features if f in FEATURE_NAMES]
    parts: list[pd.DataFrame] = []
    if colour or model.embedding is None:
        parts.append(features_table(images, cache_dir=cache_dir, progress=progress, max_pixels=max_pixels))
    if model.embedding is not None:
        parts.append(_embedding_table(images, model.embedding, cache_dir, progress, max_pixels))
    out = parts[0][["image_id", "subject_id", "status", "detail"]].copy()
    for part in parts[1:]:
        failed = (out["status"] == OK) & (part["status"].to_numpy() != OK)
        out.loc[failed, "status"] = part.loc[failed.to_numpy(), "status"].to_numpy()
        out.loc[failed, "detail"] = part.loc[failed.to_numpy(), "detail"].to_numpy()
    # one concat, not one insert per feature (a hundred-odd embedding columns)
    columns = {col: part[col].to_numpy() for part in parts for col in part.columns if col in model.features}
    return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)


def _embedding_table(images: pd.DataFrame, spec: EmbeddingSpec, cache_dir: Path | None, progress: bool,
                     max_pixels: int) -> pd.DataFrame:
    import tempfile

    from frbench.embed import embed_images
    from frbench.embed.backend import Pipeline

    pipeline = Pipeline(spec.model, spec.detector, spec.align)
    with tempfile.TemporaryDirectory(prefix="frbench-skin-") as scratch:
        embeddings, _ = embed_images(images, pipeline, Path(cache_dir) if cache_dir is not None else Path(scratch),
                                     executor="serial", progress=progress, max_pixels=max_pixels)
    matrix = embeddings.matrix
    if matrix.shape[1] == 0:
        matrix = np.full((len(images), spec.dims), np.nan)
    elif matrix.shape[1] != spec.dims:
        raise DatasetError(f"{spec.model} embeddings have {matrix.shape[1]} dimensions, the skin-tone model expects {spec.dims}")
    with np.errstate(invalid="ignore"):
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    out = pd.DataFrame(unit, columns=spec.names())
    out.insert(0, "detail", embeddings.detail.to_numpy())
    out.insert(0, "status", embeddings.status.to_numpy())
    out.insert(0, "subject_id", images["subject_id"].to_numpy())
    out.insert(0, "image_id", images["image_id"].to_numpy())
    return out


def pool_subject_means(features: pd.DataFrame, model: SkinToneModel) -> pd.DataFrame:
    """Per subject, from the mean of its ``ok`` images' features: the same columns as
    :func:`aggregate_subjects`. Averaging features rather than decisions lets photos that agree
    move the subject away from the boundary, so a subject with many photos is decided more surely."""
    rows = []
    cols = list(model.features)
    for subject, group in features.groupby("subject_id", sort=True):
        ok = group[group["status"] == OK]
        if len(ok) == 0:
            rows.append(_without_usable_image(subject, group))
            continue
        mean = ok[cols].to_numpy(dtype=np.float64).mean(axis=0)[None, :]
        p = float(model.p_darker(mean)[0])
        monk = float(median_class(model.monk_distribution(mean), model.monk_classes)[0])
        rows.append((subject, str(decide(np.array([p]), model.band)[0]), p, monk, len(ok)))
    return _subject_table(rows)


def _band(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{what}={value!r} must be two probabilities [low, high]")
    lo, hi = (float(v) for v in value)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ConfigError(f"{what}={value!r} must satisfy 0 <= low <= high <= 1")
    return lo, hi


def _parse_model(doc: dict[str, Any], name: str) -> SkinToneModel:
    if doc.get("format") != MODEL_FORMAT:
        raise ValueError(f"format is {doc.get('format')!r}, expected {MODEL_FORMAT!r}")
    if doc.get("features_version") != FEATURES_VERSION:
        raise ValueError(
            f"made for feature version {doc.get('features_version')!r}, this frbench computes version "
            f"{FEATURES_VERSION}; refit it with bench/skin_tone_eval.py --write-model"
        )
    features = tuple(doc["features"])
    pooling = doc.get("pooling", IMAGE_LOGITS)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    embedding = None
    if doc.get("embedding") is not None:
        e = doc["embedding"]
        embedding = EmbeddingSpec(str(e["model"]), str(e["detector"]), bool(e["align"]), int(e["dims"]), str(e["prefix"]))
    known = set(FEATURE_NAMES) | set(embedding.names() if embedding else ())
    unknown = [f for f in features if f not in known]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown[:3]}")
    n = len(features)

    def vector(value: Any, length: int, what: str) -> NDArray[np.float64]:
        v = np.asarray(value, dtype=np.float64)
        if v.shape != (length,) or not np.all(np.isfinite(v)):
            raise ValueError(f"{what} must be {length} finite numbers")
        return v

    scale = vector(doc["standardise"]["scale"], n, "standardise.scale")
    if np.any(scale <= 0):
        raise ValueError("standardise.scale must be positive")
    classes = tuple(int(c) for c in doc["monk"]["classes"])
    if list(classes) != list(range(classes[0], classes[0] + len(classes))) or not 1 <= classes[0] <= classes[-1] <= 10:
        raise ValueError(f"monk.classes {list(classes)} must be consecutive tones within 1..10")
    thresholds = vector(doc["monk"]["thresholds"], len(classes) - 1, "monk.thresholds")
    if np.any(np.diff(thresholds) < 0):
        raise ValueError("monk.thresholds must be non-decreasing")
    try:
        band = _band(doc["band"], "band")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return SkinToneModel(
        features=features,
        mean=vector(doc["standardise"]["mean"], n, "standardise.mean"),
        scale=scale,
        intercept=float(doc["p_darker"]["intercept"]),
        coef=vector(doc["p_darker"]["coef"], n, "p_darker.coef"),
        monk_classes=classes,
        monk_thresholds=thresholds,
        monk_coef=vector(doc["monk"]["coef"], n, "monk.coef"),
        band=band,
        provenance=dict(doc.get("provenance", {})),
        source=name,
        held_out_confusion=_held_out(doc.get("held_out_confusion")),
        held_out_description=str((doc.get("held_out_confusion") or {}).get("description", "")),
        pooling=pooling,
        embedding=embedding,
    )


def _held_out(value: Any) -> dict[str, tuple[int, int]] | None:
    """The ``held_out_confusion`` section checked: whole counts, 0 <= n_perceived_darker <= n."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("held_out_confusion must be an object keyed by call")
    out = {}
    for call, cell in value.items():
        if call == "description":
            continue
        if call not in (DARKER, LIGHTER, UNCERTAIN):
            raise ValueError(f"held_out_confusion: unknown call {call!r} (darker, lighter, uncertain)")
        n, k = cell["n"], cell["n_perceived_darker"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, k)) or not 0 <= k <= n:
            raise ValueError(f"held_out_confusion.{call}: need whole numbers 0 <= n_perceived_darker <= n")
        out[call] = (n, k)
    return out


def model_document(
    features: list[str],
    mean: ArrayLike,
    scale: ArrayLike,
    intercept: float,
    coef: ArrayLike,
    monk_classes: list[int],
    monk_thresholds: ArrayLike,
    monk_coef: ArrayLike,
    band: tuple[float, float],
    provenance: dict[str, Any],
    held_out_confusion: dict[str, Any] | None = None,
    pooling: str = IMAGE_LOGITS,
    embedding: EmbeddingSpec | None = None,
) -> dict[str, Any]:
    """The JSON document :func:`load_model` reads (what ``--write-model`` writes); the held-out
    confusion (module docstring) is written where given."""

    def floats(v: ArrayLike) -> list[float]:
        return [float(x) for x in np.asarray(v, dtype=np.float64)]

    return {
        "format": MODEL_FORMAT,
        "features_version": FEATURES_VERSION,
        "features": list(features),
        "standardise": {"mean": floats(mean), "scale": floats(scale)},
        "p_darker": {"intercept": float(intercept), "coef": floats(coef)},
        "monk": {"classes": [int(c) for c in monk_classes], "thresholds": floats(monk_thresholds), "coef": floats(monk_coef)},
        "band": [float(band[0]), float(band[1])],
        "pooling": pooling,
        "embedding": None if embedding is None else {
            "model": embedding.model, "detector": embedding.detector, "align": embedding.align,
            "dims": embedding.dims, "prefix": embedding.prefix},
        "provenance": provenance,
        **({"held_out_confusion": held_out_confusion} if held_out_confusion is not None else {}),
    }
