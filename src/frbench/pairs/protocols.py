"""Pair protocols built from an ImageTable: generated (sampled) pairs and exhaustive mated pairs.

A PairTable (docs/ARCHITECTURE.md) lists unordered pairs ``image_a < image_b`` (string order of
image ids) with ``mated`` True when both images show the same subject. The dataset's own pair
list (protocol ``file``) comes with the dataset loaders; the exhaustive protocol scores every
non-mated pair without listing it (:mod:`frbench.scoring.exhaustive`) and lists only its mated pairs.

Generated pairs
---------------
* Mated: every pair of images of a subject, or, with ``mated_per_subject = c``, a uniform sample
  of c of a subject's pairs where it has more than c, so that prolific subjects (LFW: George W
  Bush, 530 images, 140,185 pairs) do not dominate FNMR.
* Non-mated: a uniform sample without replacement from all pairs of images of different subjects,
  or, with ``match_on``, from the pairs whose two images agree on every listed attribute
  (demographically matched impostors, as NIST FRVT Part 3 does). ``unknown`` is matched like any
  other value: two images of unknown gender form a matched pair; drop such images first where
  that is not wanted.

Samples are drawn by index from an enumeration of the eligible pairs (no rejection, no
duplicates), from two random streams derived from ``seed``: the same images and seed give the
same pairs whatever the row order of the table, and changing the mated cap does not change the
non-mated sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frbench.errors import DatasetError
from frbench.tables import validate_image_table


def generated_pairs(
    images: pd.DataFrame,
    n_nonmated: int,
    mated_per_subject: int | None,
    match_on: Sequence[str] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """Mated pairs of every subject and a sample of non-mated pairs (module docstring).

    Parameters
    ----------
    images : ImageTable
        Needs ``image_id``, ``subject_id`` and the ``match_on`` columns.
    n_nonmated : int >= 0
        Number of non-mated pairs to sample.
    mated_per_subject : int >= 1 or None
        Cap on the mated pairs of one subject; None keeps them all.
    match_on : sequence of str
        Attributes both images of a non-mated pair must share.
    seed : int
        Seed of the random streams.

    Returns
    -------
    PairTable
        Columns ``image_a``, ``image_b``, ``mated``: the mated pairs, then the non-mated pairs,
        each sorted by (image_a, image_b).

    Raises
    ------
    DatasetError
        If the table lacks a column or has fewer eligible non-mated pairs than ``n_nonmated``.
    """
    if isinstance(n_nonmated, bool) or not isinstance(n_nonmated, (int, np.integer)) or n_nonmated < 0:
        raise ValueError(f"n_nonmated must be a non-negative integer, got {n_nonmated!r}")
    if mated_per_subject is not None and (
        isinstance(mated_per_subject, bool)
        or not isinstance(mated_per_subject, (int, np.integer))
        or mated_per_subject < 1
    ):
        raise ValueError(f"mated_per_subject must be a positive integer or None, got {mated_per_subject!r}")
    match_on = list(match_on)
    table = _sorted_images(images, match_on)
    mated_rng, nonmated_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    mated = _mated(table, mated_per_subject, mated_rng)
    nonmated = _nonmated(table, int(n_nonmated), match_on, nonmated_rng)
    return pd.concat([mated, nonmated], ignore_index=True)


def mated_index_pairs(subject: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every pair of rows i < j with the same subject code, sorted by (i, j)."""
    subject = np.asarray(subject)
    n = subject.size
    order = np.argsort(subject, kind="stable")  # stable: rows ascend within a subject
    ordered = subject[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run_end = np.repeat(np.r_[starts[1:], n], np.diff(np.r_[starts, n]))
    # Position p pairs with every later position of its run: p + 1 .. run_end[p] - 1.
    partners = run_end - np.arange(n) - 1
    first = np.repeat(np.arange(n), partners)
    offset = np.arange(first.size) - np.repeat(np.cumsum(partners) - partners, partners)
    a, b = order[first].astype(np.int64), order[first + 1 + offset].astype(np.int64)
    keep = np.lexsort((b, a))
    return a[keep], b[keep]


def exhaustive_mated_pairs(images: pd.DataFrame) -> pd.DataFrame:
    """Every pair of images of the same subject: the mated side of the exhaustive protocol.

    Returns a PairTable (``image_a < image_b``, ``mated`` all True) sorted by (image_a, image_b).
    """
    return _mated(_sorted_images(images, []), None, np.random.default_rng(0))


def _sorted_images(images: pd.DataFrame, match_on: list[str]) -> pd.DataFrame:
    table = validate_image_table(images, match_on)
    # Sorting by id makes the result independent of row order and puts image_a < image_b.
    return table.sort_values("image_id", kind="stable").reset_index(drop=True)


def _pair_table(ids: np.ndarray, a: np.ndarray, b: np.ndarray, mated: bool) -> pd.DataFrame:
    """Rows a, b of the id-sorted table as pairs, smaller row (= smaller id) first, sorted."""
    first, second = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((second, first))
    return pd.DataFrame(
        {"image_a": ids[first[order]], "image_b": ids[second[order]], "mated": np.full(order.size, mated)}
    )


def _mated(table: pd.DataFrame, cap: int | None, rng: np.random.Generator) -> pd.DataFrame:
    codes, _ = pd.factorize(table["subject_id"], sort=True)
    a, b = mated_index_pairs(codes)
    if cap is not None:
        # Subjects in sorted order, each one's pairs in (a, b) order, so the random stream is reproducible.
        by_subject = np.argsort(codes[a], kind="stable")
        a, b = a[by_subject], b[by_subject]
        starts = np.flatnonzero(np.r_[True, np.diff(codes[a]) != 0]) if a.size else np.empty(0, np.intp)
        keep = []
        for start, end in zip(starts, np.r_[starts[1:], a.size]):
            size = end - start
            keep.append(start + (np.sort(rng.choice(size, size=cap, replace=False)) if size > cap else np.arange(size)))
        chosen = np.concatenate(keep) if keep else np.empty(0, np.intp)
        a, b = a[chosen], b[chosen]
    return _pair_table(table["image_id"].to_numpy(), a, b, mated=True)


def _nonmated(table: pd.DataFrame, n: int, match_on: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Uniform sample of n pairs (different subjects, equal ``match_on`` values) by enumeration.

    Rows are ordered by (stratum, subject); then for row p the eligible partners q > p are exactly
    the rows from the end of p's subject run to the end of p's stratum. Numbering those partners
    row by row enumerates every eligible pair once, so an index drawn without replacement decodes
    to a distinct pair.
    """
    ids = table["image_id"].to_numpy()
    if n == 0:
        return _pair_table(ids, np.empty(0, np.intp), np.empty(0, np.intp), mated=False)
    keys = [*match_on, "subject_id"]
    order = np.lexsort([table[c].to_numpy() for c in reversed(keys)])
    ordered = table.iloc[order]
    stratum = _run_ends(ordered, match_on)
    subject_end = _run_ends(ordered, keys)
    partners = stratum - subject_end  # eligible partners of each row
    total = int(partners.sum())
    if n > total:
        what = f"matched on {', '.join(match_on)}" if match_on else "of different subjects"
        raise DatasetError(f"n_nonmated={n} but the images have only {total} pairs {what}")
    index = rng.choice(total, size=n, replace=False)
    first_index = np.cumsum(partners) - partners  # enumeration index of each row's first partner
    # A row without partners shares first_index with the next row that has some; side="right"
    # then lands on that row.
    p = np.searchsorted(first_index, index, side="right") - 1
    q = subject_end[p] + (index - first_index[p])
    return _pair_table(ids, order[p], order[q], mated=False)


def _run_ends(ordered: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """For each row of a table sorted by ``keys``: the end (exclusive) of its run of equal keys."""
    n = len(ordered)
    if not keys:
        return np.full(n, n)
    values = [ordered[c].to_numpy() for c in keys]
    change = np.zeros(n, bool)
    for v in values:
        change[1:] |= v[1:] != v[:-1]
    starts = np.flatnonzero(np.r_[True, change[1:]])
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, np.diff(np.r_[starts, n]))
