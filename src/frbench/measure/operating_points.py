"""eer.csv: EER, FMR100, FMR1000 and ZeroFMR per group, the numbers bob.measure and pyeer print.

Each group's values come from its own scores (its mated pairs and its non-mated pairs, both sides
in the group, the one group rule), exactly as pyeer or bob.measure would compute them on that
group's genuine and impostor files; frbench's per-group FNMR at a *global* threshold stays in
per_group.csv. Definitions: :mod:`frbench.metrics.eer`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from frbench.groups import Groups
from frbench.metrics.eer import FMR_OPERATING_POINTS, eer_bootstrap, equal_error_rate, fnmr_at_fmr, zero_fmr
from frbench.metrics.intervals import bootstrap_interval, pair_weights, subject_codes, subject_draws

COLUMNS = [
    "attribute", "group", "n_mated", "n_nonmated", "eer", "eer_low", "eer_high", "eer_threshold",
    "eer_ci_low", "eer_ci_high", "eer_ci_status", *FMR_OPERATING_POINTS, "zero_fmr",
]


def eer_table(
    pairs: pd.DataFrame, groups: Groups, level: float = 0.95, replicates: int = 0, seed: int = 0
) -> pd.DataFrame:
    """One row per attribute x group (``all`` first) of scored listed pairs.

    ``pairs``: ``score``, ``mated``, ``ok``, ``subject_a/b`` and the side columns. Pairs with a
    failed side (``ok`` False) are left out, as everywhere. A group without a genuine or an
    impostor pair gets NaN measures. ``replicates`` > 0 adds a subject-bootstrap percentile
    interval of the EER (``eer_ci_*``, the rules of :func:`frbench.metrics.intervals.bootstrap_interval`);
    with 0 the status is ``not_computed``.
    """
    scored = pairs[pairs["ok"].to_numpy(dtype=bool)].reset_index(drop=True)
    score = scored["score"].to_numpy(dtype=float)
    mated = scored["mated"].to_numpy(dtype=bool)
    weights = None
    if replicates > 0 and len(scored):
        code_a, code_b, n_subjects = subject_codes(scored["subject_a"], scored["subject_b"])
        weights = pair_weights(subject_draws(n_subjects, replicates, seed), code_a, code_b)
    rows = []
    for attribute, group, mask in groups.pair_units(scored):
        g, i = score[mask & mated], score[mask & ~mated]
        row: dict = {"attribute": attribute, "group": group, "n_mated": g.size, "n_nonmated": i.size}
        if g.size and i.size:
            e = equal_error_rate(g, i)
            row.update(eer=e.eer, eer_low=e.low, eer_high=e.high, eer_threshold=e.threshold,
                       zero_fmr=zero_fmr(g, i))
            row.update({name: fnmr_at_fmr(g, i, f) for name, f in FMR_OPERATING_POINTS.items()})
        if weights is not None and g.size and i.size:
            reps = eer_bootstrap(score[mask], mated[mask], weights[:, mask])
            ci = bootstrap_interval(reps[:, None], level=level).iloc[0]
            row.update(eer_ci_low=ci["ci_low"], eer_ci_high=ci["ci_high"], eer_ci_status=ci["ci_status"])
        else:
            row["eer_ci_status"] = "not_computed" if not (g.size and i.size) or weights is None else ""
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
