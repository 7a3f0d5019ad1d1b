"""Membrane test: Ra, Rm, Cm, tau and holding current from a voltage step, robust to the
amplifier's Bessel filter; Cm from a triangle ramp.

Circuit and estimators: docs/reference/physiology.md §1.3 (step through Ra into Rm ∥ Cm) and §7.3
(what survives the filter: the charge under the transient, tau from a fit that accounts for the
filter, Ra from tau, Q and Rt). Units: time s, current pA, voltage mV, so mV/pA = GΩ and
pA·s/mV = nF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from ._bessel import BesselResponses
from ._validation import finite_array, positive_number

__all__ = [
    "MembraneTest",
    "RampCapacitance",
    "membrane_capacitance_from_ramp",
    "membrane_test",
]


@dataclass(frozen=True)
class MembraneTest:
    """Passive properties from one (averaged) voltage step.

    ``rt_MOhm = ra_MOhm + rm_MOhm`` (inf when the steady current does not change with the
    step); ``step_mV`` is the command step ΔV; ``charge_pC`` the charge under the transient, Q.
    """

    ra_MOhm: float
    rm_MOhm: float
    cm_pF: float
    tau_ms: float
    ih_pA: float
    rt_MOhm: float
    step_mV: float
    charge_pC: float
    n_sweeps: int


def _time_axis(time_s: ArrayLike, min_size: int) -> tuple[NDArray[np.float64], float]:
    t = finite_array("time_s", time_s, ndim=1, min_size=min_size)
    steps = np.diff(t)
    dt = float(np.median(steps))
    if not dt > 0 or np.abs(steps - dt).max() > 1e-3 * dt:
        raise ValueError(
            "time_s must be uniformly sampled and strictly increasing (allowed: dt > 0)"
        )
    return t, dt


def _mean_sweep(current_pA: ArrayLike, n_samples: int) -> tuple[NDArray[np.float64], int]:
    current = finite_array("current_pA", current_pA, ndim=(1, 2))
    if current.shape[-1] != n_samples:
        raise ValueError(
            f"current_pA must have {n_samples} samples per sweep (the length of time_s), "
            f"got shape {current.shape}"
        )
    if current.ndim == 1:
        return current, 1
    return current.mean(axis=0), current.shape[0]


def _find_step(command: NDArray[np.float64]) -> tuple[int, int, float]:
    """First step in the command: onset index, end index (exclusive), ΔV."""
    excursion = np.abs(command - command[0])
    largest = float(excursion.max())
    if largest == 0.0:
        raise ValueError("command_mV must contain a voltage step (allowed: a non-constant command)")
    threshold = 1e-3 * largest
    onset = int(np.argmax(excursion > threshold))
    level = command[onset]
    after = np.abs(command[onset:] - level) > threshold
    end = onset + int(np.argmax(after)) if after.any() else command.size
    return onset, end, float(level - command[0])


def _fit_tau(
    y: NDArray[np.float64],
    columns_for_tau: Callable[[float], NDArray[np.float64]],
    tau_lo_s: float,
    tau_hi_s: float,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Variable projection: for each tau the step and exponential amplitudes are linear."""

    def solve(log_tau: float) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
        design = columns_for_tau(float(np.exp(log_tau)))
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ coef
        return float(residual @ residual), coef, design

    grid = np.linspace(np.log(tau_lo_s), np.log(tau_hi_s), 64)
    costs = np.array([solve(g)[0] for g in grid])
    best = int(np.argmin(costs))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    refined = optimize.minimize_scalar(
        lambda g: solve(g)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-7}
    )
    log_tau = float(refined.x) if refined.fun <= costs[best] else float(grid[best])
    _, coef, design = solve(log_tau)
    return float(np.exp(log_tau)), coef, design


