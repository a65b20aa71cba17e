"""Apply a config's ``annotate:`` section to an ImageTable before grouping."""

from __future__ import annotations

from pathlib import Path

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

    Where ``skin_tone_labels`` label a subject, the human consensus replaces the estimate
    (:mod:`frbench.annotate.sources`, the one precedence policy). ITA is estimated on every image given and a subject's tone is the median over them, so
    callers pass all images of the subjects they measure, not only those in pairs. Images above
    ``max_pixels`` are ``too_large`` and not decoded (``frbench.embed.screening.check_image``).
    """

    if cfg.skin_tone is None and not cfg.skin_tone_labels:
        return images, None
    if "skin_tone" in images.columns:
        raise ConfigError("annotate.skin_tone: the dataset already has a skin_tone column; remove one of the two")
    estimated, per_image = _estimated(cfg, images, cache_dir, workers, progress, max_pixels)
    if cfg.skin_tone_labels:
        from frbench.annotate.sources import apply_human_labels, human_skin_tone

        estimated, _ = apply_human_labels(estimated, human_skin_tone(cfg.skin_tone_labels))
    return estimated, per_image


def _estimated(
    cfg: AnnotateConfig, images: pd.DataFrame, cache_dir: Path, workers: int, progress: bool, max_pixels: int
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The configured estimate of every image's subject (``unknown`` without one)."""
    from frbench.annotate.ita import estimate_ita_images, subject_ita
    from frbench.annotate.skin_tone import annotate_skin_tone

    if cfg.skin_tone is None:
        return images.assign(skin_tone=UNKNOWN, skin_tone_category=UNKNOWN, skin_tone_source=UNKNOWN), None
    if cfg.skin_tone == "estimator":
        from frbench.annotate.estimator import annotate_with_estimator, estimate_skin_tone, load_model

        model = load_model().with_band(cfg.uncertain_band)
        _, per_subject = estimate_skin_tone(images, model, cache_dir=cache_dir, progress=progress, max_pixels=max_pixels)
        return annotate_with_estimator(images, per_subject), None
    if cfg.skin_tone == "ita":
        per_image = estimate_ita_images(
            images, ita_options(cfg), cache_dir=cache_dir, workers=workers, progress=progress, max_pixels=max_pixels
        )
        return annotate_skin_tone(images, per_subject_ita=subject_ita(per_image), scale="ita"), per_image
    if cfg.skin_tone_column not in images.columns:
        raise ConfigError(f"annotate.skin_tone_column: no column {cfg.skin_tone_column!r} in the dataset")
    return annotate_skin_tone(images, source_column=cfg.skin_tone_column, scale=cfg.skin_tone), None


def skin_tone_tables(
    images: pd.DataFrame,
    cfg: AnnotateConfig,
    cache_dir: Path,
    workers: int = 1,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image and per-subject ITA tables of a whole ImageTable (what ``frbench annotate skin-tone`` writes).

    Per image: the estimate, skin pixels used, status and failure reason, with its category.
    Per subject: the median ITA over its usable images, their count, the category and the binary.
    With ``skin_tone: estimator``: the estimator's per-image P(darker), weight and Monk
    distribution, and per subject ``skin_tone, p_darker, monk_estimate, n_images, skin_tone_source``.
    """
    from frbench.annotate.ita import estimate_ita_images, subject_ita
    from frbench.annotate.skin_tone import binary_from_ita_category, ita_category

    if cfg.skin_tone == "estimator":
        from frbench.annotate.estimator import estimate_skin_tone, load_model

        model = load_model().with_band(cfg.uncertain_band)
        per_image, per_subject = estimate_skin_tone(images, model, cache_dir=cache_dir, progress=progress, max_pixels=max_pixels)
        everyone = pd.DataFrame({"subject_id": pd.unique(images["subject_id"])})
        return per_image, everyone.merge(per_subject, on="subject_id", how="left")
    per_image = estimate_ita_images(
        images, ita_options(cfg), cache_dir=cache_dir, workers=workers, progress=progress, max_pixels=max_pixels
    )
    per_image["skin_tone_category"] = ita_category(per_image["ita"].to_numpy(dtype=float))
    per_image["skin_tone_source"] = "ita"
    per_subject = subject_ita(per_image)
    everyone = pd.DataFrame({"subject_id": pd.unique(images["subject_id"])})
    per_subject = everyone.merge(per_subject, on="subject_id", how="left")
    per_subject["n_images"] = per_subject["n_images"].fillna(0).astype(int)
    per_subject["skin_tone_category"] = ita_category(per_subject["ita"].to_numpy(dtype=float))
    per_subject["skin_tone"] = binary_from_ita_category(per_subject["skin_tone_category"].to_numpy())
    per_subject["skin_tone_source"] = "ita"
    return per_image, per_subject


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
