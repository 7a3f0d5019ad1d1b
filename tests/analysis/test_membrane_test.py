"""Membrane test through the amplifier's Bessel filter, and Cm from a triangle ramp.

Synthetic recordings come from ``conftest.circuit_response`` (exact §1.3 circuit → 4-pole Bessel).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy import optimize

from ionrig.analysis import MembraneTest, membrane_capacitance_from_ramp, membrane_test

# The grid: Ra 5-25 MΩ, Cm 10-50 pF, Rm 0.2-2 GΩ, filter 1-10 kHz, sampling 10-50 kHz.
RA_MOHM = (5.0, 12.0, 25.0)
CM_PF = (10.0, 25.0, 50.0)
RM_MOHM = (200.0, 700.0, 2000.0)
FILTER_KHZ = (1.0, 2.9, 5.0, 10.0)
SAMPLE_KHZ = (10.0, 20.0, 50.0)


def _tau_s(ra: float, cm: float, rm: float) -> float:
    return cm * 1e-12 * 1e6 * ra * rm / (ra + rm)


def _grid(min_tau):
    for k, (ra, cm, rm, fc, fs) in enumerate(
        itertools.product(RA_MOHM, CM_PF, RM_MOHM, FILTER_KHZ, SAMPLE_KHZ)
    ):
        if _tau_s(ra, cm, rm) >= min_tau(fc, fs):
            yield ra, cm, rm, fc, fs, (10.0 if k % 2 else -5.0)


def _errors(result: MembraneTest, ra: float, cm: float, rm: float) -> tuple[float, float, float]:
    return (result.ra_MOhm / ra - 1, result.rm_MOhm / rm - 1, result.cm_pF / cm - 1)


def _worst(rc_step, min_tau, *, give_filter: bool) -> tuple[int, np.ndarray]:
    errors = []
    for ra, cm, rm, fc, fs, step in _grid(min_tau):
        t, i, v = rc_step(
            ra_MOhm=ra, cm_pF=cm, rm_MOhm=rm, filter_kHz=fc, sample_kHz=fs, step_mV=step
        )
        result = membrane_test(t, i, v, filter_kHz=fc if give_filter else None)
        errors.append(_errors(result, ra, cm, rm))
    return len(errors), np.abs(np.array(errors)).max(axis=0)


def test_grid_with_the_filter_known(rc_step) -> None:
    """Rm ±3 %, Cm ±10 %, Ra ±20 % wherever tau >= 3 sampling intervals."""
    n, (ra_err, rm_err, cm_err) = _worst(rc_step, lambda fc, fs: 3e-3 / fs, give_filter=True)
    assert n > 200
    assert rm_err < 0.03 and cm_err < 0.10 and ra_err < 0.20
    # Measured: exact to the fit's tolerance (about 1e-6).
    assert max(ra_err, rm_err, cm_err) < 1e-4


def test_grid_without_filter_information_once_tau_outlasts_the_rise(rc_step) -> None:
    """Unknown filter: the same limits hold once tau >= the 10-90 % rise time 0.35/fc (§1.4)."""
    n, (ra_err, rm_err, cm_err) = _worst(
        rc_step, lambda fc, fs: max(3e-3 / fs, 0.35e-3 / fc), give_filter=False
    )
    assert n > 100
    assert rm_err < 0.03 and cm_err < 0.10 and ra_err < 0.20


def test_holding_current_total_resistance_and_tau(rc_step) -> None:
    t, i, v = rc_step(ra_MOhm=10, cm_pF=20, rm_MOhm=1000, filter_kHz=2.9, sample_kHz=10)
    result = membrane_test(t, i, v, filter_kHz=2.9)
    assert result.ih_pA == pytest.approx((-70 - -30) / 1.01, rel=1e-6)  # (Vh - E)/Rt, mV/GΩ
    assert result.rt_MOhm == pytest.approx(1010, rel=1e-6)
    assert result.tau_ms == pytest.approx(1e3 * _tau_s(10, 20, 1000), rel=1e-5)
    assert result.step_mV == 10
    assert result.charge_pC == pytest.approx(10 * 20e-3 * (1000 / 1010) ** 2, rel=1e-5)


def _naive_peak_method(t, i, v) -> tuple[float, float]:
    """pyABF-style memtest (§7.3): I0 taken at the filtered peak; Ra = ΔV/I0, Cm = tau/Ra."""
    onset = int(np.argmax(v != v[0]))
    end = onset + int(np.argmax(v[onset:] != v[onset]))
    dv = v[onset] - v[0]
    ih = i[:onset].mean()
    peak = onset + int(np.argmax((i[onset:end] - ih) * np.sign(dv)))
    x, y = t[peak:end] - t[peak], i[peak:end]
    (a, tau, c), _ = optimize.curve_fit(
        lambda x, a, tau, c: a * np.exp(-x / tau) + c, x, y, p0=(y[0] - y[-1], 3e-4, y[-1])
    )
    ra_MOhm = 1e3 * dv / (a + c - ih)
    return ra_MOhm, 1e3 * tau / (1e-3 * ra_MOhm)


def test_survives_the_filter_where_the_peak_method_fails(rc_step) -> None:
    """PATCH-1U model cell through a 2 kHz Bessel at 20 kHz (§7.3)."""
    t, i, v = rc_step(ra_MOhm=10, cm_pF=33, rm_MOhm=500, filter_kHz=2, sample_kHz=20, step_ms=50)
    naive_ra, naive_cm = _naive_peak_method(t, i, v)
    assert naive_ra > 10 * 1.25 and naive_cm < 33 * 0.85  # the published bias, reproduced
    for filter_kHz in (2.0, None):
        result = membrane_test(t, i, v, filter_kHz=filter_kHz)
        assert result.ra_MOhm == pytest.approx(10, rel=0.02)
        assert result.cm_pF == pytest.approx(33, rel=0.02)
        assert result.rm_MOhm == pytest.approx(500, rel=0.01)


def test_noisy_sweeps_are_averaged(rc_step) -> None:
    """HEK-293 defaults (§7.1) at the TRPM7 settings (2.9 kHz, 10 kHz), 2 pA rms noise."""
    t, i, v = rc_step(ra_MOhm=10, cm_pF=20, rm_MOhm=1000, filter_kHz=2.9, sample_kHz=10)
    rng = np.random.default_rng(42)
    sweeps = i + rng.normal(0, 2.0, (20, i.size))
    result = membrane_test(t, sweeps, v, filter_kHz=2.9)
    assert result.n_sweeps == 20
    assert result == membrane_test(t, sweeps.mean(axis=0), v, filter_kHz=2.9).__class__(
        **{**result.__dict__, "n_sweeps": 20}
    )
    assert result.ra_MOhm == pytest.approx(10, rel=0.03)
    assert result.cm_pF == pytest.approx(20, rel=0.03)
    assert result.rm_MOhm == pytest.approx(1000, rel=0.03)


def test_many_long_sweeps_correct_and_quick(rc_step) -> None:
    t, i, v = rc_step(
        ra_MOhm=15, cm_pF=30, rm_MOhm=800, filter_kHz=5, sample_kHz=50, baseline_ms=10, step_ms=30
    )
    sweeps = i + np.random.default_rng(1).normal(0, 3.0, (100, i.size))
    began = time.perf_counter()
    result = membrane_test(t, sweeps, v, filter_kHz=5)
    assert time.perf_counter() - began < 0.5
    assert result.ra_MOhm == pytest.approx(15, rel=0.02)
    assert result.cm_pF == pytest.approx(30, rel=0.02)
    assert result.rm_MOhm == pytest.approx(800, rel=0.02)


@pytest.mark.slow
def test_1000_sweeps_of_10000_samples_in_under_a_second(rc_step) -> None:
    t, i, v = rc_step(
        ra_MOhm=10,
        cm_pF=20,
        rm_MOhm=1000,
        filter_kHz=5,
        sample_kHz=50,
        baseline_ms=40,
        step_ms=100,
        after_ms=60,
    )
    assert t.size == 10_000
    sweeps = i + np.random.default_rng(2).normal(0, 5.0, (1000, t.size))
    for filter_kHz in (5.0, None):
        began = time.perf_counter()
        result = membrane_test(t, sweeps, v, filter_kHz=filter_kHz)
        elapsed = time.perf_counter() - began
        print(f"membrane_test 1000 x 10000, filter_kHz={filter_kHz}: {elapsed * 1e3:.0f} ms")
        assert elapsed < 1.0
        assert result.cm_pF == pytest.approx(20, rel=0.02)


@pytest.mark.parametrize("filter_kHz", [None, 2.9, 1.0])
def test_ramp_capacitance(rc_triangle, filter_kHz) -> None:
    t, i, v = rc_triangle(ra_MOhm=10, cm_pF=20, rm_MOhm=1000, filter_kHz=filter_kHz, sample_kHz=10)
    corrected = membrane_capacitance_from_ramp(t, i, v, filter_kHz=filter_kHz, ra_MOhm=10)
    assert corrected.cm_pF == pytest.approx(20, rel=1e-3)
    assert corrected.rt_MOhm == pytest.approx(1010, rel=1e-3)
    assert corrected.up_slope_mV_per_ms == pytest.approx(2.0)
    assert corrected.down_slope_mV_per_ms == pytest.approx(-2.0)
    plain = membrane_capacitance_from_ramp(t, i, v, filter_kHz=filter_kHz)
    assert plain.cm_pF == pytest.approx(20 * (1000 / 1010) ** 2, rel=1e-3)  # §1.3 as written


def test_ramp_capacitance_asymmetric_and_averaged(rc_triangle) -> None:
    t, i, v = rc_triangle(
        ra_MOhm=5,
        cm_pF=45,
        rm_MOhm=300,
        filter_kHz=5,
        sample_kHz=20,
        low_mV=-90,
        high_mV=-50,
        periods=3,
    )
    sweeps = i + np.random.default_rng(0).normal(0, 1.0, (10, i.size))
    result = membrane_capacitance_from_ramp(t, sweeps, v, filter_kHz=5, ra_MOhm=5)
    assert result.cm_pF == pytest.approx(45, rel=0.01)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"command_mV": "short"}, r"command_mV must have the length of time_s \(300\)"),
        (
            {"time_s": "short"},
            r"current_pA must have 299 samples per sweep \(the length of time_s\)",
        ),
        ({"current_pA": "short"}, r"current_pA must have \d+ samples per sweep"),
        ({"current_pA": "nan"}, r"current_pA contains NaN; allowed values are finite"),
        ({"time_s": "nan"}, r"time_s contains NaN"),
        ({"time_s": "jitter"}, r"time_s must be uniformly sampled.*dt > 0"),
        ({"command_mV": "flat"}, r"command_mV must contain a voltage step"),
        ({"filter_kHz": 0.0}, r"filter_kHz must be a finite number > 0"),
        ({"filter_kHz": float("nan")}, r"filter_kHz must be a finite number > 0"),
    ],
)
def test_membrane_test_refuses_bad_input(rc_step, change: dict, match: str) -> None:
    t, i, v = rc_step(ra_MOhm=10, cm_pF=20, rm_MOhm=1000, filter_kHz=2.9, sample_kHz=10)
    kwargs = {"time_s": t, "current_pA": i, "command_mV": v, "filter_kHz": 2.9}
    key, what = next(iter(change.items()))
    if what == "short":
        kwargs[key] = kwargs[key][:-1]
    elif what == "nan":
        kwargs[key] = kwargs[key].copy()
        kwargs[key][7] = np.nan
    elif what == "jitter":
        kwargs[key] = t + np.where(np.arange(t.size) % 2, 0.3, 0.0) * (t[1] - t[0])
    elif what == "flat":
        kwargs[key] = np.full_like(v, -70.0)
    else:
        kwargs[key] = what
    with pytest.raises(ValueError, match=match):
        membrane_test(**kwargs)


def test_ramp_capacitance_refuses_bad_input(rc_triangle) -> None:
    t, i, v = rc_triangle(ra_MOhm=10, cm_pF=20, rm_MOhm=1000, filter_kHz=None, sample_kHz=10)
    with pytest.raises(ValueError, match=r"central_fraction must be in \(0, 1\]"):
        membrane_capacitance_from_ramp(t, i, v, central_fraction=1.5)
    with pytest.raises(ValueError, match=r"command_mV must contain a falling ramp"):
        membrane_capacitance_from_ramp(t, i, np.maximum.accumulate(v))
    with pytest.raises(ValueError, match=r"ra_MOhm must be a finite number >= 0"):
        membrane_capacitance_from_ramp(t, i, v, ra_MOhm=-1.0)
