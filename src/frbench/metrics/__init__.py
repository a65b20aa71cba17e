"""Error rates and their uncertainty, per demographic group.

``rates`` (FMR/FNMR at thresholds), ``thresholds`` (at a target FMR, best accuracy, fold
calibration), ``intervals`` (Clopper-Pearson, subject bootstrap), ``grouped`` (the per-group
table), ``fairness`` (aggregate equitability measures), ``curves`` (DET points, cross-group FMR,
score histograms). Scores are similarities; a pair matches when score >= threshold.
"""
