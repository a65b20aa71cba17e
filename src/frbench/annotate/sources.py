"""Where each subject's skin tone comes from: one policy, recorded per subject.

Precedence, per subject:

1. **human**: the subject is in a human label file (``annotate.skin_tone_labels``: frbench
   label's per-annotator CSVs, or a consensus file). The annotators' consensus
   (:func:`frbench.label.agreement.consensus`: the most frequent answer, a tie ``unsure``) gives
   ``lighter`` or ``darker``; a consensus of ``unsure`` makes the subject ``uncertain``: people
   who looked could not tell, so no estimate overrides them.
2. **estimator** / **ita**: the configured estimate, where there is one (the estimator's own
   ``uncertain`` for subjects it abstains on or whose photos failed its checks).
3. **unknown**: neither.

A dataset's own Fitzpatrick or Monk column (``skin_tone: fitzpatrick|monk``) is human labelling
too and keeps its own mapping (:mod:`frbench.annotate.skin_tone`); its source is ``dataset``.
``skin_tone_source`` is a column of every image, and :func:`source_counts` is what a report prints
next to every skin-tone table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.tables import UNKNOWN

HUMAN = "human"
UNCERTAIN = "uncertain"
DEFINITE = ("lighter", "darker")


def human_skin_tone(paths: Sequence[Path]) -> pd.DataFrame:
    """Per subject labelled in ``paths``: ``skin_tone`` (lighter, darker or uncertain), ``monk``
    (consensus Monk value, NaN when none), ``n_annotators`` and ``n_agree``.

    Each file is one annotator's answers (later answers for a subject supersede earlier ones) or a
    consensus file; several files are combined by :func:`frbench.label.agreement.consensus`.
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
        table = first
    else:
        table = consensus(read_annotator_files([Path(p) for p in paths]))
    binary = table["skin_tone_binary"].to_numpy()
    return pd.DataFrame(
        {
            "subject_id": table["subject_id"].to_numpy(),
            "skin_tone": np.where(np.isin(binary, DEFINITE), binary, UNCERTAIN),
            "monk": pd.to_numeric(table["monk"].replace("", np.nan)).to_numpy(dtype=float),
            "n_annotators": table["n_annotators"].to_numpy(),
            "n_agree": table["n_agree"].to_numpy(),
        }
    )


def apply_human_labels(images: pd.DataFrame, human: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """``images`` with the human consensus in place of the estimate for every subject it labels.

    ``images`` carries ``skin_tone``, ``skin_tone_category`` and ``skin_tone_source`` (and, from
    the estimator, ``p_darker``); a human-labelled subject's ``p_darker`` becomes NaN (a human
    label is not redrawn as label noise) and its category the Monk value given, if any.
    Returns the new table and counts: subjects labelled in the files, of them in this run, and
    those in the files but not in the run (ignored, reported).
    """
    labelled = human.set_index("subject_id")
    out = images.copy()
    subject = out["subject_id"]
    hit = subject.isin(labelled.index).to_numpy()
    tone = subject.map(labelled["skin_tone"])
    monk = subject.map(labelled["monk"])
    out.loc[hit, "skin_tone"] = tone[hit].to_numpy()
    out.loc[hit, "skin_tone_source"] = HUMAN
    category = np.where(monk.notna(), "monk_" + monk.fillna(0).astype(int).astype(str), tone.fillna(UNKNOWN))
    out.loc[hit, "skin_tone_category"] = category[hit]
    if "p_darker" in out:
        out.loc[hit, "p_darker"] = np.nan
    in_run = set(subject[hit])
    return out, {"subjects_labelled": len(labelled), "used": len(in_run), "not_in_run": len(labelled) - len(in_run)}


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
