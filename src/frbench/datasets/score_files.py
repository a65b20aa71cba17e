"""Score-only datasets: comparisons and their scores from another tool's files, with no image at all.

An audit of a system frbench cannot run needs only its scores and who is who. ``format: scores``
reads one of these files into a Dataset whose ImageTable has an empty ``path`` (nothing is
embedded) and whose PairTable carries a ``score`` column (as the file has it: a similarity, or a
distance with ``model.direction: distance``). Demographics come from the file where it has them
(bob's CSV, BFW's table) and from ``dataset.labels`` (a subject table) otherwise.

Formats (fixtures in tests/data/score_files/, citations in data/README.md):

* ``bob4``: ``claimed_id real_id test_label score``, one comparison a line, fields separated by
  spaces (bob.bio.base ``bob/bio/base/score/load.py``, ``four_column``). The reference is the
  claimed identity's enrolled model, so ``image_a`` is ``claimed_id``; ``image_b`` is ``test_label``.
* ``bob5``: ``claimed_id model_label real_id test_label score`` (``five_column``): ``image_a`` is
  ``model_label``.
* ``bob-csv``: bob.bio.base's ``CSVScoreWriter`` output: a header with ``bio_ref_subject_id``,
  ``probe_subject_id``, ``probe_key``, ``score`` and optionally ``bio_ref_key`` (else
  ``bio_ref_reference_id``, else the subject is the reference); every other column pair
  ``bio_ref_<x>``/``probe_<x>`` is an attribute ``x`` of the two sides.
* ``pyeer``: pyeer's genuine and impostor files (``pyeer/eer_info.py``): one comparison a line,
  the score its last space-separated field. They carry no identities: every comparison has its
  own subjects, so only the ``all`` rows can be measured.
* ``bfw``: BFW's pair table (``fold, p1, p2, label, id1, id2, g1, g2, e1, e2`` and one score column
  per model, :mod:`frbench.datasets.bfw`); ``dataset.score_column`` picks the model.

A comparison is **mated** when its two subject ids are equal (bob's own rule; BFW's ``label`` must
agree). A score of ``nan`` is a comparison the system could not make (counted as failed, like an
unscored imported pair); any other unreadable score stops the load, naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets import Dataset
from frbench.datasets.bfw import REQUIRED as BFW_COLUMNS
from frbench.datasets.bfw import load_bfw
from frbench.datasets.score_cells import parse_scores
from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import validate_image_table, validate_pair_table

SCORE_FORMATS = ("bob4", "bob5", "bob-csv", "pyeer", "bfw")
BOB_CSV_REQUIRED = ("bio_ref_subject_id", "probe_subject_id", "probe_key", "score")
# bob CSV columns that name a side rather than describe it
BOB_CSV_KEYS = {"subject_id", "key", "reference_id", "template_id", "path", "attack_type"}
BFW_NOT_SCORES = {*BFW_COLUMNS, "a1", "a2", "att1", "att2"}

SCORE_ONLY_CAVEAT = (
    "Score-only audit: no image was read or embedded here; every score is the audited system's own, "
    "as its file gives it, and an image that system failed to enrol shows only as an unscored comparison."
)
PYEER_CAVEAT = (
    "pyeer's score files carry no identities: each comparison counts as its own subject(s), so there are "
    "no demographic groups and subject-bootstrap intervals treat comparisons as independent."
)


def _text_fields(path: Path, n_fields: int | None) -> pd.DataFrame:
    """Non-blank lines split on whitespace, indexed by line number; ``n_fields`` checked (None: any >= 1)."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    rows, lines = [], []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if n_fields is not None and len(fields) != n_fields:
                raise DatasetError(f"{path}:{number}: {len(fields)} fields, expected {n_fields}")
            rows.append(fields if n_fields is not None else fields[-1:])
            lines.append(number)
    if not rows:
        raise DatasetError(f"{path}: no comparison in the file")
    width = n_fields or 1
    return pd.DataFrame(rows, index=lines, columns=[f"c{i}" for i in range(width)])


def _from_sides(
    path: Path, ref_image: pd.Series, ref_subject: pd.Series, probe_image: pd.Series, probe_subject: pd.Series,
    score: pd.Series, attributes: dict[str, tuple[pd.Series, pd.Series]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """ImageTable and PairTable (with ``score``) from per-line sides; caveats for repeated pairs."""
    attributes = attributes or {}
    sides = []
    for image, subject, k in ((ref_image, ref_subject, 0), (probe_image, probe_subject, 1)):
        side = pd.DataFrame({"image_id": image.to_numpy(), "subject_id": subject.to_numpy(),
                             "line": image.index.to_numpy()})
        for attr, cols in attributes.items():
            side[attr] = cols[k].to_numpy()
        sides.append(side)
    long = pd.concat(sides, ignore_index=True).sort_values("line", kind="stable")
    described = long.drop_duplicates(["image_id", "subject_id", *attributes])
    clash = described["image_id"].duplicated()
    if clash.any():
        row = described[clash].iloc[0]
        first = described[described["image_id"] == row["image_id"]].iloc[0]
        raise DatasetError(
            f"{path}:{row['line']}: {row['image_id']!r} is subject {row['subject_id']!r}"
            + "".join(f" {a} {row[a]!r}" for a in attributes)
            + f" here, but {first['subject_id']!r}" + "".join(f" {a} {first[a]!r}" for a in attributes)
            + f" on line {first['line']}"
        )
    pairs = pd.DataFrame({
        "image_a": ref_image.to_numpy(), "image_b": probe_image.to_numpy(),
        "mated": (ref_subject.to_numpy() == probe_subject.to_numpy()),
        "score": parse_scores(score, path),
    }, index=ref_image.index)
    same = pairs["image_a"] == pairs["image_b"]
    if same.any():
        line = same.idxmax()
        raise DatasetError(f"{path}:{line}: compares {pairs.at[line, 'image_a']!r} with itself")
    key = pd.Series([a + "\n" + b if a < b else b + "\n" + a for a, b in zip(pairs["image_a"], pairs["image_b"])],
                    index=pairs.index)
    repeated = key.duplicated()
    caveats = []
    if repeated.any():
        caveats.append(f"{int(repeated.sum())} line(s) of {path.name} repeat an earlier comparison and were "
                       f"counted once (first: line {repeated.idxmax()}).")
    images = described[["image_id", "subject_id", *attributes]].assign(path="")
    for attr in attributes:
        images[f"{attr}_source"] = "dataset"
    return images, pairs[~repeated.to_numpy()].reset_index(drop=True), caveats


def _bob_text(path: Path, five: bool) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, str]]:
    t = _text_fields(path, 5 if five else 4)
    if five:
        return (*_from_sides(path, t["c1"], t["c0"], t["c3"], t["c2"], t["c4"]), {})
    return (*_from_sides(path, t["c0"], t["c0"], t["c2"], t["c1"], t["c3"]), {})


