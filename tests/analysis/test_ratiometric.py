"""Ratiometric estimate, calibration and their error propagation, on synthetic data.

The noise model is checked by Monte Carlo: frames drawn from the forward model of
docs/reference/physiology.md §1.2 must scatter as much as the reported standard errors say.
"""

from __future__ import annotations

import numpy as np
import pytest

from ionrig.analysis import RatioCalibration, calibrate, ion_concentration, ratiometric_estimate

GAIN, READ_E = 0.146, 16.4
N_CELL, N_BG = 3, 448
T340_MS, T380_MS = 10.0, 3.0
R_MIN, R_MAX, KD, BETA = 0.4, 3.0, 1.9, 5.0  # Mag-fura-2 estimates of §3.2, Kd in mM


def _camera_sums(rng, electrons_per_px, n_px, size):
    """ADU sums over ``n_px`` pixels: mean gain*e, variance gain²(e + n σ²) (§1.2)."""
    electrons = electrons_per_px * n_px
    sd = GAIN * np.sqrt(electrons + n_px * READ_E**2)
    return rng.normal(GAIN * electrons, sd, size)


def _frames(rng, true_ratio, size):
    """Cell and background sums whose background-corrected ratio is ``true_ratio``."""
    bg340_e, bg380_e = 300.0, 500.0  # autofluorescence + offset, electrons per pixel per frame
    f380_e = 2000.0  # dye signal at 380 per cell pixel
    f340_e = true_ratio * f380_e * T340_MS / T380_MS
    return (
        _camera_sums(rng, f340_e + bg340_e, N_CELL, size),
        _camera_sums(rng, bg340_e, N_BG, size),
        _camera_sums(rng, f380_e + bg380_e, N_CELL, size),
        _camera_sums(rng, bg380_e, N_BG, size),
    )


def _estimate(c340, b340, c380, b380, **overrides):
    kwargs = dict(
        n_cell_px=N_CELL,
        n_bg_px=N_BG,
        exposure340_ms=T340_MS,
        exposure380_ms=T380_MS,
        gain_adu_per_e=GAIN,
        read_noise_e=READ_E,
        r_min=R_MIN,
        r_max=R_MAX,
        kd=KD,
        beta=BETA,
    )
    kwargs.update(overrides)
    return ratiometric_estimate(c340, b340, c380, b380, **kwargs)


@pytest.mark.parametrize("true_ratio", [0.8, 1.5, 2.2])
def test_standard_error_matches_monte_carlo_scatter(true_ratio: float) -> None:
    rng = np.random.default_rng(int(true_ratio * 100))
    est = _estimate(*_frames(rng, true_ratio, 20_000))
    true_conc = ion_concentration(true_ratio, r_min=R_MIN, r_max=R_MAX, kd=KD, beta=BETA)
    scatter = np.std(est.concentration, ddof=1)
    assert np.median(est.concentration_se) == pytest.approx(scatter, rel=0.03)
    assert np.median(est.ratio_se) == pytest.approx(np.std(est.ratio, ddof=1), rel=0.03)
    # Centred on the truth (the median survives the nonlinear conversion; the mean has a
    # second-order bias near Rmax).
    assert np.median(est.concentration) == pytest.approx(true_conc, rel=0.005)


def test_out_of_range_ratios_are_flagged_not_clipped() -> None:
    f380 = np.array([1000.0, 1000.0, 1000.0, 1000.0, 0.0])
    f340 = np.array([0.2, 1.0, 3.5, 3.0, 1.0]) * f380
    est = _estimate(f340, 0.0, f380, 0.0, exposure340_ms=1.0, exposure380_ms=1.0)
    np.testing.assert_allclose(est.ratio[:4], [0.2, 1.0, 3.5, 3.0])
    assert est.in_range.tolist() == [False, True, False, False, False]
    assert est.concentration[0] < 0  # below Rmin: negative, as the formula gives
    assert est.concentration[2] < 0  # beyond Rmax: the formula's (negative) value, not Rmax
    assert np.isinf(est.concentration[3])
    assert np.isnan(est.ratio[4])  # F380 <= 0: undefined, flagged
    expected = KD * BETA * (1.0 - R_MIN) / (R_MAX - 1.0)
    assert est.concentration[1] == pytest.approx(expected, rel=1e-12)


def test_scalar_inputs_and_background_scaling() -> None:
    est = _estimate(3 * 1500.0 + 3 * 50.0, 448 * 50.0, 3 * 1000.0 + 3 * 20.0, 448 * 20.0)
    assert est.ratio == pytest.approx((1500 / T340_MS) / (1000 / T380_MS), rel=1e-12)


def test_calibration_concentration_and_error_propagation() -> None:
    cal = RatioCalibration(R_MIN, R_MAX, BETA, KD, r_min_se=0.01, r_max_se=0.05, beta_se=0.2)
    assert cal.keff_mM == pytest.approx(KD * BETA)
    np.testing.assert_allclose(
        cal.concentration([0.5, 1.0]),
        ion_concentration([0.5, 1.0], r_min=R_MIN, r_max=R_MAX, kd=KD, beta=BETA),
    )
    # Delta method against brute-force sampling of the calibration constants.
    rng = np.random.default_rng(7)
    n = 200_000
    r_min = rng.normal(R_MIN, 0.01, n)
    r_max = rng.normal(R_MAX, 0.05, n)
    beta = rng.normal(BETA, 0.2, n)
    r = rng.normal(1.0, 0.02, n)
    sampled = KD * beta * (r - r_min) / (r_max - r)
    se = cal.concentration_se(1.0, ratio_se=0.02)
    assert se == pytest.approx(np.std(sampled), rel=0.03)
    assert cal.concentration_se(1.0) < se  # without the ratio's own error


def test_calibrate_from_repeated_measurements() -> None:
    rng = np.random.default_rng(11)
    r_min_meas = rng.normal(0.4, 0.02, 12)
    r_max_meas = rng.normal(3.0, 0.1, 10)
    free = rng.normal(5000.0, 100.0, 12)
    bound = rng.normal(1000.0, 40.0, 10)
    cal = calibrate(r_min_meas, r_max_meas, free, bound, kd_mM=1.9, kd_se_mM=0.1)
    assert cal.r_min == pytest.approx(np.mean(r_min_meas))
    assert cal.r_min_se == pytest.approx(np.std(r_min_meas, ddof=1) / np.sqrt(12))
    assert cal.r_max_se == pytest.approx(np.std(r_max_meas, ddof=1) / np.sqrt(10))
    assert cal.beta == pytest.approx(np.mean(free) / np.mean(bound))
    rel = np.hypot(
        np.std(free, ddof=1) / np.sqrt(12) / np.mean(free),
        np.std(bound, ddof=1) / np.sqrt(10) / np.mean(bound),
    )
    assert cal.beta_se == pytest.approx(cal.beta * rel)
    assert (cal.kd_mM, cal.kd_se_mM) == (1.9, 0.1)
    assert abs(cal.beta - 5.0) < 4 * cal.beta_se


def test_calibrate_refuses_swapped_solutions() -> None:
    with pytest.raises(ValueError, match=r"r_max_ratios.*Rmax > Rmin"):
        calibrate([3.0, 3.1], [0.4, 0.41], [5000.0, 5100.0], [1000.0, 990.0], kd_mM=1.9)
