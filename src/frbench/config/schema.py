"""The run configuration's schema: pydantic models with defaults, unknown keys forbidden.

A typo is an error (with the closest valid key suggested, :mod:`frbench.config.loading`) rather
than a silently ignored setting. The constants the models check against are defined here, at the
bottom of the package graph, and imported by the stages that use them (embedding, screening,
exhaustive scoring).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from frbench.points import fixed_name, repeated_name, target_fmr_name, target_fpir_name

# model.name of a run that imports scores instead of running a model
IMPORTED_SCORES = "scores"
# Pillow's own default warning limit (Image.MAX_IMAGE_PIXELS): 0.25 GiB of 24-bit pixels, far above
# any face photograph (a 50-megapixel camera frame passes) and far below what exhausts a worker.
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
# model.multiple_faces: embed the largest face, count the image a failure, or keep every face
LARGEST, FAIL, ALL_BEST = "largest", "fail", "all-best"
# The distance metrics the exhaustive protocol's blockwise scoring computes.
EXHAUSTIVE_METRICS = ("cosine", "euclidean_l2")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Strict):
    """Where the images, labels and pairs come from (layouts in data/README.md)."""

    name: str = Field(description="dataset folder name under $FRBENCH_DATA")
    format: Literal["lfw", "csv", "folder", "rfw", "bfw", "deepface-pairs", "scores"] = "lfw"
    root: Path | None = Field(None, description="explicit dataset folder; default $FRBENCH_DATA/<name>")
    folds: list[int] | None = Field(None, description="lfw, rfw, bfw: pair folds to use; default all")
    images: str | None = Field(
        None, description="csv: images CSV; folder: folder of identity folders [root]; bfw: image folder"
    )
    pairs: str | None = Field(
        None, description="csv: pairs CSV; bfw: pair table; deepface-pairs: pairs CSV [master.csv]"
    )
    columns: dict[str, str] = Field(default_factory=dict, description="csv: contract name -> CSV column")
    scores: str | None = Field(
        None, description="scores (no images): the score file; pyeer: the genuine scores (data/README.md)"
    )
    score_format: Literal["bob4", "bob5", "bob-csv", "pyeer", "bfw"] | None = Field(
        None, description="scores: bob's 4- or 5-column text, bob's CSV, pyeer's files or BFW's pair table"
    )
    impostors: str | None = Field(None, description="scores, pyeer: the impostor score file")
    score_column: str | None = Field(
        None, description="scores, bfw: the model's score column, where the table has several"
    )
    attributes: list[str] | None = Field(None, description="csv: attribute columns to keep")
    allow_outside_root: bool = Field(
        False, description="csv, bfw, deepface-pairs: accept image paths that lead outside the folder they are relative to"
    )
    max_pixels: int = Field(
        MAX_PIXELS, ge=1, description="an image whose header declares more pixels is a 'too_large' failure, never decoded"
    )
    labels: str | None = Field(None, description="labels CSV joined onto the images, relative to the root")
    labels_by: Literal["subject", "image"] = Field(
        "subject", description="labels: one row per subject (subject_id) or per image (image_id)"
    )
    label_columns: dict[str, str] = Field(
        default_factory=dict, description="labels: contract name -> labels CSV column"
    )

    @field_validator("folds")
    @classmethod
    def _folds_in_range(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            bad = [f for f in v if not 1 <= f <= 10]
            if bad or not v:
                raise ValueError(f"folds must be a non-empty list of integers 1-10, got {v}")
        return v

    @model_validator(mode="after")
    def _csv_needs_images(self) -> DatasetConfig:
        if self.format == "csv" and not self.images:
            raise ValueError("format 'csv' needs 'images' (the images CSV file)")
        if self.label_columns and not self.labels:
            raise ValueError("'label_columns' needs 'labels' (the labels CSV file)")
        if self.format == "scores":
            if not self.scores or self.score_format is None:
                raise ValueError("format 'scores' needs 'scores' (the score file) and 'score_format'")
            if (self.score_format == "pyeer") != bool(self.impostors):
                raise ValueError("'impostors' (the impostor score file) goes with score_format 'pyeer', and only there")
        elif self.scores or self.score_format or self.impostors or self.score_column:
            raise ValueError("'scores', 'score_format', 'impostors' and 'score_column' belong to format 'scores'")
        return self


class PairsConfig(_Strict):
    """Which pairs are scored.

    ``file``: the dataset's own pair list. ``generated``: every mated pair (capped per subject)
    and ``n_nonmated`` sampled non-mated pairs, demographically matched on ``match_on``.
    ``exhaustive``: every mated and every non-mated pair among the enrolled images, scored in
    blocks of ``block`` rows without materialising the full matrix. ``identification``: one-to-many
    search (the ``identification`` section; FPIR and FNIR per probe group).
    """

    protocol: Literal["file", "generated", "exhaustive", "identification"] = "file"
    n_nonmated: int = Field(10000, ge=1, description="generated: non-mated pairs to sample")
    mated_per_subject: int | None = Field(None, ge=1, description="generated: cap on mated pairs per subject")
    match_on: list[str] = Field(default_factory=list, description="generated: attributes both sides share")
    seed: int = 0
    block: int = Field(2048, ge=1, description="exhaustive: rows per block (memory ~ 50 * block^2 bytes)")


class ModelConfig(_Strict):
    """The deepface pipeline: recognition model, detector, alignment, comparison."""

    name: str = "Dlib"
    detector: str = "dlib"
    align: bool = True
    distance_metric: Literal["cosine", "euclidean", "euclidean_l2", "angular"] = "cosine"
    path: Path | None = Field(None, description="name 'scores': a CSV of image_a, image_b, score[, mated]")
    direction: Literal["similarity", "distance"] = Field(
        "similarity", description="name 'scores': whether a higher imported score means more alike"
    )
    normalization: str = "base"
    expand_percentage: int = Field(0, ge=0, le=100)
    enforce_detection: bool = Field(
        True, description="true: an image with no detected face is a counted failure to enrol"
    )
    l2_normalize: bool = False
    multiple_faces: Literal["largest", "fail", "all-best"] = Field(
        "largest",
        description="where the detector finds several faces: embed the largest; count the image as a failure "
        "(several_faces); or keep every face and score a pair as its closest two faces, as DeepFace.verify does",
    )


    @property
    def imports_scores(self) -> bool:
        """Whether the scores come from another system (``name: scores``), not from a deepface model
        frbench runs: the one place that placeholder name is read."""
        return self.name == IMPORTED_SCORES

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return _known_name(v, "recognition model", (*deepface_names()[0], IMPORTED_SCORES))

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, v: str) -> str:
        return _known_name(v, "detector", deepface_names()[1])


class ThresholdsConfig(_Strict):
    """Decision thresholds at which rates are reported."""

    deepface_default: bool = Field(True, description="deepface's own threshold for the model and metric")
    target_fmr: list[float] = Field(
        default_factory=lambda: [1e-2, 1e-3],
        description="global thresholds set on all non-mated scores at these false-match rates",
    )
    fixed: list[float] = Field(default_factory=list, description="fixed similarity thresholds")
    per_group: bool = Field(
        False, description="also a threshold per group at each target FMR (what a global threshold costs each group)"
    )
    fold_calibrated: bool = Field(
        True, description="where pairs have folds: thresholds set on the other folds, applied to each held-out fold"
    )

    @field_validator("target_fmr")
    @classmethod
    def _fmr_in_unit_interval(cls, v: list[float]) -> list[float]:
        return _rates_in_unit_interval(v, "target FMR")

    @field_validator("fixed")
    @classmethod
    def _fixed_are_finite(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not math.isfinite(f)]
        if bad:
            raise ValueError(f"fixed thresholds must be finite numbers, got {bad}")
        return v

    # every threshold names a column and rows: two that print alike would overwrite one another
    @field_validator("target_fmr")
    @classmethod
    def _targets_named_apart(cls, v: list[float]) -> list[float]:
        return _named_apart(v, target_fmr_name, "target FMR")

    @field_validator("fixed")
    @classmethod
    def _fixed_named_apart(cls, v: list[float]) -> list[float]:
        return _named_apart(v, fixed_name, "fixed threshold")


def _named_apart(values: list[float], name: Callable[[float], str], what: str) -> list[float]:
    """Refuse two values of one list that would name the same threshold (1e-3 and 0.001 listed twice)."""
    same = repeated_name(values, name)
    if same is not None:
        # names read back as their value, so only one value listed twice (1e-3 and 0.001) can get here
        raise ValueError(f"{what} {same[0]!r} is listed twice (threshold {same[2]}): list each value once")
    return values


def _rates_in_unit_interval(values: list[float], what: str) -> list[float]:
    """Target rates lie strictly between 0 and 1 (NaN and infinities are refused with them)."""
    bad = [f for f in values if not 0 < f < 1]
    if bad:
        raise ValueError(f"{what} values must lie strictly between 0 and 1, got {bad}")
    return values


class StatsConfig(_Strict):
    confidence_level: float = Field(0.95, gt=0, lt=1)
    bootstrap: int = Field(0, ge=0, description="subject-bootstrap replicates (0: off)")
    seed: int = 0
    min_group_subjects: int = Field(
        10, ge=0, description="groups with fewer subjects are shown but left out of fairness summaries and group tests"
    )
    permutations: int = Field(1999, ge=0, description="subject-clustered permutation test: permutations (0: exact test only)")
    label_draws: int = Field(
        1000, ge=0, description="skin-tone sensitivity analysis: replicates that resample subjects and redraw each "
        "subject's perceived label (annotators' answers, the estimator's held-out confusion); under 1,000 the "
        "report says so (0: off)"
    )
    threshold_uncertainty: bool = Field(
        False, description="bootstrap intervals that re-set each target threshold on the replicate's own impostors"
    )


class AnnotateConfig(_Strict):
    """Labels derived before grouping: ``skin_tone`` (lighter/darker) and ``skin_tone_category``."""

    skin_tone: Literal["ita", "estimator", "fitzpatrick", "monk"] | None = Field(
        None,
        description="ita: estimate from skin pixels; estimator: calibrated P(darker) and Monk estimate with "
        "abstention (docs/skin_tone.md); fitzpatrick/monk: map the dataset's own labels",
    )
    uncertain_band: tuple[float, float] | None = Field(
        None, description="estimator: P(darker) band [low, high] reported as uncertain (default: the model's)"
    )
    skin_tone_column: str | None = Field(None, description="fitzpatrick/monk: the image column holding the labels")
    skin_tone_labels: list[Path] = Field(
        default_factory=list,
        description="perceived-label files of annotators (frbench label's per-annotator CSVs, or a consensus): "
        "where they label a subject, their consensus replaces the estimate (docs/labelling.md)",
    )
    grey_world: bool | None = Field(None, description="ita: colour-constancy correction (default: measured best)")
    regions: str | None = Field(None, description="ita: skin regions (default: measured best)")
    statistic: str | None = Field(None, description="ita: robust statistic (default: measured best)")

    @model_validator(mode="after")
    def _human_scale_needs_column(self) -> AnnotateConfig:
        if self.skin_tone_labels and self.skin_tone in ("fitzpatrick", "monk"):
            raise ValueError("skin_tone_labels adds annotators' labels to an estimate (ita, estimator); a dataset's "
                             "own Fitzpatrick or Monk column already is labels")
        if self.skin_tone in ("fitzpatrick", "monk") and not self.skin_tone_column:
            raise ValueError(f"skin_tone {self.skin_tone!r} needs skin_tone_column, the column with the labels")
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if self.skin_tone != "estimator":
                raise ValueError("uncertain_band applies to skin_tone: estimator only")
            if not 0 <= low <= high <= 1:
                raise ValueError(f"uncertain_band {list(self.uncertain_band)} must satisfy 0 <= low <= high <= 1")
        return self


class GallerySizeConfig(_Strict):
    steps: int = Field(6, ge=0, description="gallery sizes from smallest to full (0: no sweep)")
    smallest: int = Field(100, ge=1)
    repeats: int = Field(5, ge=1, description="seeded subsamples per size")


class CompositionConfig(_Strict):
    attribute: str
    group: str
    shares: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75, 0.9])
    size: int | None = Field(None, ge=1)
    repeats: int = Field(5, ge=1)


class FpirPredictionConfig(_Strict):
    sizes: list[float] = Field(default_factory=lambda: [1e5, 1e6, 1e7, 3e7], description="gallery sizes N to predict")

    @field_validator("sizes")
    @classmethod
    def _sizes_at_least_one(cls, v: list[float]) -> list[float]:
        if not v or any(not s >= 1 for s in v):
            raise ValueError(f"sizes must be numbers >= 1, got {v}")
        return v


class IdentificationConfig(_Strict):
    """One-to-many search (pairs.protocol: identification), the way police search a mugshot database.

    A seeded, identity-disjoint split: ``enrolled_fraction`` of the subjects with at least two
    images are enrolled with ``gallery_images_per_subject`` images; their other images are mated
    probes, the images of subjects not enrolled non-mated probes; subjects with fewer images are
    ``few_image_subjects`` (gallery distractors by default). Or given lists (``gallery_file`` and
    ``probes_file``, CSV of image ids). FNIR at ``ranks`` (investigative) and FPIR/FNIR at
    thresholds set on non-mated searches at ``target_fpir`` (identification mode).
    """

    gallery_images_per_subject: int = Field(1, ge=1)
    enrolled_fraction: float = Field(0.5, gt=0, lt=1)
    few_image_subjects: Literal["distractors", "nonmated", "unused"] = "distractors"
    max_probes_per_subject: int | None = Field(None, ge=1)
    seed: int = 0
    gallery_file: Path | None = None
    probes_file: Path | None = None
    candidates: int = Field(50, ge=1, description="L, the candidate-list length")
    ranks: list[int] = Field(default_factory=lambda: [1, 5, 10, 20, 50])
    target_fpir: list[float] = Field(default_factory=lambda: [1e-1, 1e-2, 3e-3])
    kernel: Literal["auto", "numpy", "faiss"] = "auto"
    block_mb: int = Field(64, ge=1)
    gallery_size: GallerySizeConfig = GallerySizeConfig()
    composition: CompositionConfig | None = None
    fpir_prediction: FpirPredictionConfig | None = Field(
        None, description="model-based FPIR per searcher group from cross-group FMR: checked on the sweeps, then at large N"
    )

    @field_validator("target_fpir")
    @classmethod
    def _fpir_in_unit_interval(cls, v: list[float]) -> list[float]:
        return _rates_in_unit_interval(v, "target FPIR")

    @field_validator("target_fpir")
    @classmethod
    def _fpir_named_apart(cls, v: list[float]) -> list[float]:
        return _named_apart(v, target_fpir_name, "target FPIR")

    @model_validator(mode="after")
    def _lists_together(self) -> IdentificationConfig:
        if (self.gallery_file is None) != (self.probes_file is None):
            raise ValueError("gallery_file and probes_file are given together or not at all")
        if any(r < 1 or r > self.candidates for r in self.ranks):
            raise ValueError(f"ranks must lie in 1..candidates ({self.candidates}), got {self.ranks}")
        return self


class CacheConfig(_Strict):
    dir: Path | None = Field(None, description="embedding cache; default $FRBENCH_CACHE or the user cache dir")


class ExecutionConfig(_Strict):
    executor: Literal["serial", "processes", "dask"] = "processes"
    workers: int | None = Field(None, ge=1, description="default: number of CPU cores")
    scheduler: str | None = Field(None, description="dask: scheduler address; default a LocalCluster")
    scratch_dir: Path | None = Field(
        None, description="dask: folder for the arrays workers memory-map (shared by all machines); default a temp folder"
    )

    @model_validator(mode="after")
    def _scheduler_is_for_dask(self) -> ExecutionConfig:
        if self.scheduler is not None and self.executor != "dask":
            raise ValueError(f"scheduler is an address for executor 'dask', but executor is {self.executor!r}")
        if self.scratch_dir is not None and self.executor != "dask":
            raise ValueError(f"scratch_dir is for executor 'dask', but executor is {self.executor!r}")
        return self


class Config(_Strict):
    """One run: a dataset, a pipeline, thresholds and the groups to report."""

    name: str
    description: str = ""
    dataset: DatasetConfig
    pairs: PairsConfig = PairsConfig()
    identification: IdentificationConfig = IdentificationConfig()
    model: ModelConfig = ModelConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    groups: list[str] = Field(default_factory=list)
    intersections: list[list[str]] = Field(default_factory=list)
    annotate: AnnotateConfig = AnnotateConfig()
    stats: StatsConfig = StatsConfig()
    cache: CacheConfig = CacheConfig()
    execution: ExecutionConfig = ExecutionConfig()
    offline: bool = Field(False, description="never download weights; fail at once when they are absent")
    # not a setting: not dumped, hashed or compared
    _source: str = PrivateAttr("<config>")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return safe_run_name(v)

    @field_validator("intersections")
    @classmethod
    def _intersections_have_two_parts(cls, v: list[list[str]]) -> list[list[str]]:
        for combo in v:
            if len(combo) < 2 or len(set(combo)) != len(combo):
                raise ValueError(f"each intersection lists two or more distinct attributes, got {combo}")
        return v

    @model_validator(mode="after")
    def _scores_have_a_source(self) -> Config:
        # a score-only dataset carries its own scores; any other imports them from model.path
        if self.dataset.format == "scores":
            if not self.model.imports_scores or self.model.path is not None:
                raise ValueError(
                    "dataset format 'scores' carries its own scores: set model.name: scores, without model.path"
                )
            if self.pairs.protocol != "file":
                raise ValueError("dataset format 'scores' scores its own pairs: set pairs.protocol: file")
        elif self.model.imports_scores and self.model.path is None:
            raise ValueError("model.name 'scores' (imported scores) needs model.path, the scores CSV")
        return self

    @model_validator(mode="after")
    def _exhaustive_pipeline(self) -> Config:
        # Checked at load so that a run does not embed a dataset only to be refused when scoring.
        folds = self.dataset.folds
        if folds is not None and self.dataset.format not in FOLD_FORMATS:
            raise ValueError(
                f"dataset.folds {folds} selects pairs of the {', '.join(FOLD_FORMATS)} formats' pair lists; format "
                f"{self.dataset.format!r} has no folds to select, so it would be ignored: remove dataset.folds"
            )
        if folds is not None and self.pairs.protocol != "file":
            raise ValueError(
                f"dataset.folds {folds} selects pairs of the dataset's pair list, which pairs.protocol "
                f"{self.pairs.protocol!r} does not use (it takes every image of the dataset), so the folds would be "
                "ignored: remove dataset.folds, or use pairs.protocol file"
            )
        if self.pairs.protocol == "identification" and self.model.distance_metric != "cosine":
            raise ValueError(
                f"pairs.protocol identification ranks candidates by cosine similarity: set model.distance_metric "
                f"cosine, got {self.model.distance_metric!r}"
            )
        if self.pairs.protocol == "exhaustive" and self.model.distance_metric not in EXHAUSTIVE_METRICS:
            raise ValueError(
                f"pairs.protocol exhaustive supports model.distance_metric {' or '.join(EXHAUSTIVE_METRICS)}, "
                f"got {self.model.distance_metric!r}"
            )
        if self.pairs.protocol == "exhaustive" and self.model.multiple_faces == ALL_BEST:
            raise ValueError(
                "model.multiple_faces: all-best scores a pair as its closest two faces, which the exhaustive "
                "protocol's blockwise scoring of one embedding per image does not do: use largest or fail"
            )
        return self

    @property
    def source(self) -> str:
        """Where the config came from (its file, ``<config>`` for a mapping): the start of its error messages."""
        return self._source

    def fingerprint(self) -> str:
        """sha256 of the resolved config, so manifests can tell two configs apart."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


