"""Dose-response fits: IC50 recovery inside the 95 % interval, biphasic fit, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ionrig.analysis import fit_hill, fit_hill_biphasic

# Configured (simulator default, docs/reference/physiology.md §8.3) rather than literature values.
IC50_MM, HILL = 0.72, 1.0
DOSES_MM = np.repeat(np.r_[0.0, np.geomspace(0.03, 30.0, 8)], 3)


def _hill(x, ic50, hill, top, bottom, decreasing=True):
    frac = 1 / (1 + (x / ic50) ** hill)
    return bottom + (top - bottom) * (frac if decreasing else 1 - frac)


def test_exact_data_is_recovered_exactly() -> None:
    y = _hill(DOSES_MM, 0.72, 1.4, 1.0, 0.05)
    fit = fit_hill(DOSES_MM, y)
    assert (fit.ic50, fit.hill, fit.top, fit.bottom) == pytest.approx((0.72, 1.4, 1.0, 0.05))
    assert fit.ic50_ci[0] <= fit.ic50 <= fit.ic50_ci[1]
    np.testing.assert_allclose(fit.response(DOSES_MM), y, atol=1e-8)


@pytest.mark.parametrize(
    ("decreasing", "hill", "noise", "trials"),
    [(True, 1.0, 0.05, 200), (True, 2.0, 0.08, 200), (False, 0.8, 0.05, 200)],
)
def test_ic50_inside_its_95_percent_interval_in_at_least_90_percent_of_trials(
    decreasing: bool, hill: float, noise: float, trials: int
) -> None:
    inside, estimates = 0, []
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y = _hill(DOSES_MM, IC50_MM, hill, 1.0, 0.02, decreasing)
        fit = fit_hill(DOSES_MM, y + rng.normal(0, noise, y.size), decreasing=decreasing)
        inside += fit.ic50_ci[0] <= IC50_MM <= fit.ic50_ci[1]
        estimates.append(fit.ic50)
    coverage = inside / trials
    assert coverage >= 0.90
    assert coverage <= 0.99  # the intervals are not simply huge
    assert np.median(estimates) == pytest.approx(IC50_MM, rel=0.03)


def test_biphasic_inhibition_is_resolved() -> None:
    """Chokshi et al. 2012 native TRPM7 (§8.3): IC50s 10 and 165 µM, Hill 1, weight 0.4."""
    doses_uM = np.repeat(np.r_[0.0, np.geomspace(0.5, 3000.0, 12)], 3)
    truth = 100 * (0.4 / (1 + doses_uM / 10) + 0.6 / (1 + doses_uM / 165))
    exact = fit_hill_biphasic(doses_uM, truth)
    assert (exact.ic50_1, exact.ic50_2, exact.fraction_1) == pytest.approx((10, 165, 0.4))
    assert (exact.top, exact.bottom) == pytest.approx((100, 0), abs=1e-6)
    np.testing.assert_allclose(exact.response(doses_uM), truth, atol=1e-6)
    inside = 0
    for seed in range(10):
        y = truth + np.random.default_rng(seed).normal(0, 2.0, truth.size)
        fit = fit_hill_biphasic(doses_uM, y)
        assert fit.ic50_1 < fit.ic50_2
        inside += (fit.ic50_1_ci[0] <= 10 <= fit.ic50_1_ci[1]) + (
            fit.ic50_2_ci[0] <= 165 <= fit.ic50_2_ci[1]
        )
    assert inside >= 17  # of 20 intervals
    # A single site cannot describe this curve: its residual is clearly larger.
    y = truth + np.random.default_rng(0).normal(0, 2.0, truth.size)
    mono = fit_hill(doses_uM, y)
    two = fit_hill_biphasic(doses_uM, y)
    sse = lambda f: float(np.sum((f.response(doses_uM) - y) ** 2))  # noqa: E731
    assert sse(two) < 0.7 * sse(mono)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        ([0, 0.1, 1, 10], [1, 0.9, 0.5, 0.1], {}, r"concentration must hold >= 5 points at >= 4"),
        ([0.1, 0.1, 0.1, 1, 1, 1], [1, 1, 1, 0, 0, 0], {}, r"at >= 4 distinct concentrations"),
        ([0.01, 0.1, 1, 10, 100], [0.1, 0.5, 0.9, 0.5, 0.1], {}, r"response must be monotone"),
        (
            [0.01, 0.1, 1, 10, 100],
            [0, 0.1, 0.5, 0.9, 1.0],
            {},
            r"monotone decreasing.*decreasing=True",
        ),
        (
            [0.01, 0.1, 1, 10, 100],
            [1, 0.9, 0.5, 0.1, 0],
            {"decreasing": False},
            r"monotone increasing",
        ),
        ([0.01, 0.1, 1, 10, 100], [1, 1, 1, 1, 1], {}, r"response must be monotone"),
        (
            [0.01, 0.1, 1, 10, 100],
            [1, 0.9, np.nan, 0.1, 0],
            {},
            r"response contains NaN; allowed values are finite",
        ),
        (
            [0.01, 0.1, 1, 10],
            [1, 0.9, 0.5, 0.1, 0],
            {},
            r"concentration and response must have one length",
        ),
        (
            [-0.01, 0.1, 1, 10, 100],
            [1, 0.9, 0.5, 0.1, 0],
            {},
            r"concentration must be >= 0 \(allowed range \[0, inf\)\)",
        ),
    ],
)
def test_fit_hill_refuses_bad_input(x, y, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_hill(np.array(x, dtype=float), np.array(y, dtype=float), **kwargs)


def test_biphasic_refusals() -> None:
    x = np.geomspace(0.1, 100, 5)
    with pytest.raises(ValueError, match=r"concentration must hold >= 6 points"):
        fit_hill_biphasic(x, 1 / (1 + x))
    with pytest.raises(ValueError, match=r"hill must be two Hill coefficients > 0"):
        fit_hill_biphasic(np.geomspace(0.1, 100, 8), np.linspace(1, 0, 8), hill=(1.0, 0.0))


def test_fixed_bottom_fit_has_three_parameters_and_recovers_the_ic50():
    import numpy as np

    from ionrig.analysis import fit_hill

    x = np.array([0.0, 0.1, 0.3, 1.0, 3.0, 10.0])
    y = 100.0 / (1.0 + x / 0.72) - 2.0  # a small constant offset below zero at full block
    free = fit_hill(x, y)
    fixed = fit_hill(x, y, bottom=-2.0)
    assert fixed.bottom == -2.0 and fixed.ic50 == pytest.approx(0.72, rel=1e-6)
    assert free.ic50 == pytest.approx(0.72, rel=1e-3)
    assert fit_hill(x[:4], y[:4], bottom=-2.0).ic50 == pytest.approx(0.72, rel=1e-3)
    with pytest.raises(ValueError, match=r">= 4 points at >= 3 distinct"):
        fit_hill(x[:3], y[:3], bottom=0.0)
    with pytest.raises(ValueError, match="bottom"):
        fit_hill(x, y, bottom=float("nan"))
