"""P/N leak subtraction, I-V curves, TRPM7 ramp read-outs and run-up, on synthetic currents."""

from __future__ import annotations

import numpy as np
import pytest

from ionrig.analysis import (
    fit_run_up,
    iv_curve,
    iv_from_ramp,
    iv_from_steps,
    leak_subtract,
    trpm7_ramps,
)

# Phenomenological TRPM7 I-V of docs/reference/physiology.md §8.4 (estimate), Erev = 0 mV:
# steep outward rectification, small inward current.
A_OUT, S_OUT, A_IN, S_IN = 1.0, 25.0, 0.02, 25.0


def trpm7_iv(v_mV: np.ndarray, i_max_pA: float = 60.0) -> np.ndarray:
    shape = A_OUT * np.expm1(v_mV / S_OUT) - A_IN * np.expm1(-v_mV / S_IN)
    return i_max_pA * shape


def ramp_protocol(sample_kHz: float = 10.0) -> np.ndarray:
    """§8.1: hold 0 mV, 50-ms ramp -100 → +100 mV, back to 0 mV."""
    n_hold, n_ramp = round(5 * sample_kHz), round(50 * sample_kHz)
    return np.concatenate([np.zeros(n_hold), np.linspace(-100.0, 100.0, n_ramp), np.zeros(n_hold)])


def test_p_over_n_recovers_the_nonlinear_current(rc_step) -> None:
    """Test pulse -80 → +20 mV; P/-4 leak pulses -80 → -105 mV are linear (§1.3 circuit)."""
    cell = dict(ra_MOhm=8, cm_pF=25, rm_MOhm=500, filter_kHz=5, sample_kHz=20)
    t, linear_test, v = rc_step(hold_mV=-80, step_mV=100, **cell)
    _, linear_leak, _ = rc_step(hold_mV=-80, step_mV=-25, **cell)
    onset = int(np.argmax(v != v[0]))
    x = t - t[onset]
    channel = np.where(x > 0, -800 * (1 - np.exp(-x / 3e-4)) * np.exp(-x / 2e-3), 0.0)
    rng = np.random.default_rng(9)
    leak_sweeps = linear_leak + rng.normal(0, 0.5, (4, t.size))
    corrected = leak_subtract(linear_test + channel, leak_sweeps, -0.25, baseline_samples=onset)
    holding = linear_test[:onset].mean()
    # The capacitive transient (hundreds of pA) and the leak are gone; the channel remains.
    assert np.abs(linear_test - holding).max() > 400
    np.testing.assert_allclose(corrected - holding, channel, atol=4 * 0.5 / np.sqrt(4) * 4)
    # Leak sweeps already free of the holding current need no baseline.
    baseline_free = leak_sweeps - leak_sweeps[:, :onset].mean()
    np.testing.assert_allclose(
        leak_subtract(linear_test + channel, baseline_free, -0.25),
        corrected,
        atol=1e-9,
    )


def test_leak_subtract_refuses_bad_input() -> None:
    sweep, leak = np.zeros(50), np.zeros((4, 50))
    with pytest.raises(ValueError, match=r"p_over_n must be non-zero with abs\(p_over_n\) <= 1"):
        leak_subtract(sweep, leak, 0.0)
    with pytest.raises(ValueError, match=r"p_over_n must be non-zero"):
        leak_subtract(sweep, leak, 4)
    with pytest.raises(ValueError, match=r"leak_sweeps must have the samples per sweep.*\(50\)"):
        leak_subtract(sweep, np.zeros((4, 49)), 0.25)
    with pytest.raises(ValueError, match=r"sweep contains NaN; allowed values are finite"):
        leak_subtract(np.full(50, np.nan), leak, 0.25)
    with pytest.raises(ValueError, match=r"baseline_samples must be in \[0, 50\]"):
        leak_subtract(sweep, leak, 0.25, baseline_samples=51)


