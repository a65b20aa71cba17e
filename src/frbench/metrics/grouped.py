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

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from frbench.groups import Groups
from frbench.metrics.counts import COUNT_COLUMNS, RATE_SUBJECT_COLUMNS, pair_arrays, pair_counts, threshold_arrays
from frbench.metrics.generalized import GENERALIZED_COLUMNS, generalized_columns
from frbench.metrics.intervals import bootstrap_interval, bootstrap_subjects, clopper_pearson
from frbench.metrics.power import MIN_GROUP_SUBJECTS, POWER_COLUMNS, group_power
from frbench.metrics.rates import error_counts, rate
from frbench.metrics.thresholds import threshold_at_fmr
from frbench.tables import OK

PER_GROUP_COLUMNS = (
    *COUNT_COLUMNS[:5],  # threshold_name, threshold, attribute, group, n_subjects
    *RATE_SUBJECT_COLUMNS,  # the subjects behind FNMR and FMR
    *COUNT_COLUMNS[5:9],  # n_mated, n_nonmated, n_fnm, n_fm
    "fnmr",
    "fmr",
    "fnmr_ci_low",
    "fnmr_ci_high",
    "fmr_ci_low",
    "fmr_ci_high",
    "n_failed",
    "n_failed_mated",
    *GENERALIZED_COLUMNS,
    *POWER_COLUMNS[:-2],
    "underpowered",
    *POWER_COLUMNS[-2:],
)
BOOTSTRAP_COLUMNS = (
    "fnmr_boot_low", "fnmr_boot_high", "fnmr_boot_status", "fnmr_boot_undefined_share",
    "fmr_boot_low", "fmr_boot_high", "fmr_boot_status", "fmr_boot_undefined_share",
)


def rates_from_counts(
    counts: pd.DataFrame,
    level: float = 0.95,
    targets: Mapping[str, float] | None = None,
    min_subjects: int = MIN_GROUP_SUBJECTS,
) -> pd.DataFrame:
    """Rates, exact intervals, generalised rates and power flags from a counts table (``frbench.metrics.counts``).

    The one place every protocol's per-group rates are computed. With the counts of a row:

    * ``fnmr = n_fnm / n_mated`` and ``fmr = n_fm / n_nonmated`` (ISO/IEC 19795-1), NaN without
      comparisons of the kind; ``fnmr_ci_*``, ``fmr_ci_*``: Clopper-Pearson intervals at ``level``
      (comparisons taken as independent);
    * ``GENERALIZED_COLUMNS`` (:func:`frbench.metrics.generalized.generalized_columns`): the
      shares of mated and non-mated comparisons lost to a failed image, and the generalised
      rates that count those failures as rejections (``gfrr``, ``gfar``);
    * ``POWER_COLUMNS`` (:func:`frbench.metrics.power.group_power`, the ``all`` row included):
      the reference rates (``target_fmr`` = ``targets[threshold_name]``, else the ``all`` row's
      observed FMR; the ``all`` row's FNMR), rule-of-three bounds and whether each rate resolves
      its reference, rule-of-30 estimability, and whether the group enters fairness summaries
      (``min_subjects``, ``unknown`` labels left out) with the reason when not;
    * ``underpowered``: the group cannot resolve its FMR or its FNMR reference by the rule of three.

    Returns a DataFrame with ``PER_GROUP_COLUMNS``, rows in the order of ``counts``.
    """
    missing = [c for c in COUNT_COLUMNS if c not in counts.columns]
    if missing:
        raise ValueError(f"counts table lacks column(s) {missing}")
    counts = counts.reset_index(drop=True)
    n_fnm, n_mated = counts["n_fnm"].to_numpy(), counts["n_mated"].to_numpy()
    n_fm, n_nm = counts["n_fm"].to_numpy(), counts["n_nonmated"].to_numpy()
    out = counts[list(COUNT_COLUMNS)].copy()
    out["fnmr"] = rate(n_fnm, n_mated)
    out["fmr"] = rate(n_fm, n_nm)
    out["fnmr_ci_low"], out["fnmr_ci_high"] = clopper_pearson(n_fnm, n_mated, level)
    out["fmr_ci_low"], out["fmr_ci_high"] = clopper_pearson(n_fm, n_nm, level)
    power = group_power(counts, targets, min_subjects)
    out = pd.concat([out, generalized_columns(counts), power], axis=1)
    out["underpowered"] = ~(out["fmr_resolves"] & out["fnmr_resolves"])
    for c in RATE_SUBJECT_COLUMNS:
        # a counts table without them (1:N searches) has only the group's subjects to go by
        out[c] = counts[c].to_numpy() if c in counts.columns else counts["n_subjects"].to_numpy()
    return out[list(PER_GROUP_COLUMNS)]


