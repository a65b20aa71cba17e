"""Candidate lists from a search system frbench cannot run, measured like its own searches.

The candidate-list CSV has a header on line 1 and the columns ``probe`` (a probe image id of the
identification split), ``candidate`` (a gallery image id, or a subject id with
``candidate_ids="subject_id"``), ``score`` (similarity, higher = more alike) and ``rank``
(integer >= 1; 1 = best). ``\\`` in ids is read as ``/``. A row whose ``candidate``, ``score``
and ``rank`` are all empty records a search that returned nothing (an empty list above the
system's own threshold); a probe with no row at all is a **missing search**, measured as a failed
search (``n_failed``). frbench's own ``candidates.csv`` is in this format.

Lists are made subject-level, as frbench's own: rows are ordered by rank (then file line), a
subject's first row is its candidate and later rows of the same subject are dropped, and ranks
are renumbered 1..n. Rows that cannot be used are counted, with examples naming the line:
unknown probes, unknown candidates, repeated (probe, candidate) rows, further rows of a subject
already listed, rows ranked beyond ``length``, and lists whose scores rise with rank (the rank
order is kept; FPIR uses the best score of the list either way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows

# The 1:1 importer's account of unusable rows: a count and the first few examples.
from frbench.scoring.imported import MAX_EXAMPLES, Mismatch
from frbench.search.measures import SearchTable, search_table
from frbench.search.protocol import IdentificationSplit

COLUMNS = ("probe", "candidate", "score", "rank")
PROBLEMS = (
    "unknown_probes",
    "unknown_candidates",
    "duplicate_rows",
    "same_subject_rows",
    "beyond_length",
    "order_conflicts",
    "missing_searches",
)


@dataclass
class ImportedCandidates:
    """Imported candidate lists as a SearchTable, with an account of every row not used as given."""

    table: SearchTable
    source: str
    n_rows: int
    problems: dict[str, Mismatch] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready account for the manifest and report."""
        return {
            "source": self.source,
            "n_rows": self.n_rows,
            "n_searches": int(self.table.searches["ok"].sum()),
            **{k: {"count": v.count, "examples": list(v.examples)} for k, v in self.problems.items()},
        }


def _count(lines: pd.Index | np.ndarray, what: str, source: str) -> Mismatch:
    lines = list(lines)
    return Mismatch(len(lines), tuple(f"{source}:{line}: {what}" for line in lines[:MAX_EXAMPLES]))


def read_candidate_lists(
    path: Path,
    split: IdentificationSplit,
    probe_attributes: pd.DataFrame | None = None,
    candidate_ids: Literal["image_id", "subject_id"] = "image_id",
    length: int | None = None,
) -> ImportedCandidates:
    """Read a candidate-list CSV (module docstring) against an identification split.

    Parameters
    ----------
    split : the gallery and probes the lists were made for.
    probe_attributes : optional ImageTable-like frame (``image_id`` + attribute columns) joined
        onto the probes, so the searches can be grouped.
    candidate_ids : whether ``candidate`` names gallery images or gallery subjects.
    length : L; default the longest list in the file (after making lists subject-level).

    Raises
    ------
    DatasetError
        The file is missing or malformed, a column is missing, a probe cell is empty, a rank is
        not an integer >= 1, a score is not a finite number, or a row is only partly empty. The
        message names the file and line.
    """
    table = read_csv_rows(Path(path))
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}:1: missing column(s) {missing}")
    return candidate_lists_from_frame(table, str(path), split, probe_attributes, candidate_ids, length)


