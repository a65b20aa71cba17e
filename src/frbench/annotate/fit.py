"""Model fitting and evaluation for the skin-tone estimator: penalised logistic and proportional-odds
regression, stratified folds, and the classification measures reported in docs/skin_tone.md.

Everything is numpy/scipy so the fitted model can be shipped as coefficients (no pickle) and
refitted without optional dependencies. The tests check the fits against scikit-learn and
hand-computed cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, log_expit


@dataclass(frozen=True)
class Standardiser:
    """z = (x - mean) / scale per column; NaN inputs become 0 (the training mean) after scaling."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, X: ArrayLike) -> Standardiser:
        X = _matrix(X)
        mean = np.nanmean(X, axis=0)
        scale = np.nanstd(X, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        # A constant column carries no information; scale 1 leaves it at 0 after centring.
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(mean, scale)

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        X = _matrix(X)
        if X.shape[1] != len(self.mean):
            raise ValueError(f"expected {len(self.mean)} columns, got {X.shape[1]}")
        Z = (X - self.mean) / self.scale
        return np.where(np.isfinite(Z), Z, 0.0)


def fit_logistic(X: ArrayLike, y: ArrayLike, l2: float = 1.0, sample_weight: ArrayLike | None = None) -> tuple[float, NDArray[np.float64]]:
    """L2-penalised logistic regression: minimise

        sum_i w_i * log(1 + exp(-s_i (b + x_i . beta))) + l2 / 2 * |beta|^2,   s_i = 2 y_i - 1,

    the intercept ``b`` unpenalised (scikit-learn's ``LogisticRegression(C=1/l2)`` objective).
    ``y`` is 0/1. Returns ``(b, beta)``.
    """
    X = _matrix(X)
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),) or not np.all((y == 0) | (y == 1)):
        raise ValueError("y must be a 0/1 vector with one entry per row of X")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    s = 2 * y - 1

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        z = theta[0] + X @ theta[1:]
        value = -np.sum(w * log_expit(s * z)) + 0.5 * l2 * theta[1:] @ theta[1:]
        r = -w * s * expit(-s * z)
        grad = np.concatenate([[r.sum()], X.T @ r + l2 * theta[1:]])
        return float(value), grad

    res = minimize(loss, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9, "ftol": 1e-14})
    return float(res.x[0]), res.x[1:]


def predict_logistic(X: ArrayLike, intercept: float, coef: ArrayLike) -> NDArray[np.float64]:
    """P(y = 1) = 1 / (1 + exp(-(b + x . beta)))."""
    return expit(intercept + _matrix(X) @ np.asarray(coef, dtype=np.float64))