def test_iv_curve_of_an_ohmic_conductance() -> None:
    v = np.linspace(-100, 60, 33)
    i = (v - -12.0) / 0.5  # 0.5 GΩ reversing at -12 mV, pA
    iv = iv_curve(v[::-1], i[::-1], at_mV=(-80.0, 40.0))  # order does not matter
    assert iv.reversal_mV == pytest.approx(-12.0, abs=1e-9)
    assert iv.current_at_pA == pytest.approx(((-80 + 12) / 0.5, (40 + 12) / 0.5))
    assert iv.rectification_index == pytest.approx(52 / 68)
    assert np.all(np.diff(iv.voltage_mV) > 0)


def test_iv_from_ramp_of_trpm7() -> None:
    command = ramp_protocol()
    current = trpm7_iv(command)
    iv = iv_from_ramp(current, command)
    assert iv.voltage_mV[0] == -100 and iv.voltage_mV[-1] == 100
    assert iv.reversal_mV == pytest.approx(0.0, abs=0.05)
    expected = trpm7_iv(np.array([-80.0, 80.0]))
    assert iv.current_at_pA == pytest.approx(tuple(expected), rel=2e-3)
    assert iv.rectification_index == pytest.approx(expected[1] / abs(expected[0]), rel=2e-3)
    assert 10 < iv.rectification_index < 30  # §8.2 target
    noisy = iv_from_ramp(current + np.random.default_rng(4).normal(0, 2, current.size), command)
    assert abs(noisy.reversal_mV) < 5


def test_iv_from_steps() -> None:
    t = np.arange(0, 0.1, 1e-4)
    levels = np.arange(-100.0, 61.0, 20.0)
    steady = trpm7_iv(levels, 30.0)
    transient = 300 * np.exp(-t / 2e-3)
    sweeps = steady[:, None] + np.sign(levels)[:, None] * transient[None, :]
    iv = iv_from_steps(t, sweeps, levels, window_s=(0.08, 0.1), at_mV=(-80.0, 40.0))
    np.testing.assert_allclose(iv.current_pA, steady, rtol=1e-6, atol=1e-6)
    assert iv.current_at_pA == pytest.approx((steady[1], steady[7]), rel=1e-6)
    with pytest.raises(ValueError, match=r"window_s must select >= 1 sample"):
        iv_from_steps(t, sweeps, levels, window_s=(0.2, 0.3))
    with pytest.raises(ValueError, match=r"step_mV must have one voltage per sweep \(9\)"):
        iv_from_steps(t, sweeps, levels[:-1], window_s=(0.08, 0.1))
    with pytest.raises(ValueError, match=r"at_mV must lie within the measured voltage range"):
        iv_from_steps(t, sweeps, levels, window_s=(0.08, 0.1), at_mV=(-80.0, 80.0))


def _trpm7_series(noise_pA: float, seed: int = 0):
    command = ramp_protocol()
    times = np.arange(0.0, 300.0, 2.0)  # 0.5 Hz for 300 s (§8.1)
    tau_s, i_max, cm_pF = 100.0, 60.0, 20.0
    g = -np.expm1(-times / tau_s)  # run-up from break-in (§8.2)
    slope_mV_per_ms = np.gradient(command) * 10.0  # 10 samples per ms
    capacitive = cm_pF * slope_mV_per_ms  # pA: pF·V/s, uncompensated (§8.1 artefact)
    leak = command / 2.0  # 2 GΩ seal/membrane leak, pA
    rng = np.random.default_rng(seed)
    ramps = (
        g[:, None] * trpm7_iv(command, i_max)[None, :]
        + (leak + capacitive)[None, :]
        + rng.normal(0, noise_pA, (times.size, command.size))
    )
    return command, times, ramps, g, tau_s, i_max, cm_pF