def membrane_test(
    time_s: ArrayLike,
    current_pA: ArrayLike,
    command_mV: ArrayLike,
    *,
    filter_kHz: float | None = None,
) -> MembraneTest:
    """Ra, Rm, Cm, tau and holding current from the first voltage step of the command.

    ``current_pA`` is one sweep (n,) or several (m, n), averaged first; ``time_s`` and
    ``command_mV`` have n samples (uniform sampling). The step starts at the first sample whose
    command differs from ``command_mV[0]`` and ends where the command changes again; the samples
    before it give ``ih_pA``. The response over the step is modelled (§1.3) as
    ``Ih + ΔIss + A*exp(-t/tau)``:

    - ``filter_kHz`` given (4-pole Bessel -3 dB cutoff of the recording, §7.2): the model is
      passed through that filter exactly and fitted to every sample of the step, so tau and the
      onset amplitude need no sample after the filter has settled.
    - ``filter_kHz=None``: the exponential is fitted from where the transient has fallen to half
      its peak (after the filter has settled when tau is several filter rise times, 0.35/fc).

    Estimators (§1.3, §7.3): ``Rt = ΔV/ΔIss``; charge under the transient
    ``Q = ∫(I - Iss) dt`` (with a known filter the fitted ``A*tau`` plus the summed residual, so
    the filter's delay of the steady step does not bias it; otherwise the trapezoid integral);
    ``Ra = ΔV/(Q/tau + ΔV/Rt)``; ``Rm = Rt - Ra``; ``Cm = (Q/ΔV)(1 + Ra/Rm)**2``.
    """
    t, dt = _time_axis(time_s, min_size=12)
    sweep, n_sweeps = _mean_sweep(current_pA, t.size)
    command = _command_trace(command_mV, t.size)
    cutoff_hz = None if filter_kHz is None else 1e3 * positive_number("filter_kHz", filter_kHz)
    onset, end, delta_v = _step_window(command)

    ih = float(sweep[:onset].mean())
    y = sweep[onset:end] - ih
    tw = t[onset:end] - t[onset]
    tau_lo, tau_hi = dt / 20.0, float(tw[-1]) / 2.0
    if cutoff_hz is not None:
        tau, d_iss, charge = _fit_filtered_step(y, tw, dt, cutoff_hz, tau_lo, tau_hi)
    else:
        tau, d_iss, charge = _fit_settled_step(y, tw, delta_v, tau_lo, tau_hi)
    if charge * delta_v <= 0 or not np.isfinite(charge):
        raise ValueError(
            "current_pA shows no capacitive transient of the step's sign "
            "(allowed: a charging current in the direction of ΔV)"
        )
    ra, rm, rt, cm = _passive_properties(charge, d_iss, tau, delta_v)
    return MembraneTest(
        ra_MOhm=float(1e3 * ra),
        rm_MOhm=float(1e3 * rm),
        cm_pF=float(1e3 * cm),
        tau_ms=float(1e3 * tau),
        ih_pA=ih,
        rt_MOhm=float(1e3 * rt),
        step_mV=delta_v,
        charge_pC=float(charge),
        n_sweeps=n_sweeps,
    )


def _command_trace(command_mV: ArrayLike, n_samples: int) -> NDArray[np.float64]:
    """The command (mV), checked to have one sample per time point."""
    command = finite_array("command_mV", command_mV, ndim=1)
    if command.size != n_samples:
        raise ValueError(
            f"command_mV must have the length of time_s ({n_samples}), got {command.size}"
        )
    return command


def _step_window(command: NDArray[np.float64]) -> tuple[int, int, float]:
    """:func:`_find_step`, checked to leave >= 3 baseline samples and last >= 10 samples."""
    onset, end, delta_v = _find_step(command)
    if onset < 3:
        raise ValueError(f"command_mV must hold >= 3 baseline samples before the step, got {onset}")
    if end - onset < 10:
        raise ValueError(f"command_mV step must last >= 10 samples, got {end - onset}")
    return onset, end, delta_v


def _fit_filtered_step(
    y: NDArray[np.float64],
    tw: NDArray[np.float64],
    dt: float,
    cutoff_hz: float,
    tau_lo: float,
    tau_hi: float,
) -> tuple[float, float, float]:
    """tau (s), ΔIss (pA) and Q (pA·s) of the step response ``y`` (pA over ``tw``, s from the
    onset) with the model passed through the recording's Bessel filter and fitted to every
    sample; Q is the fitted ``A*tau`` plus the summed residual (§7.3)."""
    responses = BesselResponses(tw, cutoff_hz)
    step_column = responses.step()

    def columns(tau: float) -> NDArray[np.float64]:
        return np.column_stack([step_column, responses.exponential(tau)])

    tau, (d_iss, amp), design = _fit_tau(y, columns, tau_lo, tau_hi)
    residual = y - design @ np.array([d_iss, amp])
    charge = amp * tau + dt * float(residual.sum())
    return tau, d_iss, charge


