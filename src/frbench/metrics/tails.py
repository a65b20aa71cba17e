"""FMR beyond what the counts resolve: a peaks-over-threshold (generalised Pareto) model of the
highest non-mated scores. Every number from here is **model-based**, never a measurement.

Model
-----
Of n non-mated scores, the n_u highest lie above u (u is the (n_u + 1)-th highest score). Above a
high enough u, the excesses y = s - u follow a generalised Pareto distribution (Pickands 1975;
Balkema & de Haan 1974):

    P(S >= u + y | S > u) = (1 + xi y / sigma)^(-1/xi)     (xi != 0; exp(-y / sigma) at xi = 0)

so the FMR at a threshold T > u is

    FMR(T) = zeta * (1 + xi (T - u) / sigma)^(-1/xi),      zeta = n_u / n

(Coles, "An Introduction to Statistical Modeling of Extreme Values", 2001, eq. 4.13). Similarity
scores are bounded, so xi < 0 is expected; the model then puts FMR = 0 at and above
u - sigma / xi. Fitting is by maximum likelihood, through the one-parameter profile likelihood in
theta = xi / sigma (Grimshaw 1993): for fixed theta the likelihood is maximal at
xi(theta) = mean(log(1 + theta y)), so only theta is searched (a grid, then Brent's method). The
likelihood is unbounded for xi < -1 (Smith 1985); the search is kept to xi >= -1.

Interval
--------
A parametric bootstrap of the whole procedure: n_u* ~ Binomial(n, zeta), n_u* excesses drawn from
the fitted GPD, refitted; the percentile interval of FMR*(T). It carries the uncertainty of zeta,
xi and sigma, not that of the model's form: whether a GPD describes the tail beyond the data can
only be checked against data that reach there (docs/tails.md: fit on 1 % of LFW's non-mated
pairs, compared with the exhaustive counts of all of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

# Default number of excesses: a share of the scores, kept within bounds: too few and xi is
# guesswork, too many and u is not in the tail (bias).
TAIL_SHARE = 0.002
MIN_EXCEEDANCES = 50
MAX_EXCEEDANCES = 2000


@dataclass(frozen=True)
class TailFit:
    """A generalised Pareto fit to the excesses of n scores over u.

    Attributes: ``n`` scores, ``n_exceed`` of them above ``u``, shape ``xi``, scale ``sigma``, the
    maximised log-likelihood ``loglik`` of the excesses, and ``zeta = n_exceed / n``.
    """

    n: int
    u: float
    n_exceed: int
    xi: float
    sigma: float
    loglik: float

    @property
    def zeta(self) -> float:
        return self.n_exceed / self.n

    @property
    def upper_end(self) -> float:
        """The highest score the model allows (inf when xi >= 0)."""
        return self.u - self.sigma / self.xi if self.xi < 0 else np.inf


def default_exceedances(n: int) -> int:
    """``TAIL_SHARE`` of n, within [MIN_EXCEEDANCES, MAX_EXCEEDANCES] (and below n)."""
    return int(min(n - 1, max(MIN_EXCEEDANCES, min(MAX_EXCEEDANCES, round(TAIL_SHARE * n)))))


def gpd_loglik(y: ArrayLike, xi: float, sigma: float) -> float:
    """Log-likelihood of excesses ``y`` (>= 0) under GPD(xi, sigma); -inf outside the support."""
    y = np.asarray(y, dtype=np.float64)
    if sigma <= 0:
        return -np.inf
    if xi == 0.0:
        return float(-y.size * np.log(sigma) - y.sum() / sigma)
    z = 1.0 + xi * y / sigma
    if np.any(z <= 0):
        return -np.inf
    return float(-y.size * np.log(sigma) - (1.0 + 1.0 / xi) * np.log(z).sum())


def _profile(theta: float, y: np.ndarray) -> tuple[float, float, float]:
    """(log-likelihood, xi, sigma) maximised over xi for theta = xi / sigma."""
    if theta == 0.0:
        sigma = float(y.mean())
        return gpd_loglik(y, 0.0, sigma), 0.0, sigma
    z = np.log1p(theta * y)
    xi = float(z.mean())
    if not np.isfinite(xi) or xi == 0.0:
        return -np.inf, np.nan, np.nan
    sigma = xi / theta
    if xi < -1.0:
        return -np.inf, xi, sigma
    return float(-y.size * np.log(sigma) - (1.0 + 1.0 / xi) * z.sum()), xi, sigma


def _profile_grid(grid: np.ndarray, y: np.ndarray) -> NDArray[np.float64]:
    """:func:`_profile`'s log-likelihood at every theta of ``grid`` at once."""
    z = np.log1p(grid[:, None] * y[None, :])
    xi = z.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = xi / grid
        ll = -y.size * np.log(sigma) - (1.0 + 1.0 / xi) * z.sum(axis=1)
    ll = np.where((xi < -1.0) | ~np.isfinite(ll), -np.inf, ll)
    zero = grid == 0.0
    if zero.any():
        ll[zero] = _profile(0.0, y)[0]
    return ll


