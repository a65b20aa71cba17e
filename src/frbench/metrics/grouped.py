"""Per-group error rates: the one tidy table every report reads (``per_group.csv``).

Group rule (docs/ARCHITECTURE.md): a pair counts in group g of attribute A when **both** sides
have A == g; a pair whose sides differ in A belongs to no group of A (it counts in the ``all`` row
and in the cross-group matrix of :mod:`frbench.metrics.curves`). Intersections join attributes
with ``+``: attribute ``race+gender``, group ``black+female``. Pairs with a failed image
(``ok`` False) are left out of FMR and FNMR and counted in ``n_failed``.

Thresholds are global (NIST FRVT Part 3: one threshold set on all non-mated scores, then FMR and
FNMR reported per group at it); :func:`per_group_thresholds` gives the group-specific thresholds
that would reach a target FMR within each group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from frbench.metrics.intervals import bootstrap_subjects, clopper_pearson, percentile_interval
from frbench.metrics.power import RULE_OF_THREE  # the one home of the sample-size rules
from frbench.metrics.rates import error_counts
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.tables import INTERSECTION_SEP, OK

ALL = "all"
PER_GROUP_COLUMNS = (
    "threshold_name",
    "threshold",
    "attribute",
    "group",
    "n_subjects",
    "n_mated",
    "n_nonmated",
    "n_fnm",
    "n_fm",
    "fnmr",
    "fmr",
    "fnmr_ci_low",
    "fnmr_ci_high",
    "fmr_ci_low",
    "fmr_ci_high",
    "min_resolvable_fmr",
    "underpowered",
    "n_failed",
    "fnmr_system",
)
BOOTSTRAP_COLUMNS = ("fnmr_boot_low", "fnmr_boot_high", "fmr_boot_low", "fmr_boot_high")


def attribute_names(attributes: Sequence[str], intersections: Sequence[Sequence[str]] = ()) -> list[str]:
    """Reported attribute names: the attributes, then each intersection joined with ``+``."""
    if isinstance(attributes, str):
        raise ValueError(f"attributes must be a sequence of names, got the string {attributes!r}")
    names = list(attributes)
    for combo in intersections:
        if isinstance(combo, str):
            raise ValueError(f"each intersection must be a sequence of attribute names, got {combo!r}")
        names.append(INTERSECTION_SEP.join(combo))
    return list(dict.fromkeys(names))


def _labels(frame: pd.DataFrame, attribute: str, suffix: str) -> np.ndarray:
    columns = [f"{part}{suffix}" for part in attribute.split(INTERSECTION_SEP)]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"table lacks attribute column(s) {missing} needed for '{attribute}'")
    values = frame[columns]
    if values.isna().any().any():
        bad = values.columns[values.isna().any()].tolist()
        raise ValueError(f"attribute column(s) {bad} contain missing values; use 'unknown'")
    labels = values[columns[0]].astype(str).to_numpy(dtype=object)
    for col in columns[1:]:
        labels = labels + INTERSECTION_SEP + values[col].astype(str).to_numpy(dtype=object)
    return labels


def group_labels(pairs: pd.DataFrame, attribute: str) -> tuple[np.ndarray, np.ndarray]:
    """Group label of side a and side b of every pair for ``attribute`` (which may be ``x+y``)."""
    return _labels(pairs, attribute, "_a"), _labels(pairs, attribute, "_b")


def _pair_units(pairs: pd.DataFrame, names: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, group, mask) for the ``all`` row and every group of every attribute."""
    units = [(ALL, ALL, np.ones(len(pairs), dtype=bool))]
    for attr in names:
        la, lb = group_labels(pairs, attr)
        same = la == lb
        for group in sorted(set(la[same])):
            units.append((attr, group, same & (la == group)))
    return units