def fit_ordinal(
    X: ArrayLike, y: ArrayLike, n_classes: int, l2: float = 1.0, sample_weight: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Proportional-odds (cumulative logit) model, McCullagh (1980):

        P(y <= k | x) = expit(theta_k - x . beta),   k = 0 .. n_classes - 2,  theta increasing,

    classes ``0 .. n_classes - 1``, with an L2 penalty ``l2 / 2 * |beta|^2`` (thresholds unpenalised)
    and each row's log-likelihood weighted by ``sample_weight`` (e.g. 1/2 for each of two
    annotators' labels of one subject).
    Fitted by maximum likelihood with the thresholds parametrised as theta_0 and log gaps, so they
    stay ordered. Classes absent from ``y`` get vanishing probability. Returns ``(theta, beta)``.
    """
    X = _matrix(X)
    y = np.asarray(y)
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must be integers in 0..{n_classes - 1}, one per row of X")
    if n_classes < 2:
        raise ValueError("n_classes must be >= 2")
    K = n_classes - 1
    p = X.shape[1]
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (len(y),) or np.any(w < 0):
        raise ValueError("sample_weight must be one non-negative number per row")

    def unpack(params: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        theta = params[0] + np.concatenate([[0.0], np.cumsum(np.exp(params[1:K]))])
        return theta, params[K:]

    hi_idx, lo_idx = np.minimum(y, K - 1), np.maximum(y - 1, 0)
    has_hi, has_lo = y < K, y > 0

    def nll(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        theta, beta = unpack(params)
        eta = X @ beta
        upper = np.where(has_hi, expit(theta[hi_idx] - eta), 1.0)
        lower = np.where(has_lo, expit(theta[lo_idx] - eta), 0.0)
        prob = np.clip(upper - lower, 1e-300, None)
        value = float(-(w * np.log(prob)).sum() + 0.5 * l2 * beta @ beta)
        # d/d(theta_k) and d/d(eta) of log(F(theta_hi - eta) - F(theta_lo - eta)), F' = F (1 - F)
        d_hi = np.where(has_hi, upper * (1 - upper), 0.0) / prob
        d_lo = np.where(has_lo, lower * (1 - lower), 0.0) / prob
        g_theta = np.bincount(hi_idx, w * d_hi, K) - np.bincount(lo_idx, w * d_lo, K)
        g_eta = -(d_hi - d_lo) * w
        grad_beta = -(X.T @ g_eta) + l2 * beta
        # chain rule through theta = params[0] + cumsum(exp(gaps)): theta_k depends on gap j < k
        g = -g_theta
        grad_first = g.sum()
        tail = np.cumsum(g[::-1])[::-1]
        grad_gaps = tail[1:] * np.exp(params[1:K])
        return value, np.concatenate([[grad_first], grad_gaps, grad_beta])

    counts = np.bincount(y, minlength=n_classes)
    cum = np.clip(np.cumsum(counts)[:-1] / len(y), 1e-3, 1 - 1e-3)
    start_theta = np.log(cum / (1 - cum))
    start_theta = np.maximum.accumulate(start_theta + np.arange(K) * 1e-3)
    start = np.concatenate([[start_theta[0]], np.log(np.maximum(np.diff(start_theta), 1e-3)), np.zeros(p)])
    res = minimize(nll, start, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-14})
    return unpack(res.x)


def predict_ordinal(X: ArrayLike, theta: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    """Class probabilities (n, len(theta) + 1) of the proportional-odds model of :func:`fit_ordinal`."""
    eta = _matrix(X) @ np.asarray(beta, dtype=np.float64)
    cum = expit(np.asarray(theta, dtype=np.float64)[None, :] - eta[:, None])
    cum = np.hstack([np.zeros((len(eta), 1)), cum, np.ones((len(eta), 1))])
    return np.clip(np.diff(cum, axis=1), 0.0, 1.0)


def stratified_folds(strata: ArrayLike, n_folds: int, seed: int) -> NDArray[np.int64]:
    """Fold index (0 .. n_folds - 1) per row: within each stratum rows are shuffled (seeded) and
    dealt round-robin, so each fold holds each stratum's rows in proportion (+-1)."""
    strata = np.asarray(strata)
    if n_folds < 2:
        raise ValueError("n_folds must be >= 2")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(strata), dtype=np.int64)
    offset = 0
    for value in sorted(set(strata.tolist()), key=str):
        rows = np.flatnonzero(strata == value)
        rows = rows[rng.permutation(len(rows))]
        # continuing the deal across strata keeps fold sizes within one of each other
        folds[rows] = (np.arange(len(rows)) + offset) % n_folds
        offset += len(rows)
    return folds


def roc_auc(y: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Area under the ROC curve: P(score of a random positive > that of a random negative), ties
    counting 1/2 (Mann-Whitney U / (n_pos n_neg)); with weights, each pair weighs w_pos w_neg.
    NaN when a class is absent."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if not y.any() or y.all():
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    score, y, w = score[order], y[order], w[order]
    # per distinct score: weight of negatives strictly below, plus half the tied negatives
    _, start, counts = np.unique(score, return_index=True, return_counts=True)
    neg_w = np.where(~y, w, 0.0)
    pos_w = np.where(y, w, 0.0)
    total = 0.0
    below = 0.0
    for s, c in zip(start, counts):
        tied_neg = neg_w[s : s + c].sum()
        total += pos_w[s : s + c].sum() * (below + 0.5 * tied_neg)
        below += tied_neg
    return float(total / (pos_w.sum() * neg_w.sum()))


def binary_scores(y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None) -> dict[str, float]:
    """Balanced accuracy (mean of recall on each class; Brodersen et al., 2010), precision and
    recall of the positive class, from 0/1 vectors; NaN where a denominator is 0."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape:
        raise ValueError("y_true and y_pred must have the same length")
    w = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    tp, fn = w[t & p].sum(), w[t & ~p].sum()
    fp, tn = w[~t & p].sum(), w[~t & ~p].sum()
    recall = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    return {
        "balanced_accuracy": float((recall + specificity) / 2),
        "precision": float(precision),
        "recall": float(recall),
    }


def _matrix(X: ArrayLike) -> NDArray[np.float64]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    return X