def _fit_gpd(excesses: ArrayLike) -> tuple[float, float, float]:
    y = np.asarray(excesses, dtype=np.float64).reshape(-1)
    if y.size < 3:
        raise ValueError(f"a GPD fit needs at least 3 excesses, got {y.size}")
    if not np.all(np.isfinite(y)) or y.min() < 0:
        raise ValueError("excesses must be finite and >= 0")
    ymax, ymean = float(y.max()), float(y.mean())
    if ymax <= 0 or np.ptp(y) == 0:
        raise ValueError("excesses are all equal: no tail shape to fit")
    # theta ranges over (-1/ymax, inf): the support needs 1 + theta y > 0 for every y.
    neg = -(1.0 - np.logspace(-8, -0.01, 60)) / ymax
    pos = np.logspace(-4, 4, 60) / ymean
    grid = np.concatenate([neg, [0.0], pos])
    ll = _profile_grid(grid, y)
    best = int(np.argmax(ll))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    res = minimize_scalar(lambda t: -_profile(t, y)[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-7 * (hi - lo)})
    theta = float(res.x) if -res.fun >= ll[best] else float(grid[best])
    loglik, xi, sigma = _profile(theta, y)
    return xi, sigma, loglik


def fit_gpd(excesses: ArrayLike) -> tuple[float, float, float]:
    """Maximum-likelihood (xi, sigma, loglik) of a GPD with location 0 for ``excesses`` (module docstring).

    Raises ValueError for fewer than 3 excesses, negative or non-finite ones, or all equal.
    """
    # thetas near the support's edge overflow harmlessly to -inf log-likelihoods
    with np.errstate(all="ignore"):
        return _fit_gpd(excesses)


def fit_tail(scores: ArrayLike, n_exceed: int | None = None) -> TailFit:
    """Fit the peaks-over-threshold model to the ``n_exceed`` highest of ``scores``.

    Parameters
    ----------
    scores : array (n,)
        Non-mated similarity scores (a sample of them is enough: zeta is their share above u).
    n_exceed : int, optional
        Excesses to fit; default :func:`default_exceedances`. u is the (n_exceed + 1)-th highest
        score, so exactly n_exceed scores lie above it (ties at u are moved below: fewer excesses).

    Returns
    -------
    TailFit
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size < 10 or not np.all(np.isfinite(s)):
        raise ValueError(f"need at least 10 finite scores, got {s.size}")
    k = default_exceedances(s.size) if n_exceed is None else int(n_exceed)
    if not 3 <= k < s.size:
        raise ValueError(f"n_exceed must be in [3, {s.size - 1}], got {k}")
    top = np.partition(s, s.size - k - 1)[s.size - k - 1 :]
    u = float(top[0])
    y = top[1:][top[1:] > u] - u
    xi, sigma, loglik = fit_gpd(y)
    return TailFit(n=int(s.size), u=u, n_exceed=int(y.size), xi=xi, sigma=sigma, loglik=loglik)


def tail_fmr(fit: TailFit, thresholds: ArrayLike) -> NDArray[np.float64]:
    """Model-based FMR at each threshold (module docstring); NaN at or below u, where the empirical
    share of scores >= T is what to use."""
    t = np.asarray(thresholds, dtype=np.float64)
    y = t - fit.u
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if fit.xi == 0.0:
            surv = np.exp(-y / fit.sigma)
        else:
            z = 1.0 + fit.xi * y / fit.sigma
            surv = np.where(z > 0, np.power(np.maximum(z, 0.0), -1.0 / fit.xi), 0.0)
    return np.where(y > 0, fit.zeta * surv, np.nan)


def tail_fmr_interval(
    fit: TailFit, thresholds: ArrayLike, level: float = 0.95, n_boot: int = 400, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Parametric-bootstrap percentile interval of :func:`tail_fmr` (module docstring).

    Returns (low, high) arrays shaped like ``thresholds``; NaN where T <= u.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 20:
        raise ValueError(f"n_boot must be >= 20, got {n_boot}")
    t = np.asarray(thresholds, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.full((n_boot, t.size), np.nan)
    for b in range(n_boot):
        k = max(3, int(rng.binomial(fit.n, fit.zeta)))
        y = _gpd_draw(rng, fit.xi, fit.sigma, k)
        try:
            xi, sigma, _ = fit_gpd(y)
        except ValueError:
            continue
        draws[b] = tail_fmr(TailFit(fit.n, fit.u, k, xi, sigma, 0.0), t.reshape(-1))
    alpha = 1 - level
    low = np.nanquantile(draws, alpha / 2, axis=0).reshape(t.shape)
    high = np.nanquantile(draws, 1 - alpha / 2, axis=0).reshape(t.shape)
    above = t > fit.u
    return np.where(above, low, np.nan), np.where(above, high, np.nan)


def _gpd_draw(rng: np.random.Generator, xi: float, sigma: float, k: int) -> NDArray[np.float64]:
    """k draws from GPD(xi, sigma) by inversion."""
    p = rng.random(k)
    if xi == 0.0:
        return -sigma * np.log1p(-p)
    return sigma / xi * (np.power(1.0 - p, -xi) - 1.0)


def empirical_or_tail_fmr(
    scores: ArrayLike, thresholds: Sequence[float], fit: TailFit | None = None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """FMR at each threshold: the empirical share of scores >= T where T is at or below the fit's u,
    else the model's. Returns (fmr, model_based) so that a caller can label every value."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    emp = (s[None, :] >= t[:, None]).mean(axis=1)
    if fit is None:
        return emp, np.zeros(t.size, bool)
    model = tail_fmr(fit, t)
    use = t > fit.u
    return np.where(use, model, emp), use