# Formats whose pair lists have folds that dataset.folds selects.
FOLD_FORMATS = ("lfw", "rfw", "bfw")
# A run's name becomes its folder under runs/: each '/'-separated part is a plain file name.
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.+=-]")


def safe_run_name(name: str) -> str:
    """``name`` as a folder path under ``runs/`` that cannot leave it, or ValueError.

    Characters other than letters, digits, ``.``, ``_``, ``-``, ``+`` and ``=`` become ``_``; ``/``
    separates sub-folders (a grid cell's ``<grid>/<cell>``). An absolute name, a backslash, and an
    empty, ``.`` or ``..`` part are refused: the run would be written outside ``runs/<name>``.
    """
    text = str(name).strip()
    if not text:
        raise ValueError("a run's name may not be empty (it names the folder runs/<name>)")
    if text.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", text) or "\\" in text:
        raise ValueError(f"{text!r} is a path, not a name: runs are written to runs/<name> (or give -o DIR)")
    parts = text.split("/")
    if any(part.strip(".") == "" for part in parts):
        raise ValueError(f"{text!r} has an empty, '.' or '..' part: a name may not lead outside runs/ (or give -o DIR)")
    return "/".join(_UNSAFE_NAME_CHARS.sub("_", part) for part in parts)


@lru_cache(maxsize=1)
def deepface_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(recognition models, face detectors) this deepface offers, detectors including ``skip``.

    Read from deepface's model table (``deepface.modules.modeling.AVAILABLE_MODELS``), which
    importing does not load any model; the same table frbench.embed.weights builds on.
    """
    from deepface.modules import modeling

    return (
        tuple(modeling.AVAILABLE_MODELS["facial_recognition"]),
        ("skip", *modeling.AVAILABLE_MODELS["face_detector"]),
    )


def _known_name(value: str, what: str, valid: Sequence[str]) -> str:
    if value in valid:
        return value
    by_lower = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean '{by_lower[close[0]]}'?" if close else ""
    raise ValueError(f"unknown {what} (got {value!r}){hint} Valid: {', '.join(valid)}")
