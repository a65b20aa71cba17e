"""Error rates and their uncertainty, per demographic group.

``rates`` (FMR/FNMR at thresholds), ``thresholds`` (at a target FMR, best accuracy, fold
calibration), ``intervals`` (Clopper-Pearson, subject bootstrap, bootstrap intervals with their
undefined share), ``grouped`` (the per-group table), ``power`` (what the data can resolve, and
every sample-size constant), ``generalized`` (ISO/IEC 19795-1 generalised rates), ``group_rules``
(which groups are compared, and the rows that say so), ``fairness`` (aggregate equitability
measures), ``group_tests`` (tests of equal rates across groups), ``threshold_bootstrap``
(calibration noise), ``curves`` (DET points, cross-group FMR, score histograms). Scores are similarities; a pair matches when score >= threshold.
"""