def candidate_lists_from_frame(
    table: pd.DataFrame,
    source: str,
    split: IdentificationSplit,
    probe_attributes: pd.DataFrame | None = None,
    candidate_ids: Literal["image_id", "subject_id"] = "image_id",
    length: int | None = None,
) -> ImportedCandidates:
    """:func:`read_candidate_lists` on rows already read: string cells, indexed by source line."""
    if candidate_ids not in ("image_id", "subject_id"):
        raise ValueError(f"candidate_ids must be 'image_id' or 'subject_id', got {candidate_ids!r}")
    t = table[list(COLUMNS)].astype(str).apply(lambda c: c.str.strip()).rename_axis(None)
    for col in ("probe", "candidate"):
        t[col] = t[col].str.replace("\\", "/", regex=False)
    empty_probe = t["probe"] == ""
    if empty_probe.any():
        raise DatasetError(f"{source}:{empty_probe.idxmax()}: empty probe")
    blank = (t[["candidate", "score", "rank"]] == "").to_numpy()
    partial = blank.any(axis=1) & ~blank.all(axis=1)
    if partial.any():
        line = t.index[int(np.argmax(partial))]
        raise DatasetError(f"{source}:{line}: candidate, score and rank must all be given or all be empty")
    empty_list = blank.all(axis=1)
    rows = t[~empty_list].copy()
    bad_rank = ~rows["rank"].str.fullmatch(r"[0-9]{1,9}") | (rows["rank"].str.lstrip("0") == "")
    if bad_rank.any():
        line = bad_rank.idxmax()
        raise DatasetError(f"{source}:{line}: rank {rows.at[line, 'rank']!r} is not an integer >= 1")
    score = pd.to_numeric(rows["score"], errors="coerce")
    bad_score = ~np.isfinite(score.to_numpy(dtype=float))
    if bad_score.any():
        line = rows.index[int(np.argmax(bad_score))]
        raise DatasetError(f"{source}:{line}: score {rows.at[line, 'score']!r} is not a finite number")
    rows["score"] = score.astype(float)
    rows["rank"] = rows["rank"].astype(np.int64)
    rows["line"] = rows.index

    probes = split.probes.copy()
    if probe_attributes is not None:
        extra = [c for c in probe_attributes.columns if c not in probes.columns]
        probes = probes.merge(probe_attributes[["image_id", *extra]], on="image_id", how="left", validate="one_to_one")
    known_probes = set(probes["image_id"])
    problems: dict[str, Mismatch] = {}
    unknown_p = ~rows["probe"].isin(known_probes)
    unknown_empty = ~t.loc[empty_list, "probe"].isin(known_probes)
    problems["unknown_probes"] = _count(
        sorted([*rows.index[unknown_p], *t.index[empty_list][unknown_empty.to_numpy()]]), "probe not in the split", source
    )
    rows = rows[~unknown_p]
    g = split.gallery
    if candidate_ids == "image_id":
        cand_subject: Mapping[str, str] = dict(zip(g["image_id"], g["subject_id"]))
        representative = None
    else:
        cand_subject = {s: s for s in g["subject_id"]}
        # A subject-level candidate stands for the subject's first gallery image.
        representative = g.sort_values("image_id").drop_duplicates("subject_id").set_index("subject_id")["image_id"]
    known_c = rows["candidate"].isin(set(cand_subject))
    problems["unknown_candidates"] = _count(rows.index[~known_c], "candidate not in the gallery", source)
    rows = rows[known_c]
    rows = rows.sort_values(["probe", "rank", "line"], kind="stable")
    dup = rows.duplicated(["probe", "candidate"])
    problems["duplicate_rows"] = _count(sorted(rows.index[dup]), "repeats an earlier (probe, candidate) row", source)
    rows = rows[~dup].copy()
    rows["candidate_subject"] = rows["candidate"].map(cand_subject)
    same = rows.duplicated(["probe", "candidate_subject"])
    problems["same_subject_rows"] = _count(sorted(rows.index[same]), "another image of a subject already listed", source)
    rows = rows[~same].copy()
    rows["rank"] = rows.groupby("probe", sort=False).cumcount() + 1
    if length is None:
        length = int(rows["rank"].max()) if len(rows) else 1
    beyond = rows["rank"] > length
    problems["beyond_length"] = _count(sorted(rows.index[beyond]), f"ranked beyond the list length {length}", source)
    rows = rows[~beyond]
    rising = rows.groupby("probe", sort=False)["score"].diff() > 0
    conflict_probes = rows.loc[rising, "probe"].unique()
    first_lines = rows[rows["probe"].isin(conflict_probes)].groupby("probe")["line"].min().sort_values()
    problems["order_conflicts"] = _count(first_lines.to_numpy(), "scores rise with rank in this list", source)

    searched = set(rows["probe"]) | set(t.loc[empty_list, "probe"])
    ok = probes["image_id"].isin(searched).to_numpy()
    problems["missing_searches"] = Mismatch(
        int((~ok).sum()), tuple(f"{source}: no row for probe {p!r}" for p in probes.loc[~ok, "image_id"].head(MAX_EXAMPLES))
    )
    candidate_id = rows["candidate"] if representative is None else rows["candidate"].map(representative)
    cands = pd.DataFrame(
        {
            "probe_id": rows["probe"].to_numpy(),
            "rank": rows["rank"].to_numpy(),
            "candidate_id": candidate_id.to_numpy(),
            "candidate_subject": rows["candidate_subject"].to_numpy(),
            "score": rows["score"].to_numpy(),
        }
    )
    st = search_table(probes, ok, cands, length)
    return ImportedCandidates(table=st, source=source, n_rows=len(t), problems={k: problems[k] for k in PROBLEMS})
