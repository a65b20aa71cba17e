"""Scores computed elsewhere: one comparison score per pair from a system frbench cannot run.

A closed system (a cloud API, a vendor matcher) can still be audited from its scores. The scores
CSV has a header on line 1 and the columns ``image_a``, ``image_b`` (image ids of the dataset,
``\\`` read as ``/``), ``score`` and optionally ``mated`` (true/false, 1/0, yes/no, any case).
Scores become similarities (higher = more alike, docs/ARCHITECTURE.md): a distance is negated.

Every score row and every dataset pair is accounted for: rows and pairs that cannot be used are
counted, with examples naming the line, in the returned ``ImportedScores``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# read_csv_rows keeps the line each row came from, so every problem can name it.
from frbench.errors import DatasetError
from frbench.io.csv_columns import image_references, parse_mated
from frbench.io.csv_rows import read_csv_rows
from frbench.tables import validate_pair_table

MAX_EXAMPLES = 5
DIRECTIONS = ("similarity", "distance")


@dataclass(frozen=True)
class Mismatch:
    """How many rows or pairs had one kind of problem, and the first ``MAX_EXAMPLES`` of them."""

    count: int = 0
    examples: tuple[str, ...] = ()


@dataclass
class ImportedScores:
    """Imported scores joined to a dataset.

    Attributes
    ----------
    pairs : pd.DataFrame
        ``image_a, image_b, mated``, ``fold`` where the dataset's pairs have it, ``ok`` (a score was
        found) and ``score`` (similarity; NaN where ``ok`` is False). With a dataset pair list, one
        row per dataset pair in its order; without one, one row per usable score row in file order.
    source : Path
        The scores CSV.
    direction : str
        ``similarity`` or ``distance``, as the file was read.
    n_rows : int
        Score rows in the file (blank lines not counted).
    pairs_from : str
        ``dataset`` (the dataset's pair list decides which pairs exist) or ``scores``.
    unknown_images : Mismatch
        Score rows naming an image the dataset does not have; not used.
    duplicate_rows : Mismatch
        Score rows repeating an earlier row's pair, in either order; the first row is used.
    extra_rows : Mismatch
        Score rows for a pair of known images that is not in the dataset's pair list; not used.
    unscored_pairs : Mismatch
        Dataset pairs with no score row; kept with ``ok`` False, so a run counts them as failed.
    mated_conflicts : Mismatch
        Used score rows whose ``mated`` disagrees with the dataset (its pair list, or its subject
        ids when it has none); the dataset's value is used.
    """

    pairs: pd.DataFrame
    source: Path
    direction: str
    n_rows: int
    pairs_from: str
    unknown_images: Mismatch = field(default_factory=Mismatch)
    duplicate_rows: Mismatch = field(default_factory=Mismatch)
    extra_rows: Mismatch = field(default_factory=Mismatch)
    unscored_pairs: Mismatch = field(default_factory=Mismatch)
    mated_conflicts: Mismatch = field(default_factory=Mismatch)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the import, for the run manifest and report."""
        problems = ("unknown_images", "duplicate_rows", "extra_rows", "unscored_pairs", "mated_conflicts")
        return {
            "source": str(self.source),
            "direction": self.direction,
            "n_rows": self.n_rows,
            "pairs_from": self.pairs_from,
            "n_pairs": int(len(self.pairs)),
            "n_scored": int(self.pairs["ok"].sum()),
            **{
                name: {"count": getattr(self, name).count, "examples": list(getattr(self, name).examples)}
                for name in problems
            },
        }


def import_scores(
    scores_csv: Path, images: pd.DataFrame, pairs: pd.DataFrame | None, direction: str
) -> ImportedScores:
    """Read one score per pair from a CSV and match it to a dataset's images and pairs.

    Parameters
    ----------
    scores_csv : Path
        ``image_a``, ``image_b``, ``score``, optional ``mated`` (see the module docstring).
    images : pd.DataFrame
        The dataset's ImageTable.
    pairs : pd.DataFrame or None
        The dataset's PairTable. A score row matches a pair whichever side each image is on. When
        None, the usable score rows define the pairs and ``mated`` is whether both images have the
        same ``subject_id``.
    direction : {"similarity", "distance"}
        Whether a higher score means more alike (kept) or less alike (negated).

    Returns
    -------
    ImportedScores
        The scored pairs and the count, with examples, of every row or pair that could not be used
        as given (see ``ImportedScores``).

    Raises
    ------
    DatasetError
        The file is missing or malformed, a required column is absent, an image cell is empty, a
        score is not a finite number, ``mated`` is not a truth word, or a row compares an image
        with itself. The message names the file and line.
    """
    scores_csv = Path(scores_csv)
    if direction not in DIRECTIONS:
        raise DatasetError(f"{scores_csv}: direction must be one of {DIRECTIONS}, got {direction!r}")
    table = read_csv_rows(scores_csv)
    missing = [c for c in ("image_a", "image_b", "score") if c not in table.columns]
    if missing:
        raise DatasetError(f"{scores_csv}:1: missing column(s) {missing}")
    a, b = image_references(table, ("image_a", "image_b"), scores_csv)
    # A blank score is a comparison the system could not make (frbench writes one for a pair with
    # an image that failed to enrol): the pair stays, unscored, and counts as failed.
    blank = (table["score"].str.strip() == "").to_numpy()
    value = pd.to_numeric(table["score"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(value) | blank
    if not finite.all():
        line = table.index[int(np.argmin(finite))]
        raise DatasetError(f"{scores_csv}:{line}: score {table.at[line, 'score']!r} is not a finite number")
    score = pd.Series(value if direction == "similarity" else -value, index=table.index)
    stated = None
    if "mated" in table.columns:
        stated = parse_mated(table["mated"], scores_csv)
    same = a == b
    if same.any():
        line = same.idxmax()
        raise DatasetError(f"{scores_csv}:{line}: compares image {a[line]!r} with itself")

    known = set(images["image_id"])
    a_known, b_known = a.isin(known), b.isin(known)
    unknown = ~(a_known & b_known)
    unknown_images = _mismatch(
        unknown,
        lambda line: f"line {line}: {(a if not a_known[line] else b)[line]!r} is not an image of the dataset",
    )
    key = _pair_key(a, b)
    first_line = pd.Series(key.index, index=key.to_numpy())
    first_line = first_line[~first_line.index.duplicated()]
    repeated = key.duplicated() & ~unknown
    duplicate_rows = _mismatch(
        repeated,
        lambda line: f"line {line}: repeats line {first_line[key[line]]} (score {table.at[line, 'score']} "
        f"vs {table.at[first_line[key[line]], 'score']})",
    )
    usable = ~unknown & ~repeated
    subject = pd.Series(images["subject_id"].to_numpy(), index=images["image_id"].to_numpy())

    if pairs is not None:
        pair_key = _pair_key(pairs["image_a"], pairs["image_b"])
        in_protocol = key.isin(set(pair_key))
        extra = usable & ~in_protocol
        extra_rows = _mismatch(extra, lambda line: f"line {line}: {a[line]} / {b[line]}")
        used = usable & in_protocol
        score_of = pd.Series(score[used].to_numpy(), index=key[used].to_numpy())
        out = pairs[["image_a", "image_b", "mated"] + (["fold"] if "fold" in pairs else [])].copy()
        out["mated"] = out["mated"].astype(bool)
        out["score"] = pair_key.map(score_of).to_numpy()
        out["ok"] = out["score"].notna()
        unscored_pairs = _mismatch(~out["ok"], lambda i: f"{out.at[i, 'image_a']} / {out.at[i, 'image_b']}")
        truth = pd.Series(out["mated"].to_numpy(), index=pair_key.to_numpy())
        truth = truth[~truth.index.duplicated()]
        expected = key[used].map(truth)
        pairs_from = "dataset"
    else:
        used = usable
        out = pd.DataFrame(
            {
                "image_a": a[used].to_numpy(),
                "image_b": b[used].to_numpy(),
                "mated": (a[used].map(subject) == b[used].map(subject)).to_numpy(),
                "score": score[used].to_numpy(),
                "ok": np.isfinite(score[used].to_numpy()),
            }
        )
        extra_rows = unscored_pairs = Mismatch()
        expected = a[used].map(subject) == b[used].map(subject)
        pairs_from = "scores"
    if stated is None:
        mated_conflicts = Mismatch()
    else:
        conflict = stated[used] != expected.astype(bool)
        mated_conflicts = _mismatch(
            conflict,
            lambda line: f"line {line}: mated={table.at[line, 'mated']} but the dataset says "
            f"{bool(expected[line])} for {a[line]} / {b[line]}",
        )
    columns = [c for c in ("image_a", "image_b", "mated", "fold", "ok", "score") if c in out]
    return ImportedScores(
        pairs=validate_pair_table(out[columns], images["image_id"]),
        source=scores_csv,
        direction=direction,
        n_rows=int(len(table)),
        pairs_from=pairs_from,
        unknown_images=unknown_images,
        duplicate_rows=duplicate_rows,
        extra_rows=extra_rows,
        unscored_pairs=unscored_pairs,
        mated_conflicts=mated_conflicts,
    )


def _pair_key(a: pd.Series, b: pd.Series) -> pd.Series:
    """The unordered pair as one string, so that (x, y) and (y, x) compare equal."""
    return pd.Series([x + "\n" + y if x < y else y + "\n" + x for x, y in zip(a, b)], index=a.index)


def _mismatch(flags: pd.Series, describe: Callable[[Any], str]) -> Mismatch:
    """Count the flagged rows; describe the first few by their index label (a line, or a row)."""
    hits = flags.index[flags.to_numpy(dtype=bool)]
    return Mismatch(count=len(hits), examples=tuple(describe(label) for label in hits[:MAX_EXAMPLES]))


def own_scores(pairs: pd.DataFrame, direction: str, dataset: Any) -> ImportedScores:
    """The scores a score-only dataset (``format: scores``) carries in its PairTable's ``score`` column.

    ``dataset``: the config's dataset section (its ``scores`` file and ``score_format`` are
    recorded). A NaN score is a comparison the system could not make: kept, ``ok`` False.
    """
    if direction not in DIRECTIONS:
        raise DatasetError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    value = pairs["score"].to_numpy(dtype=float)
    out = pairs[[c for c in ("image_a", "image_b", "mated", "fold") if c in pairs]].copy()
    out["ok"] = np.isfinite(value)
    out["score"] = value if direction == "similarity" else -value
    unscored = _mismatch(~out["ok"], lambda i: f"{out.at[i, 'image_a']} / {out.at[i, 'image_b']}")
    return ImportedScores(
        pairs=out.reset_index(drop=True), source=Path(f"{dataset.scores} ({dataset.score_format})"),
        direction=direction, n_rows=len(pairs), pairs_from="scores", unscored_pairs=unscored,
    )
