"""Apply a config's ``annotate:`` section to an ImageTable before grouping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frbench.config import AnnotateConfig
from frbench.errors import ConfigError
from frbench.tables import UNKNOWN
from frbench.embed.screening import MAX_PIXELS


def ita_options(cfg: AnnotateConfig) -> "ItaOptions":  # noqa: F821
    """ItaOptions from the config; unset keys keep the defaults chosen by measurement (docs/skin_tone.md)."""
    from frbench.annotate.ita import ItaOptions

    chosen = {k: v for k, v in (("grey_world", cfg.grey_world), ("regions", cfg.regions), ("statistic", cfg.statistic)) if v is not None}
    return ItaOptions(**chosen)


def apply_annotations(
    cfg: AnnotateConfig,
    images: pd.DataFrame,
    cache_dir: Path,
    workers: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Add ``skin_tone`` columns to ``images``; return it and the per-image ITA table (or None).

    A subject's tone follows the one precedence policy (:func:`skin_tone_subjects_of`): the
    annotators' consensus where ``skin_tone_labels`` label it, else the estimate, else
    ``unknown``; every column of the subjects table lands on each of the subject's images. ITA is
    estimated on every image given and a subject's tone is the median over them, so callers pass
    all images of the subjects they measure, not only those in pairs. Images above ``max_pixels``
    are ``too_large`` and not decoded (``frbench.embed.screening.check_image``).
    """
    from frbench.annotate.skin_tone import annotate_skin_tone
    from frbench.annotate.sources import apply_subjects

    if cfg.skin_tone is None and not cfg.skin_tone_labels:
        return images, None
    if "skin_tone" in images.columns:
        raise ConfigError("annotate.skin_tone: the dataset already has a skin_tone column; remove one of the two")
    if cfg.skin_tone in ("fitzpatrick", "monk"):
        # a dataset's own labels, image by image; no label files (the config refuses both together)
        if cfg.skin_tone_column not in images.columns:
            raise ConfigError(f"annotate.skin_tone_column: no column {cfg.skin_tone_column!r} in the dataset")
        return annotate_skin_tone(images, source_column=cfg.skin_tone_column, scale=cfg.skin_tone), None
    per_image, subjects = skin_tone_subjects_of(cfg, images, cache_dir, workers, progress, max_pixels)
    return apply_subjects(images, subjects), (per_image if cfg.skin_tone == "ita" else None)