def pair_arrays(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``score``, ``mated`` and ``ok`` of a scored pair table, checked: every ok pair has a finite score."""
    missing = [c for c in ("score", "mated", "ok", "subject_a", "subject_b") if c not in pairs.columns]
    if missing:
        raise ValueError(f"pair table lacks column(s) {missing}")
    for col in ("mated", "ok"):
        if not pairs[col].isin([True, False]).all():
            raise ValueError(f"pair column '{col}' must be boolean")
    score = pairs["score"].to_numpy(dtype=np.float64)
    mated = pairs["mated"].to_numpy(dtype=bool)
    ok = pairs["ok"].to_numpy(dtype=bool)
    bad = ok & ~np.isfinite(score)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} pair(s) marked ok have no finite score (first at row {int(np.argmax(bad))})")
    return score, mated, ok


def _rates(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)


def per_group_rates(
    pairs: pd.DataFrame,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    thresholds: Mapping[str, float] | None = None,
    level: float = 0.95,
    target_fmr: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """FMR and FNMR per threshold x attribute x group, with exact and (optionally) bootstrap intervals.

    Parameters
    ----------
    pairs : DataFrame
        One row per pair: ``score`` (similarity, NaN where a side failed), ``mated``, ``ok`` (both
        images embedded), ``subject_a``, ``subject_b`` and ``<attr>_a``, ``<attr>_b`` for every
        attribute used.
    attributes : names of attributes to report, e.g. ``["gender", "race"]``.
    intersections : attribute combinations, e.g. ``[["race", "gender"]]``.
    thresholds : mapping threshold name -> similarity threshold (match iff score >= threshold).
    level : confidence level of all intervals.
    target_fmr : the FMR the thresholds aim at; a group is ``underpowered`` when it has no
        non-mated pair or, given a target, when 3 / n_nonmated exceeds it.
    bootstrap : number of subject-bootstrap replicates (:func:`~frbench.metrics.intervals.bootstrap_subjects`);
        0 for none. Thresholds stay fixed across replicates, as in FRVT.
    seed : seed of the bootstrap.

    Returns
    -------
    DataFrame with the columns of ``PER_GROUP_COLUMNS`` (plus ``BOOTSTRAP_COLUMNS`` when
    ``bootstrap > 0``), rows ordered by threshold (in mapping order), then the ``all`` row, then
    attributes in the order given (intersections last), then groups sorted by name. Columns:

    * ``n_subjects``: distinct subjects among the group's scored (ok) pairs;
    * ``n_mated``, ``n_nonmated``: scored pairs; ``n_fnm``, ``n_fm``: errors among them;
    * ``fnmr_ci_*``, ``fmr_ci_*``: Clopper-Pearson intervals (pairs taken as independent);
    * ``min_resolvable_fmr``: 3 / n_nonmated (rule of three), NaN without non-mated pairs;
    * ``n_failed``: the group's pairs with a failed image (mated and non-mated);
    * ``fnmr_system``: FNMR counting failed mated pairs as non-matches,
      (n_fnm + failed mated) / (n_mated + failed mated), the pair-level analogue of the
      generalised false reject rate of ISO/IEC 19795-1;
    * ``*_boot_low/high``: percentile intervals of the subject bootstrap. A group with no errors
      gets [0, 0] (resampling cannot create an error); its Clopper-Pearson upper bound and
      ``min_resolvable_fmr`` are the honest statement then.
    """
    if not thresholds:
        raise ValueError("no thresholds given")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if target_fmr is not None and not 0.0 <= target_fmr <= 1.0:
        raise ValueError(f"target_fmr must be in [0, 1], got {target_fmr}")
    names_t = list(thresholds)
    values_t = np.array([float(thresholds[k]) for k in names_t], dtype=np.float64)
    if np.any(np.isnan(values_t)):
        raise ValueError(f"threshold {names_t[int(np.argmax(np.isnan(values_t)))]!r} is NaN")
    score, mated, ok = pair_arrays(pairs)
    subj_a = pairs["subject_a"].to_numpy()
    subj_b = pairs["subject_b"].to_numpy()
    units = _pair_units(pairs, attribute_names(attributes, intersections))

    n_units, n_thr = len(units), len(values_t)
    n_fm = np.zeros((n_thr, n_units), dtype=np.int64)
    n_fnm = np.zeros((n_thr, n_units), dtype=np.int64)
    n_nonmated = np.zeros(n_units, dtype=np.int64)
    n_mated = np.zeros(n_units, dtype=np.int64)
    n_subjects = np.zeros(n_units, dtype=np.int64)
    n_failed = np.zeros(n_units, dtype=np.int64)
    n_failed_mated = np.zeros(n_units, dtype=np.int64)
    for u, (_, _, mask) in enumerate(units):
        scored = mask & ok
        n_fm[:, u], n_nonmated[u], n_fnm[:, u], n_mated[u] = error_counts(score[scored], mated[scored], values_t)
        n_subjects[u] = pd.unique(np.concatenate([subj_a[scored], subj_b[scored]])).size
        n_failed[u] = int(np.sum(mask & ~ok))
        n_failed_mated[u] = int(np.sum(mask & ~ok & mated))

    # One row per (threshold, unit), threshold-major.
    out = pd.DataFrame(
        {
            "threshold_name": np.repeat(names_t, n_units),
            "threshold": np.repeat(values_t, n_units),
            "attribute": np.tile([u[0] for u in units], n_thr),
            "group": np.tile([u[1] for u in units], n_thr),
            "n_subjects": np.tile(n_subjects, n_thr),
            "n_mated": np.tile(n_mated, n_thr),
            "n_nonmated": np.tile(n_nonmated, n_thr),
            "n_fnm": n_fnm.ravel(),
            "n_fm": n_fm.ravel(),
        }
    )
    out["fnmr"] = _rates(out["n_fnm"].to_numpy(), out["n_mated"].to_numpy())
    out["fmr"] = _rates(out["n_fm"].to_numpy(), out["n_nonmated"].to_numpy())
    out["fnmr_ci_low"], out["fnmr_ci_high"] = clopper_pearson(out["n_fnm"], out["n_mated"], level)
    out["fmr_ci_low"], out["fmr_ci_high"] = clopper_pearson(out["n_fm"], out["n_nonmated"], level)
    n_nm = out["n_nonmated"].to_numpy()
    out["min_resolvable_fmr"] = _rates(np.full(n_nm.shape, RULE_OF_THREE), n_nm)
    underpowered = n_nm == 0
    if target_fmr is not None:
        underpowered |= out["min_resolvable_fmr"].to_numpy() > target_fmr
    out["underpowered"] = underpowered
    out["n_failed"] = np.tile(n_failed, n_thr)
    failed_mated = np.tile(n_failed_mated, n_thr)
    out["fnmr_system"] = _rates(out["n_fnm"].to_numpy() + failed_mated, out["n_mated"].to_numpy() + failed_mated)

    if bootstrap:
        fmr_boot, fnmr_boot = bootstrap_replicates(pairs, attributes, intersections, thresholds, bootstrap, seed)
        out["fnmr_boot_low"], out["fnmr_boot_high"] = percentile_interval(fnmr_boot, level)
        out["fmr_boot_low"], out["fmr_boot_high"] = percentile_interval(fmr_boot, level)
    return out


def bootstrap_replicates(
    pairs: pd.DataFrame,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]],
    thresholds: Mapping[str, float],
    replicates: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Subject-bootstrap replicates of FMR and FNMR, shape (replicates, rows of :func:`per_group_rates`).

    The same seed gives the same subject draws as ``per_group_rates(..., bootstrap=replicates,
    seed=seed)``, so statistics derived from these replicates (e.g. fairness summaries) come from
    the very resamples behind the per-group intervals.
    """
    score, mated, ok = pair_arrays(pairs)
    units = _pair_units(pairs, attribute_names(attributes, intersections))
    values = np.array([float(thresholds[k]) for k in thresholds], dtype=np.float64)
    return _bootstrap_rates(
        score, mated, ok, pairs["subject_a"].to_numpy(), pairs["subject_b"].to_numpy(), units, values, replicates, seed
    )


def _bootstrap_rates(
    score: np.ndarray,
    mated: np.ndarray,
    ok: np.ndarray,
    subj_a: np.ndarray,
    subj_b: np.ndarray,
    units: list[tuple[str, str, np.ndarray]],
    thresholds: np.ndarray,
    replicates: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of FMR and FNMR, columns in the row order of the per-group table."""
    num_rows: list[np.ndarray] = []
    den_rows: list[np.ndarray] = []
    with np.errstate(invalid="ignore"):
        accepted = [score >= t for t in thresholds]
    for kind in ("fmr", "fnmr"):
        for j in range(len(thresholds)):
            for _, _, mask in units:
                if kind == "fmr":
                    den = mask & ok & ~mated
                    num = den & accepted[j]
                else:
                    den = mask & ok & mated
                    num = den & ~accepted[j]
                num_rows.append(np.flatnonzero(num))
                den_rows.append(np.flatnonzero(den))
    n_pairs = score.size
    num = _indicator_matrix(num_rows, n_pairs)
    den = _indicator_matrix(den_rows, n_pairs)
    reps = bootstrap_subjects(subj_a, subj_b, num, den, replicates=replicates, seed=seed)
    half = reps.shape[1] // 2
    return reps[:, :half], reps[:, half:]


def _indicator_matrix(rows_per_column: list[np.ndarray], n_pairs: int) -> sp.csr_matrix:
    """(n_pairs, n_columns) 0/1 matrix with column c set at ``rows_per_column[c]``."""
    rows = np.concatenate(rows_per_column) if rows_per_column else np.empty(0, dtype=np.int64)
    cols = np.repeat(np.arange(len(rows_per_column)), [r.size for r in rows_per_column])
    data = np.ones(rows.size, dtype=np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_pairs, len(rows_per_column)))


def per_group_thresholds(
    pairs: pd.DataFrame,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    target_fmr: float = 1e-3,
) -> pd.DataFrame:
    """The threshold each group would need to reach ``target_fmr`` on its own non-mated pairs.

    Each threshold follows :func:`~frbench.metrics.thresholds.threshold_at_fmr` on that group's
    scored non-mated similarities. Spread across groups shows how far one global threshold is
    from each group's operating point (NIST FRVT Part 3 discusses group-specific thresholds).

    Returns columns ``attribute, group, n_nonmated, n_mated, target_fmr, threshold, achieved_fmr,
    fnmr`` (FMR and FNMR of the group at its own threshold); threshold and rates are NaN for a
    group without non-mated pairs. Row order as in :func:`per_group_rates`.
    """
    if not 0.0 <= target_fmr <= 1.0:
        raise ValueError(f"target_fmr must be in [0, 1], got {target_fmr}")
    score, mated, ok = pair_arrays(pairs)
    rows = []
    for attr, group, mask in _pair_units(pairs, attribute_names(attributes, intersections)):
        scored = mask & ok
        row = {
            "attribute": attr,
            "group": group,
            "n_nonmated": int(np.sum(scored & ~mated)),
            "n_mated": int(np.sum(scored & mated)),
            "target_fmr": target_fmr,
            "threshold": np.nan,
            "achieved_fmr": np.nan,
            "fnmr": np.nan,
        }
        if row["n_nonmated"]:
            threshold = threshold_at_fmr(score[scored & ~mated], target_fmr)
            n_fm, n_nm, n_fnm, n_m = error_counts(score[scored], mated[scored], threshold)
            row.update(threshold=threshold, achieved_fmr=n_fm / n_nm, fnmr=n_fnm / n_m if n_m else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def failure_to_enrol(
    images: pd.DataFrame,
    status: pd.Series,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    level: float = 0.95,
) -> pd.DataFrame:
    """Images that yielded no embedding, counted per group (ISO/IEC 19795-10 asks for FTE per group).

    Parameters
    ----------
    images : ImageTable with ``image_id``, ``subject_id`` and the attribute columns.
    status : Series indexed by image_id: ``ok`` or a failure reason; must cover every image.
    attributes, intersections : as in :func:`per_group_rates`; an image is in group g when its
        own attribute value is g.
    level : confidence level of the Clopper-Pearson interval.

    Returns
    -------
    DataFrame with ``attribute, group, n_images, n_subjects, n_failed, fte, fte_ci_low,
    fte_ci_high``: the ``all`` row first, then attributes in order, groups sorted by name.
    """
    missing = [c for c in ("image_id", "subject_id") if c not in images.columns]
    if missing:
        raise ValueError(f"image table lacks column(s) {missing}")
    st = status.reindex(images["image_id"].to_numpy())
    if st.isna().any():
        raise ValueError(f"status has no entry for {int(st.isna().sum())} image(s), first {st.index[st.isna()][0]!r}")
    failed = st.to_numpy() != OK
    subjects = images["subject_id"].to_numpy()
    units = [(ALL, ALL, np.ones(len(images), dtype=bool))]
    for attr in attribute_names(attributes, intersections):
        labels = _labels(images, attr, "")
        units.extend((attr, group, labels == group) for group in sorted(set(labels)))
    out = pd.DataFrame(
        {
            "attribute": [u[0] for u in units],
            "group": [u[1] for u in units],
            "n_images": [int(m.sum()) for _, _, m in units],
            "n_subjects": [pd.unique(subjects[m]).size for _, _, m in units],
            "n_failed": [int((m & failed).sum()) for _, _, m in units],
        }
    )
    out["fte"] = _rates(out["n_failed"].to_numpy(), out["n_images"].to_numpy())
    out["fte_ci_low"], out["fte_ci_high"] = clopper_pearson(out["n_failed"], out["n_images"], level)
    return out
