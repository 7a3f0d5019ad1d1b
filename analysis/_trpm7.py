"""TRPM7 read-outs per voltage ramp and the run-up of the current over ramps.

Protocol and read-outs: docs/reference/physiology.md §8.1 (50-ms ramps -100 → +100 mV at 0.5 Hz;
leak template = mean of the first ramps before activation, subtracted from later ramps; current
at +80 and -80 mV in pA/pF versus time) and §8.2/§8.5 (run-up over 100-300 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from ._iv import ramp_samples
from ._validation import finite_array, finite_number, positive_int

__all__ = ["RunUp", "Trpm7Ramps", "fit_run_up", "trpm7_ramps"]


@dataclass(frozen=True)
class RunUp:
    """Mono-exponential run-up ``I(t) = baseline + amplitude * (1 - exp(-(t - t0)/tau))``.

    ``t0`` is the first time given; ``t_half_s = tau_s * ln 2`` is the time from t0 to half the
    amplitude. Amplitudes in the unit of the input (pA, or pA/pF for densities).
    """

    baseline_pA: float
    amplitude_pA: float
    tau_s: float
    t_half_s: float


def fit_run_up(time_s: ArrayLike, current_pA: ArrayLike) -> RunUp:
    """Least-squares mono-exponential run-up (§8.2: τ ≈ 60-150 s after break-in).

    Needs >= 4 points at strictly increasing ``time_s``; ``tau_s`` is bounded to
    [span/1000, 100*span] of the time span, so a flat series gives a large tau rather than
    failing.
    """
    t = finite_array("time_s", time_s, ndim=1, min_size=4)
    i = finite_array("current_pA", current_pA, ndim=1, min_size=4)
    if t.size != i.size:
        raise ValueError(f"time_s and current_pA must have one length, got {t.size} and {i.size}")
    if not (np.diff(t) > 0).all():
        raise ValueError("time_s must be strictly increasing (allowed: t[k+1] > t[k])")
    x = t - t[0]
    span = float(x[-1])

    def model(x: NDArray[np.float64], base: float, amp: float, tau: float) -> NDArray[np.float64]:
        return base + amp * -np.expm1(-x / tau)

    tau_lo, tau_hi = span / 1e3, span * 1e2

    def residuals(params: NDArray[np.float64]) -> NDArray[np.float64]:
        return model(x, params[0], params[1], float(np.exp(params[2]))) - i

    best = None
    for tau0 in (span / 10, span / 3, span):
        start = np.array([i[0], (i[-1] - i[0]) / -np.expm1(-span / tau0), np.log(tau0)])
        fit = optimize.least_squares(
            residuals,
            start,
            bounds=([-np.inf, -np.inf, np.log(tau_lo)], [np.inf, np.inf, np.log(tau_hi)]),
            x_scale="jac",
        )
        if best is None or fit.cost < best.cost:
            best = fit
    assert best is not None
    base, amp, tau = float(best.x[0]), float(best.x[1]), float(np.exp(best.x[2]))
    return RunUp(baseline_pA=base, amplitude_pA=amp, tau_s=tau, t_half_s=float(tau * np.log(2.0)))


@dataclass(frozen=True)
class Trpm7Ramps:
    """Per-ramp TRPM7 read-outs; arrays have one entry per ramp.

    ``outward_pA``/``inward_pA`` are the leak-subtracted currents at ``at_mV`` (+80 and -80 mV by
    default), the densities are those divided by Cm, ``rectification_index`` is
    ``outward / abs(inward)``; ``run_up`` is the fit of ``outward_pA`` over time (None with fewer
    than 4 ramps).
    """

    time_s: NDArray[np.float64]
    outward_pA: NDArray[np.float64]
    inward_pA: NDArray[np.float64]
    outward_density_pA_per_pF: NDArray[np.float64]
    inward_density_pA_per_pF: NDArray[np.float64]
    rectification_index: NDArray[np.float64]
    run_up: RunUp | None


def trpm7_ramps(
    ramps_pA: ArrayLike,
    command_mV: ArrayLike,
    *,
    ramp_time_s: ArrayLike,
    cm_pF: float | ArrayLike,
    leak_ramps: int = 0,
    at_mV: Sequence[float] = (80.0, -80.0),
) -> Trpm7Ramps:
    """Current at +80 and -80 mV, density and run-up from a series of ramp sweeps (§8.1).

    ``ramps_pA`` is (n_ramps, n_samples), all recorded with one ``command_mV`` (n_samples); the
    ramp is its longest monotone run and must cover ``at_mV = (outward, inward)`` voltages.
    ``ramp_time_s`` gives each ramp's time (e.g. since break-in, strictly increasing); ``cm_pF``
    (> 0) is one capacitance or one per ramp. With ``leak_ramps = k >= 1`` the mean of the first
    k ramps is the leak template, subtracted from every ramp (the template ramps then read ~0);
    this also removes the ramp's capacitive current (Cm·dV/dt, §8.1).
    """
    ramps = finite_array("ramps_pA", ramps_pA, ndim=2)
    command = finite_array("command_mV", command_mV, ndim=1)
    if ramps.shape[1] != command.size:
        raise ValueError(
            f"ramps_pA must have {command.size} samples per ramp (the length of command_mV), "
            f"got shape {ramps.shape}"
        )
    n_ramps = ramps.shape[0]
    times = finite_array("ramp_time_s", ramp_time_s, ndim=1)
    if times.size != n_ramps:
        raise ValueError(f"ramp_time_s must have one time per ramp ({n_ramps}), got {times.size}")
    if not (np.diff(times) > 0).all():
        raise ValueError("ramp_time_s must be strictly increasing (allowed: t[k+1] > t[k])")
    cm = finite_array("cm_pF", cm_pF)
    if cm.ndim > 1 or (cm.ndim == 1 and cm.size != n_ramps) or not (cm > 0).all():
        raise ValueError(
            f"cm_pF must be > 0 pF, one value or one per ramp ({n_ramps}), got {cm_pF!r:.80}"
        )
    n_leak = positive_int("leak_ramps", leak_ramps, minimum=0)
    if n_leak > n_ramps:
        raise ValueError(
            f"leak_ramps must be in [0, {n_ramps}] (the number of ramps), got {n_leak}"
        )
    try:
        targets = tuple(finite_number("at_mV", v) for v in at_mV)
    except TypeError:
        raise ValueError(f"at_mV must be (outward_mV, inward_mV), got {at_mV!r}") from None
    if len(targets) != 2:
        raise ValueError(f"at_mV must be (outward_mV, inward_mV), got {at_mV!r}")

    ramp = ramp_samples(command)
    voltage = command[ramp]
    currents = ramps[:, ramp]
    if n_leak:
        currents = currents - currents[:n_leak].mean(axis=0)
    order = np.argsort(voltage)
    voltage, currents = voltage[order], currents[:, order]
    lo, hi = float(voltage[0]), float(voltage[-1])
    if not all(lo <= v <= hi for v in targets):
        raise ValueError(
            f"at_mV must lie within the ramp's range [{lo:.6g}, {hi:.6g}] mV, got {targets}"
        )

    def current_at(v: float) -> NDArray[np.float64]:
        k = int(np.clip(np.searchsorted(voltage, v) - 1, 0, voltage.size - 2))
        w = (v - voltage[k]) / (voltage[k + 1] - voltage[k])
        return (1 - w) * currents[:, k] + w * currents[:, k + 1]

    outward, inward = current_at(targets[0]), current_at(targets[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        rectification = outward / np.abs(inward)
    return Trpm7Ramps(
        time_s=times,
        outward_pA=outward,
        inward_pA=inward,
        outward_density_pA_per_pF=outward / cm,
        inward_density_pA_per_pF=inward / cm,
        rectification_index=rectification,
        run_up=fit_run_up(times, outward) if n_ramps >= 4 else None,
    )