def skin_tone_subjects_of(
    cfg: AnnotateConfig,
    images: pd.DataFrame,
    cache_dir: Path,
    workers: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """The configured estimate's per-image table (None without one) and the subjects table of
    every subject of ``images``: :func:`frbench.annotate.sources.skin_tone_subjects` applied to the
    estimate and the consensus of ``cfg.skin_tone_labels``. Runs and ``frbench annotate
    skin-tone`` both come here, so their groups agree. Only subjects without a label are
    estimated."""
    from frbench.annotate.sources import perceived_skin_tone, skin_tone_subjects

    perceived = perceived_skin_tone(cfg.skin_tone_labels) if cfg.skin_tone_labels else None
    # the annotators' label wins wherever there is one, so only the others are estimated: on a
    # labelled dataset the estimate (which may embed every photo) costs nothing for labelled subjects
    todo = images if perceived is None else images[~images["subject_id"].isin(perceived["subject_id"])]
    per_image, estimate = _estimate(cfg, todo, cache_dir, workers, progress, max_pixels) if len(todo) else (None, None)
    return per_image, skin_tone_subjects(pd.unique(images["subject_id"]), estimate, perceived)


def _estimate(
    cfg: AnnotateConfig, images: pd.DataFrame, cache_dir: Path, workers: int, progress: bool, max_pixels: int
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The configured estimate: its per-image table and per subject ``subject_id, skin_tone,
    skin_tone_source, skin_tone_category`` with the estimate's own columns; (None, None) without one.

    Estimator: ``p_darker``, ``monk_estimate``, ``n_images`` and the held-out counts of each
    subject's call (:meth:`~frbench.annotate.estimator.SkinToneModel.heldout_counts`). ITA: ``ita``,
    ``n_images`` (ITA records no held-out confusion: NaN).
    """
    from frbench.annotate.ita import estimate_ita_images, subject_ita
    from frbench.annotate.skin_tone import binary_from_ita_category, ita_category

    if cfg.skin_tone is None:
        return None, None
    if cfg.skin_tone == "estimator":
        from frbench.annotate.estimator import estimate_skin_tone, load_model

        model = load_model().with_band(cfg.uncertain_band)
        per_image, per_subject = estimate_skin_tone(images, model, cache_dir=cache_dir, progress=progress, max_pixels=max_pixels)
        per_subject["heldout_n"], per_subject["heldout_n_darker"] = model.heldout_counts(per_subject["skin_tone"])
        return per_image, per_subject
    per_image = estimate_ita_images(
        images, ita_options(cfg), cache_dir=cache_dir, workers=workers, progress=progress, max_pixels=max_pixels
    )
    per_image["skin_tone_category"] = ita_category(per_image["ita"].to_numpy(dtype=float))
    per_image["skin_tone_source"] = "ita"
    per_subject = subject_ita(per_image)
    per_subject["skin_tone_category"] = ita_category(per_subject["ita"].to_numpy(dtype=float))
    per_subject["skin_tone"] = binary_from_ita_category(per_subject["skin_tone_category"].to_numpy())
    per_subject["skin_tone_source"] = np.where(per_subject["skin_tone"] == UNKNOWN, UNKNOWN, "ita")
    return per_image, per_subject


def skin_tone_tables(
    images: pd.DataFrame,
    cfg: AnnotateConfig,
    cache_dir: Path,
    workers: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image estimate and per-subject tables of a whole ImageTable (what ``frbench annotate skin-tone`` writes).

    Per image: the estimate (ITA, or the estimator's P(darker), weight and Monk distribution),
    status and failure reason (empty without an estimate). Per subject: the subjects table of the
    one policy (:func:`skin_tone_subjects_of`: annotators' consensus, else the estimate, else
    unknown; ``frbench.annotate.sources.SUBJECT_TABLE_COLUMNS``) with the estimate's columns.
    A config with neither ``skin_tone`` nor ``skin_tone_labels`` is estimated by ITA.
    """
    if cfg.skin_tone in ("fitzpatrick", "monk"):
        raise ConfigError("frbench annotate skin-tone estimates skin tone (ita, estimator) or applies label files; "
                          f"skin_tone: {cfg.skin_tone} maps the dataset's own column at run time")
    if cfg.skin_tone is None and not cfg.skin_tone_labels:
        # nothing configured: the command estimates by ITA, as it always has
        cfg = cfg.model_copy(update={"skin_tone": "ita"})
    per_image, subjects = skin_tone_subjects_of(cfg, images, cache_dir, workers, progress, max_pixels)
    if per_image is None:
        per_image = pd.DataFrame(columns=["image_id", "subject_id", "status"])
    return per_image, subjects


def skin_tone_of_dataset(
    config: "Config",  # noqa: F821
    data_root: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`skin_tone_tables` of every image of the dataset a config names, with its annotate options.

    What ``frbench annotate skin-tone CONFIG`` writes; estimates are cached by image content in the
    config's cache directory.
    """
    from frbench.datasets import load_dataset
    from frbench.datasets.registry import resolve_data_root
    from frbench.embed.cache import resolve_cache_dir

    images = load_dataset(config.dataset, resolve_data_root(data_root)).images
    return skin_tone_tables(
        images, config.annotate, resolve_cache_dir(config.cache.dir), workers=workers, progress=progress,
        max_pixels=config.dataset.max_pixels,
    )