def _fit_settled_step(
    y: NDArray[np.float64],
    tw: NDArray[np.float64],
    delta_v: float,
    tau_lo: float,
    tau_hi: float,
) -> tuple[float, float, float]:
    """tau (s), ΔIss (pA) and Q (pA·s) of the step response ``y`` with no filter model: the
    exponential fitted from where the transient has fallen to half its peak, Q the trapezoid
    integral of ``y - ΔIss`` plus the fitted tail beyond the step (§1.3)."""
    duration = float(tw[-1])
    transient = y * np.sign(delta_v)
    late = float(np.mean(transient[-max(3, transient.size // 10) :]))
    peak = int(np.argmax(transient))
    below = np.flatnonzero(transient[peak:] - late <= 0.5 * (transient[peak] - late))
    start = peak + (int(below[0]) if below.size else 0)
    if y.size - start < 6:
        raise ValueError("current_pA must decay over >= 6 samples after the transient's peak")
    t_fit = tw[start:] - tw[start]

    def columns(tau: float) -> NDArray[np.float64]:
        return np.column_stack([np.ones_like(t_fit), np.exp(-t_fit / tau)])

    tau, (d_iss, amp_start), _ = _fit_tau(y[start:], columns, tau_lo, tau_hi)
    amp = amp_start * np.exp(tw[start] / tau)
    tail = amp * tau * np.exp(-duration / tau)
    charge = float(np.trapezoid(y - d_iss, tw)) + tail
    return tau, d_iss, charge


def _passive_properties(
    charge: float, d_iss: float, tau: float, delta_v: float
) -> tuple[float, float, float, float]:
    """Ra, Rm, Rt (GΩ) and Cm (nF) from Q (pA·s), ΔIss (pA), tau (s) and ΔV (mV), §1.3, §7.3:
    ``Rt = ΔV/ΔIss`` (inf without a steady change), ``Ra = ΔV/(Q/tau + ΔV/Rt)``,
    ``Rm = Rt - Ra``, ``Cm = (Q/ΔV)(1 + Ra/Rm)**2``."""
    conductance = d_iss / delta_v if d_iss * delta_v > 0 else 0.0  # 1/GΩ
    rt = 1.0 / conductance if conductance > 0 else np.inf
    ra = delta_v / (charge / tau + delta_v * conductance)
    rm = rt - ra
    ratio = ra / rm if np.isfinite(rm) else 0.0
    cm = charge / delta_v * (1.0 + ratio) ** 2
    return ra, rm, rt, cm


@dataclass(frozen=True)
class RampCapacitance:
    """Cm from a triangle ramp; total resistance from the I-V slope; ramp slopes in mV/ms (V/s).

    ``cm_pF`` is corrected by ``(1 + Ra/Rm)**2`` when Ra was given, otherwise it is the plain
    §1.3 estimate (which reads low by that factor).
    """

    cm_pF: float
    rt_MOhm: float
    up_slope_mV_per_ms: float
    down_slope_mV_per_ms: float


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def membrane_capacitance_from_ramp(
    time_s: ArrayLike,
    current_pA: ArrayLike,
    command_mV: ArrayLike,
    *,
    central_fraction: float = 0.5,
    filter_kHz: float | None = None,
    ra_MOhm: float | None = None,
) -> RampCapacitance:
    """Cm from a triangle voltage ramp, ``Cm = (I_up - I_down) / (s_up - s_down)`` at equal V.

    §1.3: with ``s_down = -s_up`` this is ``abs(I_up - I_down) / (2 abs(s))``. Rising and falling
    runs of the command (each >= 4 samples) are found from its sample-to-sample change; currents
    are compared on a common voltage grid over the central ``central_fraction`` (0, 1] of the
    voltage range all runs share, so the charging transient after each turn (tau = Ra*Cm, plus
    the filter's settling) must be over within the outer part. ``current_pA`` may be (n,) or
    (m, n) sweeps (averaged).

    On a settled ramp the circuit of §1.3 carries ``(V - E)/Rt + s*Cm*(Rm/Rt)**2`` (the charge
    formula's factor), so with ``ra_MOhm`` given the result is multiplied by
    ``(1 + Ra/Rm)**2``, with ``Rm = Rt - Ra`` and ``Rt`` from the I-V slope of the branches.
    ``filter_kHz`` (4-pole Bessel, §7.2) aligns the current with the command it answers: the
    filter passes a ramp delayed by its DC group delay ``sum(-1/p_i)``.
    """
    t, _ = _time_axis(time_s, min_size=8)
    sweep, _ = _mean_sweep(current_pA, t.size)
    command = _command_trace(command_mV, t.size)
    fraction = positive_number("central_fraction", central_fraction)
    if fraction > 1:
        raise ValueError(f"central_fraction must be in (0, 1], got {central_fraction!r}")
    ra = None if ra_MOhm is None else positive_number("ra_MOhm", ra_MOhm, allow_zero=True)
    dv = np.diff(command)
    scale = float(np.abs(dv).max())
    if scale == 0:
        raise ValueError(
            "command_mV must contain a triangle ramp (allowed: rising and falling runs)"
        )
    aligned = _command_seen_by_current(t, command, filter_kHz)
    branches = _ramp_branches(dv, scale)
    grid = _shared_voltage_grid(command, branches, fraction)
    currents, slopes = _branch_currents(branches, t, command, aligned, sweep, grid)
    # pA / (mV/s) = nF ; pA/mV = nS
    cm_nF = float(np.mean(currents["up"] - currents["down"])) / (slopes["up"] - slopes["down"])
    conductance_nS = float(np.polyfit(grid, 0.5 * (currents["up"] + currents["down"]), 1)[0])
    rt_MOhm = 1e3 / conductance_nS if conductance_nS > 0 else np.inf
    if ra is not None and np.isfinite(rt_MOhm):
        if not ra < rt_MOhm:
            raise ValueError(
                f"ra_MOhm must be below the ramp's total resistance {rt_MOhm:.4g} MOhm, got {ra!r}"
            )
        cm_nF *= (rt_MOhm / (rt_MOhm - ra)) ** 2
    return RampCapacitance(
        cm_pF=1e3 * cm_nF,
        rt_MOhm=float(rt_MOhm),
        up_slope_mV_per_ms=slopes["up"] / 1e3,
        down_slope_mV_per_ms=slopes["down"] / 1e3,
    )


def _command_seen_by_current(
    t: NDArray[np.float64], command: NDArray[np.float64], filter_kHz: float | None
) -> NDArray[np.float64]:
    """The command (mV) the current answers: delayed by the Bessel filter's DC group delay
    ``sum(-1/p_i)`` when ``filter_kHz`` is given (§7.2), else the command itself."""
    if filter_kHz is None:
        return command
    cutoff_hz = 1e3 * positive_number("filter_kHz", filter_kHz)
    delay_s = BesselResponses(np.zeros(1), cutoff_hz).group_delay_s
    return np.interp(t - delay_s, t, command)


def _ramp_branches(dv: NDArray[np.float64], scale: float) -> dict[str, list[tuple[int, int]]]:
    """(start, stop) sample ranges of the rising (``up``) and falling (``down``) runs of the
    command, each >= 4 samples, from its sample-to-sample change ``dv`` (mV)."""
    branches = {}
    for name, mask in (("up", dv > 1e-3 * scale), ("down", dv < -1e-3 * scale)):
        # A run of k same-sign differences spans samples start..start+k inclusive.
        runs = [(a, b + 1) for a, b in _runs(mask) if b - a >= 3]
        if not runs:
            kind = "rising" if name == "up" else "falling"
            raise ValueError(f"command_mV must contain a {kind} ramp of >= 4 samples")
        branches[name] = runs
    return branches


def _shared_voltage_grid(
    command: NDArray[np.float64], branches: dict[str, list[tuple[int, int]]], fraction: float
) -> NDArray[np.float64]:
    """101 voltages (mV) over the central ``fraction`` of the range every run covers."""
    all_runs = branches["up"] + branches["down"]
    v_lo = max(float(command[a:b].min()) for a, b in all_runs)
    v_hi = min(float(command[a:b].max()) for a, b in all_runs)
    if not v_hi > v_lo:
        raise ValueError("command_mV rising and falling ramps must overlap in voltage")
    middle, half = 0.5 * (v_lo + v_hi), 0.5 * fraction * (v_hi - v_lo)
    return np.linspace(middle - half, middle + half, 101)


def _branch_currents(
    branches: dict[str, list[tuple[int, int]]],
    t: NDArray[np.float64],
    command: NDArray[np.float64],
    aligned: NDArray[np.float64],
    sweep: NDArray[np.float64],
    grid: NDArray[np.float64],
) -> tuple[dict[str, NDArray[np.float64]], dict[str, float]]:
    """Per branch: the current (pA) on ``grid`` averaged over its runs, and the mean slope of
    its runs (mV/s)."""
    currents, slopes = {}, {}
    for name, runs in branches.items():
        per_run, run_slopes = [], []
        for a, b in runs:
            v, i = aligned[a:b], sweep[a:b]
            order = np.argsort(v)
            per_run.append(np.interp(grid, v[order], i[order]))
            run_slopes.append(np.polyfit(t[a:b], command[a:b], 1)[0])
        currents[name] = np.mean(per_run, axis=0)
        slopes[name] = float(np.mean(run_slopes))  # mV/s
    return currents, slopes