def _bob_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, str]]:
    rows = read_csv_rows(path)
    missing = [c for c in BOB_CSV_REQUIRED if c not in rows.columns]
    if missing:
        raise DatasetError(f"{path}:1: missing column(s) {missing}")
    for col in ("bio_ref_subject_id", "probe_subject_id", "probe_key"):
        empty = rows[col] == ""
        if empty.any():
            raise DatasetError(f"{path}:{empty.idxmax()}: empty {col!r}")
    ref = next((c for c in ("bio_ref_key", "bio_ref_reference_id") if c in rows.columns), "bio_ref_subject_id")
    attributes = {
        c.removeprefix("probe_"): (rows["bio_ref_" + c.removeprefix("probe_")], rows[c])
        for c in rows.columns
        if c.startswith("probe_") and c.removeprefix("probe_") not in BOB_CSV_KEYS
        and "bio_ref_" + c.removeprefix("probe_") in rows.columns
    }
    sources = {a: f"columns bio_ref_{a}/probe_{a} of {path.name} (bob CSV score file)" for a in attributes}
    return (*_from_sides(path, rows[ref], rows["bio_ref_subject_id"], rows["probe_key"], rows["probe_subject_id"],
                         rows["score"], attributes), sources)


def _pyeer(genuine: Path, impostor: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str], dict[str, str]]:
    parts = []
    for path, mated in ((genuine, True), (impostor, False)):
        t = _text_fields(path, None)
        tag = [f"{path.name}:{line}" for line in t.index]
        parts.append(pd.DataFrame({
            "image_a": [f"{x}:a" for x in tag], "image_b": [f"{x}:b" for x in tag],
            "subject_a": tag if mated else [f"{x}:a" for x in tag],
            "subject_b": tag if mated else [f"{x}:b" for x in tag],
            "mated": mated, "score": parse_scores(t["c0"], path),
        }))
    pairs = pd.concat(parts, ignore_index=True)
    images = pd.DataFrame({
        "image_id": np.concatenate([pairs["image_a"], pairs["image_b"]]),
        "subject_id": np.concatenate([pairs["subject_a"], pairs["subject_b"]]), "path": "",
    })
    return images, pairs.drop(columns=["subject_a", "subject_b"]), [PYEER_CAVEAT], {}


def _bfw(root: Path, table: str, score_column: str | None, folds) -> Dataset:
    if score_column is None:
        header = read_csv_rows(root / table).columns
        candidates = [c for c in header if c not in BFW_NOT_SCORES]
        if len(candidates) != 1:
            raise DatasetError(
                f"{root / table}:1: " + (f"several score columns ({', '.join(candidates)}): choose one with "
                                         f"dataset.score_column" if candidates else "no score column")
            )
        score_column = candidates[0]
    dataset = load_bfw(root, table=table, folds=folds, score_column=score_column, require_images=False)
    dataset.caveats = [c for c in dataset.caveats if "crops from VGGFace2" not in c]
    dataset.name = f"bfw-scores ({score_column})"
    return dataset


def load_score_dataset(
    root: Path, name: str, scores: str, score_format: str, impostors: str | None = None,
    score_column: str | None = None, folds=None,
) -> Dataset:
    """A score-only Dataset from ``root/scores`` in ``score_format`` (module docstring).

    ``pairs`` has ``image_a, image_b, mated, score`` (and ``fold`` for BFW); ``images`` an empty
    ``path``. Raises DatasetError naming the file and line of the first problem.
    """
    root = Path(root)
    if score_format not in SCORE_FORMATS:
        raise DatasetError(f"unknown score_format {score_format!r}; known: {', '.join(SCORE_FORMATS)}")
    if score_format == "bfw":
        dataset = _bfw(root, scores, score_column, folds)
    else:
        if score_format in ("bob4", "bob5"):
            images, pairs, caveats, sources = _bob_text(root / scores, five=score_format == "bob5")
        elif score_format == "bob-csv":
            images, pairs, caveats, sources = _bob_csv(root / scores)
        else:
            images, pairs, caveats, sources = _pyeer(root / scores, root / str(impostors))
        attributes = [c for c in images.columns if c not in ("image_id", "subject_id", "path", "line")
                      and not c.endswith("_source")]
        images = validate_image_table(images.reset_index(drop=True), attributes)
        dataset = Dataset(name=name, root=root, images=images, pairs=validate_pair_table(pairs, images["image_id"]),
                          attributes=attributes, caveats=caveats, label_sources=sources)
    dataset.caveats = [SCORE_ONLY_CAVEAT, *dataset.caveats]
    return dataset