def per_group_rates(
    pairs: pd.DataFrame,
    groups: Groups,
    thresholds: Mapping[str, float],
    level: float = 0.95,
    targets: Mapping[str, float] | None = None,
    min_subjects: int = MIN_GROUP_SUBJECTS,
    bootstrap: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """FMR and FNMR per threshold x attribute x group of listed pairs, with exact and bootstrap intervals.

    :func:`~frbench.metrics.counts.pair_counts` then :func:`rates_from_counts` (see both for the
    columns and the row order), plus, when ``bootstrap > 0``, ``BOOTSTRAP_COLUMNS``: percentile
    intervals of the subject bootstrap (:func:`bootstrap_replicates`; thresholds stay fixed across
    replicates, as in FRVT), with their status and share of undefined replicates
    (:func:`frbench.metrics.intervals.bootstrap_interval`). A group with no errors, or one
    subject, gets a ``point`` interval there (resampling cannot vary its rate); its
    Clopper-Pearson interval and rule-of-three bound are the honest statement then.
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    out = rates_from_counts(pair_counts(pairs, groups, thresholds), level, targets, min_subjects)
    if bootstrap:
        fmr_boot, fnmr_boot = bootstrap_replicates(pairs, groups, thresholds, bootstrap, seed)
        out = add_bootstrap_intervals(out, fmr_boot, fnmr_boot, level)
    return out


def add_bootstrap_intervals(
    table: pd.DataFrame, fmr_reps: np.ndarray, fnmr_reps: np.ndarray, level: float = 0.95
) -> pd.DataFrame:
    """``table`` with ``BOOTSTRAP_COLUMNS`` from replicates in its row order (:func:`bootstrap_interval`)."""
    if fmr_reps.shape[1] != len(table) or fnmr_reps.shape[1] != len(table):
        raise ValueError(f"replicates have {fmr_reps.shape[1]} columns for a table of {len(table)} rows")
    out = table.copy()
    for column, values in interval_columns({"fnmr": fnmr_reps, "fmr": fmr_reps}, "boot", level).items():
        out[column] = values
    return out


def interval_columns(replicates: Mapping[str, np.ndarray], tag: str, level: float = 0.95) -> dict[str, np.ndarray]:
    """``<rate>_<tag>_low``, ``_high``, ``_status``, ``_undefined_share`` for each rate of
    ``replicates`` (shape (R, rows)), in the order given: :func:`bootstrap_interval` of every row.

    The one shape of per-row replicate intervals: ``boot`` (subject bootstrap, ``BOOTSTRAP_COLUMNS``)
    and ``sens`` (:mod:`frbench.metrics.label_noise`).
    """
    out: dict[str, np.ndarray] = {}
    for kind, reps in replicates.items():
        interval = bootstrap_interval(reps, level)
        out[f"{kind}_{tag}_low"] = interval["ci_low"].to_numpy()
        out[f"{kind}_{tag}_high"] = interval["ci_high"].to_numpy()
        out[f"{kind}_{tag}_status"] = interval["ci_status"].to_numpy()
        out[f"{kind}_{tag}_undefined_share"] = interval["undefined_share"].to_numpy()
    return out


def bootstrap_replicates(
    pairs: pd.DataFrame,
    groups: Groups,
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
    units = groups.pair_units(pairs)
    _, values = threshold_arrays(thresholds)
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
    groups: Groups,
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
    for attr, group, mask in groups.pair_units(pairs):
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
    groups: Groups,
    level: float = 0.95,
) -> pd.DataFrame:
    """Images that yielded no embedding, counted per group (ISO/IEC 19795-10 asks for FTE per group).

    Parameters
    ----------
    images : ImageTable with ``image_id``, ``subject_id`` and the attribute columns.
    status : Series indexed by image_id: ``ok`` or a failure reason; must cover every image.
    groups : the attributes and intersections; an image is in group g when its own value is g.
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
    units = groups.image_units(images)
    out = pd.DataFrame(
        {
            "attribute": [u[0] for u in units],
            "group": [u[1] for u in units],
            "n_images": [int(m.sum()) for _, _, m in units],
            "n_subjects": [pd.unique(subjects[m]).size for _, _, m in units],
            "n_failed": [int((m & failed).sum()) for _, _, m in units],
        }
    )
    out["fte"] = rate(out["n_failed"].to_numpy(), out["n_images"].to_numpy())
    out["fte_ci_low"], out["fte_ci_high"] = clopper_pearson(out["n_failed"], out["n_images"], level)
    return out
