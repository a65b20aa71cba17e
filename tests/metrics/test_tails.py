"""The generalised Pareto tail model: its fit against scipy and a hand-computed case, its FMR formula,
and how often its bootstrap interval covers the true tail probability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from frbench.metrics.tails import (
    TailFit, default_exceedances, empirical_or_tail_fmr, fit_gpd, fit_tail, gpd_loglik, tail_fmr, tail_fmr_interval,
)


@pytest.mark.parametrize("xi", [-0.4, -0.1, 0.0, 0.25])
def test_fit_reaches_at_least_scipys_likelihood_and_agrees_on_parameters(xi: float) -> None:
    y = stats.genpareto.rvs(xi, scale=0.05, size=600, random_state=np.random.default_rng(1))
    got_xi, got_sigma, loglik = fit_gpd(y)
    c, loc, scale = stats.genpareto.fit(y, floc=0)
    assert loglik >= stats.genpareto.logpdf(y, c, 0, scale).sum() - 1e-6
    assert got_xi == pytest.approx(c, abs=2e-3)
    assert got_sigma == pytest.approx(scale, rel=2e-3)
    assert loglik == pytest.approx(gpd_loglik(y, got_xi, got_sigma))


def test_loglik_hand_computed() -> None:
    # GPD(xi=0.5, sigma=1) at y = 0 and 2: -2 log 1 - 3 (log 1 + log 2)
    assert gpd_loglik([0.0, 2.0], 0.5, 1.0) == pytest.approx(-3 * np.log(2.0))
    # exponential (xi = 0), sigma 2: -2 log 2 - (1 + 3) / 2
    assert gpd_loglik([1.0, 3.0], 0.0, 2.0) == pytest.approx(-2 * np.log(2.0) - 2.0)
    # outside the support of xi < 0: y > sigma / |xi|
    assert gpd_loglik([5.0], -0.5, 1.0) == -np.inf


def test_tail_fmr_is_zeta_times_the_gpd_survival() -> None:
    fit = TailFit(n=1000, u=0.5, n_exceed=10, xi=-0.2, sigma=0.1, loglik=0.0)
    t = np.array([0.4, 0.5, 0.6, 0.9, 1.0])
    got = tail_fmr(fit, t)
    assert np.isnan(got[:2]).all()  # at or below u: the counts, not the model
    assert got[2] == pytest.approx(0.01 * (1 - 0.2 * 0.1 / 0.1) ** 5)  # (1 + xi y / sigma)^(-1/xi)
    assert got[2] == pytest.approx(0.01 * stats.genpareto.sf(0.1, -0.2, scale=0.1))
    assert fit.upper_end == pytest.approx(1.0)
    assert got[3] == pytest.approx(0.01 * stats.genpareto.sf(0.4, -0.2, scale=0.1))
    assert got[4] == 0.0  # at the model's upper end


def test_fit_tail_uses_the_highest_scores_and_recovers_a_normal_tail() -> None:
    s = np.random.default_rng(0).normal(size=400_000)
    fit = fit_tail(s)
    assert fit.n_exceed == default_exceedances(s.size) == 800
    assert (s > fit.u).sum() == fit.n_exceed
    # 5e-6 and 1e-6 of a standard normal (1 / n = 2.5e-6): within a factor of 3. Further out the
    # fit under-predicts (at 1e-7 by 10x): a normal's tail is lighter than any GPD fitted this far in.
    for t in (4.42, 4.75):
        assert 1 / 3 < tail_fmr(fit, [t])[0] / stats.norm.sf(t) < 3
    fmr, model = empirical_or_tail_fmr(s, [0.0, 4.42], fit)
    assert model.tolist() == [False, True]
    assert fmr[0] == pytest.approx((s >= 0).mean())


def test_interval_covers_the_true_tail_probability_in_most_simulations() -> None:
    # scores whose whole distribution is GPD: the tail above any u is GPD too, so the truth is known
    # 100 excesses of 20,000 scores reach down to FMR 5e-3; t = 4.2 is at 1.05e-4, twice below 1 / n
    xi, sigma, n, t = -0.2, 1.0, 20_000, 4.2
    truth = stats.genpareto.sf(t, xi, scale=sigma)
    rng = np.random.default_rng(5)
    covered, reps = 0, 30
    for r in range(reps):
        s = stats.genpareto.rvs(xi, scale=sigma, size=n, random_state=rng)
        fit = fit_tail(s, n_exceed=100)
        low, high = tail_fmr_interval(fit, [t], level=0.9, n_boot=40, seed=r)
        covered += bool(low[0] <= truth <= high[0])
    # nominal 90 %; 30 replicates: P(<= 22 covered | 0.9) < 1 %
    assert covered > 22, covered


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        fit_gpd([0.1, 0.2])
    with pytest.raises(ValueError, match="all equal"):
        fit_gpd([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="n_exceed"):
        fit_tail(np.arange(100.0), n_exceed=100)
