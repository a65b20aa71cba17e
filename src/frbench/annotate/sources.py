"""Where each subject's skin tone comes from: one policy, recorded per subject.

Precedence, per subject (:func:`skin_tone_subjects`, the one place the policy lives; every run and
``frbench annotate skin-tone`` call it):

1. **annotators** (``ANNOTATORS``): the subject is in the label files of
   ``annotate.skin_tone_labels`` (frbench label's per-annotator CSVs, or a consensus file). These
   are *perceived* labels, by whoever the annotators were (people or AI models: each file's
   ``annotator-NAME.json`` says, :func:`annotator_kinds`), never called "human" here. The
   consensus (:func:`frbench.label.agreement.consensus`: the most frequent answer, a tie
   ``unsure``) gives ``lighter`` or ``darker``; a consensus of ``unsure`` makes the subject
   ``uncertain``: the annotators who looked could not tell, so no estimate overrides them.
2. **estimator** / **ita**: the configured estimate, where there is one (the estimator's own
   ``uncertain`` for subjects it abstains on or whose photos failed its checks).
3. **unknown**: neither.

A dataset's own Fitzpatrick or Monk column (``skin_tone: fitzpatrick|monk``) keeps its own
mapping (:mod:`frbench.annotate.skin_tone`); its source is ``dataset``.

The subjects table (``SUBJECT_TABLE_COLUMNS``) is what a reader checks a run's groups against:
per subject its tone, source, category, the estimator's P(darker) where the tone was estimated,
``n_annotators`` and ``n_agree`` (annotators who gave the consensus answer) where labelled, the
answers behind them (``n_darker``, ``n_lighter``, ``n_unsure``), and for an estimated tone the
held-out evidence for its call (``heldout_n`` subjects with the same call, ``heldout_n_darker``
of them perceived darker; NaN where not recorded), which the sensitivity analysis
(:mod:`frbench.metrics.label_noise`) draws labels from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.tables import UNKNOWN

ANNOTATORS = "annotators"
UNCERTAIN = "uncertain"
DEFINITE = ("lighter", "darker")
# Sources whose label is an estimate, redrawn from held-out confusion in the sensitivity analysis.
ESTIMATED_SOURCES = ("estimator", "ita")
KIND_NOT_RECORDED = "not recorded"
ANSWER_COLUMNS = ("n_darker", "n_lighter", "n_unsure")
HELDOUT_COLUMNS = ("heldout_n", "heldout_n_darker")
SUBJECT_TABLE_COLUMNS = (
    "subject_id", "skin_tone", "skin_tone_source", "skin_tone_category", "p_darker", "n_annotators", "n_agree",
    *ANSWER_COLUMNS, *HELDOUT_COLUMNS,
)


def perceived_skin_tone(paths: Sequence[Path]) -> pd.DataFrame:
    """Per subject labelled in ``paths``: ``skin_tone`` (lighter, darker or uncertain), ``monk``
    (consensus Monk value, NaN when none), ``n_annotators``, ``n_agree`` and the answers
    ``n_darker``, ``n_lighter``, ``n_unsure``.

    Each file is one annotator's answers (later answers for a subject supersede earlier ones) or a
    consensus file; several files are combined by :func:`frbench.label.agreement.consensus`. A
    consensus file records only how many gave the consensus answer: the others' answers are not
    in it and are counted as ``unsure`` (they did not give it; which answer they gave is unknown).
    """
    from frbench.label.agreement import consensus
    from frbench.label.files import read_annotator_files, read_label_file

    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise DatasetError(f"annotate.skin_tone_labels: no such file {missing[0]}")
    first = read_label_file(Path(paths[0]))
    if "n_agree" in first.columns:  # a consensus file already is one answer per subject
        if len(paths) > 1:
            raise DatasetError(f"{paths[0]}: a consensus file is given alone, not with annotators' files")
        table = first.drop_duplicates("subject_id", keep="last")
        answers = pd.DataFrame({
            f"n_{a}": np.where(table["skin_tone_binary"] == a, table["n_agree"], 0) for a in ("darker", "lighter")
        })
        answers["n_unsure"] = table["n_annotators"].to_numpy() - answers[["n_darker", "n_lighter"]].sum(axis=1)
        answers.index = table["subject_id"].to_numpy()
    else:
        current = read_annotator_files([Path(p) for p in paths])
        table = consensus(current)
        answers = (pd.crosstab(current["subject_id"], current["skin_tone_binary"])
                   .reindex(columns=["darker", "lighter", "unsure"], fill_value=0))
        answers.columns = list(ANSWER_COLUMNS)
    binary = table["skin_tone_binary"].to_numpy()
    answers = answers.reindex(table["subject_id"].to_numpy())
    return pd.DataFrame(
        {
            "subject_id": table["subject_id"].to_numpy(),
            "skin_tone": np.where(np.isin(binary, DEFINITE), binary, UNCERTAIN),
            "monk": pd.to_numeric(table["monk"].replace("", np.nan)).to_numpy(dtype=float),
            "n_annotators": table["n_annotators"].to_numpy(dtype=int),
            "n_agree": table["n_agree"].to_numpy(dtype=int),
            **{c: answers[c].to_numpy(dtype=int) for c in ANSWER_COLUMNS},
        }
    )


def annotator_kinds(paths: Sequence[Path]) -> pd.DataFrame:
    """Who each annotator of ``paths`` is: ``annotator, file, kind``.

    ``kind`` is the field of ``annotator-NAME.json`` beside the file
    (:func:`frbench.label.montage.describe_annotator`), ``not recorded`` where there is none; a
    consensus file's annotators are those of the files it was made from, so its kind is not
    recorded unless described too.
    """
    from frbench.label.files import read_label_file

    rows = []
    for path in map(Path, paths):
        labels = read_label_file(path)
        name = labels["annotator"].iloc[0] if len(labels) else path.stem.removeprefix("annotator-")
        meta = path.with_suffix(".json")
        kind = KIND_NOT_RECORDED
        if meta.is_file():
            try:
                kind = str(json.loads(meta.read_text(encoding="utf-8")).get("kind") or KIND_NOT_RECORDED)
            except (OSError, json.JSONDecodeError) as exc:
                raise DatasetError(f"{meta}: cannot read the annotator's description ({exc})") from None
        rows.append({"annotator": name, "file": str(path), "kind": kind})
    return pd.DataFrame(rows, columns=["annotator", "file", "kind"])


def skin_tone_subjects(
    subject_ids: Sequence[str], estimate: pd.DataFrame | None = None, perceived: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The skin tone of every subject in ``subject_ids`` by the one precedence policy (module docstring).

    Parameters
    ----------
    subject_ids : every subject to decide (a run's, or a dataset's).
    estimate : per subject ``subject_id, skin_tone, skin_tone_source, skin_tone_category`` and
        optionally ``p_darker``, ``heldout_n``, ``heldout_n_darker`` and further columns (ITA, Monk
        estimate, images used), which are kept; None when nothing is estimated.
    perceived : :func:`perceived_skin_tone` of the configured label files, or None.

    Returns
    -------
    One row per subject, in the order given: ``SUBJECT_TABLE_COLUMNS`` then the estimate's other
    columns. A labelled subject's ``p_darker`` and held-out counts are NaN (its tone was not
    estimated) and its category the consensus Monk value (``monk_<m>``) or its tone.
    """
    out = pd.DataFrame({"subject_id": pd.unique(pd.Series(list(subject_ids), dtype=object))})
    if estimate is not None:
        out = out.merge(estimate, on="subject_id", how="left", validate="one_to_one")
    for column in ("skin_tone", "skin_tone_source", "skin_tone_category"):
        out[column] = out[column].fillna(UNKNOWN).astype(str) if column in out else UNKNOWN
    for column in ("p_darker", *HELDOUT_COLUMNS):
        out[column] = out[column].astype(float) if column in out else np.nan
    estimated = out["skin_tone_source"].isin(ESTIMATED_SOURCES).to_numpy()
    out.loc[~estimated, ["p_darker", *HELDOUT_COLUMNS]] = np.nan
    for column in ("n_annotators", "n_agree", *ANSWER_COLUMNS):
        out[column] = 0
    if perceived is not None and len(perceived):
        labelled = perceived.drop_duplicates("subject_id", keep="last").set_index("subject_id")
        hit = out["subject_id"].isin(labelled.index).to_numpy()
        row = labelled.reindex(out.loc[hit, "subject_id"])
        out.loc[hit, "skin_tone"] = row["skin_tone"].to_numpy()
        out.loc[hit, "skin_tone_source"] = ANNOTATORS
        monk = row["monk"].to_numpy(dtype=float)
        out.loc[hit, "skin_tone_category"] = np.where(
            np.isfinite(monk), ["monk_" + str(int(m)) if np.isfinite(m) else "" for m in monk], row["skin_tone"]
        )
        out.loc[hit, ["p_darker", *HELDOUT_COLUMNS]] = np.nan
        for column in ("n_annotators", "n_agree", *ANSWER_COLUMNS):
            out.loc[hit, column] = row[column].to_numpy(dtype=int)
    first = list(SUBJECT_TABLE_COLUMNS)
    return out[first + [c for c in out.columns if c not in first]]


def apply_subjects(images: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """``images`` with every column of the subjects table on each image of the subject."""
    table = subjects.drop_duplicates("subject_id").set_index("subject_id")
    out = images.drop(columns=[c for c in table.columns if c in images.columns]).copy()
    picked = table.reindex(out["subject_id"].to_numpy())
    for column in table.columns:
        out[column] = picked[column].to_numpy()
    return out


def source_counts(images: pd.DataFrame) -> pd.DataFrame:
    """Subjects per skin-tone source and value: ``skin_tone_source, skin_tone, subjects``."""
    per_subject = images.drop_duplicates("subject_id")
    return (
        per_subject.groupby(["skin_tone_source", "skin_tone"], sort=True).size().rename("subjects").reset_index()
    )


def coverage(images: pd.DataFrame) -> float:
    """Share of subjects whose skin tone is lighter or darker (not uncertain, not unknown)."""
    per_subject = images.drop_duplicates("subject_id")
    return float(per_subject["skin_tone"].isin(DEFINITE).mean()) if len(per_subject) else float("nan")
