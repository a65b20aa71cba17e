"""Hand-labelled perceived skin tone: one CSV per annotator, and their consensus.

File format (``labels/lfw-skin-tone/annotator-<id>.csv``, described in its README)::

    subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool

``skin_tone_binary`` is ``lighter``, ``darker`` or ``unsure``; ``monk`` is a Monk Skin Tone 1-10
or empty. One row per (subject, image) per file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.annotate.skin_tone import DARKER, LIGHTER, monk_tone
from frbench.errors import DatasetError

UNSURE = "unsure"
LABEL_COLUMNS = ("subject_id", "image_id", "annotator", "skin_tone_binary", "monk", "labelled_at", "tool")
BINARY_LABELS = (LIGHTER, DARKER, UNSURE)


def read_label_file(path: Path | str) -> pd.DataFrame:
    """One annotator's labels, validated: the columns of ``LABEL_COLUMNS``, ``monk`` as a float
    (NaN when empty). Any problem raises DatasetError naming the file and line."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: line 1: missing column(s) {missing}; expected {list(LABEL_COLUMNS)}")
            rows = []
            seen: dict[tuple[str, str], int] = {}
            for lineno, row in enumerate(reader, start=2):
                rows.append(_check_row(row, path, lineno, seen))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read label file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS)).astype({"monk": float})


def _check_row(row: dict[str, str | None], path: Path, lineno: int, seen: dict[tuple[str, str], int]) -> dict:
    where = f"{path}: line {lineno}"
    if None in row or any(row.get(c) is None for c in LABEL_COLUMNS):
        raise DatasetError(f"{where}: expected {len(LABEL_COLUMNS)} fields")
    subject, image = row["subject_id"].strip(), row["image_id"].strip()
    if not subject or not image:
        raise DatasetError(f"{where}: empty subject_id or image_id")
    key = (subject, image)
    if key in seen:
        raise DatasetError(f"{where}: {subject}/{image} already labelled on line {seen[key]}")
    seen[key] = lineno
    binary = row["skin_tone_binary"].strip().lower()
    if binary not in BINARY_LABELS:
        raise DatasetError(f"{where}: skin_tone_binary {row['skin_tone_binary']!r} is not one of {list(BINARY_LABELS)}")
    monk_text = row["monk"].strip()
    monk = float("nan")
    if monk_text:
        try:
            monk = float(monk_tone(monk_text))
        except KeyError:
            raise DatasetError(f"{where}: monk {monk_text!r} is not a Monk Skin Tone 1-10") from None
        if binary != UNSURE and (monk >= 6) != (binary == DARKER):
            raise DatasetError(f"{where}: monk {monk_text} contradicts skin_tone_binary {binary!r} (Monk 1-5 lighter, 6-10 darker)")
    return {
        "subject_id": subject,
        "image_id": image,
        "annotator": row["annotator"].strip(),
        "skin_tone_binary": binary,
        "monk": monk,
        "labelled_at": row["labelled_at"].strip(),
        "tool": row["tool"].strip(),
    }


def consensus(labels: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per subject over the annotators' files: ``subject_id, binary, n_annotators, n_decided, agree``.

    ``binary`` is ``darker`` or ``lighter`` where every annotator who labelled the subject gave
    that same definite label (so with two annotators: both agree), else ``unsure`` (one was unsure,
    or they disagree; ``agree`` is False only for a definite disagreement). A subject labelled
    from more than one image keeps one label per annotator: its images must agree, else DatasetError.
    """
    if not labels:
        raise ValueError("consensus needs at least one label table")
    frames = []
    for table in labels:
        per_subject = table.groupby("subject_id")["skin_tone_binary"].agg(lambda s: sorted(set(s)))
        mixed = per_subject[per_subject.map(len) > 1]
        if len(mixed):
            who = table["annotator"].iloc[0]
            raise DatasetError(f"annotator {who!r} gives subject {mixed.index[0]!r} several labels {mixed.iloc[0]}")
        frames.append(per_subject.map(lambda s: s[0]))
    wide = pd.concat(frames, axis=1)
    decided = wide.apply(lambda r: [v for v in r.dropna() if v != UNSURE], axis=1)
    n_annotators = wide.notna().sum(axis=1)
    unanimous = decided.map(lambda d: len(set(d)) == 1) & (decided.map(len) == n_annotators)
    out = pd.DataFrame(
        {
            "binary": np.where(unanimous, decided.map(lambda d: d[0] if d else UNSURE), UNSURE),
            "n_annotators": n_annotators.astype(int),
            "n_decided": decided.map(len).astype(int),
            "agree": decided.map(lambda d: len(set(d)) <= 1),
        },
        index=wide.index,
    )
    return out.rename_axis("subject_id").reset_index()