def test_trpm7_ramps_leak_template_density_and_run_up() -> None:
    command, times, ramps, g, tau_s, i_max, cm_pF = _trpm7_series(noise_pA=0.0)
    result = trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=cm_pF, leak_ramps=2)
    i80, i_80 = trpm7_iv(np.array([80.0, -80.0]), i_max)
    template_g = g[:2].mean()
    np.testing.assert_allclose(result.outward_pA, (g - template_g) * i80, rtol=2e-3, atol=1e-9)
    np.testing.assert_allclose(result.inward_pA, (g - template_g) * i_80, rtol=2e-3, atol=1e-9)
    np.testing.assert_allclose(result.outward_density_pA_per_pF, result.outward_pA / cm_pF)
    assert result.outward_pA[:2] == pytest.approx([-0.0099 * i80, 0.0099 * i80], rel=0.02)
    np.testing.assert_allclose(result.rectification_index[10:], i80 / abs(i_80), rtol=2e-3)
    assert result.run_up is not None
    assert result.run_up.tau_s == pytest.approx(tau_s, rel=1e-3)
    assert result.run_up.amplitude_pA == pytest.approx(i80, rel=2e-3)
    assert result.run_up.t_half_s == pytest.approx(tau_s * np.log(2), rel=1e-3)
    # Without the leak template the capacitive artefact (+80 pA on the ramp) stays in.
    raw = trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=cm_pF)
    slope_mV_per_ms = 200 / 499 * 10  # 500 samples over 50 ms
    assert raw.outward_pA[0] == pytest.approx(cm_pF * slope_mV_per_ms + 80 / 2.0, rel=1e-9)


def test_trpm7_run_up_with_noise_and_per_ramp_capacitance() -> None:
    command, times, ramps, _, tau_s, _, cm_pF = _trpm7_series(noise_pA=5.0, seed=3)
    cm = np.full(times.size, cm_pF) * np.linspace(1.0, 1.1, times.size)
    result = trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=cm, leak_ramps=3)
    assert result.run_up.tau_s == pytest.approx(tau_s, rel=0.1)
    np.testing.assert_allclose(result.outward_density_pA_per_pF, result.outward_pA / cm)


def test_fit_run_up_alone_and_its_refusals() -> None:
    t = np.linspace(30, 330, 40)
    i = 5.0 + 900.0 * -np.expm1(-(t - 30) / 70.0)
    fit = fit_run_up(t, i)
    assert (fit.baseline_pA, fit.amplitude_pA, fit.tau_s) == pytest.approx((5.0, 900.0, 70.0))
    with pytest.raises(ValueError, match=r"time_s must be strictly increasing"):
        fit_run_up(t[::-1], i)
    with pytest.raises(ValueError, match=r"time_s and current_pA must have one length"):
        fit_run_up(t, i[:-1])
    with pytest.raises(ValueError, match=r"time_s must have at least 4 element"):
        fit_run_up(t[:3], i[:3])


def test_trpm7_ramps_refuses_bad_input() -> None:
    command, times, ramps, *_ = _trpm7_series(noise_pA=0.0)
    with pytest.raises(ValueError, match=r"cm_pF must be > 0 pF"):
        trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=0.0)
    with pytest.raises(ValueError, match=r"ramp_time_s must have one time per ramp \(150\)"):
        trpm7_ramps(ramps, command, ramp_time_s=times[:-1], cm_pF=20.0)
    with pytest.raises(ValueError, match=r"leak_ramps must be in \[0, 150\]"):
        trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=20.0, leak_ramps=151)
    with pytest.raises(ValueError, match=r"at_mV must lie within the ramp's range \[-100, 100\]"):
        trpm7_ramps(ramps, command, ramp_time_s=times, cm_pF=20.0, at_mV=(120.0, -80.0))
    with pytest.raises(ValueError, match=r"ramps_pA must have 600 samples per ramp"):
        trpm7_ramps(ramps[:, :-1], command, ramp_time_s=times, cm_pF=20.0)
